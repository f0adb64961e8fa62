"""How the ACD picks a seat among the READY ones for the call at the head of the queue.

A strategy sees the ready seats and the call and returns one seat. Every strategy first avoids
seats that already failed to take this very call (so a silent phone is not rung twice in a row
while others are free), then applies its own order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from acd.queue import WaitingCall
from acd.seats import Seat


class Strategy(Protocol):
    def choose(self, ready: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        """One of `ready` (never empty)."""
        ...


class LongestIdle:
    """The seat that has been READY the longest; ties go to the seat listed first."""

    def choose(self, ready: Sequence[Seat], call: WaitingCall, now: float) -> Seat:
        return min(
            ready, key=lambda seat: (seat.seat_id in call.tried, seat.idle_since, seat.order)
        )


STRATEGIES: dict[str, type[LongestIdle]] = {"longest-idle": LongestIdle}
