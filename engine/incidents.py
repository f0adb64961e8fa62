"""The incident shell: every call and every step of it, appended to the incident store.

One writer task owns the store's write side, so events are stored in the order they happened,
per incident and across incidents (the outbox relays them in that order). SIP-driven steps
(a call offered, answered, a recording closed) are queued and never wait for the disk: the
3 s answer target does not depend on an fsync. Requests from people (a note, a
classification, a walk-in report) await their write: the HTTP answer comes after the event is
stored ("written before the action is acknowledged"). A store that fails is retried with
backoff, with an alert, and nothing is dropped: later writes wait behind it, in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.geo import Areas
from engine.alerts import Alerts, Events
from incidents import numbering as nb
from incidents.rules import Classified, RuleSet
from incidents.store import Incident, IncidentEvent, NewIncident, Store, StoreError
from sip import messages as msg

log = logging.getLogger(__name__)
RETRY_MIN, RETRY_MAX = 0.2, 10.0
KEEP_CALLS = 10_000

Op = Callable[[], Awaitable[Any]]


class IncidentService:
    """See the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        city: str,
        domain: str,
        tz: ZoneInfo,
        areas: Areas,
        events: Events,
        alerts: Alerts,
        wake_relay: Callable[[], None] = lambda: None,
        on_opened: Callable[[str, Incident], object] = lambda call_id, incident: None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.on_opened = on_opened
        self.store = store
        self.city = nb.check_city(city)
        self.domain = nb.check_domain(domain)
        self.tz = tz
        self.areas = areas
        self.events = events
        self.alerts = alerts
        self.wake_relay = wake_relay
        self.wall = wall
        self.by_call: dict[str, str] = {}
        self.written = 0
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any] | None]] = asyncio.Queue()
        self._bus: asyncio.Queue[dict[str, Any]] | None = None

    # -- the writer ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Write queued operations one at a time, in order; retry a failing one for ever."""
        bus = self._bus = self.events.subscribe()
        follower = asyncio.create_task(self._follow(bus))
        try:
            while True:
                op, done = await self._queue.get()
                result = await self._write(op)
                self.written += 1
                self.wake_relay()
                self._announce(result)
                if done is not None and not done.done():
                    done.set_result(result)
        finally:
            follower.cancel()
            self.events.unsubscribe(bus)

    async def _write(self, op: Op) -> Any:
        delay = RETRY_MIN
        while True:
            try:
                return await op()
            except StoreError as exc:
                if exc.status_hint < 500:
                    log.warning("incident write refused: %s", exc)
                    return exc  # a wrong request (unknown number): it will never succeed
                failure: Exception = exc
            except Exception as exc:  # the store is down or broken: wait and retry
                failure = exc
            log.error("incident store failing (retry in %.1f s): %r", delay, failure)
            self.alerts.raise_("store-failing", f"incident store write failed: {failure!r}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _announce(self, result: Any) -> None:
        """What was stored, on the event bus for live screens (the console's timeline)."""
        if isinstance(result, tuple):  # an incident and the events filed with it
            for item in (result[0], *result[1]):
                self._announce(item)
        elif isinstance(result, Incident):
            self.events.publish(
                "incident/opened",
                number=result.number,
                call_id=result.call_id,
                caller=result.caller,
                source=result.source,
                location=result.location,
                station=result.station,
            )
        elif isinstance(result, IncidentEvent):
            self.events.publish(
                "incident/event",
                number=result.number,
                seq_in_incident=result.seq,
                kind=result.kind,
                actor=result.actor,
                data=result.data,
            )

    def _later(self, op: Op) -> None:
        self._queue.put_nowait((op, None))

    async def _now(self, op: Op) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, done))
        result = await done
        if isinstance(result, StoreError):
            raise result
        return result

    # -- member events (queued) -----------------------------------------------------------------

    def on_member_event(self, event: msg.Message) -> None:
        try:
            self._on_member_event(event)
        except Exception:
            log.exception("incident service failed on %r", event)

    def _on_member_event(self, event: msg.Message) -> None:
        if isinstance(event, msg.CallOffered):
            self._open_call(event)
            return
        call_id = getattr(event, "call_id", "")
        at = self.wall()
        data: dict[str, Any]
        if isinstance(event, msg.CallerAnswered) and event.announcement:
            self._append(call_id, "announced", "system", at, {})
        elif isinstance(event, msg.SeatAnswered):
            self._append(call_id, "answered", f"seat:{event.seat_id}", at, {"seat": event.seat_id})
        elif isinstance(event, msg.SeatLost):
            data = {"seat": event.seat_id, "reason": event.reason}
            self._append(call_id, "call-taker-lost", "system", at, data)
        elif isinstance(event, msg.SeatLeft) and event.call_goes_on:
            self._append(call_id, "call-taker-left", f"seat:{event.seat_id}", at, {})
        elif isinstance(event, msg.SeatRejoined):
            self._append(call_id, "call-taker-rejoined", f"seat:{event.seat_id}", at, {})
        elif isinstance(event, msg.RecordingDone):
            recording = {
                "path": event.path,
                "sha256": event.sha256,
                "size": event.size,
                "seconds": event.seconds,
                "call_id": call_id,
            }
            self._later(
                self._for_call(call_id, lambda n: self.store.add_recording(n, recording, at))
            )
        elif isinstance(event, msg.VideoRecorded):
            video = {k: getattr(event, k) for k in ("path", "size", "sha256", "frames", "seconds")}
            video.update(
                width=event.width, height=event.height, dropped=event.dropped, error=event.error
            )
            self._append(call_id, "video-recorded", "system", at, {"video": video})
        elif isinstance(event, msg.RecordingFailed):
            data = {"path": event.path, "reason": event.reason}
            self._append(call_id, "recording-failed", "system", at, data)
        elif isinstance(event, msg.CallEnded):
            data = {"ended_by": event.ended_by, "status": event.status, "reason": event.reason}
            self._append(call_id, "call-ended", "system", at, data)
        elif type(event).__name__ == "MemberLost":
            data = {"ended_by": "lost", "reason": getattr(event, "reason", "")}
            self._append(call_id, "call-ended", "system", at, data)

    def _open_call(self, event: msg.CallOffered) -> None:
        opened_at = self.wall() - max(0.0, time.monotonic() - event.at)
        location, error = self._place(event.location, event.location_error)
        source, channel = "phone", f"sip-trunk:{event.trunk}"
        if event.channel:  # a WebRTC caller of the 110 web app
            source, channel = event.channel, f"{event.trunk}:{event.channel}"
        new = NewIncident(
            source=source,
            channel=channel,
            caller=event.caller,
            opened_at=opened_at,
            call_id=event.call_id,
            ng911_call_uid=nb.call_uid(event.sip_call_id, event.call_id, self.domain),
            location=location,
            location_error=error,
        )

        async def create() -> Incident:
            incident = await self._create(new)
            self._remember(event.call_id, incident.number)
            self.on_opened(event.call_id, incident)
            return incident

        self._later(create)

    async def _create(self, new: NewIncident) -> Incident:
        day = nb.local_day(new.opened_at, self.tz)
        return await self.store.create(new, city=self.city, day=day, domain=self.domain)

    def _remember(self, call_id: str, number: str) -> None:
        self.by_call[call_id] = number
        while len(self.by_call) > KEEP_CALLS:
            self.by_call.pop(next(iter(self.by_call)))

    def _place(
        self, location: dict[str, Any] | None, error: str
    ) -> tuple[dict[str, Any] | None, str]:
        """A location resolved to grid, station and county; a bad one is kept as unknown,
        with the error noted (never a reason to lose the incident)."""
        if not location:
            return None, error
        lat, lon = location.get("lat"), location.get("lon")
        try:
            lat, lon = float(lat), float(lon)  # type: ignore[arg-type]
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise ValueError("not a finite number")
            if abs(lat) > 90 or abs(lon) > 180:
                raise ValueError(f"({lat}, {lon}) is off the globe")
            place = self.areas.locate(lat, lon)
        except Exception as exc:  # any bad value: the incident is kept, located 'unknown'
            return None, error or f"location not usable: {exc}"
        return {
            **location,
            "grid": place.grid,
            "station": place.station,
            "county": place.county,
        }, error

    def _append(
        self,
        call_id: str,
        kind: str,
        actor: str,
        at: float,
        data: dict[str, Any],
        patch: dict[str, Any] | None = None,
    ) -> None:
        self._later(
            self._for_call(
                call_id, lambda n: self.store.append(n, kind, actor, at, data, patch=patch)
            )
        )

    def _for_call(self, call_id: str, write: Callable[[str], Awaitable[Any]]) -> Op:
        async def op() -> Any:
            number = self.by_call.get(call_id)
            if number is None:
                return None  # a call that never opened an incident (refused before offer)
            return await write(number)

        return op

    # -- engine events (dispatch, alerts) -------------------------------------------------------

    async def _follow(self, bus: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            event = await bus.get()
            call_id = event.get("call_id")
            topic = str(event.get("topic", ""))
            if not call_id or not topic.startswith(("dispatch/", "alert/", "officer/", "agency/")):
                continue
            data = {k: v for k, v in event.items() if k not in ("seq", "topic", "at", "call_id")}
            kind = topic.replace("/", "-")
            patch = None
            if topic == "dispatch/started":
                patch = {"status": "dispatched"}
            elif topic == "agency/bridged" and event.get("purpose") == "transfer":
                patch = {"status": "transferred"}  # the 12345 hotline has the caller now
            at = float(event.get("at", self.wall()))
            self._append(str(call_id), kind, "system", at, data, patch)

    # -- people's requests (awaited) ------------------------------------------------------------

    async def report(
        self,
        *,
        source: str,
        caller: str,
        summary: str,
        actor: str,
        location: dict[str, Any] | None,
        category: str = "",
        type: str = "",
        severity: int = 0,
        channel: str = "rest",
        attachments: tuple[dict[str, Any], ...] = (),
        location_error: str = "",
        then: tuple[tuple[str, str, dict[str, Any]], ...] = (),
    ) -> Incident:
        """A walk-in report at a station, a tip, a citizen's text with pictures: an incident
        that is not a call (its pictures, and the events `then` (kind, actor, data), filed in
        the same transaction as the incident: a text conversation's opening)."""
        place, error = self._place(location, location_error)
        new = NewIncident(
            source=source,
            channel=channel,
            attachments=attachments,
            caller=caller,
            opened_at=self.wall(),
            location=place,
            location_error=error,
            category=category,
            type=type,
            severity=severity,
            summary=summary,
            actor=actor,
        )
        if not then:
            incident: Incident = await self._now(lambda: self._create(new))
            return incident
        day = nb.local_day(new.opened_at, self.tz)
        both: tuple[Incident, list[IncidentEvent]] = await self._now(
            lambda: self.store.create_with(new, then, city=self.city, day=day, domain=self.domain)
        )
        return both[0]

    async def locate(self, number: str, actor: str, location: dict[str, Any]) -> IncidentEvent:
        """A location typed by the call-taker (the caller said where): resolved to grid,
        station and county, replacing what the INVITE said (which stays in the audit trail)."""
        place, error = self._place(location, "")
        patch = {"location": place, "location_error": error}
        data = {"location": place, "error": error}
        event: IncidentEvent = await self._now(
            lambda: self.store.append(number, "location", actor, self.wall(), data, patch=patch)
        )
        return event

    async def act(
        self, call_id: str, kind: str, actor: str, data: dict[str, Any]
    ) -> IncidentEvent | None:
        """A person's action on a call (dispatch, hold, leave, ...), filed in the call's
        incident before it is acknowledged; None for a call without an incident."""

        async def write(number: str) -> IncidentEvent:
            return await self.store.append(number, kind, actor, self.wall(), data)

        event: IncidentEvent | None = await self._now(self._for_call(call_id, write))
        return event

    async def close(self, number: str, actor: str, disposition: str) -> IncidentEvent:
        """The call-taker closes the incident (nothing more to do, or handed over), saying how
        it ended; StoreError 404 unknown, 409 already closed."""
        incident = await self.store.get(number)
        if incident is None:
            raise StoreError(f"no incident {number!r}", 404)
        if incident.status == "closed":
            raise StoreError(f"incident {number} is already closed", 409)
        data = {"disposition": disposition, "was": incident.status}
        event: IncidentEvent = await self._now(
            lambda: self.store.append(
                number, "closed", actor, self.wall(), data, patch={"status": "closed"}
            )
        )
        return event

    async def file(self, number: str, kind: str, actor: str, data: dict[str, Any]) -> IncidentEvent:
        """A step that is not a call's (a text message, its delivery), stored before it is
        acknowledged; StoreError 404 for an unknown incident."""
        event: IncidentEvent = await self._now(
            lambda: self.store.append(number, kind, actor, self.wall(), data)
        )
        return event

    async def note(self, number: str, actor: str, text: str) -> IncidentEvent:
        event: IncidentEvent = await self._now(
            lambda: self.store.append(number, "note", actor, self.wall(), {"text": text})
        )
        return event

    async def classify(
        self,
        number: str,
        actor: str,
        changes: dict[str, Any],
        decision: dict[str, Any],
        fraud: dict[str, Any] | None = None,
    ) -> list[IncidentEvent]:
        """File the classification with its routing decision, then what the decision sends
        out: the anti-fraud centre's push (R9), the 12345 ticket (R10)."""
        patch = {**changes, "status": "classified"}
        data = {**changes, "decision": decision}
        now = self.wall()
        events: list[IncidentEvent] = [
            await self._now(
                lambda: self.store.append(number, "classified", actor, now, data, patch=patch)
            )
        ]
        routes = {decision.get("route"), *decision.get("also", ())}
        if "anti-fraud" in routes:
            push = {
                **(fraud or {}),
                "push_topic": decision.get("push_topic") or "",
                "bridge_uri": decision.get("bridge_uri") or "",
                "major": True,  # money moves in minutes: every level sees it at once
            }
            events.append(
                await self._now(
                    lambda: self.store.append(number, "anti-fraud-push", actor, now, push)
                )
            )
        if "12345" in routes:
            ticket = {
                "transfer_uri": decision.get("transfer_uri") or "",
                "webhook_url": decision.get("webhook_url") or "",
            }
            events.append(
                await self._now(
                    lambda: self.store.append(
                        number,
                        "ticket-12345",
                        actor,
                        now,
                        ticket,
                        targets=("mqtt", "webhook:12345"),
                    )
                )
            )
        return events

    async def receipt(self, number: str, agency: str, receipt: str) -> IncidentEvent:
        """An agency acknowledged what it was sent (the 12345 hotline's ticket number)."""
        data = {"agency": agency, "receipt": receipt}
        event: IncidentEvent = await self._now(
            lambda: self.store.append(number, "receipt", f"agency:{agency}", self.wall(), data)
        )
        return event

    async def drain(self, timeout: float) -> int:
        """At shutdown (the writer task is gone): write what is still queued, in order, for at
        most `timeout` s; returns how many writes were left undone."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            op, done = self._queue.get_nowait()
            try:
                result = await asyncio.wait_for(op(), max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                log.error("incident write lost at shutdown: %r", exc)
                result = exc
            if done is not None and not done.done():
                done.set_result(result)
        left = self._queue.qsize()
        if left:
            log.error("%d incident writes not done at shutdown", left)
        return left

    async def settled(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown), engine events
        published so far included."""
        for _ in range(1000):  # bounded: the follower takes each event in one loop turn
            if self._bus is None or self._bus.empty():
                break
            await asyncio.sleep(0)
        await self._now(_nothing)


async def _nothing() -> None:
    return None


class IncidentRouter:
    """The routing rules applied to a classified incident (see incidents.rules)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # the words any rule looks for, found in a summary as substrings (Chinese has no spaces)
        self.vocabulary = {k.lower() for k in rules.sensitive_keywords}.union(
            *(rule.keyword_any or () for rule in rules.rules)
        )

    def decide(
        self, incident: Incident, changes: dict[str, Any], *, caller_on_line: bool
    ) -> dict[str, Any]:
        summary = str(changes.get("summary") or incident.summary).lower()
        classified = Classified(
            category=str(changes.get("category", "")),
            type=str(changes.get("type", "")),
            severity=min(5, max(1, int(changes.get("severity") or 1))),
            keywords=tuple(sorted(k for k in self.vocabulary if k in summary)),
            grid=incident.grid,
            station=incident.station,
            county=incident.county,
            caller_on_line=caller_on_line,
        )
        return dataclasses.asdict(self.rules.decide(classified))
