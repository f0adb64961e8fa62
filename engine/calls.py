"""The call router: the shell between the pool's members and the ACD core.

Member events become ACD events; ACD actions become member commands. It also keeps the
per-call record the operators and the demo read (when offered, announced, answered, how it
ended) and counts everything into the metrics. It makes no routing decision of its own: who
answers, when to announce, when to refuse is the `acd.distributor.Distributor`'s business.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd import events as acd
from acd.distributor import Distributor
from engine.alerts import Alerts
from engine.sla import SlaWindow
from metrics.registry import Metrics
from sip import messages as msg
from sip.pool import MemberLost

log = logging.getLogger(__name__)
ANSWER_TARGET = 3.0
REJOIN_REASON = "conference"
"""NOT_READY reason of a seat called back into a conference it had left."""
ADMISSION_REFUSALS = ("queue-full", "expected-wait", "no-call-taker")
KEEP_FINISHED = 2000


def after(t: float | None, since: float) -> float | None:
    """Seconds from `since` to `t` (ms precision), for the views; None when `t` did not happen."""
    return None if t is None else round(t - since, 3)


@dataclass(slots=True)
class CallRecord:
    """What the engine knows of one call (kept a while after it ends, for the API)."""

    call_id: str
    caller: str
    trunk: str
    offered_at: float
    sip_call_id: str = ""
    location: dict[str, object] | None = None
    location_error: str = ""
    announced_at: float | None = None
    answered_at: float | None = None
    seat_id: str = ""
    ended_at: float | None = None
    outcome: str = ""  # answered | overflowed | abandoned | failed | refused (after the end)
    reason: str = ""
    queue: str = ""
    skills: tuple[str, ...] = ()
    priority: int = 0
    seats_lost: list[tuple[float, str, str]] = field(default_factory=list)
    """Seat legs that broke under the call (time, seat, why); the caller was re-offered."""
    rings: list[tuple[float, str, str]] = field(default_factory=list)
    legs: dict[str, str] = field(default_factory=dict)
    """SIP Call-ID of each leg ('caller', 'seat:<id>'), to find the call in SIP traces."""
    classified_at: float | None = None
    category: str = ""
    dispatch: Any = None
    """engine.dispatcher.DispatchRecord once an officer is dispatched."""
    recording: dict[str, Any] | None = None
    """path, sha256, size, seconds of the call's WAV recording once it is closed."""
    recording_errors: list[str] = field(default_factory=list)
    alerts: list[tuple[float, str, str]] = field(default_factory=list)
    handed_off: bool = False
    """The call-taker left the conference: the ACD is done with this call."""
    seat_left_at: float | None = None
    rejoined_seat: str = ""
    held: bool = False
    muted: bool = False
    agencies: list[Any] = field(default_factory=list)
    """engine.agencies.AgencyLink of every agency desk dialled into the call, in order."""

    @property
    def guest_in_call(self) -> bool:
        """An officer or an agency's desk is bridged now: the call-taker may leave."""
        officer = self.dispatch is not None and self.dispatch.officer_in_call
        return officer or any(
            a.bridged_at is not None and a.ended_at is None for a in self.agencies
        )

    def view(self) -> dict[str, object]:
        from engine.dispatcher import dispatch_view  # the dispatcher imports this module

        answer = None if self.answered_at is None else round(self.answered_at - self.offered_at, 4)

        def rel(t: float | None) -> float | None:
            return after(t, self.offered_at)

        d = self.dispatch
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "trunk": self.trunk,
            "sip_call_id": self.sip_call_id,
            "location": self.location,
            "location_error": self.location_error,
            "offered_at": self.offered_at,
            "announced": self.announced_at is not None,
            "answer_seconds": answer,
            "seat_id": self.seat_id or None,
            "ended": self.ended_at is not None,
            "outcome": self.outcome or None,
            "reason": self.reason,
            "queue": self.queue,
            "skills": list(self.skills),
            "priority": self.priority,
            "rings": [
                {"at": at, "seat_id": seat, "outcome": what} for at, seat, what in self.rings
            ],
            "seats_lost": [
                {"at": at, "seat_id": seat, "reason": why} for at, seat, why in self.seats_lost
            ],
            "sip_legs": dict(self.legs),
            "category": self.category or None,
            "timestamps": {  # seconds after the trunk INVITE
                "offered": 0.0,
                "answered": rel(self.answered_at),
                "classified": rel(self.classified_at),
                "officer_ringing": rel(d.officer_ringing_at) if d else None,
                "officer_bridged": rel(d.officer_bridged_at) if d else None,
                "officer_signed_off": rel(d.signed_off_at) if d else None,
                "officer_on_scene": rel(d.on_scene_at) if d else None,
                "call_taker_left": rel(self.seat_left_at),
                "ended": rel(self.ended_at),
            },
            "offered_wall": round(time.time() - (time.monotonic() - self.offered_at), 3),
            "dispatch": dispatch_view(d, self.offered_at) if d else None,
            "agencies": [link.view(self.offered_at) for link in self.agencies],
            "recording": self.recording,
            "recording_errors": list(self.recording_errors),
            "alerts": [
                {"at_s": rel(at), "kind": kind, "message": text} for at, kind, text in self.alerts
            ],
            "conference": {
                "call_taker_left": self.handed_off and not self.rejoined_seat,
                "rejoined_seat": self.rejoined_seat or None,
                "caller_held": self.held,
                "call_taker_muted": self.muted,
            },
        }


