"""Take and dispatch in one step, with real SIP audio: a SIPp caller (440 Hz), a pjsua2 seat
phone (880 Hz) and pjsua2 officer phones (1320 Hz) in one pool member's conference.

Every party records (or, for SIPp, has its RTP captured on the wire); numpy's FFT says which
tones each one heard. The member's own recording of the call is checked the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo.seatfarm import SeatFarm
from dispatch.city import City, load_city
from engine.settings import PACKAGE_ROOT
from tests.peers.audio import read_wav, tone_levels, ulaw_decode
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.rtpsniff import RtpSniffer
from tests.peers.sipp import SippCall
from tests.peers.test_calls import metric_values

pytestmark = pytest.mark.peers
CALLER_HZ, SEAT_HZ, OFFICER_HZ = 440.0, 880.0, 1320.0
ALL = [CALLER_HZ, SEAT_HZ, OFFICER_HZ]


@contextlib.asynccontextmanager
async def officer_phones(ports: PortBlock, workdir: Path, count: int) -> AsyncIterator[SeatFarm]:
    """Officer phones (and a duty phone): pjsua2 phones that speak 1320 Hz and record."""
    farm = SeatFarm(
        seats=count,
        first=50,
        per_process=1,
        sip_port_base=ports.officers_sip,
        rtp_port_base=ports.officers_rtp,
        workdir=workdir,
        answer_delay=(0.2, 0.4),
        tone_hz=OFFICER_HZ,
        record=True,
    )
    await farm.start()
    try:
        yield farm
    finally:
        await farm.stop()


def city_with_phones(farm: SeatFarm, count: int) -> tuple[City, list[str], tuple[float, float]]:
    """The shipped city with `count` on-duty officers' phones (and every duty phone) moved onto
    the farm's phones; returns the city, those officers' ids, and an incident point."""
    city = load_city(PACKAGE_ROOT / "config" / "city")
    phones = farm.seat_ids()
    now = time.time()
    chosen = [o for o in city.officers if city.roster.on_duty(o.id, now)][:count]
    phone_of = {o.id: farm.contact(phones[i]) for i, o in enumerate(chosen)}
    officers = [dataclasses.replace(o, phone=phone_of.get(o.id, o.phone)) for o in city.officers]
    duty = farm.contact(phones[count]) if len(phones) > count else "sip:nobody@127.0.0.1:9"
    units = [dataclasses.replace(u, duty_phone=duty) for u in city.units]
    incident = city.areas.centre(chosen[0].grid)
    return (
        dataclasses.replace(city, officers=officers, units=units),
        [o.id for o in chosen],
        incident,
    )


async def place_officers(engine: Any, ids: list[str], incident: tuple[float, float]) -> None:
    """Officer k stands (k+1) x ~330 m north of the incident: ranked in the order given."""
    lat, lon = incident
    for k, officer_id in enumerate(ids):
        body = {"lat": lat + 0.003 * (k + 1), "lon": lon, "ts": time.time(), "speed": 0.0}
        status, data = await http_json(engine, "PUT", f"/api/officers/{officer_id}/position", body)
        assert status == 200 and data["applied"], data


async def answered_call(engine: Any) -> str:
    def answered() -> str | None:
        return next((c for c, r in engine.router.calls.items() if r.answered_at is not None), None)

    call_id: str = await eventually(answered, 10, "the seat to answer")
    return call_id


def heard(samples: np.ndarray, rate: int) -> dict[float, float]:
    return tone_levels(samples, rate, ALL)


def assert_hears(levels: dict[float, float], others: list[float], own: float, who: str) -> None:
    for hz in others:
        assert levels[hz] > 0.1, f"{who} does not hear {hz} Hz: {levels}"
    assert levels[own] < 0.02, f"{who} hears its own {own} Hz (an echo): {levels}"


async def test_caller_seat_and_officer_each_hear_the_other_two_and_the_call_is_recorded(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with officer_phones(ports, tmp_path / "officers", 1) as officers:
        city, ids, incident = city_with_phones(officers, 1)
        async with centre(ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, city=city) as (
            engine,
            seats,
        ):
            await place_officers(engine, ids, incident)
            sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=9000)
            with RtpSniffer(sipp.media_port) as heard_by_caller:
                await sipp.start()
                call_id = await answered_call(engine)
                lat, lon = incident
                status, view = await http_json(
                    engine, "POST", f"/api/calls/{call_id}/dispatch", {"lat": lat, "lon": lon}
                )
                assert status == 202, view
                assert view["dispatch"]["ranked"][0]["officer_id"] == ids[0]
                run = await sipp.finish()
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
            await eventually(lambda: engine.router.finished[-1].recording, 5, "the recording")

            record = engine.router.finished[-1]
            stamps: Any = record.view()["timestamps"]
            assert stamps["officer_bridged"] is not None and stamps["officer_bridged"] < 30.0
            three_way_from = record.dispatch.officer_bridged_at
            assert record.ended_at - three_way_from > 5.0  # enough three-way audio to judge

            # what each party heard during the three-way part (the last seconds of the call)
            seat_end = await seats.wait_event("seat1", "ended", 5)
            samples, rate = read_wav(Path(seat_end["recording"]))
            assert_hears(
                heard(samples[-5 * rate : -rate], rate), [CALLER_HZ, OFFICER_HZ], SEAT_HZ, "seat"
            )
            officer_end = await officers.wait_event("seat50", "ended", 5)
            samples, rate = read_wav(Path(officer_end["recording"]))
            assert_hears(
                heard(samples[-5 * rate : -rate], rate), [CALLER_HZ, SEAT_HZ], OFFICER_HZ, "officer"
            )
            (stream,) = [d for (_, kind), d in heard_by_caller.streams.items() if kind == 0]
            pcm = ulaw_decode(bytes(stream))
            assert_hears(
                heard(pcm[-5 * 8000 : -8000], 8000), [SEAT_HZ, OFFICER_HZ], CALLER_HZ, "caller"
            )

            # the member's recording: the whole call, all three voices, filed with its hash
            rec = record.recording
            assert rec is not None and record.ended_at is not None
            assert record.answered_at is not None
            path = Path(rec["path"])
            assert path.is_file() and path.stat().st_size == rec["size"]

            assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
            samples, rate = read_wav(path)
            call_seconds = record.ended_at - record.answered_at
            assert abs(len(samples) / rate - call_seconds) <= 0.1 * call_seconds, (
                len(samples) / rate,
                call_seconds,
            )
            levels = heard(samples[-5 * rate : -rate], rate)
            assert all(levels[hz] > 0.05 for hz in ALL), levels

            status, text = await http_json(engine, "GET", "/metrics")
            values = metric_values(text)
            assert values[("hotline110_officer_bridge_seconds_bucket", (("le", "30.0"),))] == 1
            assert values[("hotline110_recordings_total", (("result", "written"),))] == 1
            assert values[("hotline110_officer_attempts_total", (("outcome", "answered"),))] == 1
            summary = engine.summary()
            assert summary["bridged"] == 1 and summary["within_30s"] == 1


async def test_escalation_no_answer_then_rejected_then_answered(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with officer_phones(ports, tmp_path / "officers", 3) as officers:
        city, ids, incident = city_with_phones(officers, 3)
        phones = officers.seat_ids()
        await officers.set_behaviour(phones[0], answer="never")
        await officers.set_behaviour(phones[1], answer="reject")
        async with centre(ports, tmp_path, 1, city=city, dispatch={"ring_timeout": 2.0}) as (
            engine,
            _,
        ):
            await place_officers(engine, ids, incident)
            sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=8000)
            await sipp.start()
            call_id = await answered_call(engine)
            lat, lon = incident
            status, view = await http_json(
                engine, "POST", f"/api/calls/{call_id}/dispatch", {"lat": lat, "lon": lon}
            )
            assert status == 202, view
            await eventually(
                lambda: engine.router.calls[call_id].dispatch.officer_bridged_at, 15, "a bridge"
            )
            status, view = await http_json(engine, "GET", f"/api/calls/{call_id}")
            attempts = [
                (a["step"], a["target"], a["outcome"]) for a in view["dispatch"]["attempts"]
            ]
            assert attempts == [
                (1, ids[0], "no-answer"),
                (2, ids[1], "rejected"),
                (3, ids[2], "answered"),
            ]
            first, second, third = view["dispatch"]["attempts"]
            assert (
                first["ringing_s"] is not None and 1.9 < first["ended_s"] - first["started_s"] < 2.6
            )
            assert second["status"] == 603
            assert view["dispatch"]["bridged"] == third["name"]
            # the ringing officer who never answered was cancelled, not left ringing
            await officers.wait_event(phones[0], "ended", 5)
            # NENA i3: the officer's INVITE carries the call's and the incident's identifiers
            incoming = await officers.wait_event(phones[2], "incoming", 5)
            status, incident = await http_json(engine, "GET", f"/api/incidents/{view['incident']}")
            assert status == 200, incident
            (call_info,) = incoming["call_info"]
            assert ";purpose=emergency-CallId" in call_info
            assert f"<{incident['ng911_incident_uid']}>;purpose=emergency-IncidentId" in call_info
            assert incident["ng911_call_uid"] in call_info
            status, o3 = await http_json(engine, "GET", f"/api/officers/{ids[2]}")
            assert o3["status"] == "dispatched" and o3["assigned_call"] == call_id
            run = await sipp.finish()
            assert run.returncode == 0, run.messages[-2000:]

            status, text = await http_json(engine, "GET", "/metrics")
            values = metric_values(text)
            assert values[("hotline110_escalations_total", (("step", "officer"),))] == 2
            assert values[("hotline110_officer_attempts_total", (("outcome", "no-answer"),))] == 1
            assert values[("hotline110_officer_attempts_total", (("outcome", "rejected"),))] == 1
            status, events = await http_json(engine, "GET", "/api/events?topic=dispatch/attempt")
            closed = [e["outcome"] for e in events if e["outcome"] != "dialling"]
            assert closed == ["no-answer", "rejected", "answered"]
            # later, through REST: the officer signs off and arrives
            status, _ = await http_json(engine, "POST", f"/api/officers/{ids[2]}/sign-off")
            assert status == 200
            status, _ = await http_json(
                engine, "POST", f"/api/officers/{ids[2]}/status", {"status": "on-scene"}
            )
            assert status == 200
            status, view = await http_json(engine, "GET", f"/api/calls/{call_id}")
            assert view["timestamps"]["officer_signed_off"] is not None
            assert (
                view["timestamps"]["officer_on_scene"] >= view["timestamps"]["officer_signed_off"]
            )


async def test_the_call_taker_leaves_rejoins_and_holds_the_caller(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with officer_phones(ports, tmp_path / "officers", 1) as officers:
        city, ids, incident = city_with_phones(officers, 1)
        async with centre(ports, tmp_path, 1, city=city) as (engine, seats):
            await place_officers(engine, ids, incident)
            sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=12000)
            await sipp.start()
            call_id = await answered_call(engine)
            status, refused = await http_json(engine, "POST", f"/api/calls/{call_id}/leave")
            assert status == 409, refused  # nobody to leave the caller with yet
            await http_json(engine, "POST", f"/api/calls/{call_id}/dispatch", {"officer": ids[0]})
            record = engine.router.calls[call_id]
            await eventually(lambda: record.dispatch.officer_bridged_at, 10, "a bridge")

            for action in ("hold", "unhold", "mute", "unmute"):
                status, view = await http_json(engine, "POST", f"/api/calls/{call_id}/{action}")
                assert status == 202, (action, view)
            status, view = await http_json(engine, "POST", f"/api/calls/{call_id}/leave")
            assert status == 202, view
            await seats.wait_event("seat1", "ended", 5)  # the call-taker's phone hung up ...
            assert call_id in engine.router.calls  # ... caller and officer talk on
            await eventually(lambda: engine.acd.seat("seat1").state.value == "ready", 5, "ready")
            assert not [e for e in officers.events if e["kind"] == "ended"]

            status, view = await http_json(engine, "POST", f"/api/calls/{call_id}/rejoin")
            assert status == 202, view
            await seats.wait_event("seat1", "answered", 5)
            await eventually(lambda: record.rejoined_seat == "seat1", 5, "the rejoin")
            assert engine.acd.seat("seat1").state.value == "not-ready"  # held for the conference
            run = await sipp.finish()
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
            assert engine.acd.seat("seat1").state.value == "ready"
            assert record.outcome == "answered"


async def test_a_recording_that_cannot_be_written_raises_an_alert_and_the_call_goes_on(
    ports: PortBlock, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the recordings directory should be\n")
    async with centre(ports, tmp_path, 1, recording={"dir": str(blocker / "recordings")}) as (
        engine,
        _,
    ):
        run = await SippCall(tmp_path, ports, 0, calls=1, hold_ms=3000).run()
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        record = engine.router.finished[-1]
        assert record.outcome == "answered" and record.recording is None
        assert record.recording_errors and "cannot open" in record.recording_errors[0]
        status, alerts = await http_json(engine, "GET", "/api/alerts")
        assert status == 200 and [a["kind"] for a in alerts] == ["recording-failed"]
        _, text = await http_json(engine, "GET", "/metrics")
        values = metric_values(text)
        assert values[("hotline110_recordings_total", (("result", "failed"),))] == 1
        assert values[("hotline110_alerts_total", (("kind", "recording-failed"),))] == 1


async def test_a_full_disk_mid_call_raises_an_alert_and_the_call_goes_on(
    ports: PortBlock, tmp_path: Path
) -> None:
    """The recordings on a 48 KiB tmpfs: it fills after ~3 s of a 10 s call."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    try:
        async with centre(ports, tmp_path, 1, recording={"dir": str(disk)}) as (engine, _):
            run = await SippCall(tmp_path, ports, 0, calls=1, hold_ms=10000).run()
            assert run.returncode == 0, run.messages[-2000:]  # the caller was never cut off
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
            record = engine.router.finished[-1]
            assert record.outcome == "answered"
            _, alerts = await http_json(engine, "GET", "/api/alerts")
            messages = [a["message"] for a in alerts if a["kind"] == "recording-failed"]
            assert any("free for recordings" in m for m in messages), messages  # early warning
            assert any("stopped growing" in m for m in messages), messages  # the disk filled
            # what was written is still filed with its hash: it is evidence (its header could
            # not be finished on the full disk, so it is reported as the member exits)
            await eventually(lambda: record.recording, 5, "the partial recording")
            assert record.recording is not None and record.recording["seconds"] < 5.0
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
