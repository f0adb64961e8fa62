"""WebRTC callers of the 110 web app with real peers: an aiortc "browser" (440 Hz and a test
pattern video) calls through the engine's REST; a pjsua2 seat phone (880 Hz) answers through
the ACD; an officer's pjsua2 phone (1320 Hz) is dispatched into the same conference. Every one
hears the others (FFT of what each recorded), the console's aiortc peer receives the live video,
the snapshot is filed and pushed on the officer's topic, the citizen's status shows the
officer's distance and ETA, and the caller's video is recorded and filed with the incident.
(Chromium itself is the caller in tests/browser/test_webrtc_page.py.)"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from tests.access import AUTH
from tests.peers.audio import read_wav
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall
from tests.peers.test_dispatch_live import (
    CALLER_HZ,
    OFFICER_HZ,
    SEAT_HZ,
    assert_hears,
    city_with_phones,
    heard,
    officer_phones,
    place_officers,
)
from tests.peers.webrtc_peer import Browser, FallsSilent, filed, start_call

pytestmark = pytest.mark.peers


def browser_ports(ports: PortBlock) -> tuple[int, int]:
    """The test's own ports for its aiortc browsers (never the kernel's ephemeral range)."""
    return ports.browsers, 40


async def citizen(engine: Any, method: str, path: str, token: str, body: Any = None) -> Any:
    http = engine.settings.http
    async with (
        aiohttp.ClientSession(headers={"X-Citizen-Token": token}) as session,
        session.request(method, f"http://{http.address}:{http.port}{path}", json=body) as r,
    ):
        return r.status, (await r.json(content_type=None) if r.status != 204 else None)


async def test_a_webrtc_caller_is_an_acd_call_heard_by_seat_and_officer_with_video(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with officer_phones(ports, tmp_path / "officers", 1) as officers:
        city, ids, incident = city_with_phones(officers, 1)
        async with centre(ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, city=city) as (
            engine,
            seats,
        ):
            await place_officers(engine, ids, incident)
            browser = Browser(ports=browser_ports(ports), hz=CALLER_HZ, video=True)
            watcher = Browser(ports=browser_ports(ports), watch=True)
            try:
                lat, lon = incident
                started = await start_call(
                    engine, browser, phone="13800000000", lat=lat, lon=lon, accuracy=12
                )
                call_id, token = started["call"], started["token"]

                # the same ACD, the same 3 s target
                record = await eventually(
                    lambda: (r := engine.router.calls.get(call_id)) and r.answered_at and r,
                    10,
                    "the seat to answer",
                )
                assert record.answered_at - record.offered_at < 3.0
                assert record.trunk == "web-app"
                status, view = await citizen(engine, "GET", f"/api/intake/calls/{call_id}", token)
                assert status == 200 and view["state"] == "answered", view
                assert view["officer"] is None and view["video"] is True
                number = view["incident"]
                assert number

                # a wrong token learns nothing
                status, _ = await citizen(engine, "GET", f"/api/intake/calls/{call_id}", "x" * 32)
                assert status == 404

                # the console's live view of the caller's video
                status, answer = await http_json(
                    engine,
                    "POST",
                    f"/api/calls/{call_id}/video",
                    {"type": "offer", "sdp": await watcher.offer()},
                )
                assert status == 200, answer
                await watcher.answer(answer["sdp"])
                await eventually(lambda: watcher.frames >= 10, 10, "live video frames")
                # the same console looking again five times without closing its old views (a
                # reload, a crash): each view replaces its own earlier one at the member, so
                # its 4 ports never run out
                views = []
                for _ in range(5):
                    again = Browser(ports=browser_ports(ports), watch=True)
                    views.append(again)
                    look = {"type": "offer", "sdp": await again.offer()}
                    status, answer = await http_json(
                        engine, "POST", f"/api/calls/{call_id}/video", look
                    )
                    assert status == 200, answer
                    await again.answer(answer["sdp"])

                    def shows(view: Browser = again) -> bool:
                        return view.frames >= 3

                    await eventually(shows, 10, "frames on the new view")
                for view in views:
                    await view.close()

                # dispatch: the officer joins the same conference; the page shows the ETA
                status, dispatched = await http_json(
                    engine, "POST", f"/api/calls/{call_id}/dispatch", {"lat": lat, "lon": lon}
                )
                assert status == 202, dispatched
                await eventually(
                    lambda: record.dispatch and record.dispatch.officer_bridged_at, 15, "bridge"
                )

                async def officer_view() -> Any:
                    _, seen = await citizen(engine, "GET", f"/api/intake/calls/{call_id}", token)
                    return seen["officer"]

                officer = await officer_view()
                # how far, coarsely; never who nor where (anyone with a token could track them)
                assert officer == {"status": "dispatched", "distance_m": 300, "eta_s": 60}
                # the officer moves closer: the page's figures follow
                body = {"lat": lat + 0.001, "lon": lon, "ts": time.time(), "speed": 10}
                status, _ = await http_json(engine, "PUT", f"/api/officers/{ids[0]}/position", body)
                assert status == 200
                closer = await officer_view()
                assert closer == {"status": "dispatched", "distance_m": 100, "eta_s": 20}, closer

                # the snapshot: stored, filed, pushed on the officer's topic
                pushed = engine.push_bus.subscribe()
                status, shot = await http_json(engine, "POST", f"/api/calls/{call_id}/snapshot")
                assert status == 201, shot
                assert shot["officer"] == ids[0] and shot["filed"], shot
                status, events = await http_json(engine, "GET", f"/api/incidents/{number}")
                snap = [e for e in events["events"] if e["kind"] == "snapshot"]
                assert snap and snap[0]["data"]["push_topic"].endswith(
                    f"/officers/{ids[0]}/snapshot"
                )
                http = engine.settings.http
                async with (
                    aiohttp.ClientSession(headers=AUTH) as session,
                    session.get(f"http://{http.address}:{http.port}{shot['url']}") as r,
                ):
                    jpeg = await r.read()
                    assert r.status == 200 and r.content_type == "image/jpeg"
                assert hashlib.sha256(jpeg).hexdigest() == shot["sha256"]
                topic = f"hotline110/officers/{ids[0]}/snapshot"

                async def pushed_to_officer() -> dict[str, Any]:
                    while True:
                        event = await pushed.get()
                        if event.get("mqtt_topic") == topic:
                            return event

                event = await asyncio.wait_for(pushed_to_officer(), 10)
                assert shot["sha256"] in str(event["message"]), event

                await asyncio.sleep(5)  # three-way audio to judge
            finally:
                await watcher.close()
                heard_by_browser = browser.samples()
                await browser.close()  # the citizen hangs up
            await eventually(lambda: not engine.router.calls, 20, "the call to end")
            ended = engine.router.finished[-1]
            assert ended.outcome == "answered"

            # each party heard the other two, never itself
            rate = 8000
            assert_hears(
                heard(heard_by_browser[-4 * rate : -rate], rate),
                [SEAT_HZ, OFFICER_HZ],
                CALLER_HZ,
                "browser",
            )
            for farm, phone, own, others in (
                (seats, "seat1", SEAT_HZ, [CALLER_HZ, OFFICER_HZ]),
                (officers, "seat50", OFFICER_HZ, [CALLER_HZ, SEAT_HZ]),
            ):
                ended_at = await farm.wait_event(phone, "ended", 5)
                samples, rate = read_wav(Path(ended_at["recording"]))
                assert_hears(heard(samples[-5 * rate : -2 * rate], rate), others, own, phone)

            # the caller's video, recorded and filed with the incident
            video = await filed(engine, number, "video-recorded")
            data = video["data"]["video"]
            assert data["error"] == "", data
            path = Path(data["path"])
            assert hashlib.sha256(path.read_bytes()).hexdigest() == data["sha256"]
            with av.open(str(path)) as container:
                frames = sum(1 for _ in container.decode(video=0))
            assert frames == data["frames"], data
            assert data["seconds"] > 5 and frames > 8 * data["seconds"], data  # sent at 15 fps
            assert (data["width"], data["height"]) == (320, 240)


async def test_a_member_killed_under_a_webrtc_call_loses_only_that_call_and_its_record_stays(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2, farm={"tone_hz": SEAT_HZ}) as (engine, _):
        first, second = (
            Browser(ports=browser_ports(ports), hz=CALLER_HZ),
            Browser(ports=browser_ports(ports), hz=CALLER_HZ),
        )
        try:
            started = await start_call(engine, first)
            lost = started["call"]
            await eventually(
                lambda: (r := engine.router.calls.get(lost)) and r.answered_at, 10, "answer"
            )
            number = await eventually(lambda: engine.incidents.by_call.get(lost), 5, "incident")
            assert engine.pool.kill_member(lost) > 0
            await eventually(lambda: lost not in engine.router.calls, 10, "the call to end")
            # the page learns it at its next poll (ICE would notice only after ~30 s)
            path = f"/api/intake/calls/{lost}"
            status, view = await citizen(engine, "GET", path, started["token"])
            assert status == 200 and view["state"] == "ended", view
            assert view["outcome"] == "failed" and view["officer"] is None  # cut off, not hung up
            # the centre serves the next caller
            kept = (await start_call(engine, second))["call"]
            await eventually(
                lambda: (r := engine.router.calls.get(kept)) and r.answered_at, 10, "answer"
            )
        finally:
            await first.close()
            await second.close()
        status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert status == 200
        ended = [e for e in incident["events"] if e["kind"] == "call-ended"]
        assert ended and ended[-1]["data"]["ended_by"] == "lost", incident["events"]


async def test_a_cancelled_web_offer_releases_an_idle_member_and_never_ends_a_trunk_call(
    ports: PortBlock, tmp_path: Path
) -> None:
    """The engine gives up on a web offer (refused, or no answer in time) with WebCancel: an
    idle member exits and its slot is refilled; a member that took a trunk call meanwhile
    keeps it (a Stop there would hang up an emergency call)."""
    async with centre(ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}) as (engine, _):
        pool = engine.pool
        idle = pool.take_for_web()
        assert idle is not None
        pool.release_web(idle, "webrtc-cancelled")
        await eventually(lambda: pool.core.by_member(idle) is None, 10, "the idle member to exit")
        assert not engine.router.finished  # no call was lost on the way

        sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=3000)
        await sipp.start()
        call_id = await eventually(
            lambda: next((c for c, r in engine.router.calls.items() if r.answered_at), None),
            10,
            "the trunk call to be answered",
        )
        pool.release_web(int(call_id), "webrtc-raced")  # a web offer this member refused
        run = await sipp.finish()
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: engine.router.finished, 10, "the call to end")
        (record,) = engine.router.finished
        assert record.outcome == "answered" and record.reason != "Service Unavailable", record


async def test_a_browser_whose_media_never_comes_or_stops_is_ended_not_left_talking(
    ports: PortBlock, tmp_path: Path
) -> None:
    """A seat must not talk to nobody: no ICE/DTLS in `seat_media_timeout` s ends the caller's
    leg, and so does the browser's audio stopping that long with the connection still up."""
    async with centre(
        ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, pool={"seat_media_timeout": 2.0}
    ) as (engine, _):
        never = Browser(ports=browser_ports(ports), hz=CALLER_HZ)
        frozen = Browser(ports=browser_ports(ports))
        frozen.pc.addTrack(FallsSilent(CALLER_HZ, 2.0))
        try:
            http = engine.settings.http
            body = {"type": "offer", "sdp": await never.offer()}
            async with (  # the page never applies the answer: its media never connects
                aiohttp.ClientSession() as session,
                session.post(f"http://{http.address}:{http.port}/api/intake/calls", json=body) as r,
            ):
                assert r.status == 201
            await eventually(lambda: engine.router.finished, 10, "the unconnected call to end")
            first = engine.router.finished[-1]
            assert "did not connect in 2 s" in first.reason, first.reason

            call_id = (await start_call(engine, frozen))["call"]
            record = await eventually(
                lambda: (r := engine.router.calls.get(call_id)) and r.answered_at and r,
                10,
                "the seat to answer",
            )
            await eventually(lambda: record.ended_at, 10, "the silent caller's call to end")
            assert "no audio from the browser for 2 s" in record.reason, record.reason
        finally:
            await never.close()
            await frozen.close()


