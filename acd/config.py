"""What the ACD core is told once, at start: timings, queues (seat groups) and seats.

A queue is a seat group with its own strategy, skills handling, maximum wait and overflow
target. A seat serves one or more queues and has skills with levels (a dialect it speaks, a
video-capable console); a call may ask for skills, which the queue honours strictly for
`relax_skills_after` seconds and as a preference afterwards, because in an emergency centre
a caller is better served now by any call-taker than later by the ideal one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

MAX_OUTGOING: Final = 3
"""Outgoing legs one call may have at once (pjsua2 allows 4 legs per process, the caller
holds one): seats ringing in parallel plus an overflow leg never exceed this."""
OVERFLOW_PREFIX: Final = "overflow:"
"""Seat ids of overflow legs (a neighbouring centre's number) start with this."""


def overflow_seat_id(queue: str) -> str:
    """The pseudo seat id of a queue's external overflow leg."""
    return f"{OVERFLOW_PREFIX}{queue}"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """One seat group."""

    name: str
    strategy: str = "longest-idle"
    """longest-idle | round-robin | fewest-calls | least-talk-time | random | skills."""
    relax_skills_after: float = 2.0
    """Seconds after arrival when a call's skills stop being required (0 = never required)."""
    max_wait: float = 0.0
    """Seconds a call may wait before it overflows (0 = never)."""
    overflow: str = ""
    """'queue:<name>' (another seat group) or a SIP URI (a neighbouring centre); '' = none."""
    overflow_retry: float = 30.0
    """After a failed external overflow attempt, try again this many seconds later."""
    max_expected_wait: float = 90.0
    """Admission: a new call whose expected wait is longer is overflowed, or refused (503)."""

    @property
    def overflow_queue(self) -> str:
        return self.overflow[len("queue:") :] if self.overflow.startswith("queue:") else ""

    @property
    def overflow_uri(self) -> str:
        return self.overflow if self.overflow and not self.overflow_queue else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdConfig:
    ring_timeout: float = 8.0
    """Seconds a seat may ring before the call moves on to the next seat."""
    announce_after: float = 2.0
    """Seconds after arrival when a caller not yet connected gets the announcement."""
    wrap_up: float = 3.0
    """Seconds of wrap-up after a connected call ends (0 = straight back to READY)."""
    max_waiting: int = 50
    """Calls waiting (not yet connected) beyond which a new call is refused."""
    retry_after: int = 10
    """Retry-After seconds on a refusal."""
    max_no_answer: int = 2
    """Consecutive misses before a seat is put NOT_READY("no-answer")."""
    busy_delay: float = 5.0
    """A seat whose phone answered busy is not offered calls for this long (then READY)."""
    reject_delay: float = 10.0
    """Same after a seat declined a call."""
    parallel_after: float = 1.5
    """Age of a ringing call at which more than one ready seat is rung at once (the 3 s
    guard); 0 = never ring in parallel."""
    parallel_max: int = 2
    """Seats ringing at once for one call when the guard applies (at most MAX_OUTGOING)."""
    check_interval: float = 15.0
    """A TALKING seat's leg is verified with its pool member this often."""
    check_grace: float = 5.0
    """No answer to a check within this long: the member is wedged, the call is lost."""
    default_handle_time: float = 60.0
    """Handle time assumed for expected-wait estimates before seats have a history."""
    repeat_window: float = 600.0
    """A caller calling again within this many seconds is served before others."""
    queues: tuple[QueueConfig, ...] = (QueueConfig(name="main"),)
    """Seat groups; the first is where calls go unless routed elsewhere."""
    seed: int = 110
    """Seed of the 'random' strategy (the core stays deterministic)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatConfig:
    seat_id: str
    """The seat's id."""
    contact: str
    """SIP URI to ring."""
    queues: tuple[str, ...] = ()
    """Queues the seat serves (() = the first queue)."""
    skills: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Skill -> level (1..100, higher is better)."""
    wrap_up: float | None = None
    """This seat's wrap-up seconds (None = AcdConfig.wrap_up)."""
