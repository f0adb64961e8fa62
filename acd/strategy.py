"""How a queue picks one seat among the eligible READY ones for a call.

Every strategy ranks first by what serves the caller: seats that already failed to take this
very call go last (a silent phone is not rung twice in a row while others are free), and seats
with more of the call's skills go first (this matters once a call's skills are only preferred).
Then the strategy's own order decides; ties go to the seat configured first.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from acd.queue import WaitingCall
from acd.seats import Seat


class Strategy(Protocol):
    def choose(self, candidates: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        """One of `candidates` (never empty)."""
        ...


def _common(seat: Seat, call: WaitingCall) -> tuple[bool, int]:
    matched, _levels = seat.matched(call.skills)
    return (seat.seat_id in call.tried, -matched)


class _Keyed(abc.ABC):
    """A strategy that is an order on seats: the subclass gives the order's key."""

    @abc.abstractmethod
    def key(self, seat: Seat, call: WaitingCall, now: float) -> tuple[float, ...]: ...

    def choose(self, candidates: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        return min(candidates, key=lambda s: (*_common(s, call), *self.key(s, call, now), s.order))


class LongestIdle(_Keyed):
    """The seat that has been READY the longest (the fairest for call-takers)."""

    def key(self, seat: Seat, call: WaitingCall, now: float) -> tuple[float, ...]:
        return (seat.idle_since,)


class FewestCalls(_Keyed):
    """The seat that has answered the fewest calls this shift."""

    def key(self, seat: Seat, call: WaitingCall, now: float) -> tuple[float, ...]:
        return (seat.answered, seat.idle_since)


class LeastTalkTime(_Keyed):
    """The seat with the least time talking this shift."""

    def key(self, seat: Seat, call: WaitingCall, now: float) -> tuple[float, ...]:
        return (seat.talk_time, seat.idle_since)


class Skills(_Keyed):
    """The seat best at what the call asks for (sum of skill levels), then longest idle."""

    def key(self, seat: Seat, call: WaitingCall, now: float) -> tuple[float, ...]:
        return (-seat.matched(call.skills)[1], seat.idle_since)


class RoundRobin:
    """Seats in configured order, each pick continuing after the last seat picked."""

    def __init__(self) -> None:
        self.last = -1

    def choose(self, candidates: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        def key(seat: Seat) -> tuple[bool, int, bool, int]:
            return (*_common(seat, call), seat.order <= self.last, seat.order)

        seat = min(candidates, key=key)
        self.last = seat.order
        return seat


class Random:
    """Any eligible seat, uniformly (seeded: the core stays deterministic)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choose(self, candidates: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        best = min(_common(seat, call) for seat in candidates)
        pool = sorted(
            (seat for seat in candidates if _common(seat, call) == best), key=lambda s: s.order
        )
        return self.rng.choice(pool)


STRATEGIES: dict[str, Callable[[int], Strategy]] = {
    "longest-idle": lambda seed: LongestIdle(),
    "round-robin": lambda seed: RoundRobin(),
    "fewest-calls": lambda seed: FewestCalls(),
    "least-talk-time": lambda seed: LeastTalkTime(),
    "random": lambda seed: Random(seed),
    "skills": lambda seed: Skills(),
}
"""Strategy name (as in the config) -> factory taking the ACD's seed."""
