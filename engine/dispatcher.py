"""The dispatch shell: from "this is a police matter" to the officer talking with the caller.

It owns the live `dispatch.force.Force` (officers, positions, statuses, roster) and one
`dispatch.ladder.Ladder` per dispatched call. A dispatch ranks the nearest available officers
for the incident's location (or takes the officer the call-taker chose), builds the ladder
(`dispatch.plan`), and carries out its actions on the pool member that owns the call
(`DialOfficer` / `CancelOfficer`). Officer leg events from the member feed the ladder; its
decisions are recorded on the call record (every attempt: who, when, outcome), published as
events, counted, and alerted on. One timer serves every ladder's next deadline.

Times: ladders and call records use the monotonic clock (the member's events carry it);
officer positions and the roster use wall-clock epoch seconds (an officer's phone stamps them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dispatch import ladder as ld, plan as pl
from dispatch.city import City
from dispatch.errors import DispatchError
from dispatch.force import Force, ForceConfig, OfficerStatus
from engine.alerts import Alerts, Events
from engine.calls import after
from engine.settings import DispatchSettings
from engine.sla import SlaWindow
from metrics.registry import Metrics
from sip import messages as msg

if TYPE_CHECKING:
    from engine.calls import CallRecord, CallRouter

log = logging.getLogger(__name__)
RANK_LIMIT = 10
KEEP_RECORDS = 5000


@dataclass(slots=True)
class DispatchRecord:
    """One call's dispatch, as filed with the call (and later the incident)."""

    how: str
    """'nearest' or 'chosen'."""
    requested_at: float
    """When the call-taker asked (monotonic)."""
    location: dict[str, Any] | None
    """lat, lon, grid, station, county of the incident."""
    ranked: list[dict[str, Any]]
    """The ranked officers at the time, with distance and ETA."""
    attempts: list[ld.Attempt] = field(default_factory=list)
    """The ladder's attempts (shared with the ladder while it runs)."""
    officer_ringing_at: float | None = None
    officer_bridged_at: float | None = None
    officer_left_at: float | None = None
    bridged: ld.Target | None = None
    signed_off_at: float | None = None
    on_scene_at: float | None = None
    cleared_at: float | None = None
    outcome: str = "calling"
    """calling | bridged | exhausted | withdrawn."""

    @property
    def officer_in_call(self) -> bool:
        """An officer is bridged into the call now."""
        return self.officer_bridged_at is not None and self.officer_left_at is None


@dataclass(slots=True)
class Tally:
    """Running totals for the demo summary: bridges and their time from the INVITE."""

    dispatched: int = 0
    bridged: int = 0
    within_target: int = 0
    bridge_times: list[float] = field(default_factory=list)


