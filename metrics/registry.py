"""Every Prometheus metric of the engine, the pool and the front, defined once with its help.

One `Metrics` object per engine, on its own `CollectorRegistry` (tests run several engines in
one process). Gauges that mirror state (queue, agents, pool members) are filled from the cores
at scrape time by `refresh`, so they can never drift from what the cores hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
"""3.0 is the service target: every call answered by a seat within 3 s."""
BRIDGE_BUCKETS = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 90.0, 120.0)
"""30.0 is the target: the caller talking to the dispatched officer within 30 s of the INVITE."""
START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FrontCollector(Collector):
    """Kamailio's own counters, read over JSON-RPC just before each scrape."""

    def __init__(self) -> None:
        self.stats: Mapping[str, float] = {}
        self.up = 0.0
        self.restarts = 0

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily("hotline110_front_up", "1 when the Kamailio front answers JSON-RPC.")
        up.add_metric([], self.up)
        yield up
        restarts = CounterMetricFamily(
            "hotline110_front_restarts", "Times the embedded Kamailio front was restarted."
        )
        restarts.add_metric([], self.restarts)
        yield restarts
        replies = CounterMetricFamily(
            "hotline110_front_sip_replies",
            "SIP replies the front sent: 'stateless' are its own (403, 503, 405, ...), "
            "'transaction' are final replies relayed to the carrier.",
            labels=["kind", "class"],
        )
        for cls in ("1xx", "2xx", "3xx", "4xx", "5xx", "6xx"):
            replies.add_metric(["stateless", cls], self.stats.get(f"sl:{cls}_replies", 0.0))
        for cls in ("2xx", "3xx", "4xx", "5xx", "6xx"):
            replies.add_metric(["transaction", cls], self.stats.get(f"tmx:{cls}_transactions", 0.0))
        yield replies
        requests = CounterMetricFamily(
            "hotline110_front_requests",
            "SIP requests the front received, and those it dropped or found malformed.",
            labels=["outcome"],
        )
        requests.add_metric(["received"], self.stats.get("core:rcv_requests", 0.0))
        requests.add_metric(["dropped"], self.stats.get("core:drop_requests", 0.0))
        requests.add_metric(["malformed"], self.stats.get("core:err_requests", 0.0))
        yield requests
        refusals = CounterMetricFamily(
            "hotline110_front_refusals",
            "Calls the front refused itself with 503 + Retry-After, by reason: 'flood' (pike: "
            "one source too fast), 'rate' (ratelimit: all INVITEs), 'no-member' (no idle pool "
            "member); the engine's own are admissions_refused_total.",
            labels=["reason"],
        )
        for reason, stat in (
            ("flood", "refused_flood"),
            ("rate", "refused_rate"),
            ("no-member", "refused_no_member"),
        ):
            refusals.add_metric([reason], self.stats.get(f"script:{stat}", 0.0))
        yield refusals
        dialogs = GaugeMetricFamily(
            "hotline110_front_dialogs", "Dialogs the front tracks (trunk legs and seat legs)."
        )
        dialogs.add_metric([], self.stats.get("dialog:active_dialogs", 0.0))
        yield dialogs
        registered = GaugeMetricFamily(
            "hotline110_front_registered_phones", "Seat phones registered at the front."
        )
        registered.add_metric([], self.stats.get("usrloc:registered_users", 0.0))
        yield registered


