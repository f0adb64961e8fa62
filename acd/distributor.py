"""The automatic call distributor: who answers which emergency call, and when.

Theory of operation
-------------------
`Distributor` is a pure state machine in the aioquic shape: `handle(event)` takes one fact
(an agent request or a call fact reported by a pool member) and returns the actions to carry
out; `next_deadline()` says when it next needs the time, and `on_deadline(now)` handles every
deadline that has passed. It never reads a clock: every event carries its own time.

Admission. A new call is refused (503 with Retry-After, so the carrier routes it elsewhere)
when the queue is at `max_waiting`, or when its expected wait, estimated from the seats' recent
handle times, exceeds its queue's `max_expected_wait` and the queue has no overflow target; with
one it is overflowed at once. A repeat caller (a callback after a lost call) gets a priority
boost; calls are served by priority, then arrival.

Dispatch, after every input. Each waiting call with no seat ringing for it rings the seat its
queue's strategy picks among the READY seats that serve the queue and have the call's skills
(required for `relax_skills_after` s, preferred afterwards). A call that must wait is answered
with the announcement; so is any call not connected `announce_after` s after its INVITE. The
3 s guard: once a ringing call is `parallel_after` s old, spare READY seats (those no other
waiting call can use) ring for it too, up to `parallel_max`; the first to answer wins and the
others are cancelled. A call waiting `max_wait` s overflows: to another seat group, or by
ringing the neighbouring centre's number alongside any local seat.

Seats never drift. Every transient seat state has a deadline: RESERVED rings at most
`ring_timeout` s (then the call is offered to the next seat and the silent seat counts a miss;
`max_no_answer` misses in a row pause it), busy and decline delays end by themselves, WRAP_UP
ends, and a TALKING seat's leg is checked with the pool member every `check_interval` s: a
member that says the leg is gone, or does not answer within `check_grace` s, frees the seat.
A seat leg that breaks mid-call (`SeatLost`) pauses the seat ("phone-lost") and re-offers the
caller ahead of everyone else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from acd import events as ev
from acd.config import (
    MAX_OUTGOING,
    OVERFLOW_PREFIX,
    AcdConfig,
    QueueConfig,
    SeatConfig,
    overflow_seat_id,
)
from acd.errors import AcdError
from acd.estimate import expected_wait, mean_handle_time
from acd.priority import REOFFER, RecentCallers
from acd.queue import CallQueue, WaitingCall
from acd.seats import BUSY_STATES, Move, Seat, SeatState, Trigger
from acd.strategy import STRATEGIES, Strategy

BUSY: Final = 486
DECLINED: Final = frozenset({600, 603, 403})
"""Seat-leg statuses meaning the person did not take it (a miss), not an unreachable phone."""
AUTO_RETURN: Final = frozenset({"busy", "declined"})
"""NOT_READY reasons the ACD set for a while; the seat returns to READY at the deadline."""
PHONE_DOWN: Final = frozenset({"phone-lost", "unreachable"})
"""NOT_READY reasons the ACD set because the phone failed; the seat returns to READY when the
phone is back (SeatPhoneBack), or when the agent says so."""


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
    queues: tuple[str, ...]
    skills: dict[str, int]
    wrap_up: float
    talk_time: float
    deadline: float | None
    time_in: dict[SeatState, float]
    handle_time: float | None
    history: tuple[tuple[float, SeatState, SeatState, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingView:
    """A waiting call as the API sees it."""

    call_id: str
    caller: str
    queue: str
    priority: int
    priority_reason: str
    skills: tuple[str, ...]
    arrived_at: float
    announced: bool
    ringing: tuple[str, ...]
    overflow_ringing: str

    @property
    def ringing_seat(self) -> str | None:
        return self.ringing[0] if self.ringing else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallView:
    """A call the ACD is handling: 'waiting', 'ringing' or 'connected'."""

    call_id: str
    state: str
    queue: str
    seat_id: str | None
    arrived_at: float
    connected_at: float | None
    announced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    """A seat group's live figures."""

    name: str
    strategy: str
    waiting: int
    oldest_arrival: float | None
    staffed: int
    ready: int
    expected_wait: float