class Dispatcher:
    """See the module docstring."""

    def __init__(
        self,
        settings: DispatchSettings,
        city: City,
        router: CallRouter,
        send: Callable[[str, msg.Message], bool],
        metrics: Metrics,
        alerts: Alerts,
        events: Events,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.city = city
        self.areas = city.areas
        self.force = Force(
            city.officers,
            city.units,
            city.roster,
            ForceConfig(
                stale_after=settings.stale_after,
                road_factor=settings.road_factor,
                min_speed=settings.min_speed,
                same_grid_bonus=settings.same_grid_bonus,
            ),
        )
        self.router = router
        self.send = send
        self.metrics = metrics
        self.alerts = alerts
        self.events = events
        self.clock = clock
        self.wall = wall
        self.tally = Tally()
        self.bridge_sla = SlaWindow()
        """Dispatches bridged within bridge_target (met); a late one counts when it is late."""
        self.ladders: dict[str, ld.Ladder] = {}
        self._records: dict[str, DispatchRecord] = {}
        self._ringing: dict[str, str] = {}  # officer id -> call id, while their phone rings
        self.assigned: dict[str, str] = {}  # officer id -> call id they were bridged into
        self._timer: asyncio.TimerHandle | None = None
        self._check_phones()
        # every series from the start: dashboards and alert rules see 0, not a gap
        for kind in ld.Kind:
            metrics.escalations.labels(kind.value)
        for outcome in (ld.ANSWERED, ld.NO_ANSWER, ld.BUSY, ld.REJECTED, ld.UNREACHABLE):
            metrics.officer_attempts.labels(outcome)
        for result in ("written", "failed"):
            metrics.recordings.labels(result)
        for alert in ("bridge-late", "ladder-exhausted", "recording-failed"):
            metrics.alerts.labels(alert)

    def _check_phones(self) -> None:
        """Every officer and duty phone must be dialable: a number needs the gateway."""
        gateway = self.settings.gateway
        for officer in self.city.officers:
            pl.dial_uri(officer.phone, gateway)
        for unit in self.city.units:
            if unit.duty_phone:
                pl.dial_uri(unit.duty_phone, gateway)

    # -- requests (REST) --------------------------------------------------------------------

    def nearest(self, lat: float, lon: float, limit: int = RANK_LIMIT) -> list[dict[str, Any]]:
        place = self.areas.locate(lat, lon)
        ranked = self.force.rank(
            lat, lon, self.wall(), grid=place.grid, limit=limit, exclude=self._busy()
        )
        return [_candidate_view(c) for c in ranked]

    def dispatch(
        self,
        call_id: str,
        *,
        lat: float | None = None,
        lon: float | None = None,
        officer_id: str | None = None,
        category: str = "police",
    ) -> DispatchRecord:
        """Start the ladder for an active call; DispatchError (404/409/400) when impossible."""
        record = self.router.calls.get(call_id)
        if record is None:
            raise DispatchError(f"no active call {call_id!r}", 404)
        if record.answered_at is None:
            raise DispatchError("the call is not answered yet", 409)
        running = self.ladders.get(call_id)
        if running is not None and not running.done:
            raise DispatchError("a dispatch is already calling for this call", 409)
        current = self._records.get(call_id)
        if current is not None and current.outcome == "bridged" and current.officer_left_at is None:
            raise DispatchError("an officer is already bridged into this call", 409)
        now, wall = self.clock(), self.wall()
        if lat is None or lon is None:
            known = record.location or {}
            lat, lon = known.get("lat"), known.get("lon")  # type: ignore[assignment]
        location: dict[str, Any] | None = None
        grid = None
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            place = self.areas.locate(float(lat), float(lon))
            grid = place.grid
            location = {
                "lat": lat,
                "lon": lon,
                "grid": place.grid,
                "station": place.station,
                "county": place.county,
            }
        if officer_id is not None:
            officer = self.force.officer(officer_id, wall)  # 404 when unknown
            gateway = self.settings.gateway
            targets = [pl.chosen_rung(officer.id, officer.name, officer.phone, gateway)]
            targets += pl.duty_rungs(self.force, officer.unit, self.settings.gateway)
            ranked: list[dict[str, Any]] = []
            how = "chosen"
        elif location is None:
            raise DispatchError("no location: give lat and lon, or choose an officer", 409)
        else:
            candidates = self.force.rank(
                float(location["lat"]), float(location["lon"]), wall, grid=grid,
                limit=RANK_LIMIT, exclude=self._busy(),
            )  # fmt: skip
            ranked = [_candidate_view(c) for c in candidates]
            unit = candidates[0].unit if candidates else self._local_unit(location, wall)
            targets = pl.officer_rungs(
                candidates, self.settings.max_officers, self.settings.gateway
            )
            targets += pl.duty_rungs(self.force, unit, self.settings.gateway)
            how = "nearest"
        if record.classified_at is None:
            record.classified_at = now
            record.category = category
        dispatch = DispatchRecord(how=how, requested_at=now, location=location, ranked=ranked)
        ladder = ld.Ladder(
            targets=targets,
            ring_timeout=self.settings.ring_timeout,
            bridge_deadline=record.offered_at + self.settings.bridge_target,
        )
        dispatch.attempts = ladder.attempts
        record.dispatch = dispatch
        self._records[call_id] = dispatch
        self.ladders[call_id] = ladder
        self.tally.dispatched += 1
        self.metrics.dispatches.labels(how).inc()
        self.events.publish(
            "dispatch/started", call_id=call_id, how=how, location=location,
            targets=[t.name for t in targets],
        )  # fmt: skip
        log.info("[call %s] dispatch (%s): %s", call_id, how, ", ".join(t.name for t in targets))
        self._execute(call_id, ladder.start(now))
        return dispatch

    def officer_status(self, officer_id: str, status: str) -> None:
        """An officer's own status change (REST: the officer's terminal or the dispatcher)."""
        try:
            new = OfficerStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in OfficerStatus)
            raise DispatchError(f"unknown status {status!r} (known: {known})", 400) from None
        self.force.set_status(officer_id, new, self.wall())
        call_id = self.assigned.get(officer_id)
        dispatch = self._records.get(call_id) if call_id else None
        if dispatch is not None:
            if new is OfficerStatus.ON_SCENE and dispatch.on_scene_at is None:
                dispatch.on_scene_at = self.clock()
            elif new in (OfficerStatus.AVAILABLE, OfficerStatus.OFF_DUTY):
                dispatch.cleared_at = self.clock()
                self.assigned.pop(officer_id, None)
        self.events.publish(
            "officer/status", officer_id=officer_id, status=new.value, call_id=call_id
        )

    def sign_off(self, officer_id: str) -> str:
        """The officer acknowledges the incident they were dispatched to (its sign-off time)."""
        self.force.officer(officer_id, self.wall())
        call_id = self.assigned.get(officer_id)
        dispatch = self._records.get(call_id) if call_id else None
        if call_id is None or dispatch is None:
            raise DispatchError(f"officer {officer_id} has no dispatch to sign off", 409)
        if dispatch.signed_off_at is None:
            dispatch.signed_off_at = self.clock()
        self.events.publish("officer/signed-off", officer_id=officer_id, call_id=call_id)
        return call_id

    def position(
        self, officer_id: str, lat: float, lon: float, ts: float, speed: float, source: str
    ) -> bool:
        """A position report (MQTT or REST); False when older than the one held."""
        try:
            applied = self.force.update_position(officer_id, lat, lon, ts, speed, self.wall())
        except DispatchError:
            self.metrics.officer_positions.labels(source, "rejected").inc()
            raise
        self.metrics.officer_positions.labels(source, "accepted" if applied else "ignored").inc()
        return applied

    # -- member events ----------------------------------------------------------------------

    def on_member_event(self, event: msg.Message) -> None:
        try:
            self._on_member_event(event)
        except Exception:  # one bad event must not stop dispatching for every other call
            log.exception("dispatcher failed on %r", event)

    def _on_member_event(self, event: msg.Message) -> None:
        ladder_event: ld.LadderEvent | None = None
        call_id = getattr(event, "call_id", "")
        if isinstance(event, msg.OfficerRinging):
            ladder_event = ld.TargetRinging(key=event.target)
            dispatch = self._records.get(call_id)
            if dispatch is not None and dispatch.officer_ringing_at is None:
                dispatch.officer_ringing_at = event.at
        elif isinstance(event, msg.OfficerAnswered):
            ladder_event = ld.TargetAnswered(key=event.target)
        elif isinstance(event, msg.OfficerFailed):
            ladder_event = ld.TargetFailed(
                key=event.target, status=event.status, reason=event.reason
            )
        elif isinstance(event, msg.OfficerBridged):
            self._bridged(call_id, event.target, event.at)
        elif isinstance(event, msg.OfficerLeft):
            dispatch = self._records.get(call_id)
            if dispatch is not None:
                dispatch.officer_left_at = event.at
            self.events.publish(
                "dispatch/officer-left", call_id=call_id, target=event.target, reason=event.reason
            )
        elif isinstance(event, msg.CallEnded) or type(event).__name__ == "MemberLost":
            ladder_event = ld.Withdrawn(reason="the call ended")
        if ladder_event is None:
            return
        ladder = self.ladders.get(call_id)
        if ladder is None:
            return
        self._execute(call_id, ladder.handle(ladder_event, getattr(event, "at", self.clock())))
        if isinstance(ladder_event, ld.Withdrawn):
            self.ladders.pop(call_id, None)  # the record stays: sign-off and on-scene come later
            while len(self._records) > KEEP_RECORDS:
                self._records.pop(next(iter(self._records)))
            self._rearm()

    def _bridged(self, call_id: str, target: str, at: float) -> None:
        dispatch = self._records.get(call_id)
        record = self._record(call_id)
        if dispatch is None or record is None or dispatch.officer_bridged_at is not None:
            return
        dispatch.officer_bridged_at = at
        seconds = at - record.offered_at
        self.metrics.officer_bridge.observe(seconds)
        self.tally.bridged += 1
        self.tally.bridge_times.append(seconds)
        if seconds <= self.settings.bridge_target:
            self.tally.within_target += 1
            self.bridge_sla.count(self.wall(), True)
        name = dispatch.bridged.name if dispatch.bridged else target
        log.info(
            "[call %s] officer %s bridged %.0f ms after the INVITE", call_id, name, seconds * 1000
        )
        self.events.publish(
            "dispatch/bridged", call_id=call_id, target=target, seconds=round(seconds, 3)
        )

    # -- the ladders' actions -----------------------------------------------------------------

    def _execute(self, call_id: str, actions: list[ld.LadderAction]) -> None:
        dispatch = self._records.get(call_id)
        for action in actions:
            if isinstance(action, ld.Dial):
                target = action.attempt.target
                if target.kind is ld.Kind.OFFICER:
                    self._ringing[target.ident] = call_id
                self.events.publish(
                    "dispatch/attempt", call_id=call_id, step=action.attempt.step,
                    target=target.name, kind=target.kind.value, outcome="dialling",
                )  # fmt: skip
                log.info(
                    "[call %s] dispatch step %d: calling %s",
                    call_id,
                    action.attempt.step,
                    target.name,
                )
                self.send(call_id, msg.DialOfficer(target=target.key, uri=target.uri))
            elif isinstance(action, ld.HangUpTarget):
                self.send(call_id, msg.CancelOfficer(target=action.key))
            elif isinstance(action, ld.AttemptClosed):
                self._closed(call_id, action)
            elif isinstance(action, ld.Reached):
                target = action.attempt.target
                self._ringing.pop(target.ident, None)
                self.metrics.officer_attempts.labels(ld.ANSWERED).inc()
                if dispatch is not None:
                    dispatch.bridged = target
                    dispatch.outcome = "bridged"
                if target.kind is ld.Kind.OFFICER:
                    self.force.set_status(target.ident, OfficerStatus.DISPATCHED, self.wall())
                    self.assigned[target.ident] = call_id
                self.events.publish(
                    "dispatch/attempt", call_id=call_id, step=action.attempt.step,
                    target=target.name, kind=target.kind.value, outcome=ld.ANSWERED,
                )  # fmt: skip
            elif isinstance(action, ld.Alert):
                if dispatch is not None and action.kind == "ladder-exhausted":
                    dispatch.outcome = "exhausted"
                if action.kind == "bridge-late":
                    self.bridge_sla.count(self.wall(), False)
                record = self._record(call_id)
                if record is not None:
                    record.alerts.append((self.clock(), action.kind, action.message))
                self.alerts.raise_(action.kind, action.message, call_id=call_id)
        self._rearm()

    def _closed(self, call_id: str, closed: ld.AttemptClosed) -> None:
        attempt = closed.attempt
        target = attempt.target
        if self._ringing.get(target.ident) == call_id:
            del self._ringing[target.ident]
        self.metrics.officer_attempts.labels(attempt.outcome).inc()
        if closed.escalates_to is not None:
            self.metrics.escalations.labels(closed.escalates_to.value).inc()
        if target.kind is ld.Kind.OFFICER and attempt.outcome == ld.UNREACHABLE:
            # R16: an unreachable officer is not offered to the next incident either, until
            # their status is set again (by them or a supervisor)
            self.force.set_status(target.ident, OfficerStatus.UNREACHABLE, self.wall())
        if attempt.outcome == ld.CANCELLED:
            dispatch = self._records.get(call_id)
            if dispatch is not None:
                dispatch.outcome = "withdrawn"
        log.info(
            "[call %s] dispatch step %d: %s %s (%s)", call_id, attempt.step, target.name,
            attempt.outcome, attempt.reason or attempt.status,
        )  # fmt: skip
        self.events.publish(
            "dispatch/attempt", call_id=call_id, step=attempt.step, target=target.name,
            kind=target.kind.value, outcome=attempt.outcome, status=attempt.status,
            reason=attempt.reason,
        )  # fmt: skip

    def _local_unit(self, location: dict[str, Any], wall: float) -> str | None:
        """With no officer to rank: the unit patrolling the cell, else the station's unit
        (an unclear or empty cell still reaches the local station, R10)."""
        unit = pl.unit_of_cell(self.force, location["grid"], wall)
        if unit is None and location["station"] is not None:
            serving = self.city.station_unit(location["station"])
            unit = serving.id if serving is not None else None
        return unit

    def _busy(self) -> frozenset[str]:
        """Officers another dispatch is calling right now."""
        return frozenset(self._ringing)

    def _record(self, call_id: str) -> CallRecord | None:
        return self.router.calls.get(call_id) or self.router.find(call_id)

    # -- one timer for every ladder ---------------------------------------------------------

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadlines = [
            d for d in (lad.next_deadline() for lad in self.ladders.values()) if d is not None
        ]
        if not deadlines:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, min(deadlines) - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock()
        for call_id, ladder in list(self.ladders.items()):
            deadline = ladder.next_deadline()
            if deadline is not None and deadline <= now:
                try:
                    self._execute(call_id, ladder.on_deadline(now))
                except Exception:
                    log.exception("[call %s] ladder deadline failed", call_id)
            if ladder.done and ladder.next_deadline() is None and call_id not in self.router.calls:
                self.ladders.pop(call_id, None)
        self._rearm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # -- read side ----------------------------------------------------------------------------

    def refresh_metrics(self) -> None:
        counts = dict.fromkeys(OfficerStatus, 0)
        for view in self.force.officers(self.wall()):
            counts[view.status] += 1
        for status, count in counts.items():
            self.metrics.officers.labels(status.value).set(count)


