"""The automatic call distributor: who answers which emergency call, and when.

Theory of operation
-------------------
`Distributor` is a pure state machine in the aioquic shape: `handle(event)` takes one fact
(an agent request or a call fact reported by a pool member) and returns the actions to carry
out; `next_deadline()` says when it next needs the time, and `on_deadline(now)` handles every
deadline that has passed. It never reads a clock: every event carries its own time.

After every input it dispatches: while a call waits with no seat ringing for it and a seat is
READY, the first call in queue order (priority, then arrival) rings the seat the strategy picks
(longest idle). A call that must wait because no seat is READY is answered at once with the
queue announcement, so no caller hears unanswered ringing; a call that is still not connected
`announce_after` seconds after its INVITE is announced too, so every caller is answered within
the 3 s target even while a seat rings. A seat that rings `ring_timeout` seconds without
answering is released and the call is offered to the next seat; after `max_no_answer` misses in
a row the seat is put NOT_READY("no-answer"). When the queue already holds `max_waiting` calls,
a new call is refused with 503 and Retry-After, so an overloaded centre says so at once instead
of letting calls hang.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from acd import events as ev
from acd.errors import AcdError
from acd.queue import CallQueue, WaitingCall
from acd.seats import BUSY_STATES, Move, Seat, SeatState, Trigger
from acd.strategy import LongestIdle, Strategy

BUSY_OR_DECLINED: Final = frozenset({486, 600, 603, 403})
"""Seat-leg statuses meaning the person did not take it (a miss), not an unreachable phone."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatConfig:
    seat_id: str
    """The seat's id."""
    contact: str
    """SIP URI to ring."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatView:
    """A seat as the API and the metrics see it."""

    seat_id: str
    contact: str
    agent_id: str
    state: SeatState
    reason: str
    since: float
    call_id: str | None
    answered: int
    missed: int
    consecutive_misses: int
    idle_since: float
    pending: str | None
    history: tuple[tuple[float, SeatState, SeatState, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingView:
    """A waiting call as the API sees it."""

    call_id: str
    caller: str
    priority: int
    arrived_at: float
    announced: bool
    ringing_seat: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallView:
    """A call the ACD is handling: 'waiting', 'ringing' or 'connected'."""

    call_id: str
    state: str
    seat_id: str | None
    arrived_at: float
    connected_at: float | None
    announced: bool


@dataclass(slots=True)
class _Connected:
    seat_id: str
    arrived_at: float
    connected_at: float
    announced: bool


class Distributor:
    """The ACD core (see the module docstring)."""

    def __init__(
        self, config: AcdConfig, seats: Iterable[SeatConfig], strategy: Strategy | None = None
    ) -> None:
        self.config = config
        self.strategy: Strategy = strategy or LongestIdle()
        self._seats: dict[str, Seat] = {}
        for order, seat in enumerate(seats):
            if seat.seat_id in self._seats:
                raise ValueError(f"seat {seat.seat_id!r} configured twice")
            self._seats[seat.seat_id] = Seat(seat.seat_id, seat.contact, order)
        self._queue = CallQueue()
        self._connected: dict[str, _Connected] = {}

    # -- input -------------------------------------------------------------------------------

    def handle(self, event: ev.AcdEvent) -> list[ev.AcdAction]:
        """Apply one event (now = event.at); return the actions to carry out."""
        now = event.at
        actions: list[ev.AcdAction] = []
        if isinstance(event, ev.AgentLoggedIn | ev.AgentLoggedOut):
            self._login_logout(event, now)
        elif isinstance(event, ev.AgentWentReady):
            self._ready(event.seat_id, now)
        elif isinstance(event, ev.AgentWentNotReady):
            self._not_ready(event.seat_id, event.reason, now)
        elif isinstance(event, ev.CallArrived):
            actions += self._arrived(event, now)
        elif isinstance(event, ev.SeatAnswered):
            actions += self._answered(event.call_id, event.seat_id, now)
        elif isinstance(event, ev.SeatRingFailed):
            actions += self._ring_failed(event.call_id, event.seat_id, event.status, now)
        elif isinstance(event, ev.CallAbandoned | ev.CallEnded | ev.CallFailed):
            actions += self._gone(event.call_id, now)
        return actions + self._dispatch(now)

    def next_deadline(self) -> float | None:
        """The earliest time `on_deadline` has work to do, if any."""
        times = [seat.deadline for seat in self._seats.values() if seat.deadline is not None]
        times += [
            call.arrived_at + self.config.announce_after
            for call in self._queue
            if not call.announced
        ]
        return min(times) if times else None

    def on_deadline(self, now: float) -> list[ev.AcdAction]:
        """Ring-no-answer, wrap-up ends and announcement guards due at or before `now`."""
        actions: list[ev.AcdAction] = []
        for seat in self._seats.values():
            if seat.deadline is None or seat.deadline > now:
                continue
            if seat.state is SeatState.RESERVED and seat.call_id is not None:
                call_id = seat.call_id
                actions.append(ev.CancelRing(call_id=call_id, seat_id=seat.seat_id))
                self._missed(seat, now, "no-answer")
                self._requeue(call_id, seat.seat_id)
            elif seat.state is SeatState.WRAP_UP:
                seat.settle(now)
        for call in self._queue:
            if not call.announced and call.arrived_at + self.config.announce_after <= now:
                call.announced = True
                actions.append(ev.Announce(call_id=call.call_id))
        return actions + self._dispatch(now)

    # -- views -------------------------------------------------------------------------------

    def seats(self) -> list[SeatView]:
        return [self._view(seat) for seat in self._seats.values()]

    def seat(self, seat_id: str) -> SeatView:
        return self._view(self._seat(seat_id))

    def waiting(self) -> list[WaitingView]:
        return [
            WaitingView(
                call_id=call.call_id,
                caller=call.caller,
                priority=call.priority,
                arrived_at=call.arrived_at,
                announced=call.announced,
                ringing_seat=call.ringing_seat,
            )
            for call in self._queue
        ]

    def call(self, call_id: str) -> CallView | None:
        waiting = self._queue.get(call_id)
        if waiting is not None:
            return CallView(
                call_id=call_id,
                state="ringing" if waiting.ringing_seat else "waiting",
                seat_id=waiting.ringing_seat,
                arrived_at=waiting.arrived_at,
                connected_at=None,
                announced=waiting.announced,
            )
        connected = self._connected.get(call_id)
        if connected is None:
            return None
        return CallView(
            call_id=call_id,
            state="connected",
            seat_id=connected.seat_id,
            arrived_at=connected.arrived_at,
            connected_at=connected.connected_at,
            announced=connected.announced,
        )

    def counts_by_state(self) -> dict[SeatState, int]:
        counts = dict.fromkeys(SeatState, 0)
        for seat in self._seats.values():
            counts[seat.state] += 1
        return counts

    # -- agents ------------------------------------------------------------------------------

    def _seat(self, seat_id: str) -> Seat:
        seat = self._seats.get(seat_id)
        if seat is None:
            raise AcdError(f"no seat {seat_id!r}", 404)
        return seat

    def _login_logout(self, event: ev.AgentLoggedIn | ev.AgentLoggedOut, now: float) -> None:
        seat = self._seat(event.seat_id)
        if isinstance(event, ev.AgentLoggedIn):
            if seat.state is not SeatState.LOGGED_OUT:
                raise AcdError(f"seat {seat.seat_id} is already logged in by {seat.agent_id}", 409)
            if not event.agent_id.strip():
                raise AcdError("an agent id is required", 409)
            seat.move(Trigger.LOGIN, now, "logged-in")
            seat.agent_id = event.agent_id
            return
        if seat.state is SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat.seat_id} is not logged in", 409)
        if seat.state in BUSY_STATES:
            seat.pending = (Trigger.LOGOUT, "logged-out")
        else:
            seat.move(Trigger.LOGOUT, now, "logged-out")

    def _ready(self, seat_id: str, now: float) -> None:
        seat = self._seat(seat_id)
        if seat.state is SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat_id} is not logged in", 409)
        if seat.state in (SeatState.NOT_READY, SeatState.WRAP_UP):
            seat.pending = None
            seat.consecutive_misses = 0
            seat.move(Trigger.READY, now, "")
        elif seat.state in (SeatState.RESERVED, SeatState.TALKING):
            seat.pending = None  # back to READY after this call, as usual

    def _not_ready(self, seat_id: str, reason: str, now: float) -> None:
        seat = self._seat(seat_id)
        reason = reason.strip() or "break"
        if seat.state is SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat_id} is not logged in", 409)
        if seat.state in BUSY_STATES:
            seat.pending = (Trigger.PAUSE, reason)
        else:
            seat.move(Trigger.PAUSE, now, reason)

    # -- calls -------------------------------------------------------------------------------

    def _arrived(self, event: ev.CallArrived, now: float) -> list[ev.AcdAction]:
        if event.call_id in self._queue or event.call_id in self._connected:
            return []
        if len(self._queue) >= self.config.max_waiting:
            return [
                ev.RejectCall(
                    call_id=event.call_id,
                    status=503,
                    reason="queue-full",
                    retry_after=self.config.retry_after,
                )
            ]
        self._queue.add(event.call_id, event.caller, event.priority, now)
        return []

    def _answered(self, call_id: str, seat_id: str, now: float) -> list[ev.AcdAction]:
        call = self._queue.get(call_id)
        seat = self._seats.get(seat_id)
        if call is None or seat is None or call.ringing_seat != seat_id:
            return [ev.CancelRing(call_id=call_id, seat_id=seat_id)]  # stale: drop that leg
        self._queue.remove(call_id)
        seat.move(Trigger.ANSWER, now, "")
        seat.answered += 1
        seat.consecutive_misses = 0
        self._connected[call_id] = _Connected(seat_id, call.arrived_at, now, call.announced)
        return [ev.ConnectSeat(call_id=call_id, seat_id=seat_id)]

    def _ring_failed(
        self, call_id: str, seat_id: str, status: int, now: float
    ) -> list[ev.AcdAction]:
        call = self._queue.get(call_id)
        seat = self._seats.get(seat_id)
        if call is None or seat is None or call.ringing_seat != seat_id:
            return []
        if status in BUSY_OR_DECLINED:
            self._missed(seat, now, "declined" if status != 486 else "busy")
        elif seat.pending is not None and seat.pending[0] is Trigger.LOGOUT:
            seat.settle(now)  # the agent is leaving anyway
        else:
            seat.pending = None
            seat.move(Trigger.PAUSE, now, "unreachable")
        self._requeue(call_id, seat_id)
        return []

    def _gone(self, call_id: str, now: float) -> list[ev.AcdAction]:
        """The caller left, or the call ended or failed, in whatever state it was."""
        connected = self._connected.pop(call_id, None)
        if connected is not None:
            seat = self._seats[connected.seat_id]
            if seat.state is SeatState.TALKING:
                if self.config.wrap_up > 0:
                    seat.move(Trigger.HANG_UP, now, "")
                    seat.deadline = now + self.config.wrap_up
                else:
                    seat.settle(now)
            return []
        call = self._queue.remove(call_id)
        if call is None or call.ringing_seat is None:
            return []
        seat = self._seats[call.ringing_seat]
        seat.settle(now)
        return [ev.CancelRing(call_id=call_id, seat_id=seat.seat_id)]

    # -- internals ---------------------------------------------------------------------------

    def _missed(self, seat: Seat, now: float, why: str) -> None:
        seat.missed += 1
        seat.consecutive_misses += 1
        if seat.consecutive_misses >= self.config.max_no_answer and (
            seat.pending is None or seat.pending[0] is not Trigger.LOGOUT
        ):
            seat.pending = None
            seat.move(Trigger.PAUSE, now, "no-answer")
        else:
            seat.settle(now)

    def _requeue(self, call_id: str, seat_id: str) -> None:
        call = self._queue.get(call_id)
        if call is not None:
            call.ringing_seat = None
            call.tried.add(seat_id)

    def _dispatch(self, now: float) -> list[ev.AcdAction]:
        actions: list[ev.AcdAction] = []
        ready = [seat for seat in self._seats.values() if seat.state is SeatState.READY]
        for call in self._queue:
            if call.ringing_seat is not None:
                continue
            if ready:
                seat = self.strategy.choose(ready, call, now)
                ready.remove(seat)
                actions.append(self._ring(call, seat, now))
            elif not call.announced:
                call.announced = True
                actions.append(ev.Announce(call_id=call.call_id))
        return actions

    def _ring(self, call: WaitingCall, seat: Seat, now: float) -> ev.RingSeat:
        seat.move(Trigger.OFFER, now, "")
        seat.call_id = call.call_id
        seat.deadline = now + self.config.ring_timeout
        call.ringing_seat = seat.seat_id
        return ev.RingSeat(call_id=call.call_id, seat_id=seat.seat_id, contact=seat.contact)

    @staticmethod
    def _view(seat: Seat) -> SeatView:
        return SeatView(
            seat_id=seat.seat_id,
            contact=seat.contact,
            agent_id=seat.agent_id,
            state=seat.state,
            reason=seat.reason,
            since=seat.since,
            call_id=seat.call_id,
            answered=seat.answered,
            missed=seat.missed,
            consecutive_misses=seat.consecutive_misses,
            idle_since=seat.idle_since,
            pending=None if seat.pending is None else seat.pending[0].value,
            history=tuple((m.at, m.old, m.new, m.reason) for m in seat.history),
        )


__all__ = ["AcdConfig", "CallView", "Distributor", "Move", "SeatConfig", "SeatView", "WaitingView"]
