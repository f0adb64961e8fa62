"""The composition root: front, pool, ACD, call router, HTTP, wired and supervised.

Start order matters: the front first (members are useless without it), then the pool (its
warm reserve must be ready before the trunk is worth anything), then HTTP. Stop runs in
reverse. While running, a TaskGroup supervises the long-lived parts; if one fails for good
(the fork server dies, the front cannot be restarted) the engine stops rather than pretending
to serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from acd import events as acd
from acd.distributor import PHONE_DOWN, AcdConfig, Distributor, QueueConfig, SeatConfig
from acd.seats import SeatState
from dispatch.city import City, load_city
from dispatch.errors import CityError, DispatchError
from dispatch.mqtt_feed import Position, PositionFeed
from dispatch.plan import DialError
from engine.access import Access, Directory, load_directory
from engine.agencies import AgencyLinks
from engine.alerts import Alerts, Events
from engine.calls import ANSWER_TARGET, CallRouter
from engine.controls import CallControls
from engine.dispatcher import Dispatcher
from engine.errors import ConfigError
from engine.http import build_app
from engine.http_intake import IntakeDesk
from engine.incidents import IncidentRouter, IncidentService
from engine.push import InProcessRelay
from engine.settings import Settings, expand_seats, resolve
from engine.texts import TextService
from engine.webcalls import WebCalls
from engine.webhooks import WebhookRelay
from incidents.relay import OutboxRelay
from incidents.rules import load_rules
from incidents.store import Incident, open_store
from intake.media import MediaStore
from intake.sms import SmsChannel
from metrics.registry import Metrics
from sip import messages as msg, slots as sl
from sip.front import Front, RpcError
from sip.pool import Pool

log = logging.getLogger(__name__)
FRONT_STATS_TTL = 1.0
PHONE_RECHECK_S = 2.0
"""How often seats paused for a lost or unreachable registered phone look for it again."""


class Engine:
    """hotline110's engine process."""

    def __init__(self, settings: Settings, city: City | None = None) -> None:
        self.settings = settings
        self.run_dir = Path(settings.state_dir).resolve()
        self.metrics = Metrics()
        self.events = Events()
        self.alerts = Alerts(self.events, lambda kind: self.metrics.alerts.labels(kind).inc())
        if city is None:
            city = load_city_settings(settings)
        self.seats = expand_seats(settings.seats, settings.front)
        self.acd = Distributor(
            acd_config(settings),
            [
                SeatConfig(
                    seat_id=seat.seat_id,
                    contact=seat.contact,
                    queues=seat.queues,
                    skills=seat.skills,
                    wrap_up=seat.wrap_up,
                )
                for seat in self.seats
            ],
        )
        self.metrics.seats.source = lambda: self.acd.seats(time.monotonic())
        self._queue_of_called = {
            number: queue.name for queue in settings.acd.queues for number in queue.called
        }
        self.front = Front(settings, self.run_dir)
        self.pool = Pool(settings, self.run_dir, self.front, self._on_member_event)
        self.router = CallRouter(
            self.acd,
            self.pool.send,
            self.metrics,
            queue_for=lambda called: self._queue_of_called.get(called, ""),
            drop=self.pool.kill_member,
            alerts=self.alerts,
        )
        try:
            self.dispatcher = Dispatcher(
                settings.dispatch,
                city,
                self.router,
                self.pool.send,
                self.metrics,
                self.alerts,
                self.events,
            )
        except DialError as exc:
            raise ConfigError(settings.source, 0, "dispatch.gateway", str(exc)) from None
        self.controls = CallControls(self.router, self.acd, self.pool.send)
        intake = settings.intake
        self.intake = IntakeDesk(
            MediaStore(
                resolve(settings, intake.media_dir) if intake.media_dir else self.run_dir / "media"
            ),
            max_picture_bytes=intake.max_picture_mb * 1024 * 1024,
            max_pictures=intake.max_pictures,
            per_minute=intake.reports_per_minute,
        )
        self.webcalls = WebCalls(self)
        self.access = Access(
            load_directory(resolve(settings, settings.access.users))
            if settings.access.users
            else Directory(),
            idle=settings.access.session_idle,
        )
        inc = settings.incidents
        self.router_rules = IncidentRouter(load_rules(resolve(settings, inc.rules)))
        self.agencies = AgencyLinks(
            self.router,
            self.pool.send,
            self.events,
            self.metrics,
            inc.agency_ring_timeout,
            uris={
                "anti-fraud": self.router_rules.rules.bridge_uri or "",
                "12345": self.router_rules.rules.transfer_uri,
            },
        )
        self.store = open_store(inc.store or f"sqlite:///{self.run_dir / 'incidents.db'}")
        self.push_bus = Events()
        self.relay: InProcessRelay | OutboxRelay
        if inc.mqtt_host:
            self.relay = OutboxRelay(
                self.store,
                host=inc.mqtt_host,
                port=inc.mqtt_port,
                prefix=inc.mqtt_prefix,
                city=inc.city_code,
                major_severity=inc.major_severity,
                client_id=f"hotline110-{inc.city_code}-push",
            )
        else:
            self.relay = InProcessRelay(
                self.store,
                self.push_bus,
                prefix=inc.mqtt_prefix,
                city=inc.city_code,
                major_severity=inc.major_severity,
            )
        self.incidents = IncidentService(
            self.store,
            city=inc.city_code,
            domain=inc.domain,
            tz=city.roster.tz,
            areas=city.areas,
            events=self.events,
            alerts=self.alerts,
            wake_relay=self._wake_relays,
            on_opened=lambda call_id, incident: self.pool.send(
                call_id,
                msg.IncidentOpened(
                    number=incident.number, incident_uid=incident.ng911_incident_uid
                ),
            ),
        )
        self.texts = TextService(
            self.incidents, self.events, self.metrics, self.acd, self.access,
            offer_timeout=settings.texts.offer_timeout, per_seat=settings.texts.per_seat,
            console_gone=settings.texts.console_gone,
            unanswered_alert=settings.texts.unanswered_alert,
            rate=IntakeDesk(self.intake.media, per_minute=settings.texts.messages_per_minute),
        )  # fmt: skip
        self.sms: SmsChannel | None = None
        if settings.texts.sms_gateway:
            self.sms = SmsChannel(
                host=settings.front.rpc_address, port=settings.texts.evapi_port,
                gateway=settings.texts.sms_gateway, sender=settings.texts.sms_sender,
                socket=f"udp:{settings.trunk.address}:{settings.trunk.port}",
                rpc=self.front.call, desk=self.texts,
            )  # fmt: skip
            self.texts.add_channel(self.sms)
        webhooks = dict(inc.webhooks)
        rules = self.router_rules.rules
        if rules.webhook_url and "12345" not in webhooks:
            webhooks["12345"] = rules.webhook_url
        self.webhooks = WebhookRelay(
            self.store,
            webhooks,
            city=inc.city_code,
            alerts=self.alerts,
            on_receipt=self.incidents.receipt,
            max_attempts=inc.webhook_attempts,
        )
        self.position_feed: PositionFeed | None = None
        if settings.dispatch.mqtt_host:
            self.position_feed = PositionFeed(
                host=settings.dispatch.mqtt_host,
                port=settings.dispatch.mqtt_port,
                prefix=settings.dispatch.mqtt_prefix,
                on_position=self._on_position,
                on_rejected=self._on_position_rejected,
                client_id=f"hotline110-{settings.centre}-positions"[:64],
            )
        self.started_at = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._front_stats_at = 0.0
        self._restarts_seen = 0

    def _on_member_event(self, event: Any) -> None:
        self.incidents.on_member_event(event)  # first: the incident opens before anything else
        self.router.on_member_event(event)
        self.dispatcher.on_member_event(event)
        self.agencies.on_member_event(event)
        self.webcalls.on_member_event(event)

    def _on_position(self, position: Position) -> None:
        try:
            self.dispatcher.position(
                position.officer_id, position.lat, position.lon, position.ts, position.speed, "mqtt"
            )
        except DispatchError as exc:
            log.warning("position of %s refused: %s", position.officer_id, exc)

    def _on_position_rejected(self, topic: str, reason: str) -> None:
        self.metrics.officer_positions.labels("mqtt", "rejected").inc()
        log.warning("position on %s rejected: %s", topic, reason)

    def _wake_relays(self) -> None:
        self.relay.wake()
        self.webhooks.wake()

    def route(self, incident: Incident, changes: dict[str, Any]) -> dict[str, Any]:
        """Where a classified incident goes (the routing rules), as a JSON-able decision."""
        on_line = incident.call_id in self.router.calls
        return self.router_rules.decide(incident, changes, caller_on_line=on_line)

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        await self.front.start()
        self.front.on_restart(self.pool.resync_front)
        await self.pool.start()
        app = build_app(self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        http = self.settings.http
        site = web.TCPSite(self._runner, http.address, http.port)
        await site.start()
        self._log_in_configured_agents()
        if not self.settings.access.users:
            log.warning(
                "no access.users file: the REST API refuses every request but /healthz and "
                "/metrics (add people with `hotline110 add-user`)"
            )
        t = self.settings.trunk
        log.info(
            "hotline110 up: trunk %s:%d (udp+tcp), %d seats, pool %d slots (%d warm), http %s:%d",
            t.address,
            t.port,
            len(self.seats),
            self.settings.pool.size,
            self.settings.pool.warm,
            http.address,
            http.port,
        )

    def _log_in_configured_agents(self) -> None:
        now = time.monotonic()
        for seat in self.seats:
            if seat.agent:
                self.router.agent(
                    acd.AgentLoggedIn(at=now, seat_id=seat.seat_id, agent_id=seat.agent)
                )
                if seat.ready:
                    self.router.agent(acd.AgentWentReady(at=now, seat_id=seat.seat_id))

    async def run(self) -> None:
        """Serve until cancelled or until a vital part fails."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.front.supervise())
            group.create_task(self.pool.run())
            group.create_task(self._watch_phones())
            group.create_task(self.incidents.run())
            group.create_task(self.relay.run())
            group.create_task(self.webhooks.run())
            group.create_task(self.texts.run())
            if self.sms is not None:
                group.create_task(self.sms.run())
            if self.position_feed is not None:
                group.create_task(self.position_feed.run())

    async def _watch_phones(self) -> None:
        """A seat paused because its phone died or was unreachable is READY again as soon as
        that phone registers again (the agent is still logged in): no one has to notice."""
        registered = [seat for seat in self.seats if seat.aor]
        while registered:
            await asyncio.sleep(PHONE_RECHECK_S)
            for spec in registered:
                view = self.acd.seat(spec.seat_id)
                if view.state is not SeatState.NOT_READY or view.reason not in PHONE_DOWN:
                    continue
                down_since = time.time() - (time.monotonic() - view.since)
                stamp = await self.front.registered_since(spec.aor)  # None: not (known) registered
                # Kamailio keeps whole seconds: a REGISTER in the second the phone was lost
                # counts as back (at worst the seat is tried once more and paused again)
                if stamp is not None and stamp >= math.floor(down_since):
                    log.info("seat %s: its phone registered again: ready", spec.seat_id)
                    self.router.agent(acd.SeatPhoneBack(at=time.monotonic(), seat_id=spec.seat_id))

    async def stop(self) -> None:
        self.router.stop()
        self.dispatcher.stop()
        self.agencies.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.pool.stop()
        await self.front.stop()
        await self.incidents.drain(timeout=5.0)
        await self.store.close()

    # -- read side -----------------------------------------------------------------------------

    async def refresh_metrics(self) -> None:
        m = self.metrics
        now = time.monotonic()
        if now - self._front_stats_at >= FRONT_STATS_TTL:
            self._front_stats_at = now
            try:
                m.front.stats = await self.front.statistics()
                m.front.up = 1.0
            except RpcError:
                m.front.up = 0.0
        m.front.restarts = self.front.restarts
        waiting = self.acd.waiting()
        m.queue_length.set(len(waiting))
        m.queue_oldest.set(max((now - w.arrived_at for w in waiting), default=0.0))
        m.calls_active.set(len(self.router.calls))
        counts = self.acd.counts_by_state()
        for state in SeatState:
            m.agents.labels(state.name.lower().replace("_", "-")).set(counts.get(state, 0))
        for slot_state, count in self.pool.core.counts().items():
            m.pool_members.labels(slot_state.value).set(count)
        restarts = self.pool.core.restarts
        if restarts > self._restarts_seen:
            m.pool_restarts.inc(restarts - self._restarts_seen)
            self._restarts_seen = restarts
        self.dispatcher.refresh_metrics()
        if self.position_feed is not None:
            m.position_feed_up.set(1.0 if self.position_feed.connected else 0.0)
        starts, self.pool.member_starts = self.pool.member_starts, []
        for seconds in starts:
            m.member_start.observe(seconds)

    def health(self) -> dict[str, Any]:
        warm = self.pool.core.count(sl.SlotState.WARM)
        ok = self.front.up and warm > 0
        return {
            "status": "ok" if ok else "degraded",
            "front_up": self.front.up,
            "pool_warm": warm,
            "pool_busy": self.pool.core.count(sl.SlotState.BUSY),
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
        }

    def summary(self) -> dict[str, Any]:
        """The figures of the status line and the demo's summary."""
        tally = self.router.tally
        times = sorted(tally.answer_times)
        counts = self.acd.counts_by_state()
        return {
            "offered": tally.offered,
            "answered": tally.answered,
            "within_3s": tally.within_target,
            "overflowed": tally.overflowed,
            "abandoned": tally.abandoned,
            "failed": tally.failed + tally.refused,
            "refused": tally.refused,
            "queued": len(self.acd.waiting()),
            "active": len(self.router.calls),
            "p50_answer_ms": _percentile_ms(times, 0.50),
            "p99_answer_ms": _percentile_ms(times, 0.99),
            "answer_target_s": ANSWER_TARGET,
            "seats_ready": counts.get(SeatState.READY, 0),
            "seats_talking": counts.get(SeatState.TALKING, 0),
            "pool_warm": self.pool.core.count(sl.SlotState.WARM),
            "pool_busy": self.pool.core.count(sl.SlotState.BUSY),
            "dispatched": self.dispatcher.tally.dispatched,
            "bridged": self.dispatcher.tally.bridged,
            "within_30s": self.dispatcher.tally.within_target,
            "p99_bridge_ms": _percentile_ms(sorted(self.dispatcher.tally.bridge_times), 0.99),
            "bridge_target_s": self.settings.dispatch.bridge_target,
        }


def load_city_settings(settings: Settings) -> City:
    """The city of `dispatch.city`; its errors are configuration errors (file, line, key)."""
    try:
        return load_city(resolve(settings, settings.dispatch.city))
    except CityError as exc:
        raise ConfigError(exc.path, exc.line, exc.key, exc.problem) from None


def acd_config(settings: Settings) -> AcdConfig:
    """The ACD core's configuration from the engine's settings."""
    a = settings.acd
    return AcdConfig(
        ring_timeout=a.ring_timeout,
        announce_after=a.announce_after,
        wrap_up=a.wrap_up,
        max_waiting=a.max_waiting,
        retry_after=a.retry_after,
        max_no_answer=a.max_no_answer,
        busy_delay=a.busy_delay,
        reject_delay=a.reject_delay,
        parallel_after=a.parallel_after,
        parallel_max=a.parallel_max,
        check_interval=a.check_interval,
        check_grace=a.check_grace,
        default_handle_time=a.default_handle_time,
        repeat_window=a.repeat_window,
        queues=tuple(
            QueueConfig(
                name=q.name,
                strategy=q.strategy,
                relax_skills_after=q.relax_skills_after,
                max_wait=q.max_wait,
                overflow=q.overflow,
                overflow_retry=q.overflow_retry,
                max_expected_wait=q.max_expected_wait,
            )
            for q in a.queues
        ),
    )


def _percentile_ms(ordered: list[float], q: float) -> int:
    if not ordered:
        return 0
    if len(ordered) == 1:
        return round(ordered[0] * 1000)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return round(cut[int(q * 100) - 1] * 1000)


async def serve(settings: Settings) -> None:
    """Run the engine. The first Ctrl-C or SIGTERM drains it: no new calls (the front answers
    503 with Retry-After, so the carrier routes elsewhere), calls in progress go on for up to
    `pool.drain_timeout` s; a second one stops it at once. Its children always stop with it."""
    engine = Engine(settings)
    loop = asyncio.get_running_loop()
    drain, stop_now = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (stop_now if drain.is_set() else drain).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await engine.start()
        runner = asyncio.create_task(engine.run())
        asked = asyncio.create_task(drain.wait())
        await asyncio.wait({runner, asked}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            asked.cancel()
            runner.result()  # a vital part failed: raise it
            return
        calls = len(engine.router.calls)
        log.warning(
            "draining: no new calls; %d in progress may go on for up to %.0f s "
            "(Ctrl-C again to stop now)", calls, settings.pool.drain_timeout,
        )  # fmt: skip
        draining = asyncio.create_task(engine.pool.drain(settings.pool.drain_timeout))
        hurry = asyncio.create_task(stop_now.wait())
        await asyncio.wait({draining, hurry, runner}, return_when=asyncio.FIRST_COMPLETED)
        for task in (draining, hurry, runner):
            task.cancel()
        log.warning("stopping with %d calls in progress", len(engine.router.calls))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await engine.stop()
