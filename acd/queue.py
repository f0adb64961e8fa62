"""The queue of calls waiting for a call-taker: by priority (higher first), then by arrival.

A call stays in the queue, in its place, while a seat rings for it; if that seat does not take
it, the call is offered again from the same place. It leaves the queue when a seat answers,
when the caller leaves, or when it fails.
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
    announced: bool = False
    ringing_seat: str | None = None
    tried: set[str] = field(default_factory=set)

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

    def add(self, call_id: str, caller: str, priority: int, arrived_at: float) -> WaitingCall:
        self._seq += 1
        call = WaitingCall(call_id, caller, priority, arrived_at, self._seq)
        self._calls[call_id] = call
        bisect.insort(self._order, (call.key, call_id))
        return call

    def remove(self, call_id: str) -> WaitingCall | None:
        call = self._calls.pop(call_id, None)
        if call is not None:
            self._order.remove((call.key, call_id))
        return call