@dataclass(slots=True)
class Tally:
    """Running totals for the status line and the demo summary."""

    offered: int = 0
    answered: int = 0
    overflowed: int = 0
    """Calls a neighbouring centre answered (queue overflow)."""
    within_target: int = 0
    abandoned: int = 0
    failed: int = 0
    refused: int = 0
    """Offered calls the ACD refused (queue full)."""
    turned_away: int = 0
    """INVITEs a pool member refused before offering them (e.g. media not allowed)."""
    answer_times: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class CallRouter:
    """Feeds the ACD from member events and carries out its actions on the members."""

    def __init__(
        self,
        distributor: Distributor,
        send: Callable[[str, msg.Message], bool],
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        queue_for: Callable[[str], str] = lambda called: "",
        drop: Callable[[str], object] = lambda call_id: None,
        alerts: Alerts | None = None,
    ) -> None:
        self.acd = distributor
        self.alerts = alerts
        self.send = send
        self.queue_for = queue_for
        self.drop = drop
        self.metrics = metrics
        self.clock = clock
        self.calls: dict[str, CallRecord] = {}
        self.finished: deque[CallRecord] = deque(maxlen=KEEP_FINISHED)
        self.tally = Tally()
        self.answer_sla = SlaWindow()
        """Calls answered within ANSWER_TARGET (met) of those answered or abandoned."""
        self.trunks: dict[str, dict[str, Any]] = {}
        """Per trunk: offered, answered, last_offered_at (epoch): a silent trunk shows."""
        self._timer: asyncio.TimerHandle | None = None
        for reason in ADMISSION_REFUSALS:  # a series from the start: dashboards see 0, not gaps
            metrics.admissions_refused.labels(reason)

    # -- input from the pool ----------------------------------------------------------------

    def on_member_event(self, event: msg.Message) -> None:
        """Called by the pool for every member event (on the event loop)."""
        try:
            self._on_member_event(event)
        except Exception:  # one bad event must not stop the router for every other call
            log.exception("router failed on %r", event)

    def _on_member_event(self, event: msg.Message) -> None:
        if isinstance(event, msg.CallOffered):
            record = CallRecord(
                call_id=event.call_id,
                caller=event.caller,
                trunk=event.trunk,
                offered_at=event.at,
                sip_call_id=event.sip_call_id,
                location=event.location,
                location_error=event.location_error,
            )
            record.queue = self.queue_for(event.called)
            record.skills = tuple(event.skills)
            self.calls[event.call_id] = record
            self._publish("call/offered", record)
            trunk = self._trunk(record.trunk)
            trunk["offered"] += 1
            trunk["last_offered_at"] = round(time.time(), 3)
            self.tally.offered += 1
            self.metrics.offered.labels(event.trunk).inc()
            log.info(
                "[call %s] offered from %r via %s to %r (skills %s)",
                event.call_id, event.caller, event.trunk, event.called, ",".join(event.skills),
            )  # fmt: skip
            self._feed(
                acd.CallArrived(
                    at=event.at,
                    call_id=event.call_id,
                    caller=event.caller,
                    queue=record.queue,
                    skills=frozenset(event.skills),
                )
            )
        elif isinstance(event, msg.CallRefused):
            self.tally.turned_away += 1
            self.metrics.failed.labels(event.trunk, event.reason).inc()
            self.metrics.responses.labels(f"{event.status // 100}xx").inc()
            log.warning("call from %r refused by the pool: %s", event.caller, event.reason)
        elif isinstance(event, msg.SeatAnswered):
            self._ring_outcome(event.call_id, event.seat_id, "answered", event.at)
            self._feed(acd.SeatAnswered(at=event.at, call_id=event.call_id, seat_id=event.seat_id))
        elif isinstance(event, msg.SeatFailed):
            outcome = "busy" if event.status == 486 else "failed"
            self._ring_outcome(event.call_id, event.seat_id, outcome, event.at)
            self._feed(
                acd.SeatRingFailed(
                    at=event.at, call_id=event.call_id, seat_id=event.seat_id, status=event.status
                )
            )
        elif isinstance(event, msg.SeatLost):
            self.metrics.seat_legs_lost.inc()
            lost = self.calls.get(event.call_id)
            if lost is not None:
                lost.seats_lost.append((event.at, event.seat_id, event.reason))
            if lost is not None and lost.handed_off:
                # a call-taker who had rejoined lost their phone: caller and officer go on
                lost.rejoined_seat = ""
                log.warning("[call %s] rejoined seat %s lost", event.call_id, event.seat_id)
                self._feed(
                    acd.AgentWentNotReady(at=event.at, seat_id=event.seat_id, reason="phone-lost")
                )
                return
            log.warning(
                "[call %s] seat %s lost mid-call (%s): re-offering the caller",
                event.call_id, event.seat_id, event.reason,
            )  # fmt: skip
            self._feed(
                acd.SeatLost(
                    at=event.at, call_id=event.call_id, seat_id=event.seat_id, reason=event.reason
                )
            )
        elif isinstance(event, msg.SeatLeft) and event.call_goes_on:
            self._seat_left(event)
        elif isinstance(event, msg.SeatRejoined):
            rejoined = self.calls.get(event.call_id)
            if rejoined is not None:
                rejoined.rejoined_seat = event.seat_id
            log.info("[call %s] seat %s rejoined the conference", event.call_id, event.seat_id)
        elif isinstance(event, msg.SeatRejoinFailed):
            log.warning(
                "[call %s] seat %s could not rejoin: %s %s",
                event.call_id, event.seat_id, event.status, event.reason,
            )  # fmt: skip
            self._seat_back(event.seat_id)
        elif isinstance(event, msg.RecordingDone | msg.RecordingFailed):
            self._recording(event)
        elif isinstance(event, msg.SeatChecked):
            self.metrics.seat_checks.labels("alive" if event.alive else "gone").inc()
            self._feed(
                acd.SeatLegChecked(
                    at=event.at, call_id=event.call_id, seat_id=event.seat_id, alive=event.alive
                )
            )
        elif isinstance(event, msg.CallerAnswered):
            self.metrics.responses.labels("2xx").inc()
            answered = self.calls.get(event.call_id)
            if answered is not None and event.announcement:
                answered.announced_at = event.at
                self.metrics.announced.labels(answered.trunk).inc()
        elif isinstance(event, msg.LegDialog):
            leg_of = self.calls.get(event.call_id)
            if leg_of is not None:
                leg_of.legs[event.leg] = event.sip_call_id
        elif isinstance(event, msg.LegStats):
            leg = "caller" if event.leg == "caller" else "seat"
            self.metrics.rtp_packets.labels(leg, "rx").inc(event.rx_packets)
            self.metrics.rtp_packets.labels(leg, "tx").inc(event.tx_packets)
            self.metrics.rtp_lost.labels(leg).inc(max(0, event.rx_lost))
        elif isinstance(event, msg.CallEnded):
            self._ended(event.call_id, event.at, event.ended_by, event.status, event.reason)
        elif isinstance(event, MemberLost):
            self._ended(event.call_id, event.at, "lost", 0, event.reason)

    def _seat_left(self, event: msg.SeatLeft) -> None:
        """The call-taker left the conference (caller and officer talk on): the seat is free
        for the next call; the ACD is done with this one."""
        record = self.calls.get(event.call_id)
        if record is None:
            return
        log.info("[call %s] seat %s left the conference", event.call_id, event.seat_id)
        if record.handed_off:  # a rejoined call-taker leaving again
            record.rejoined_seat = ""
            self._seat_back(event.seat_id)
            return
        record.handed_off = True
        record.seat_left_at = event.at
        record.muted = False
        self._feed(acd.CallEnded(at=event.at, call_id=event.call_id))

    def _seat_back(self, seat_id: str) -> None:
        """A seat that was held back for a rejoin is READY again."""
        view = self.acd.seat(seat_id)
        if view.state.name == "NOT_READY" and view.reason == REJOIN_REASON:
            self._feed(acd.AgentWentReady(at=self.clock(), seat_id=seat_id))

    def _recording(self, event: msg.RecordingDone | msg.RecordingFailed) -> None:
        record = self.calls.get(event.call_id) or self.find(event.call_id)
        if isinstance(event, msg.RecordingDone):
            self.metrics.recordings.labels("written").inc()
            if record is not None:
                record.recording = {
                    "path": event.path,
                    "sha256": event.sha256,
                    "size": event.size,
                    "seconds": event.seconds,
                }
            return
        self.metrics.recordings.labels("failed").inc()
        if record is not None:
            record.recording_errors.append(event.reason)
            record.alerts.append((event.at, "recording-failed", event.reason))
        if self.alerts is not None:
            self.alerts.raise_(
                "recording-failed", event.reason, call_id=event.call_id, path=event.path
            )

    def find(self, call_id: str) -> CallRecord | None:
        """An active or recently finished call's record."""
        return self.calls.get(call_id) or next(
            (r for r in reversed(self.finished) if r.call_id == call_id), None
        )

    def _ended(self, call_id: str, at: float, ended_by: str, status: int, reason: str) -> None:
        record = self.calls.pop(call_id, None)
        if record is None:
            return
        record.ended_at, record.reason = at, reason
        if record.handed_off:
            # answered and counted long ago; the ACD let go of it when the call-taker left
            record.outcome = "answered"
            if record.rejoined_seat:
                self._seat_back(record.rejoined_seat)
            log.info("[call %s] ended (handed off, by %s): %s", call_id, ended_by, reason)
            self.finished.append(record)
            self._publish("call/ended", record, seat_id=record.seat_id, outcome=record.outcome)
            return
        if ended_by == "lost":
            record.outcome = "failed"
            self.tally.failed += 1
            self.metrics.failed.labels(record.trunk, "member-died").inc()
            self._feed(acd.CallFailed(at=at, call_id=call_id, reason=reason))
        elif record.outcome == "refused":
            pass  # counted when refused; the ACD has already forgotten it
        elif record.answered_at is not None and self._connected_now(call_id):
            record.outcome = "overflowed" if record.seat_id.startswith("overflow:") else "answered"
            self._feed(acd.CallEnded(at=at, call_id=call_id))
        elif ended_by == "caller":
            record.outcome = "abandoned"
            self.answer_sla.count(time.time(), False)
            self.tally.abandoned += 1
            self.metrics.abandoned.labels(record.trunk).inc()
            self._feed(acd.CallAbandoned(at=at, call_id=call_id))
        else:
            record.outcome = "failed"
            self.tally.failed += 1
            self.metrics.failed.labels(record.trunk, "ended-unanswered").inc()
            self._feed(acd.CallFailed(at=at, call_id=call_id, reason=reason or ended_by))
        log.info("[call %s] ended (%s, by %s): %s", call_id, record.outcome, ended_by, reason)
        self.finished.append(record)
        self._publish("call/ended", record, seat_id=record.seat_id, outcome=record.outcome)

    def _trunk(self, name: str) -> dict[str, Any]:
        return self.trunks.setdefault(name, {"offered": 0, "answered": 0, "last_offered_at": None})

    def _publish(self, topic: str, record: CallRecord, **data: Any) -> None:
        """A call step for live screens (the console's screen pop, the dashboard)."""
        if self.alerts is not None:
            self.alerts.events.publish(
                topic,
                call_id=record.call_id,
                caller=record.caller,
                location=record.location,
                reason=record.reason,
                **data,
            )

    def _connected_now(self, call_id: str) -> bool:
        view = self.acd.call(call_id)
        return view is None or view.state == "connected"

    def _ring_outcome(self, call_id: str, seat_id: str, outcome: str, at: float) -> None:
        self.metrics.seat_rings.labels(outcome).inc()
        record = self.calls.get(call_id)
        if record is not None:
            record.rings.append((at, seat_id, outcome))

    # -- agents (from the REST API) ---------------------------------------------------------

    def agent(self, event: acd.AcdEvent) -> None:
        """Apply an agent request; AcdError propagates to the caller (HTTP 404/409)."""
        self._feed(event)

    # -- the core's actions ------------------------------------------------------------------

    def _feed(self, event: acd.AcdEvent) -> None:
        self._execute(self.acd.handle(event))

    def _execute(self, actions: list[acd.AcdAction]) -> None:
        for action in actions:
            if isinstance(action, acd.RingSeat):
                log.info("[call %s] ringing seat %s", action.call_id, action.seat_id)
                record = self.calls.get(action.call_id)
                if record is not None:
                    if record.announced_at is None and not record.rings:
                        self.metrics.responses.labels("1xx").inc()  # the member sends one 180
                    record.rings.append((self.clock(), action.seat_id, "ringing"))
                    self._publish("call/ringing", record, seat_id=action.seat_id)
                self.send(action.call_id, msg.RingSeat(seat_id=action.seat_id, uri=action.contact))
            elif isinstance(action, acd.CancelRing):
                # ring-no-answer, the caller left while it rang, or a late answer to drop
                self.metrics.seat_rings.labels("cancelled").inc()
                self.send(action.call_id, msg.CancelSeat(seat_id=action.seat_id))
            elif isinstance(action, acd.ConnectSeat):
                self._connected(action.call_id, action.seat_id)
                connected = self.calls.get(action.call_id)
                if connected is not None:
                    self._publish("call/answered", connected, seat_id=action.seat_id)
                self.send(action.call_id, msg.Connect(seat_id=action.seat_id))
            elif isinstance(action, acd.Announce):
                self.send(action.call_id, msg.Announce())
            elif isinstance(action, acd.CheckSeatLeg):
                self.send(action.call_id, msg.CheckSeat(seat_id=action.seat_id))
            elif isinstance(action, acd.DropCall):
                self.metrics.seat_checks.labels("silent").inc()
                dropped = self.calls.get(action.call_id)
                if dropped is not None:
                    dropped.reason = action.reason
                log.error("[call %s] dropped: %s", action.call_id, action.reason)
                self.drop(action.call_id)
            elif isinstance(action, acd.CallDequeued):
                self._dequeued(action)
            elif isinstance(action, acd.RejectCall):
                record = self.calls.get(action.call_id)
                if record is not None:
                    record.outcome = "refused"
                    self.tally.refused += 1
                    self.metrics.failed.labels(record.trunk, action.reason).inc()
                self.metrics.responses.labels(f"{action.status // 100}xx").inc()
                self.metrics.admissions_refused.labels(action.reason).inc()
                log.warning("[call %s] refused: %s", action.call_id, action.reason)
                self.send(
                    action.call_id,
                    msg.HangUp(
                        status=action.status,
                        reason="Service Unavailable",
                        retry_after=action.retry_after,
                    ),
                )
        self._rearm()

    def _dequeued(self, notice: acd.CallDequeued) -> None:
        self.metrics.queue_wait.labels(notice.queue, notice.outcome).observe(notice.waited)
        if notice.outcome == "overflowed":
            self.metrics.overflows.labels(notice.queue).inc()
            self.tally.overflowed += 1
        if notice.rung_at_once > 1:
            self.metrics.parallel_wins.inc()
        record = self.calls.get(notice.call_id)
        if record is not None:
            record.priority = notice.priority
            record.queue = notice.queue

    def _connected(self, call_id: str, seat_id: str) -> None:
        record = self.calls.get(call_id)
        if record is None:
            return
        now = self.clock()
        first = record.answered_at is None
        record.seat_id = seat_id
        if not first:
            log.info("[call %s] re-connected to seat %s", call_id, seat_id)
            return
        record.answered_at = now
        if seat_id.startswith("overflow:"):
            log.info("[call %s] answered by the overflow target %s", call_id, seat_id)
            return
        wait = now - record.offered_at
        self.answer_sla.count(time.time(), wait <= ANSWER_TARGET)
        self._trunk(record.trunk)["answered"] += 1
        self.tally.answered += 1
        self.tally.answer_times.append(wait)
        if wait <= ANSWER_TARGET:
            self.tally.within_target += 1
        self.metrics.answered.labels(record.trunk).inc()
        self.metrics.answer_time.labels(record.trunk).observe(wait)
        log.info("[call %s] connected to seat %s after %.0f ms", call_id, seat_id, wait * 1000)

    # -- the core's clock ---------------------------------------------------------------------

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.acd.next_deadline()
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, deadline - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._execute(self.acd.on_deadline(self.clock()))
        except Exception:
            log.exception("ACD deadline handling failed")
            self._rearm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