@dataclass(slots=True)
class _Connected:
    seat_id: str
    call: WaitingCall
    connected_at: float
    overflowed: bool


class Distributor:
    """The ACD core (see the module docstring)."""

    def __init__(
        self, config: AcdConfig, seats: Iterable[SeatConfig], strategy: Strategy | None = None
    ) -> None:
        if not config.queues:
            raise ValueError("at least one queue is needed")
        if not 1 <= config.parallel_max <= MAX_OUTGOING:
            raise ValueError(f"parallel_max must be 1..{MAX_OUTGOING}")
        self.config = config
        self._queues: dict[str, QueueConfig] = {}
        self._strategies: dict[str, Strategy] = {}
        for index, queue in enumerate(config.queues):
            if queue.name in self._queues:
                raise ValueError(f"queue {queue.name!r} configured twice")
            if queue.strategy not in STRATEGIES:
                raise ValueError(f"queue {queue.name!r}: unknown strategy {queue.strategy!r}")
            self._queues[queue.name] = queue
            self._strategies[queue.name] = strategy or STRATEGIES[queue.strategy](
                config.seed + index
            )
        for queue in config.queues:
            target = queue.overflow_queue
            if target and (target not in self._queues or target == queue.name):
                raise ValueError(f"queue {queue.name!r}: overflow to unknown queue {target!r}")
        self._default = config.queues[0].name
        self._seats: dict[str, Seat] = {}
        for order, item in enumerate(seats):
            if item.seat_id in self._seats:
                raise ValueError(f"seat {item.seat_id!r} configured twice")
            if item.seat_id.startswith(OVERFLOW_PREFIX):
                raise ValueError(f"seat id {item.seat_id!r} is reserved for overflow legs")
            unknown = set(item.queues) - set(self._queues)
            if unknown:
                raise ValueError(f"seat {item.seat_id!r}: unknown queues {sorted(unknown)}")
            self._seats[item.seat_id] = Seat(
                item.seat_id,
                item.contact,
                order,
                queues=frozenset(item.queues or (self._default,)),
                skills=dict(item.skills),
                wrap_up=config.wrap_up if item.wrap_up is None else item.wrap_up,
            )
        self._queue = CallQueue()
        self._connected: dict[str, _Connected] = {}
        self._recent = RecentCallers(config.repeat_window)
        self._now = 0.0

    # -- input -------------------------------------------------------------------------------

    def handle(self, event: ev.AcdEvent) -> list[ev.AcdAction]:
        """Apply one event (now = event.at); return the actions to carry out."""
        now = event.at
        self._now = max(self._now, now)
        actions: list[ev.AcdAction] = []
        if isinstance(event, ev.AgentLoggedIn):
            self._login(event, now)
        elif isinstance(event, ev.AgentLoggedOut):
            actions += self._logout(event.seat_id, event.forced, now)
        elif isinstance(event, ev.AgentWentReady):
            self._ready(event.seat_id, now)
        elif isinstance(event, ev.AgentWentNotReady):
            actions += self._not_ready(event.seat_id, event.reason, event.forced, now)
        elif isinstance(event, ev.SeatSkillsChanged):
            self._skills(event)
        elif isinstance(event, ev.CallArrived):
            actions += self._arrived(event, now)
        elif isinstance(event, ev.SeatAnswered):
            actions += self._answered(event.call_id, event.seat_id, now)
        elif isinstance(event, ev.SeatRingFailed):
            actions += self._ring_failed(event.call_id, event.seat_id, event.status, now)
        elif isinstance(event, ev.CallAbandoned):
            actions += self._gone(event.call_id, "abandoned", now)
        elif isinstance(event, ev.CallEnded | ev.CallFailed):
            actions += self._gone(event.call_id, "failed", now)
        elif isinstance(event, ev.SeatLost):
            actions += self._seat_lost(event.call_id, event.seat_id, event.reason, now)
        elif isinstance(event, ev.SeatLegChecked):
            actions += self._checked(event.call_id, event.seat_id, event.alive, now)
        elif isinstance(event, ev.SeatPhoneBack):
            seat = self._seat(event.seat_id)
            if seat.state is SeatState.NOT_READY and seat.reason in PHONE_DOWN:
                seat.consecutive_misses = 0
                seat.move(Trigger.READY, now, "phone back")
        actions += self._dispatch(now)
        due = self.next_deadline()
        if due is not None and due <= now:  # e.g. a re-offered call already past its max wait
            actions += self.on_deadline(now)
        return actions

    def next_deadline(self) -> float | None:
        """The earliest time `on_deadline` has work to do, if any."""
        times = [seat.deadline for seat in self._seats.values() if seat.deadline is not None]
        times += [at for call in self._queue for at in call.timers.values()]
        return min(times) if times else None

    def on_deadline(self, now: float) -> list[ev.AcdAction]:
        """Every seat and call deadline due at or before `now`."""
        self._now = max(self._now, now)
        actions: list[ev.AcdAction] = []
        for seat in self._seats.values():
            if seat.deadline is not None and seat.deadline <= now:
                actions += self._seat_deadline(seat, now)
        for call in list(self._queue):
            for name, at in sorted(call.timers.items(), key=lambda item: item[1]):
                if at > now or call.call_id not in self._queue:
                    continue
                del call.timers[name]
                if name == "announce" and not call.announced:
                    call.announced = True
                    actions.append(ev.Announce(call_id=call.call_id))
                elif name == "guard":
                    call.guarded = True
                elif name == "relax":
                    call.relaxed = True
                elif name == "overflow":
                    actions += self._overflow(call, now)
        return actions + self._dispatch(now)

    # -- views -------------------------------------------------------------------------------

    def seats(self, now: float | None = None) -> list[SeatView]:
        at = self._now if now is None else now
        return [self._view(seat, at) for seat in self._seats.values()]

    def seat(self, seat_id: str, now: float | None = None) -> SeatView:
        return self._view(self._seat(seat_id), self._now if now is None else now)

    def waiting(self) -> list[WaitingView]:
        return [
            WaitingView(
                call_id=call.call_id,
                caller=call.caller,
                queue=call.queue,
                priority=call.priority,
                priority_reason=call.priority_reason,
                skills=tuple(sorted(call.skills)),
                arrived_at=call.arrived_at,
                announced=call.announced,
                ringing=tuple(sorted(call.ringing)),
                overflow_ringing=call.overflow_ringing,
            )
            for call in self._queue
        ]

    def call(self, call_id: str) -> CallView | None:
        waiting = self._queue.get(call_id)
        if waiting is not None:
            return CallView(
                call_id=call_id,
                state="ringing" if waiting.outgoing else "waiting",
                queue=waiting.queue,
                seat_id=min(waiting.ringing) if waiting.ringing else None,
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
            queue=connected.call.queue,
            seat_id=connected.seat_id,
            arrived_at=connected.call.arrived_at,
            connected_at=connected.connected_at,
            announced=connected.call.announced,
        )

    def queues(self) -> list[QueueView]:
        views = []
        for name, queue in self._queues.items():
            members = [s for s in self._seats.values() if name in s.queues]
            arrivals = [call.arrived_at for call in self._queue if call.queue == name]
            views.append(
                QueueView(
                    name=name,
                    strategy=queue.strategy,
                    waiting=len(arrivals),
                    oldest_arrival=min(arrivals, default=None),
                    staffed=sum(1 for s in members if s.state is not SeatState.LOGGED_OUT),
                    ready=sum(1 for s in members if s.state is SeatState.READY),
                    expected_wait=self.expected_wait(name, 0),
                )
            )
        return views

    def expected_wait(self, queue: str, priority: int) -> float:
        """Expected wait of a new call of `priority` in `queue`, in seconds (inf: nobody)."""
        members = [s for s in self._seats.values() if queue in s.queues]
        # a call a seat rings for is as good as in service: that seat is taken
        ahead = sum(
            1 for c in self._queue if c.queue == queue and c.priority >= priority and not c.ringing
        )
        return expected_wait(
            ahead=ahead,
            free=sum(1 for s in members if s.state is SeatState.READY),
            staffed=sum(1 for s in members if s.state is not SeatState.LOGGED_OUT),
            handle=mean_handle_time(
                (s.handle_times for s in members), self.config.default_handle_time
            ),
        )

    def counts_by_state(self) -> dict[SeatState, int]:
        counts = dict.fromkeys(SeatState, 0)
        for seat in self._seats.values():
            counts[seat.state] += 1
        return counts

    # -- agents and supervisors --------------------------------------------------------------

    def _seat(self, seat_id: str) -> Seat:
        seat = self._seats.get(seat_id)
        if seat is None:
            raise AcdError(f"no seat {seat_id!r}", 404)
        return seat

    def _login(self, event: ev.AgentLoggedIn, now: float) -> None:
        seat = self._seat(event.seat_id)
        if seat.state is not SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat.seat_id} is already logged in by {seat.agent_id}", 409)
        if not event.agent_id.strip():
            raise AcdError("an agent id is required", 409)
        seat.move(Trigger.LOGIN, now, "logged-in")
        seat.agent_id = event.agent_id

    def _logout(self, seat_id: str, forced: bool, now: float) -> list[ev.AcdAction]:
        seat = self._seat(seat_id)
        if seat.state is SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat.seat_id} is not logged in", 409)
        return self._pause_or_defer(seat, Trigger.LOGOUT, "logged-out", forced, now)

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

    def _not_ready(self, seat_id: str, reason: str, forced: bool, now: float) -> list[ev.AcdAction]:
        seat = self._seat(seat_id)
        if seat.state is SeatState.LOGGED_OUT:
            raise AcdError(f"seat {seat_id} is not logged in", 409)
        return self._pause_or_defer(seat, Trigger.PAUSE, reason.strip() or "break", forced, now)

    def _pause_or_defer(
        self, seat: Seat, trigger: Trigger, reason: str, forced: bool, now: float
    ) -> list[ev.AcdAction]:
        """Apply a pause or logout now, or after the seat's call: a call is never cut."""
        actions: list[ev.AcdAction] = []
        if seat.state is SeatState.TALKING or (seat.state in BUSY_STATES and not forced):
            seat.pending = (trigger, reason)
            return actions
        if seat.state is SeatState.RESERVED:
            actions += self._withdraw(seat)
        seat.pending = None
        seat.move(trigger, now, reason)
        return actions

    def _skills(self, event: ev.SeatSkillsChanged) -> None:
        seat = self._seat(event.seat_id)
        if event.queues is not None:
            unknown = set(event.queues) - set(self._queues)
            if unknown or not event.queues:
                raise AcdError(f"unknown or no queues: {sorted(unknown)}", 409)
            seat.queues = frozenset(event.queues)
        if event.skills is not None:
            seat.skills = {name: level for name, level in event.skills.items() if level > 0}

    # -- calls -------------------------------------------------------------------------------

    def _arrived(self, event: ev.CallArrived, now: float) -> list[ev.AcdAction]:
        if event.call_id in self._queue or event.call_id in self._connected:
            return []
        queue = self._queues.get(event.queue) or self._queues[self._default]
        if len(self._queue) >= self.config.max_waiting:
            return [self._reject(event.call_id, "queue-full")]
        boost, why = self._recent.boost(event.caller, now)
        call = WaitingCall(
            call_id=event.call_id,
            caller=event.caller,
            priority=event.priority + boost,
            arrived_at=now,
            seq=0,
            queue=queue.name,
            skills=event.skills,
            priority_reason=why,
        )
        wait = self.expected_wait(queue.name, call.priority)
        overflow_now = wait > queue.max_expected_wait
        if overflow_now and not queue.overflow:
            reason = "no-call-taker" if math.isinf(wait) else "expected-wait"
            return [self._reject(event.call_id, reason)]
        self._arm(call, queue, now)
        self._queue.add(call)
        return self._overflow(call, now) if overflow_now else []

    def _arm(self, call: WaitingCall, queue: QueueConfig, now: float) -> None:
        """Set the call's deadlines for `queue`, counted from its arrival."""
        c = self.config
        if not call.announced:
            call.timers["announce"] = call.arrived_at + c.announce_after
        if c.parallel_after > 0 and c.parallel_max > 1 and not call.guarded:
            call.timers["guard"] = call.arrived_at + c.parallel_after
        call.relaxed = call.relaxed or not call.skills or queue.relax_skills_after <= 0
        if not call.relaxed:
            call.timers["relax"] = call.arrived_at + queue.relax_skills_after
        if queue.overflow and queue.max_wait > 0:
            call.timers["overflow"] = max(now, call.arrived_at + queue.max_wait)
        else:
            call.timers.pop("overflow", None)

    def _reject(self, call_id: str, reason: str) -> ev.RejectCall:
        return ev.RejectCall(
            call_id=call_id, status=503, reason=reason, retry_after=self.config.retry_after
        )

    def _overflow(self, call: WaitingCall, now: float) -> list[ev.AcdAction]:
        queue = self._queues[call.queue]
        if queue.overflow_queue:
            call.visited.add(queue.name)
            if queue.overflow_queue in call.visited:  # no loops between seat groups
                call.timers.pop("overflow", None)
                return []
            call.queue = queue.overflow_queue
            self._arm(call, self._queues[call.queue], now)
            if call.timers.get("overflow", math.inf) <= now:  # already waited long enough there
                del call.timers["overflow"]
                return self._overflow(call, now)
            return []
        if not queue.overflow_uri or call.overflow_ringing:
            return []
        if call.outgoing >= MAX_OUTGOING:
            call.timers["overflow"] = now + self.config.ring_timeout
            return []
        call.overflow_ringing = overflow_seat_id(queue.name)
        return [
            ev.RingSeat(
                call_id=call.call_id, seat_id=call.overflow_ringing, contact=queue.overflow_uri
            )
        ]

    def _answered(self, call_id: str, seat_id: str, now: float) -> list[ev.AcdAction]:
        call = self._queue.get(call_id)
        if seat_id.startswith(OVERFLOW_PREFIX):
            if call is None or call.overflow_ringing != seat_id:
                return [ev.CancelRing(call_id=call_id, seat_id=seat_id)]
            self._queue.remove(call_id)
            actions = self._cancel_all(call, now, keep=seat_id)
            self._connected[call_id] = _Connected(seat_id, call, now, overflowed=True)
            return [
                *actions,
                ev.ConnectSeat(call_id=call_id, seat_id=seat_id),
                self._dequeued(call, "overflowed", seat_id, now),
            ]
        seat = self._seats.get(seat_id)
        if call is None or seat is None or seat_id not in call.ringing:
            return [ev.CancelRing(call_id=call_id, seat_id=seat_id)]  # stale: drop that leg
        self._queue.remove(call_id)
        rung = len(call.ringing)
        actions = self._cancel_all(call, now, keep=seat_id)
        seat.move(Trigger.ANSWER, now, "")
        seat.answered += 1
        seat.consecutive_misses = 0
        if self.config.check_interval > 0:
            seat.deadline = now + self.config.check_interval
        self._connected[call_id] = _Connected(seat_id, call, now, overflowed=False)
        notice = self._dequeued(call, "answered", seat_id, now, rung)
        return [*actions, ev.ConnectSeat(call_id=call_id, seat_id=seat_id), notice]

    def _ring_failed(
        self, call_id: str, seat_id: str, status: int, now: float
    ) -> list[ev.AcdAction]:
        call = self._queue.get(call_id)
        if seat_id.startswith(OVERFLOW_PREFIX):
            if call is not None and call.overflow_ringing == seat_id:
                call.overflow_ringing = ""
                retry = self._queues[call.queue].overflow_retry
                call.timers["overflow"] = now + retry
            return []
        seat = self._seats.get(seat_id)
        if call is None or seat is None or seat_id not in call.ringing:
            return []
        call.ringing.discard(seat_id)
        call.tried.add(seat_id)
        if status == BUSY:
            self._missed(seat, now, "busy", self.config.busy_delay)
        elif status in DECLINED:
            self._missed(seat, now, "declined", self.config.reject_delay)
        elif seat.pending is not None and seat.pending[0] is Trigger.LOGOUT:
            seat.settle(now)  # the agent is leaving anyway
        else:
            seat.pending = None
            seat.move(Trigger.PAUSE, now, "unreachable")
        return []

    def _gone(self, call_id: str, outcome: str, now: float) -> list[ev.AcdAction]:
        """The caller left, or the call ended or failed, in whatever state it was."""
        connected = self._connected.pop(call_id, None)
        if connected is not None:
            self._recent.remember(connected.call.caller, now, "answered")
            seat = self._seats.get(connected.seat_id)
            if seat is not None and seat.state is SeatState.TALKING and seat.call_id == call_id:
                self._hang_up(seat, now)
            return []
        call = self._queue.remove(call_id)
        if call is None:
            return []
        self._recent.remember(call.caller, now, outcome)
        return [*self._cancel_all(call, now), self._dequeued(call, outcome, None, now)]

    def _seat_lost(self, call_id: str, seat_id: str, reason: str, now: float) -> list[ev.AcdAction]:
        connected = self._connected.get(call_id)
        if connected is None or connected.seat_id != seat_id or connected.overflowed:
            return []
        del self._connected[call_id]
        seat = self._seats[seat_id]
        if seat.state is SeatState.TALKING and seat.call_id == call_id:
            if seat.pending is not None and seat.pending[0] is Trigger.LOGOUT:
                seat.settle(now)
            else:
                seat.pending = None
                seat.move(Trigger.PAUSE, now, "phone-lost")
        # the caller was already answered and hears the announcement again: serve them first
        old = connected.call
        call = WaitingCall(
            call_id=call_id,
            caller=old.caller,
            priority=max(old.priority, REOFFER),
            arrived_at=old.arrived_at,
            seq=0,
            queue=old.queue,
            skills=old.skills,
            announced=True,
            tried={seat_id},
            relaxed=True,
            guarded=True,
            priority_reason=f"re-offer ({reason})",
        )
        self._arm(call, self._queues[call.queue], now)
        self._queue.add(call)
        return []

    def _checked(self, call_id: str, seat_id: str, alive: bool, now: float) -> list[ev.AcdAction]:
        seat = self._seats.get(seat_id)
        if seat is None or seat.state is not SeatState.TALKING or seat.call_id != call_id:
            return []
        if alive:
            seat.checking = False
            seat.deadline = now + self.config.check_interval
            return []
        return self._seat_lost(call_id, seat_id, "reconciled: no such leg", now)

    # -- internals ---------------------------------------------------------------------------

    def _seat_deadline(self, seat: Seat, now: float) -> list[ev.AcdAction]:
        if seat.state is SeatState.RESERVED and seat.call_id is not None:
            actions = self._withdraw(seat)
            self._missed(seat, now, "no-answer", 0.0)
            return actions
        if seat.state is SeatState.WRAP_UP:
            seat.settle(now)
        elif seat.state is SeatState.TALKING and seat.call_id is not None:
            if not seat.checking:
                seat.checking = True
                seat.deadline = now + self.config.check_grace
                return [ev.CheckSeatLeg(call_id=seat.call_id, seat_id=seat.seat_id)]
            # the member did not answer: it is wedged or gone; its call cannot be trusted
            call_id = seat.call_id
            connected = self._connected.pop(call_id, None)
            if connected is not None:
                self._recent.remember(connected.call.caller, now, "failed")
            self._hang_up(seat, now)
            return [ev.DropCall(call_id=call_id, reason="pool member did not answer a leg check")]
        elif seat.state is SeatState.NOT_READY and seat.reason in AUTO_RETURN:
            seat.move(Trigger.READY, now, "")
        else:
            seat.deadline = None
        return []

    def _hang_up(self, seat: Seat, now: float) -> None:
        if seat.wrap_up > 0:
            seat.move(Trigger.HANG_UP, now, "")
            seat.deadline = now + seat.wrap_up
        else:
            seat.settle(now)

    def _withdraw(self, seat: Seat) -> list[ev.AcdAction]:
        """Stop ringing a RESERVED seat; its call keeps its place in the queue."""
        call_id = seat.call_id
        if call_id is None:
            return []
        call = self._queue.get(call_id)
        if call is not None:
            call.ringing.discard(seat.seat_id)
            call.tried.add(seat.seat_id)
        return [ev.CancelRing(call_id=call_id, seat_id=seat.seat_id)]

    def _cancel_all(self, call: WaitingCall, now: float, keep: str = "") -> list[ev.AcdAction]:
        """Cancel every leg ringing for `call` except `keep`; their seats go back to READY."""
        actions: list[ev.AcdAction] = []
        for seat_id in sorted(call.ringing):
            if seat_id == keep:
                continue
            actions.append(ev.CancelRing(call_id=call.call_id, seat_id=seat_id))
            self._seats[seat_id].settle(now)
        if call.overflow_ringing and call.overflow_ringing != keep:
            actions.append(ev.CancelRing(call_id=call.call_id, seat_id=call.overflow_ringing))
        call.ringing.clear()
        call.overflow_ringing = ""
        return actions

    def _dequeued(
        self, call: WaitingCall, outcome: str, seat_id: str | None, now: float, rung: int = 0
    ) -> ev.CallDequeued:
        return ev.CallDequeued(
            call_id=call.call_id,
            queue=call.queue,
            outcome=outcome,
            waited=now - call.arrived_at,
            seat_id=seat_id,
            rung_at_once=rung,
            priority=call.priority,
        )

    def _missed(self, seat: Seat, now: float, why: str, delay: float) -> None:
        seat.missed += 1
        seat.consecutive_misses += 1
        if seat.pending is not None and seat.pending[0] is Trigger.LOGOUT:
            seat.settle(now)
        elif seat.consecutive_misses >= self.config.max_no_answer:
            seat.pending = None
            seat.move(Trigger.PAUSE, now, "no-answer")
        elif seat.pending is not None or delay <= 0:
            seat.settle(now)
        else:
            seat.move(Trigger.PAUSE, now, why)
            seat.deadline = now + delay

    def _eligible(self, seat: Seat, call: WaitingCall) -> bool:
        if call.queue not in seat.queues:
            return False
        return call.relaxed or seat.matched(call.skills)[0] == len(call.skills)

    def _dispatch(self, now: float) -> list[ev.AcdAction]:
        actions: list[ev.AcdAction] = []
        ready = [seat for seat in self._seats.values() if seat.state is SeatState.READY]
        for call in self._queue:
            if call.ringing:
                continue
            candidates = [seat for seat in ready if self._eligible(seat, call)]
            if candidates and call.outgoing < MAX_OUTGOING:
                seat = self._strategies[call.queue].choose(candidates, call, now)
                ready.remove(seat)
                actions.append(self._ring(call, seat, now))
            elif not call.announced:
                call.announced = True
                call.timers.pop("announce", None)
                actions.append(ev.Announce(call_id=call.call_id))
        # the 3 s guard: seats no waiting call could use ring for calls that are getting old
        for call in self._queue:
            if not ready:
                break
            if not call.guarded or not call.ringing:
                continue
            while len(call.ringing) < self.config.parallel_max and call.outgoing < MAX_OUTGOING:
                candidates = [
                    seat
                    for seat in ready
                    if self._eligible(seat, call) and seat.seat_id not in call.tried
                ]
                if not candidates:
                    break
                seat = self._strategies[call.queue].choose(candidates, call, now)
                ready.remove(seat)
                actions.append(self._ring(call, seat, now))
        return actions

    def _ring(self, call: WaitingCall, seat: Seat, now: float) -> ev.RingSeat:
        seat.move(Trigger.OFFER, now, "")
        seat.call_id = call.call_id
        seat.deadline = now + self.config.ring_timeout
        call.ringing.add(seat.seat_id)
        return ev.RingSeat(call_id=call.call_id, seat_id=seat.seat_id, contact=seat.contact)

    @staticmethod
    def _view(seat: Seat, now: float) -> SeatView:
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
            queues=tuple(sorted(seat.queues)),
            skills=dict(seat.skills),
            wrap_up=seat.wrap_up,
            talk_time=seat.talk_time,
            deadline=seat.deadline,
            time_in={state: seat.seconds_in(state, now) for state in SeatState},
            handle_time=mean_handle_time([seat.handle_times], 0.0) or None,
            history=tuple((m.at, m.old, m.new, m.reason) for m in seat.history),
        )


__all__ = [
    "AcdConfig",
    "CallView",
    "Distributor",
    "Move",
    "QueueConfig",
    "QueueView",
    "SeatConfig",
    "SeatView",
    "WaitingView",
]
