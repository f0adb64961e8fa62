"""The call router and the HTTP API over fakes one layer down: a scripted pool (recorded
commands instead of members), the real ACD, the real aiohttp app and metrics."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from acd import events as acd
from acd.distributor import AcdConfig, Distributor, SeatConfig
from acd.seats import SeatState
from engine.calls import CallRouter
from engine.http import build_app
from metrics.registry import Metrics
from sip import messages as msg
from sip.pool import MemberLost
from tests.access import AUTH, access


class FakeEngine:
    """What engine.http needs of an engine, with a router whose pool is a list of commands."""

    def __init__(self, seats: int = 2) -> None:
        self.metrics = Metrics()
        self.acd = Distributor(
            AcdConfig(wrap_up=0.0, max_waiting=2, default_handle_time=1.0),
            [SeatConfig(seat_id=f"s{n}", contact=f"sip:s{n}@h") for n in range(1, seats + 1)],
        )
        self.sent: list[tuple[str, msg.Message]] = []
        self.dropped: list[str] = []
        self.router = CallRouter(
            self.acd,
            self._send,
            self.metrics,
            queue_for={"112": "main"}.get,  # type: ignore[arg-type]
            drop=self.dropped.append,
        )
        self.metrics.seats.source = lambda: self.acd.seats(time.monotonic())
        self.pool = self
        self.access = access()

    def _send(self, call_id: str, command: msg.Message) -> bool:
        self.sent.append((call_id, command))
        return True

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"slot": 0, "state": "warm"}]

    async def refresh_metrics(self) -> None:
        self.metrics.queue_length.set(len(self.acd.waiting()))

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def summary(self) -> dict[str, Any]:
        return {"offered": self.router.tally.offered}


def offered(call_id: str, at: float) -> msg.CallOffered:
    return msg.CallOffered(
        call_id=call_id, at=at, received_at=at, caller="13800000000", caller_name="",
        called="110", pai="", sip_call_id=f"sip-{call_id}", trunk="carrier",
    )  # fmt: skip


@pytest.fixture
async def client() -> Any:
    engine = FakeEngine()
    app = build_app(engine)  # type: ignore[arg-type]
    async with TestClient(TestServer(app), headers=AUTH) as test_client:
        test_client.engine = engine  # type: ignore[attr-defined]
        yield test_client


async def test_agents_over_rest_then_a_call_is_routed_to_the_ready_seat(client: Any) -> None:
    engine: FakeEngine = client.engine
    response = await client.post("/api/seats/s2/login", json={"agent": "wang"})
    assert response.status == 200
    assert (await response.json())["state"] == "not-ready"
    response = await client.post("/api/seats/s2/ready")
    assert (await response.json())["state"] == "ready"

    now = time.monotonic()
    engine.router.on_member_event(offered("7", now))
    assert engine.sent == [("7", msg.RingSeat(seat_id="s2", uri="sip:s2@h"))]
    engine.router.on_member_event(msg.SeatAnswered(call_id="7", seat_id="s2", at=now + 0.4))
    assert engine.sent[-1] == ("7", msg.Connect(seat_id="s2"))
    engine.router.on_member_event(
        msg.CallEnded(call_id="7", at=now + 9, ended_by="caller", status=200, reason="bye")
    )
    assert engine.acd.seat("s2").state is SeatState.READY

    response = await client.get("/api/calls", params={"state": "finished"})
    (call,) = await response.json()
    assert (call["call_id"], call["outcome"], call["seat_id"]) == ("7", "answered", "s2")
    response = await client.get("/metrics")
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }
    assert values[("hotline110_calls_answered_total", (("trunk", "carrier"),))] == 1
    assert (
        values[("hotline110_answer_time_seconds_bucket", (("le", "0.5"), ("trunk", "carrier")))]
        == 1
    )


async def test_bad_requests_get_clear_errors(client: Any) -> None:
    cases = [
        ("post", "/api/seats/nope/ready", None, 404),
        ("post", "/api/seats/s1/ready", None, 409),  # not logged in
        ("post", "/api/seats/s1/login", {"agent": ""}, 400),
        ("post", "/api/seats/s1/login", [1, 2], 400),
        ("get", "/api/calls?state=weird", None, 400),
        ("get", "/api/calls/none", None, 404),
    ]
    for method, path, body, status in cases:
        response = await getattr(client, method)(path, json=body)
        assert response.status == status, (path, await response.text())
        assert "error" in await response.json()
    response = await client.post("/api/seats/s1/login", data=b"{not json")
    assert response.status == 400
    response = await client.post("/api/seats/s1/login", data=b"x" * 70_000)
    assert response.status == 413


async def test_lost_member_fails_its_call_and_frees_the_seat(client: Any) -> None:
    engine: FakeEngine = client.engine
    engine.router.agent(acd.AgentLoggedIn(at=0.0, seat_id="s1", agent_id="li"))
    engine.router.agent(acd.AgentWentReady(at=0.0, seat_id="s1"))
    now = time.monotonic()
    engine.router.on_member_event(offered("9", now))
    engine.router.on_member_event(msg.SeatAnswered(call_id="9", seat_id="s1", at=now + 0.2))
    engine.router.on_member_event(MemberLost(call_id="9", reason="killed by signal 9", at=now + 1))
    assert engine.acd.seat("s1").state is SeatState.READY
    (record,) = engine.router.finished
    assert (record.outcome, record.reason) == ("failed", "killed by signal 9")
    assert engine.router.tally.failed == 1


async def test_full_queue_is_refused_through_the_member(client: Any) -> None:
    engine: FakeEngine = client.engine
    now = time.monotonic()
    engine.router.agent(acd.AgentLoggedIn(at=now, seat_id="s1", agent_id="a1"))  # not ready
    for n in range(3):
        engine.router.on_member_event(offered(str(n), now + n))
    assert engine.sent[-1] == (
        "2",
        msg.HangUp(status=503, reason="Service Unavailable", retry_after=10),
    )
    assert [c for c, m in engine.sent if isinstance(m, msg.Announce)] == ["0", "1"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_lost_seat_re_offers_the_caller_and_everything_is_counted(client: Any) -> None:
    engine: FakeEngine = client.engine
    for seat in ("s1", "s2"):
        await client.post(f"/api/seats/{seat}/login", json={"agent": seat})
        await client.post(f"/api/seats/{seat}/ready")
    now = time.monotonic()
    engine.router.on_member_event(offered("5", now))
    (_, ring) = engine.sent[-1]
    assert isinstance(ring, msg.RingSeat)
    first = ring.seat_id
    engine.router.on_member_event(msg.SeatAnswered(call_id="5", seat_id=first, at=now + 0.3))
    engine.router.on_member_event(
        msg.SeatLost(call_id="5", seat_id=first, reason="no RTP", at=now + 5)
    )
    (_, again) = engine.sent[-1]
    assert isinstance(again, msg.RingSeat) and again.seat_id != first
    engine.router.on_member_event(msg.SeatAnswered(call_id="5", seat_id=again.seat_id, at=now + 6))
    assert engine.sent[-1] == ("5", msg.Connect(seat_id=again.seat_id))
    response = await client.get("/api/calls/5")
    record = await response.json()
    assert record["seat_id"] == again.seat_id and record["seats_lost"][0]["seat_id"] == first
    response = await client.get(f"/api/seats/{first}")
    seat = await response.json()
    assert (seat["state"], seat["reason"]) == ("not-ready", "phone-lost")
    assert seat["history"][-1]["to"] == "not-ready"
    response = await client.get("/metrics")
    values = samples(await response.text())
    assert values[("hotline110_seat_legs_lost_total", ())] == 1
    assert values[("hotline110_seat_answered_total", (("seat", first),))] == 1
    assert values[("hotline110_seat_state_seconds_total", (("seat", first), ("state", "talking")))] > 0  # fmt: skip
    assert values[("hotline110_queue_wait_seconds_count", (("outcome", "answered"), ("queue", "main")))] == 2  # fmt: skip
    # only the first connect counts as an answer
    assert values[("hotline110_calls_answered_total", (("trunk", "carrier"),))] == 1


async def test_a_member_that_does_not_answer_a_leg_check_is_dropped(client: Any) -> None:
    engine: FakeEngine = client.engine
    await client.post("/api/seats/s1/login", json={"agent": "s1"})
    await client.post("/api/seats/s1/ready")
    now = time.monotonic()
    engine.router.on_member_event(offered("6", now))
    engine.router.on_member_event(msg.SeatAnswered(call_id="6", seat_id="s1", at=now))
    check = engine.acd.config.check_interval
    engine.router._execute(engine.acd.on_deadline(now + check))
    assert engine.sent[-1] == ("6", msg.CheckSeat(seat_id="s1"))
    engine.router._execute(engine.acd.on_deadline(now + check + engine.acd.config.check_grace))
    assert engine.dropped == ["6"]
    assert engine.acd.seat("s1").state is not SeatState.TALKING


async def test_refusals_are_counted_by_reason(client: Any) -> None:
    engine: FakeEngine = client.engine
    engine.router.on_member_event(offered("8", time.monotonic()))  # nobody logged in
    assert engine.sent[-1] == ("8", msg.HangUp(status=503, reason="Service Unavailable", retry_after=10))  # fmt: skip
    response = await client.get("/metrics")
    values = samples(await response.text())
    assert values[("hotline110_admissions_refused_total", (("reason", "no-call-taker"),))] == 1
    response = await client.get("/api/queues")
    (main,) = await response.json()
    assert (main["queue"], main["staffed"], main["expected_wait_seconds"]) == ("main", 0, None)
