"""Agency desks with real SIP audio: a SIPp caller (440 Hz), a pjsua2 seat phone (880 Hz) and a
pjsua2 desk phone (1320 Hz) for the anti-fraud centre or the 12345 hotline, in one pool member's
conference, and a real HTTP intake for the 12345 ticket. The routing rules are the shipped ones
with the desks' URIs and the ticket URL pointed at this test's peers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.settings import PACKAGE_ROOT
from tests.peers.audio import read_wav, ulaw_decode
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.rtpsniff import RtpSniffer
from tests.peers.sipp import SippCall
from tests.peers.test_calls import metric_values
from tests.peers.test_dispatch_live import (
    CALLER_HZ,
    OFFICER_HZ,
    SEAT_HZ,
    answered_call,
    assert_hears,
    city_with_phones,
    heard,
    officer_phones,
    place_officers,
)

pytestmark = pytest.mark.peers
DESK_HZ = OFFICER_HZ


def rules_for(tmp_path: Path, desk: str, ticket_url: str) -> Path:
    """The shipped routing rules, with both desks at `desk` and tickets to `ticket_url`."""
    text = (PACKAGE_ROOT / "config" / "routing.toml").read_text(encoding="utf-8")
    for old, new in (
        ('"sip:anti-fraud-desk@127.0.0.1"', f'"{desk}"'),
        ('"sip:12345@127.0.0.1"', f'"{desk}"'),
        ('"http://127.0.0.1:8345/tickets"', f'"{ticket_url}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "routing.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TicketDesk:
    """The 12345 hotline's ticket intake: answers every ticket with a receipt."""

    def __init__(self) -> None:
        self.tickets: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.tickets.append(await request.json())
        return web.json_response({"receipt": f"12345-T{len(self.tickets):04d}"})


async def incident_of(engine: Any, call_id: str) -> str:
    number: str = await eventually(lambda: engine.incidents.by_call.get(call_id), 5, "incident")
    return number