class SeatCollector(Collector):
    """Per-seat figures, read from the ACD core at scrape time (so they cannot drift).

    `source` returns the core's seat views (`acd.distributor.SeatView`)."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[Any]] = list

    def collect(self) -> Iterable[CounterMetricFamily]:
        answered = CounterMetricFamily(
            "hotline110_seat_answered", "Calls each seat answered.", labels=["seat"]
        )
        missed = CounterMetricFamily(
            "hotline110_seat_missed",
            "Offers each seat did not take (no answer, busy, declined).",
            labels=["seat"],
        )
        state_time = CounterMetricFamily(
            "hotline110_seat_state_seconds",
            "Seconds each seat has spent in each state (the current stay included).",
            labels=["seat", "state"],
        )
        for view in self.source():
            answered.add_metric([view.seat_id], view.answered)
            missed.add_metric([view.seat_id], view.missed)
            for state, seconds in view.time_in.items():
                state_time.add_metric([view.seat_id, state.value], seconds)
        yield answered
        yield missed
        yield state_time


class Metrics:
    """The engine's metrics (names follow Prometheus conventions, prefix hotline110_)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.offered = Counter(
            "hotline110_calls_offered_total",
            "Trunk calls that reached a pool member.",
            ["trunk"],
            registry=r,
        )
        self.answered = Counter(
            "hotline110_calls_answered_total",
            "Calls connected to a call-taker.",
            ["trunk"],
            registry=r,
        )
        self.abandoned = Counter(
            "hotline110_calls_abandoned_total",
            "Calls whose caller hung up before a call-taker was connected.",
            ["trunk"],
            registry=r,
        )
        self.failed = Counter(
            "hotline110_calls_failed_total",
            "Calls lost by the engine (a pool member died, a leg broke) or refused.",
            ["trunk", "reason"],
            registry=r,
        )
        self.announced = Counter(
            "hotline110_calls_announced_total",
            "Calls answered with the queue announcement while no call-taker was free.",
            ["trunk"],
            registry=r,
        )
        self.answer_time = Histogram(
            "hotline110_answer_time_seconds",
            "From the trunk INVITE at the front to the call-taker connected (target: 3 s).",
            ["trunk"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.responses = Counter(
            "hotline110_sip_responses_sent_total",
            "Final and ringing responses the pool sent to trunk callers, by class (180 while "
            "a seat rings, 200 answer, 4xx/5xx refusals); the front's own are front_sip_replies.",
            ["class"],
            registry=r,
        )
        self.seat_rings = Counter(
            "hotline110_seat_rings_total",
            "Offers of a call to a seat, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.rtp_packets = Counter(
            "hotline110_rtp_packets_total",
            "RTP packets on finished call legs.",
            ["leg", "direction"],
            registry=r,
        )
        self.rtp_lost = Counter(
            "hotline110_rtp_lost_packets_total", "RTP packets lost on receive.", ["leg"], registry=r
        )
        self.queue_length = Gauge(
            "hotline110_queue_length",
            "Calls waiting for a call-taker (including ringing).",
            registry=r,
        )
        self.queue_oldest = Gauge(
            "hotline110_queue_oldest_wait_seconds", "Wait of the oldest waiting call.", registry=r
        )
        self.calls_active = Gauge(
            "hotline110_calls_active", "Calls in progress (offered, not yet ended).", registry=r
        )
        self.agents = Gauge("hotline110_agents", "Seats by agent state.", ["state"], registry=r)
        self.pool_members = Gauge(
            "hotline110_pool_members", "Pool slots by member state.", ["state"], registry=r
        )
        self.pool_restarts = Counter(
            "hotline110_pool_member_restarts_total",
            "Pool members that died and were replaced (recycling after a call is not counted).",
            registry=r,
        )
        self.member_start = Histogram(
            "hotline110_pool_member_start_seconds",
            "From asking the fork server for a member to the member's user agent ready.",
            buckets=START_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "hotline110_queue_wait_seconds",
            "From arrival to leaving the queue, by queue and how it left (answered, "
            "overflowed, abandoned, failed).",
            ["queue", "outcome"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.overflows = Counter(
            "hotline110_overflows_total",
            "Calls handed to a queue's overflow target (a neighbouring centre answered).",
            ["queue"],
            registry=r,
        )
        self.parallel_wins = Counter(
            "hotline110_parallel_ring_wins_total",
            "Calls answered while the 3 s guard rang more than one seat at once.",
            registry=r,
        )
        self.admissions_refused = Counter(
            "hotline110_admissions_refused_total",
            "New calls the engine refused with 503 + Retry-After, by reason (queue-full, "
            "expected-wait, no-call-taker); the front's own 503s are in front_sip_replies.",
            ["reason"],
            registry=r,
        )
        self.seat_legs_lost = Counter(
            "hotline110_seat_legs_lost_total",
            "Connected seat legs that broke under a live call (caller re-offered).",
            registry=r,
        )
        self.seat_checks = Counter(
            "hotline110_seat_checks_total",
            "Checks of talking seats' legs with their pool members, by result.",
            ["result"],
            registry=r,
        )
        self.officer_bridge = Histogram(
            "hotline110_officer_bridge_seconds",
            "From the trunk INVITE to the officer's audio linked with the caller's (target 30 s).",
            buckets=BRIDGE_BUCKETS,
            registry=r,
        )
        self.web_calls = Counter(
            "hotline110_web_calls",
            "WebRTC calls from the 110 web app, by how the offer ended: answered (the call is "
            "offered to the ACD), busy (no idle member: 503), full (webrtc.max_calls: 503), "
            "refused (a bad offer: 400).",
            ["outcome"],
            registry=r,
        )
        self.agency_links = Counter(
            "hotline110_agency_links",
            "Agency desks dialled into calls (anti-fraud bridge, 12345 transfer), by agency "
            "and outcome.",
            ["agency", "outcome"],
            registry=r,
        )
        self.officer_attempts = Counter(
            "hotline110_officer_attempts",
            "Officer and duty-phone calls of the escalation ladder, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.escalations = Counter(
            "hotline110_escalations",
            "Moves down the escalation ladder, by the kind of rung called next "
            "(officer, duty-phone, superior).",
            ["step"],
            registry=r,
        )
        self.dispatches = Counter(
            "hotline110_dispatches", "Dispatches started, by how the officer was chosen.",
            ["how"], registry=r,
        )  # fmt: skip
        self.recordings = Counter(
            "hotline110_recordings",
            "Call recordings closed, by result (written, failed).",
            ["result"],
            registry=r,
        )
        self.alerts = Counter(
            "hotline110_alerts", "Alerts raised for supervisors, by kind.", ["kind"], registry=r
        )
        self.officer_positions = Counter(
            "hotline110_officer_positions",
            "Officer position reports, by source and result (accepted, ignored, rejected).",
            ["source", "result"],
            registry=r,
        )
        self.officers = Gauge(
            "hotline110_officers", "Officers by status (off-duty by the roster).", ["status"],
            registry=r,
        )  # fmt: skip
        self.position_feed_up = Gauge(
            "hotline110_position_feed_up",
            "1 when the MQTT officer-position feed is subscribed (absent without a broker).",
            registry=r,
        )
        self.front = FrontCollector()
        r.register(self.front)
        self.seats = SeatCollector()
        r.register(self.seats)

    def render(self) -> bytes:
        return generate_latest(self.registry)
