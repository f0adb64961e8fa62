"""The incident service and its REST API over a scripted pool: member events fed by hand, the
real SQLite store, routing rules, dispatcher and aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.agencies import AgencyLinks
from engine.http import build_app
from engine.http_intake import IntakeDesk
from engine.incidents import IncidentRouter, IncidentService
from engine.settings import PACKAGE_ROOT
from engine.texts import TextService
from incidents.rules import load_rules
from incidents.store import Incident, open_store
from intake.media import MediaStore
from sip import messages as msg
from tests.access import AUTH
from tests.shells.test_dispatch_shell import FakeEngine as DispatchEngine

STATION_POINT = (30.25, 120.15)


class FakeEngine(DispatchEngine):
    def __init__(self, db: Path, agency_ring_timeout: float = 30.0, seats: int = 1) -> None:
        super().__init__(seats=seats)
        self.store = open_store(f"sqlite:///{db}")
        self.incidents = IncidentService(
            self.store, city="HZ", domain="test.invalid", tz=self.city.roster.tz,
            areas=self.city.areas, events=self.events, alerts=self.alerts,
        )  # fmt: skip
        self.rules = IncidentRouter(load_rules(PACKAGE_ROOT / "config" / "routing.toml"))
        self.intake = IntakeDesk(MediaStore(db.parent / "media"), per_minute=4)
        self.texts = TextService(self.incidents, self.events, self.metrics, self.acd, self.access)
        self.agencies = AgencyLinks(
            self.router, self._send, self.events, self.metrics, agency_ring_timeout,
            uris={"anti-fraud": self.rules.rules.bridge_uri or "", "12345": self.rules.rules.transfer_uri},
        )  # fmt: skip

    def feed(self, event: msg.Message) -> None:
        self.incidents.on_member_event(event)
        super().feed(event)
        self.agencies.on_member_event(event)

    def route(self, incident: Incident, changes: dict[str, Any]) -> dict[str, Any]:
        on_line = incident.call_id in self.router.calls
        return self.rules.decide(incident, changes, caller_on_line=on_line)


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, TestClient[Any, Any]]]:
    async with running(FakeEngine(tmp_path / "incidents.db")) as both:
        yield both


@contextlib.asynccontextmanager
async def running(engine: FakeEngine) -> AsyncIterator[tuple[FakeEngine, TestClient[Any, Any]]]:
    await engine.store.open()
    writer = asyncio.create_task(engine.incidents.run())
    client = TestClient(TestServer(build_app(engine)), headers=AUTH)  # type: ignore[arg-type]
    await client.start_server()
    try:
        yield engine, client
    finally:
        await client.close()
        writer.cancel()
        engine.agencies.stop()
        engine.dispatcher.stop()
        engine.router.stop()
        await engine.store.close()


def offer(
    engine: FakeEngine, call_id: str, location: dict[str, Any] | None, error: str = ""
) -> None:
    now = time.monotonic()
    engine.feed(
        msg.CallOffered(
            call_id=call_id, at=now, received_at=now, caller="13800000001", caller_name="",
            called="110", pai="", sip_call_id=f"{call_id}@carrier", trunk="carrier",
            location=location, location_error=error,
        )
    )  # fmt: skip


async def test_a_call_opens_an_incident_that_records_every_step(
    centre: tuple[FakeEngine, TestClient[Any, Any]],
) -> None:
    engine, client = centre
    await client.post("/api/seats/s1/login", json={"agent": "a1"})
    await client.post("/api/seats/s1/ready")
    lat, lon = STATION_POINT
    offer(engine, "c1", {"lat": lat, "lon": lon, "radius_m": 30, "method": "GPS"})
    engine.feed(msg.SeatAnswered(call_id="c1", seat_id="s1", at=time.monotonic()))
    await engine.incidents.settled()
    number = engine.incidents.by_call["c1"]
    assert number.startswith("HZ-") and number.endswith("-000001")
    view = await (await client.get("/api/calls/c1")).json()
    assert view["incident"] == number

    note = await client.post(
        f"/api/incidents/{number}/notes", json={"text": "knife", "actor": "a1"}
    )
    assert note.status == 201
    reply = await client.post(
        f"/api/incidents/{number}/classify",
        json={
            "category": "police",
            "type": "robbery",
            "severity": 4,
            "summary": "robbery with a knife",
        },
    )
    assert reply.status == 200, await reply.text()
    result = await reply.json()
    assert result["decision"]["route"] == "dispatch" and result["decision"]["rule"] == "police"
    assert "city-command" in result["decision"]["targets"]  # severe: the city sees it (R7)
    assert result["dispatch"]["started"] is True  # a police matter on a live call: dispatched
    engine.feed(
        msg.RecordingDone(call_id="c1", path="/r/c1.wav", sha256="ab", size=9, seconds=1.0, at=0)
    )
    await engine.incidents.settled()

    incident = await (await client.get(f"/api/incidents/{number}")).json()
    kinds = [e["kind"] for e in incident["events"]]
    assert kinds[:4] == ["opened", "answered", "note", "classified"], kinds
    assert "dispatch-started" in kinds and "recording" in kinds
    assert [e["seq"] for e in incident["events"]] == list(range(1, len(kinds) + 1))
    classified = incident["events"][3]
    assert (
        classified["actor"] == "service:rest"
        and classified["data"]["decision"]["route"] == "dispatch"
    )
    assert incident["status"] == "dispatched" and incident["type"] == "robbery"
    assert incident["station"] is not None and incident["county"] is not None
    assert incident["recordings"][0]["sha256"] == "ab"
    assert incident["ng911_incident_uid"].startswith("urn:emergency:uid:incidentid:")


async def test_bad_location_keeps_the_incident_as_unknown_and_notes_why(
    centre: tuple[FakeEngine, TestClient[Any, Any]],
) -> None:
    engine, client = centre
    offer(engine, "c2", {"lat": 999.0, "lon": 120.0, "method": "GPS"})
    offer(engine, "c3", None, error="PIDF-LO: no <gml:pos>")
    await engine.incidents.settled()
    for call_id, why in (("c2", "location not usable"), ("c3", "no <gml:pos>")):
        incident = await (
            await client.get(f"/api/incidents/{engine.incidents.by_call[call_id]}")
        ).json()
        assert incident["location"] == "unknown", incident
        assert why in incident["location_error"]
    # the call-taker types where the caller is: the incident is located after all
    number = engine.incidents.by_call["c2"]
    lat, lon = STATION_POINT
    reply = await client.post(
        f"/api/incidents/{number}/location", json={"lat": lat, "lon": lon, "actor": "a1"}
    )
    assert reply.status == 201, await reply.text()
    incident = await (await client.get(f"/api/incidents/{number}")).json()
    assert incident["location"]["lat"] == lat and incident["station"] is not None
    assert incident["location_error"] == ""
    assert [e["kind"] for e in incident["events"]][-1] == "location"
    assert (await client.post(f"/api/incidents/{number}/location", json={"lat": 1})).status == 400


async def test_walk_in_reports_tips_queries_and_bad_bodies(
    centre: tuple[FakeEngine, TestClient[Any, Any]],
) -> None:
    _, client = centre
    lat, lon = STATION_POINT
    numbers = []
    for n in range(3):
        reply = await client.post(
            "/api/incidents",
            json={"source": "walk-in" if n else "tip", "summary": f"report {n}", "lat": lat, "lon": lon,
                  "category": "non-police", "actor": "station"},
        )  # fmt: skip
        assert reply.status == 201, await reply.text()
        numbers.append((await reply.json())["number"])
    assert [int(n[-6:]) for n in numbers] == [1, 2, 3]
    station = (await (await client.get(f"/api/incidents/{numbers[0]}")).json())["station"]
    page = await (await client.get(f"/api/incidents?station={station}&limit=2")).json()
    assert page["total"] == 3 and [i["number"] for i in page["items"]] == numbers[::-1][:2]
    page = await (await client.get(f"/api/incidents?station={station}&limit=2&offset=2")).json()
    assert [i["number"] for i in page["items"]] == numbers[:1]
    assert (await (await client.get("/api/incidents?status=closed")).json())["total"] == 0
    for body, want in (
        ({"source": "walk-in"}, "'summary' is required"),
        ({"source": "fax", "summary": "x"}, "'source' must be one of"),
        ({"source": "tip", "summary": "x", "lat": 95, "lon": 0}, "'lat' must be a number"),
        ({"source": "tip", "summary": "x" * 5000}, "at most 4000"),
    ):
        reply = await client.post("/api/incidents", json=body)
        assert reply.status == 400 and want in (await reply.json())["error"], body
    reply = await client.post(
        "/api/incidents", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400
    reply = await client.post("/api/incidents", data=b"x" * (70 * 1024))
    assert reply.status == 413
    assert (
        await client.post("/api/incidents/HZ-20200101-000001/notes", json={"text": "x"})
    ).status == 404
    assert (await client.get("/api/incidents/nope")).status == 404
    assert (await client.get("/api/incidents?limit=0")).status == 400

    # closing: with a disposition, once
    assert (await client.post(f"/api/incidents/{numbers[1]}/close", json={})).status == 400
    closed = await client.post(
        f"/api/incidents/{numbers[1]}/close", json={"disposition": "advice given"}
    )
    assert closed.status == 201, await closed.text()
    assert (await closed.json())["data"] == {"disposition": "advice given", "was": "open"}
    again = await client.post(f"/api/incidents/{numbers[1]}/close", json={"disposition": "x"})
    assert again.status == 409 and "already closed" in (await again.json())["error"]
    page = await (await client.get("/api/incidents?status=closed")).json()
    assert [i["number"] for i in page["items"]] == [numbers[1]]
    missing = await client.post(
        "/api/incidents/HZ-20200101-000009/close", json={"disposition": "x"}
    )
    assert missing.status == 404