async def classified(engine: Any, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The seat answers the SIPp call; the call-taker classifies its incident with `body`:
    (call id, incident number, the classification's answer)."""
    call_id = await answered_call(engine)
    number = await incident_of(engine, call_id)
    status, result = await http_json(engine, "POST", f"/api/incidents/{number}/classify", body)
    assert status == 200, result
    return call_id, number, result


async def test_non_police_call_is_handed_over_to_12345_with_its_ticket_and_receipt(
    ports: PortBlock, tmp_path: Path
) -> None:
    intake = TicketDesk()
    app = web.Application()
    app.router.add_post("/tickets", intake.handle)
    server = TestServer(app, host="127.0.0.1", port=ports.agency_http)
    await server.start_server()
    try:
        async with officer_phones(ports, tmp_path / "desks", 1) as desks:
            (desk_id,) = desks.seat_ids()
            rules = rules_for(
                tmp_path, desks.contact(desk_id), f"http://127.0.0.1:{ports.agency_http}/tickets"
            )
            async with centre(
                ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, incidents={"rules": str(rules)}
            ) as (engine, seats):
                sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=12000)
                with RtpSniffer(sipp.media_port) as heard_by_caller:
                    await sipp.start()
                    call_id, number, result = await classified(
                        engine, {"category": "non-police", "type": "noise-complaint",
                                 "summary": "the neighbours' music", "actor": "agent-seat1"},
                    )  # fmt: skip
                    assert result["agency"] == {
                        "started": True, "agency": "12345", "purpose": "transfer"
                    }  # fmt: skip
                    record = engine.router.calls[call_id]
                    await eventually(lambda: record.agencies[0].bridged_at, 10, "12345 bridged")
                    # the hand-over: the call-taker's phone hangs up, the seat takes calls again
                    await seats.wait_event("seat1", "ended", 5)
                    await eventually(
                        lambda: engine.acd.seat("seat1").state.value == "ready", 5, "seat ready"
                    )
                    assert call_id in engine.router.calls  # caller and 12345 talk on
                    run = await sipp.finish()
                assert run.returncode == 0, run.messages[-2000:]
                await eventually(lambda: not engine.router.calls, 10, "the call to end")
                record = engine.router.finished[-1]
                assert record.outcome == "answered" and record.agencies[0].outcome == "completed"
                hand_over = record.agencies[0].bridged_at
                assert record.ended_at - hand_over > 5.0  # enough caller-and-desk audio

                # what caller and desk heard after the hand-over: each other, no call-taker
                desk_end = await desks.wait_event(desk_id, "ended", 5)
                samples, rate = read_wav(Path(desk_end["recording"]))
                assert_hears(heard(samples[-5 * rate : -rate], rate), [CALLER_HZ], DESK_HZ, "desk")
                assert heard(samples[-5 * rate : -rate], rate)[SEAT_HZ] < 0.02
                (stream,) = [d for (_, kind), d in heard_by_caller.streams.items() if kind == 0]
                levels = heard(ulaw_decode(bytes(stream))[-5 * 8000 : -8000], 8000)
                assert_hears(levels, [DESK_HZ], CALLER_HZ, "caller")
                assert levels[SEAT_HZ] < 0.02, levels

                # the incident: transferred, the ticket sent and its receipt filed (R10)
                await eventually(lambda: intake.tickets, 10, "the 12345 ticket")
                ticket = intake.tickets[0]
                assert ticket["eventType"] == "ticket-12345"
                assert ticket["incident"]["incidentNumber"] == number

                async def filed() -> set[str]:
                    _, view = await http_json(engine, "GET", f"/api/incidents/{number}")
                    return {e["kind"] for e in view["events"]}

                for _ in range(100):  # bounded: the receipt comes back with the POST's answer
                    if "receipt" in await filed():
                        break
                    await asyncio.sleep(0.1)
                _, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
                kinds = [e["kind"] for e in incident["events"]]
                assert incident["status"] == "transferred"
                for kind in ("classified", "ticket-12345", "agency-dialing", "agency-bridged",
                             "call-taker-left", "agency-ended", "call-ended", "receipt"):  # fmt: skip
                    assert kind in kinds, (kind, kinds)
                receipt = next(e for e in incident["events"] if e["kind"] == "receipt")
                assert receipt["data"]["receipt"] == "12345-T0001"
                _, text = await http_json(engine, "GET", "/metrics")
                values = metric_values(text)
                key = (("agency", "12345"), ("outcome", "completed"))
                assert values[("hotline110_agency_links_total", key)] == 1
    finally:
        await server.close()


async def test_fraud_bridges_the_anti_fraud_desk_and_everyone_hears_everyone(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with officer_phones(ports, tmp_path / "desks", 1) as desks:
        (desk_id,) = desks.seat_ids()
        rules = rules_for(tmp_path, desks.contact(desk_id), "http://127.0.0.1:9/unused")
        async with centre(
            ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, incidents={"rules": str(rules)}
        ) as (engine, seats):
            sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=12000)
            with RtpSniffer(sipp.media_port) as heard_by_caller:
                await sipp.start()
                call_id, number, result = await classified(
                    engine, {"category": "fraud", "type": "telecom-fraud", "summary": "fake police",
                             "numbers": ["+8617000000000"], "accounts": ["6222000011112222"]},
                )  # fmt: skip
                assert result["agency"]["purpose"] == "bridge"
                record = engine.router.calls[call_id]
                await eventually(lambda: record.agencies[0].bridged_at, 10, "the desk bridged")
                assert call_id in engine.router.calls and not record.handed_off
                run = await sipp.finish()
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
            record = engine.router.finished[-1]
            assert record.ended_at - record.agencies[0].bridged_at > 5.0

            seat_end = await seats.wait_event("seat1", "ended", 5)
            samples, rate = read_wav(Path(seat_end["recording"]))
            assert_hears(
                heard(samples[-5 * rate : -rate], rate), [CALLER_HZ, DESK_HZ], SEAT_HZ, "seat"
            )
            desk_end = await desks.wait_event(desk_id, "ended", 5)
            samples, rate = read_wav(Path(desk_end["recording"]))
            assert_hears(
                heard(samples[-5 * rate : -rate], rate), [CALLER_HZ, SEAT_HZ], DESK_HZ, "desk"
            )
            (stream,) = [d for (_, kind), d in heard_by_caller.streams.items() if kind == 0]
            pcm = ulaw_decode(bytes(stream))
            assert_hears(
                heard(pcm[-5 * 8000 : -8000], 8000), [SEAT_HZ, DESK_HZ], CALLER_HZ, "caller"
            )
            # the push the anti-fraud centre acts on: caller, numbers and accounts
            status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
            assert status == 200, incident
            push = next(e for e in incident["events"] if e["kind"] == "anti-fraud-push")
            assert push["data"]["accounts"] == ["6222000011112222"]
            assert "agency-bridged" in [e["kind"] for e in incident["events"]]


async def test_fraud_with_violence_fills_all_four_legs_and_the_ladder_still_escalates(
    ports: PortBlock, tmp_path: Path
) -> None:
    """Caller, seat, the anti-fraud desk and the officer: pjsua2's four legs. The first officer
    never answers; the ladder CANCELs that leg and calls the next officer, whose INVITE waits
    for the CANCELled leg's slot instead of failing for want of a leg."""
    async with officer_phones(ports, tmp_path / "phones", 3) as phones:
        city, ids, incident = city_with_phones(phones, 2)
        first, _, desk_phone = phones.seat_ids()
        await phones.set_behaviour(first, answer="never")
        rules = rules_for(tmp_path, phones.contact(desk_phone), "http://127.0.0.1:9/unused")
        async with centre(
            ports, tmp_path, 1, city=city, dispatch={"ring_timeout": 2.0},
            incidents={"rules": str(rules)},
        ) as (engine, _):  # fmt: skip
            await place_officers(engine, ids, incident)
            sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=12000)
            await sipp.start()
            call_id = await answered_call(engine)
            number = await incident_of(engine, call_id)
            lat, lon = incident
            status, _ = await http_json(
                engine, "POST", f"/api/incidents/{number}/location", {"lat": lat, "lon": lon}
            )
            assert status == 201
            status, result = await http_json(
                engine, "POST", f"/api/incidents/{number}/classify",
                {"category": "fraud", "summary": "the scammer came back with a knife"},
            )  # fmt: skip
            assert status == 200, result
            assert result["decision"]["rule"] == "fraud-with-violence"
            assert result["dispatch"]["started"] and result["agency"]["started"], result
            record = engine.router.calls[call_id]
            await eventually(lambda: record.agencies[0].bridged_at, 10, "the desk bridged")
            await eventually(lambda: record.dispatch.officer_bridged_at, 15, "an officer bridged")
            status, view = await http_json(engine, "GET", f"/api/calls/{call_id}")
            attempts = [(a["target"], a["outcome"]) for a in view["dispatch"]["attempts"]]
            assert attempts == [(ids[0], "no-answer"), (ids[1], "answered")], attempts
            assert view["agencies"][0]["outcome"] is None  # the desk is still in the call
            run = await sipp.finish()
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
