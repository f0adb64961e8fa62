"""The dispatcher, the conference controls and their REST API over a scripted pool: member
events are fed by hand, member commands are recorded; the ACD, the ladder, the force (the
shipped city) and the aiohttp app are real."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from acd.distributor import AcdConfig, Distributor, SeatConfig
from dispatch.city import load_city
from engine.alerts import Alerts, Events
from engine.calls import CallRouter
from engine.controls import CallControls
from engine.dispatcher import Dispatcher
from engine.http import build_app
from engine.settings import PACKAGE_ROOT, DispatchSettings
from metrics.registry import Metrics
from sip import messages as msg
from tests.access import AUTH, access


class FakeEngine:
    def __init__(self, seats: int = 1, **dispatch: Any) -> None:
        self.metrics = Metrics()
        self.events = Events()
        self.alerts = Alerts(self.events, lambda kind: self.metrics.alerts.labels(kind).inc())
        self.acd = Distributor(
            AcdConfig(wrap_up=0.0),
            [SeatConfig(seat_id=f"s{n}", contact=f"sip:s{n}@h") for n in range(1, seats + 1)],
        )
        self.sent: list[tuple[str, msg.Message]] = []
        self.router = CallRouter(self.acd, self._send, self.metrics, alerts=self.alerts)
        self.city = load_city(PACKAGE_ROOT / "config" / "city")
        self.dispatcher = Dispatcher(
            DispatchSettings(**dispatch), self.city, self.router, self._send,
            self.metrics, self.alerts, self.events,
        )  # fmt: skip
        self.controls = CallControls(self.router, self.acd, self._send)
        self.access = access()

    def _send(self, call_id: str, command: msg.Message) -> bool:
        self.sent.append((call_id, command))
        return True

    def feed(self, event: msg.Message) -> None:
        self.router.on_member_event(event)
        self.dispatcher.on_member_event(event)

    def commands(self, kind: type) -> list[Any]:
        return [command for _, command in self.sent if isinstance(command, kind)]

    async def refresh_metrics(self) -> None:
        self.dispatcher.refresh_metrics()


def officers_on_duty(engine: FakeEngine, count: int) -> list[str]:
    now = time.time()
    return [o.id for o in engine.city.officers if engine.city.roster.on_duty(o.id, now)][:count]


async def answered_call(engine: FakeEngine, client: TestClient[Any, Any]) -> None:
    await client.post("/api/seats/s1/login", json={"agent": "a1"})
    await client.post("/api/seats/s1/ready")
    now = time.monotonic()
    engine.feed(
        msg.CallOffered(
            call_id="c1", at=now, received_at=now, caller="13800000001", caller_name="",
            called="110", pai="", sip_call_id="x@y", trunk="carrier",
            location={"lat": 30.25, "lon": 120.15, "method": "GPS"},
        )
    )  # fmt: skip
    engine.feed(msg.SeatAnswered(call_id="c1", seat_id="s1", at=now + 0.5))
    engine.feed(msg.CallerAnswered(call_id="c1", at=now + 0.5, announcement=False))


async def client_for(engine: FakeEngine) -> TestClient[Any, Any]:
    client = TestClient(TestServer(build_app(engine)), headers=AUTH)  # type: ignore[arg-type]
    await client.start_server()
    return client


async def test_dispatch_walks_the_ladder_and_files_every_attempt(tmp_path: Path) -> None:
    engine = FakeEngine(ring_timeout=0.2, max_officers=2)
    client = await client_for(engine)
    try:
        status = (await client.post("/api/calls/c1/dispatch", json={})).status
        assert status == 404
        await answered_call(engine, client)
        ids = officers_on_duty(engine, 3)
        for k, officer_id in enumerate(ids):
            body = {"lat": 30.25 + 0.002 * (k + 1), "lon": 120.15, "ts": time.time()}
            reply = await client.put(f"/api/officers/{officer_id}/position", json=body)
            assert reply.status == 200, await reply.text()
        near = await (await client.get("/api/dispatch/nearest?lat=30.25&lon=120.15&limit=3")).json()
        assert [c["officer_id"] for c in near] == ids

        bad = await client.post("/api/calls/c1/dispatch", json={"lat": 30.25})
        assert bad.status == 400 and "both" in (await bad.json())["error"]
        reply = await client.post("/api/calls/c1/dispatch", json={})  # the INVITE's location
        assert reply.status == 202, await reply.text()
        again = await client.post("/api/calls/c1/dispatch", json={})
        assert again.status == 409
        (first,) = engine.commands(msg.DialOfficer)
        assert first.target == ids[0]
        engine.feed(
            msg.OfficerFailed(
                call_id="c1", target=ids[0], status=480, reason="Gone", at=time.monotonic()
            )
        )
        assert [d.target for d in engine.commands(msg.DialOfficer)] == ids[:2]
        await asyncio.sleep(0.35)  # the second officer's 0.2 s ring timeout passes
        assert [c.target for c in engine.commands(msg.CancelOfficer)] == [ids[1]]
        dialled = [d.target for d in engine.commands(msg.DialOfficer)]
        assert dialled[2].startswith("unit:")  # after max_officers: the unit's duty phone
        now = time.monotonic()
        engine.feed(msg.OfficerRinging(call_id="c1", target=dialled[2], at=now))
        engine.feed(msg.OfficerAnswered(call_id="c1", target=dialled[2], at=now + 0.1))
        engine.feed(msg.OfficerBridged(call_id="c1", target=dialled[2], at=now + 0.12))
        view = await (await client.get("/api/calls/c1")).json()
        assert [(a["target"], a["outcome"]) for a in view["dispatch"]["attempts"]] == [
            (ids[0], "unreachable"),
            (ids[1], "no-answer"),
            (dialled[2].removeprefix("unit:"), "answered"),
        ]
        assert view["dispatch"]["outcome"] == "bridged"
        assert view["timestamps"]["officer_bridged"] is not None
        officer = await (await client.get(f"/api/officers/{ids[0]}")).json()
        assert officer["status"] == "unreachable"  # R16: not offered again until reset
        assert engine.dispatcher.tally.bridged == 1
    finally:
        await client.close()
        engine.dispatcher.stop()
        engine.router.stop()


async def test_leave_frees_the_seat_and_the_call_ends_as_answered(tmp_path: Path) -> None:
    engine = FakeEngine()
    client = await client_for(engine)
    try:
        await answered_call(engine, client)
        assert (await client.post("/api/calls/c1/leave")).status == 409  # no officer yet
        (officer_id,) = officers_on_duty(engine, 1)
        reply = await client.post("/api/calls/c1/dispatch", json={"officer": officer_id})
        assert reply.status == 202
        now = time.monotonic()
        engine.feed(msg.OfficerAnswered(call_id="c1", target=officer_id, at=now))
        engine.feed(msg.OfficerBridged(call_id="c1", target=officer_id, at=now))
        assert (await client.post("/api/calls/c1/hold")).status == 202
        assert engine.commands(msg.HoldCaller) == [msg.HoldCaller(held=True)]
        assert (await client.post("/api/calls/c1/leave")).status == 202
        assert engine.commands(msg.LeaveSeat) == [msg.LeaveSeat()]
        engine.feed(
            msg.SeatLeft(
                call_id="c1", seat_id="s1", status=200, reason="left", at=now + 1, call_goes_on=True
            )
        )
        assert engine.acd.seat("s1").state.value == "ready"  # free for the next call
        reply = await client.post("/api/calls/c1/rejoin")
        assert reply.status == 202, await reply.text()
        assert engine.commands(msg.RejoinSeat) == [msg.RejoinSeat(seat_id="s1", uri="sip:s1@h")]
        assert engine.acd.seat("s1").state.value == "not-ready"
        engine.feed(
            msg.SeatRejoinFailed(call_id="c1", seat_id="s1", status=486, reason="Busy", at=now + 2)
        )
        assert engine.acd.seat("s1").state.value == "ready"
        engine.feed(
            msg.RecordingDone(
                call_id="c1", path="/r.wav", sha256="ab", size=10, seconds=1.0, at=now + 3
            )
        )
        engine.feed(
            msg.CallEnded(call_id="c1", at=now + 3, ended_by="officer", status=200, reason="")
        )
        record = engine.router.find("c1")
        assert record is not None and record.outcome == "answered"
        assert record.recording == {"path": "/r.wav", "sha256": "ab", "size": 10, "seconds": 1.0}
        status = await client.post(
            f"/api/officers/{officer_id}/status", json={"status": "on-scene"}
        )
        assert status.status == 200
        assert record.dispatch.on_scene_at is not None
        assert (
            await client.post(f"/api/officers/{officer_id}/status", json={"status": "x"})
        ).status == 400
    finally:
        await client.close()
        engine.dispatcher.stop()
        engine.router.stop()


async def test_roster_read_and_replaced_through_rest(tmp_path: Path) -> None:
    engine = FakeEngine()
    client = await client_for(engine)
    try:
        (officer_id,) = officers_on_duty(engine, 1)
        reply = await client.put(f"/api/officers/{officer_id}/roster", json={"shifts": []})
        assert reply.status == 200
        assert (await reply.json())["on_duty"] is False
        view = await (await client.get(f"/api/officers/{officer_id}")).json()
        assert view["status"] == "off-duty"
        reply = await client.put(
            f"/api/officers/{officer_id}/roster", json={"shifts": [{"daily": "00:00-24:00"}]}
        )
        data = await reply.json()
        assert data["on_duty"] is True and data["shifts"] == [{"daily": "00:00-24:00"}]
        bad = await client.put(
            f"/api/officers/{officer_id}/roster", json={"shifts": [{"daily": "25:00-26:00"}]}
        )
        assert bad.status == 400 and "shifts[0]" in (await bad.json())["error"]
        assert (await client.get("/api/officers/nobody/roster")).status == 404
    finally:
        await client.close()
        engine.dispatcher.stop()
        engine.router.stop()


async def test_no_officer_bridged_30_s_after_the_invite_raises_an_alert() -> None:
    engine = FakeEngine(bridge_target=0.3, ring_timeout=5.0)
    client = await client_for(engine)
    try:
        await answered_call(engine, client)
        (officer_id,) = officers_on_duty(engine, 1)
        await client.post("/api/calls/c1/dispatch", json={"officer": officer_id})
        await asyncio.sleep(0.5)
        alerts = await (await client.get("/api/alerts")).json()
        assert [a["kind"] for a in alerts] == ["bridge-late"]
        assert alerts[0]["call_id"] == "c1"
    finally:
        await client.close()
        engine.dispatcher.stop()
        engine.router.stop()


async def test_with_no_officer_available_the_local_units_duty_phones_are_called() -> None:
    engine = FakeEngine()
    client = await client_for(engine)
    try:
        await answered_call(engine, client)  # nobody has reported a position: nobody ranks
        reply = await client.post("/api/calls/c1/dispatch", json={"lat": 30.25, "lon": 120.15})
        assert reply.status == 202
        view = await reply.json()
        assert view["dispatch"]["ranked"] == []
        place = engine.city.areas.locate(30.25, 120.15)
        (first,) = engine.commands(msg.DialOfficer)
        unit = engine.dispatcher.force.unit(first.target.removeprefix("unit:"))
        patrols_cell = any(o.unit == unit.id and o.grid == place.grid for o in engine.city.officers)
        assert patrols_cell or unit.station == place.station, (unit, place)
        assert first.uri == unit.duty_phone
        chain = engine.dispatcher.force.duty_chain(unit.id)
        assert len(chain) >= 2  # then up the chain of command
    finally:
        await client.close()
        engine.dispatcher.stop()
        engine.router.stop()