async def test_beyond_the_video_capacity_a_caller_is_taken_with_audio_only(
    ports: PortBlock, tmp_path: Path
) -> None:
    """webrtc.max_video = 0: the answer refuses the video stream (the browser stops sending
    it), the call goes on with audio, and no video is recorded or shown."""
    async with centre(ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}, webrtc={"max_video": 0}) as (
        engine,
        seats,
    ):
        browser = Browser(ports=browser_ports(ports), hz=CALLER_HZ, video=True)
        try:
            started = await start_call(engine, browser)
            video_lines = started["sdp"].split("m=video", 1)[1]
            assert "a=inactive" in video_lines.split("m=", 1)[0]
            call_id = started["call"]
            await eventually(
                lambda: (r := engine.router.calls.get(call_id)) and r.answered_at, 10, "answer"
            )
            status, view = await citizen(
                engine, "GET", f"/api/intake/calls/{call_id}", started["token"]
            )
            assert view["video"] is False
            watcher = Browser(ports=browser_ports(ports), watch=True)
            body = {"type": "offer", "sdp": await watcher.offer()}
            await watcher.close()
            status, refused = await http_json(engine, "POST", f"/api/calls/{call_id}/video", body)
            assert status == 409, refused
            await asyncio.sleep(3)
        finally:
            heard_by_browser = browser.samples()
            await browser.close()
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        seat_end = await seats.wait_event("seat1", "ended", 5)
        samples, rate = read_wav(Path(seat_end["recording"]))
        assert heard(samples[-2 * rate :], rate)[CALLER_HZ] > 0.5  # the audio went through
        assert heard(heard_by_browser[-2 * 8000 :], 8000)[SEAT_HZ] > 0.5
        number = engine.incidents.by_call[call_id]
        await asyncio.sleep(0.5)
        _, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert not [e for e in incident["events"] if e["kind"] == "video-recorded"]
