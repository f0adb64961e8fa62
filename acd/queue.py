"""The calls waiting for a call-taker, in service order: priority (higher first), then arrival.

One ordered list serves every queue (seat group): each call names its queue, and a seat only
takes calls of the queues it serves. A call stays in its place while seats ring for it; if they
do not take it, it is offered again from the same place. It leaves when a seat (or the overflow
target) answers, when the caller leaves, or when it fails. `timers` holds the call's pending
deadlines by name (announce, guard, relax, overflow); a timer is removed once handled, so a
deadline never fires twice.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class WaitingCall:
    """A call that no call-taker has answered yet."""

    call_id: str
    caller: str
    priority: int
    arrived_at: float
    seq: int
    queue: str = ""
    skills: frozenset[str] = frozenset()
    announced: bool = False
    ringing: set[str] = field(default_factory=set)
    """Local seats ringing for it now."""
    overflow_ringing: str = ""
    """Pseudo seat id of an overflow leg ringing for it now ('' = none)."""
    tried: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    """Queues it overflowed from (it never overflows back into one)."""
    timers: dict[str, float] = field(default_factory=dict)
    relaxed: bool = False
    guarded: bool = False
    priority_reason: str = ""

    @property
    def outgoing(self) -> int:
        return len(self.ringing) + (1 if self.overflow_ringing else 0)

    @property
    def key(self) -> tuple[int, float, int]:
        return (-self.priority, self.arrived_at, self.seq)


class CallQueue:
    """Waiting calls in service order."""

    def __init__(self) -> None:
        self._order: list[tuple[tuple[int, float, int], str]] = []
        self._calls: dict[str, WaitingCall] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __iter__(self) -> Iterator[WaitingCall]:
        """In service order."""
        return (self._calls[call_id] for _, call_id in self._order)

    def get(self, call_id: str) -> WaitingCall | None:
        return self._calls.get(call_id)

    def add(self, call: WaitingCall) -> WaitingCall:
        """Insert `call` in service order (its `seq` is assigned here)."""
        self._seq += 1
        call.seq = self._seq
        self._calls[call.call_id] = call
        bisect.insort(self._order, (call.key, call.call_id))
        return call

    def remove(self, call_id: str) -> WaitingCall | None:
        call = self._calls.pop(call_id, None)
        if call is not None:
            self._order.remove((call.key, call_id))
        return call
