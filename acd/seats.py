"""A call-taker's seat and its state table.

Theory of operation
-------------------
A seat is a position with a phone (its SIP contact). An agent logs in at it; from then on the
seat moves through the states below, and every move is written into its history with the time
and the reason. Which move happens is decided by the distributor; this module only knows which
moves exist (`TRANSITIONS`) and refuses any other (a `SeatTableError` is a bug in the core).

    LOGGED_OUT -login-> NOT_READY <-ready/not-ready-> READY -offer-> RESERVED -answer-> TALKING
    RESERVED -release/miss-> READY | -pause-> NOT_READY      TALKING -hang-up-> WRAP_UP
    TALKING/WRAP_UP -free-> READY | -pause-> NOT_READY       any idle state -logout-> LOGGED_OUT

A not-ready or logout request that arrives while the seat is RESERVED, TALKING or in WRAP_UP
is kept as `pending` and applied when the seat would otherwise become READY.

Every state but READY, NOT_READY and LOGGED_OUT is transient and always has a `deadline`
(ring-no-answer, wrap-up end, the next check of a talking seat's leg); NOT_READY has one when
the ACD itself paused the seat for a while (busy or decline delay). `time_in` adds up the
seconds spent in each state, for the supervisor and the metrics.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from acd.errors import SeatTableError

HISTORY: Final = 50
HANDLE_HISTORY: Final = 20
"""Handle times (talk + wrap-up) remembered per seat for expected-wait estimates."""


class SeatState(enum.Enum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    RESERVED = "reserved"
    TALKING = "talking"
    WRAP_UP = "wrap-up"
    NOT_READY = "not-ready"


class Trigger(enum.Enum):
    LOGIN = "login"
    LOGOUT = "logout"
    READY = "ready"
    PAUSE = "pause"  # not-ready, by request or by the ACD (no answer, unreachable)
    OFFER = "offer"  # a call rings the seat
    ANSWER = "answer"
    RELEASE = "release"  # the ringing call went away (caller left, seat busy/declined, no answer)
    HANG_UP = "hang-up"  # the connected call ended: wrap-up starts
    FREE = "free"  # wrap-up over (or none configured)


S, T = SeatState, Trigger
TRANSITIONS: Final[dict[tuple[SeatState, Trigger], SeatState]] = {
    (S.LOGGED_OUT, T.LOGIN): S.NOT_READY,
    (S.NOT_READY, T.READY): S.READY,
    (S.NOT_READY, T.PAUSE): S.NOT_READY,  # a new reason
    (S.NOT_READY, T.LOGOUT): S.LOGGED_OUT,
    (S.READY, T.PAUSE): S.NOT_READY,
    (S.READY, T.LOGOUT): S.LOGGED_OUT,
    (S.READY, T.OFFER): S.RESERVED,
    (S.RESERVED, T.ANSWER): S.TALKING,
    (S.RESERVED, T.RELEASE): S.READY,
    (S.RESERVED, T.PAUSE): S.NOT_READY,
    (S.RESERVED, T.LOGOUT): S.LOGGED_OUT,
    (S.TALKING, T.HANG_UP): S.WRAP_UP,
    (S.TALKING, T.FREE): S.READY,
    (S.TALKING, T.PAUSE): S.NOT_READY,
    (S.TALKING, T.LOGOUT): S.LOGGED_OUT,
    (S.WRAP_UP, T.FREE): S.READY,
    (S.WRAP_UP, T.READY): S.READY,
    (S.WRAP_UP, T.PAUSE): S.NOT_READY,
    (S.WRAP_UP, T.LOGOUT): S.LOGGED_OUT,
}
del S, T

BUSY_STATES: Final = frozenset({SeatState.RESERVED, SeatState.TALKING, SeatState.WRAP_UP})


@dataclass(frozen=True, slots=True)
class Move:
    """One entry of a seat's history."""

    at: float
    old: SeatState
    new: SeatState
    reason: str


@dataclass(slots=True)
class Seat:
    """A seat's live state (owned by the distributor)."""

    seat_id: str
    contact: str
    order: int
    queues: frozenset[str] = frozenset()
    skills: dict[str, int] = field(default_factory=dict)
    wrap_up: float = 0.0
    state: SeatState = SeatState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    agent_id: str = ""
    call_id: str | None = None
    idle_since: float = 0.0
    deadline: float | None = None
    answered: int = 0
    missed: int = 0
    consecutive_misses: int = 0
    pending: tuple[Trigger, str] | None = None
    talk_time: float = 0.0
    """Seconds talking, over the shift (least-talk-time strategy)."""
    connected_at: float = 0.0
    checking: bool = False
    """A CheckSeatLeg is out and unanswered."""
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=HANDLE_HISTORY))
    time_in: dict[SeatState, float] = field(default_factory=lambda: dict.fromkeys(SeatState, 0.0))
    history: deque[Move] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def move(self, trigger: Trigger, at: float, reason: str = "") -> None:
        """Apply a transition from the table; anything else is a core bug."""
        new = TRANSITIONS.get((self.state, trigger))
        if new is None:
            raise SeatTableError(f"seat {self.seat_id}: no transition {self.state} --{trigger}-->")
        self.history.append(Move(at, self.state, new, reason))
        self.time_in[self.state] += max(0.0, at - self.since)
        if self.state is SeatState.TALKING:
            self.talk_time += max(0.0, at - self.connected_at)
        if self.state is SeatState.WRAP_UP or (
            self.state is SeatState.TALKING and new is not SeatState.WRAP_UP
        ):
            self.handle_times.append(max(0.0, at - self.connected_at))
        if new is SeatState.TALKING:
            self.connected_at = at
        self.state, self.reason, self.since = new, reason, at
        self.deadline = None
        self.checking = False
        if new is SeatState.READY:
            self.idle_since = at
        if new not in BUSY_STATES:
            self.call_id = None
        if new is SeatState.LOGGED_OUT:
            self.agent_id = ""
            self.pending = None

    def seconds_in(self, state: SeatState, now: float) -> float:
        """Seconds spent in `state` so far, the current stay included."""
        current = max(0.0, now - self.since) if state is self.state else 0.0
        return self.time_in[state] + current

    def matched(self, skills: frozenset[str]) -> tuple[int, int]:
        """How many of `skills` this seat has, and the sum of their levels."""
        levels = [self.skills.get(skill, 0) for skill in skills]
        return sum(1 for level in levels if level > 0), sum(levels)

    def settle(self, at: float) -> None:
        """Leave a busy state: READY, unless a not-ready or logout request is pending."""
        if self.pending is None:
            trigger = Trigger.RELEASE if self.state is SeatState.RESERVED else Trigger.FREE
            self.move(trigger, at, "")
            return
        trigger, reason = self.pending
        self.pending = None
        self.move(trigger, at, reason)
