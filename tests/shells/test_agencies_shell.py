"""Agency desks in a call (engine.agencies) over a scripted pool: the anti-fraud centre's desk
bridged in after a fraud classification (R9), the caller handed over to the 12345 hotline after
a non-police one (R10), desks that do not answer, and the REST controls. Member events are fed
by hand and member commands recorded; the ACD, the routing rules, the SQLite incident store and
the aiohttp app are real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from acd.seats import SeatState
from sip import messages as msg
from tests.shells.test_incidents_shell import STATION_POINT, FakeEngine, offer, running

Centre = tuple[FakeEngine, TestClient[Any, Any]]


def metric(engine: FakeEngine, name: str, **labels: str) -> float | None:
    return engine.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[Centre]:
    async with running(FakeEngine(tmp_path / "incidents.db", agency_ring_timeout=0.3)) as both:
        yield both


async def answered(engine: FakeEngine, client: TestClient[Any, Any], call_id: str) -> str:
    """A call answered by seat s1; returns its incident number."""
    await client.post("/api/seats/s1/login", json={"agent": "a1"})
    await client.post("/api/seats/s1/ready")
    lat, lon = STATION_POINT
    offer(engine, call_id, {"lat": lat, "lon": lon, "method": "GPS"})
    now = time.monotonic()
    engine.feed(msg.SeatAnswered(call_id=call_id, seat_id="s1", at=now))
    engine.feed(msg.CallerAnswered(call_id=call_id, at=now, announcement=False))
    await engine.incidents.settled()
    return engine.incidents.by_call[call_id]


def desk(engine: FakeEngine, call_id: str, agency: str, state: str, status: int = 0) -> None:
    engine.feed(
        msg.AgencyLeg(
            call_id=call_id, agency=agency, state=state, status=status, at=time.monotonic()
        )
    )


async def call_view(client: TestClient[Any, Any], call_id: str) -> dict[str, Any]:
    view: dict[str, Any] = await (await client.get(f"/api/calls/{call_id}")).json()
    return view


async def incident_kinds(engine: FakeEngine, client: TestClient[Any, Any], number: str) -> Any:
    await engine.incidents.settled()
    incident = await (await client.get(f"/api/incidents/{number}")).json()
    return incident, [e["kind"] for e in incident["events"]]


async def test_fraud_bridges_the_anti_fraud_desk_and_the_call_taker_may_then_leave(
    centre: Centre,
) -> None:
    engine, client = centre
    number = await answered(engine, client, "c1")
    assert (await client.post("/api/calls/c1/leave")).status == 409  # nobody to hand over to
    reply = await client.post(
        f"/api/incidents/{number}/classify",
        json={"category": "fraud", "type": "telecom-fraud", "severity": 3,
              "summary": "transferred 20,000 to a 'police officer'",
              "numbers": ["+8617000000000"], "accounts": ["6222 0000 1111"], "actor": "a1"},
    )  # fmt: skip
    assert reply.status == 200, await reply.text()
    result = await reply.json()
    assert result["decision"]["route"] == "anti-fraud" and result["dispatch"] is None
    assert result["agency"] == {"started": True, "agency": "anti-fraud", "purpose": "bridge"}
    (dial,) = engine.commands(msg.DialAgency)
    assert dial == msg.DialAgency(agency="anti-fraud", uri="sip:anti-fraud-desk@127.0.0.1")

    desk(engine, "c1", "anti-fraud", "ringing")
    desk(engine, "c1", "anti-fraud", "answered")
    desk(engine, "c1", "anti-fraud", "bridged")
    (link,) = (await call_view(client, "c1"))["agencies"]
    assert link["purpose"] == "bridge" and link["actor"] == "a1" and link["bridged"] is not None
    assert engine.commands(msg.LeaveSeat) == []  # a bridge: the call-taker stays
    assert (await client.post("/api/calls/c1/leave")).status == 202  # now there is someone
    assert len(engine.commands(msg.LeaveSeat)) == 1

    desk(engine, "c1", "anti-fraud", "left", 200)
    (link,) = (await call_view(client, "c1"))["agencies"]
    assert link["outcome"] == "completed" and link["ended"] is not None
    incident, kinds = await incident_kinds(engine, client, number)
    for kind in ("anti-fraud-push", "agency-dialing", "agency-ringing", "agency-answered",
                 "agency-bridged", "agency-ended"):  # fmt: skip
        assert kind in kinds, (kind, kinds)
    assert kinds.index("anti-fraud-push") < kinds.index("agency-bridged")
    bridged = next(e for e in incident["events"] if e["kind"] == "agency-bridged")
    assert bridged["data"]["agency"] == "anti-fraud" and bridged["data"]["purpose"] == "bridge"
    assert incident["status"] == "classified"
    assert metric(engine, "hotline110_agency_links_total", agency="anti-fraud",
                  outcome="completed") == 1  # fmt: skip


async def test_non_police_hands_the_caller_over_to_12345_and_frees_the_seat(
    centre: Centre,
) -> None:
    engine, client = centre
    number = await answered(engine, client, "c1")
    reply = await client.post(
        f"/api/incidents/{number}/classify",
        json={"category": "non-police", "type": "noise-complaint", "summary": "loud music"},
    )
    result = await reply.json()
    assert result["decision"]["route"] == "12345"
    assert result["agency"] == {"started": True, "agency": "12345", "purpose": "transfer"}
    (dial,) = engine.commands(msg.DialAgency)
    assert dial.agency == "12345" and dial.uri == "sip:12345@127.0.0.1"
    desk(engine, "c1", "12345", "answered")
    assert engine.commands(msg.LeaveSeat) == []  # not before the caller hears 12345
    desk(engine, "c1", "12345", "bridged")
    assert len(engine.commands(msg.LeaveSeat)) == 1  # the hand-over
    engine.feed(
        msg.SeatLeft(call_id="c1", seat_id="s1", status=200, reason="left", at=time.monotonic(),
                     call_goes_on=True)
    )  # fmt: skip
    assert engine.acd.seat("s1").state is SeatState.READY  # free for the next call at once
    incident, kinds = await incident_kinds(engine, client, number)
    assert incident["status"] == "transferred"
    assert "ticket-12345" in kinds and "call-taker-left" in kinds
    # the call-taker cannot take 12345 out of a call they left: the caller would be alone
    reply = await client.delete("/api/calls/c1/agencies/12345")
    assert reply.status == 409 and "alone" in (await reply.json())["error"]


async def test_a_desk_that_does_not_answer_is_withdrawn_and_the_call_taker_keeps_the_caller(
    centre: Centre,
) -> None:
    engine, client = centre
    number = await answered(engine, client, "c1")
    reply = await client.post("/api/calls/c1/agencies/12345", json={"actor": "a1"})
    assert reply.status == 202, await reply.text()
    again = await client.post("/api/calls/c1/agencies/anti-fraud")
    assert again.status == 409 and "12345 desk is already" in (await again.json())["error"]
    desk(engine, "c1", "12345", "ringing")
    await asyncio.sleep(0.5)  # the 0.3 s ring timeout
    assert engine.commands(msg.CancelAgency) == [msg.CancelAgency(agency="12345")]
    (link,) = (await call_view(client, "c1"))["agencies"]
    assert link["outcome"] == "no-answer" and "no answer in 0.3 s" in link["reason"]
    assert engine.commands(msg.LeaveSeat) == []

    # tried again: busy this time; then withdrawn by hand while ringing
    assert (await client.post("/api/calls/c1/agencies/12345")).status == 202
    desk(engine, "c1", "12345", "failed", 486)
    assert (await client.post("/api/calls/c1/agencies/12345")).status == 202
    reply = await client.delete("/api/calls/c1/agencies/12345?actor=a1")
    assert reply.status == 202
    outcomes = [k["outcome"] for k in (await call_view(client, "c1"))["agencies"]]
    assert outcomes == ["no-answer", "busy", "withdrawn"]
    assert len(engine.commands(msg.CancelAgency)) == 2
    _, kinds = await incident_kinds(engine, client, number)
    assert kinds.count("agency-failed") == 3 and "agency-bridged" not in kinds
    for outcome in ("no-answer", "busy", "withdrawn"):
        assert metric(engine, "hotline110_agency_links_total", agency="12345",
                      outcome=outcome) == 1  # fmt: skip


async def test_fraud_with_violence_dispatches_and_bridges_the_desk_and_a_call_end_closes_links(
    centre: Centre,
) -> None:
    engine, client = centre
    number = await answered(engine, client, "c1")
    reply = await client.post(
        f"/api/incidents/{number}/classify",
        json={"category": "fraud", "summary": "the scammer came with a knife", "severity": 4},
    )
    result = await reply.json()
    assert result["decision"]["rule"] == "fraud-with-violence"
    assert result["dispatch"]["started"] is True and result["agency"]["started"] is True
    assert len(engine.commands(msg.DialOfficer)) == 1 and len(engine.commands(msg.DialAgency)) == 1
    engine.feed(msg.CallEnded(call_id="c1", at=time.monotonic(), ended_by="caller", status=200,
                              reason=""))  # fmt: skip
    (link,) = (await call_view(client, "c1"))["agencies"]
    assert link["outcome"] == "call-ended"


async def test_agency_requests_that_cannot_be_carried_out(centre: Centre) -> None:
    engine, client = centre
    assert (await client.post("/api/calls/nope/agencies/12345")).status == 404
    await client.post("/api/seats/s1/login", json={"agent": "a1"})
    offer(engine, "c1", None)  # offered, not answered yet
    reply = await client.post("/api/calls/c1/agencies/12345")
    assert reply.status == 409 and "not answered" in (await reply.json())["error"]
    now = time.monotonic()
    engine.feed(msg.SeatAnswered(call_id="c1", seat_id="s1", at=now))
    reply = await client.post("/api/calls/c1/agencies/fire-brigade")
    assert reply.status == 404 and "unknown agency" in (await reply.json())["error"]
    reply = await client.post("/api/calls/c1/agencies/12345", json={"purpose": "teleport"})
    assert reply.status == 400
    assert (await client.delete("/api/calls/c1/agencies/12345")).status == 404
    engine.agencies.uris["anti-fraud"] = ""  # routing.toml without anti_fraud.bridge_uri
    reply = await client.post("/api/calls/c1/agencies/anti-fraud")
    assert reply.status == 409 and "no SIP URI" in (await reply.json())["error"]
    assert engine.commands(msg.DialAgency) == []


async def test_a_police_classification_dispatches_to_where_the_call_taker_typed(
    centre: Centre,
) -> None:
    engine, client = centre
    await client.post("/api/seats/s1/login", json={"agent": "a1"})
    await client.post("/api/seats/s1/ready")
    offer(engine, "c1", None, error="no Geolocation header")  # the INVITE said nothing
    engine.feed(msg.SeatAnswered(call_id="c1", seat_id="s1", at=time.monotonic()))
    await engine.incidents.settled()
    number = engine.incidents.by_call["c1"]
    lat, lon = STATION_POINT
    reply = await client.post(f"/api/incidents/{number}/location", json={"lat": lat, "lon": lon})
    assert reply.status == 201
    reply = await client.post(f"/api/incidents/{number}/classify", json={"category": "police"})
    result = await reply.json()
    assert result["dispatch"] == {"started": True, "how": "nearest"}, result
    dispatch = (await call_view(client, "c1"))["dispatch"]
    assert (dispatch["location"]["lat"], dispatch["location"]["lon"]) == (lat, lon)
    assert len(engine.commands(msg.DialOfficer)) == 1