def _candidate_view(c: Any) -> dict[str, Any]:
    return {
        "officer_id": c.officer_id,
        "name": c.name,
        "unit": c.unit,
        "grid": c.grid,
        "distance_m": round(c.distance_m, 1),
        "eta_s": round(c.eta_s, 1),
        "stale": c.stale,
        "same_grid": c.same_grid,
        "position_age_s": round(c.position_age_s, 1),
    }


def dispatch_view(d: DispatchRecord, since: float) -> dict[str, Any]:
    """JSON view of a dispatch; times in seconds after `since` (the trunk INVITE)."""

    def rel(t: float | None) -> float | None:
        return after(t, since)

    return {
        "how": d.how,
        "outcome": d.outcome,
        "location": d.location,
        "ranked": d.ranked,
        "bridged": None if d.bridged is None else d.bridged.name,
        "requested_s": rel(d.requested_at),
        "officer_ringing_s": rel(d.officer_ringing_at),
        "officer_bridged_s": rel(d.officer_bridged_at),
        "officer_left_s": rel(d.officer_left_at),
        "signed_off_s": rel(d.signed_off_at),
        "on_scene_s": rel(d.on_scene_at),
        "cleared_s": rel(d.cleared_at),
        "attempts": [
            {
                "step": a.step,
                "kind": a.target.kind.value,
                "target": a.target.ident,
                "name": a.target.name,
                "uri": a.target.uri,
                "distance_m": None
                if a.target.distance_m is None
                else round(a.target.distance_m, 1),
                "eta_s": None if a.target.eta_s is None else round(a.target.eta_s, 1),
                "started_s": rel(a.started_at),
                "ringing_s": rel(a.ringing_at),
                "ended_s": rel(a.ended_at),
                "outcome": a.outcome,
                "status": a.status,
                "reason": a.reason,
            }
            for a in d.attempts
        ],
    }
