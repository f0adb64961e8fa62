"""Chromium calls from the 110 page with its fake camera and microphone: the seat's pjsua2 phone
hears the browser, the call-taker's console (another Chromium page) shows the live video, the
video is recorded with the incident, and after dispatch the citizen's page shows the officer's
distance and ETA."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.async_api import expect

from tests.browser.rig import (
    MEDIA_FLAGS,
    base_url,
    centre_logged_out,
    chromium,
    log_in,
    page_in,
    screenshot,
)
from tests.peers.audio import read_wav
from tests.peers.conftest import eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.test_dispatch_live import city_with_phones, officer_phones, place_officers
from tests.peers.webrtc_peer import filed

pytestmark = pytest.mark.peers
PHONE = {"width": 412, "height": 860}


def loud_share(samples: np.ndarray, rate: int) -> float:
    """The share of 100 ms windows clearly above silence (Chromium's fake microphone beeps)."""
    windows = samples[: len(samples) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10)
    rms = np.sqrt((windows.astype(np.float64) ** 2).mean(axis=1))
    return float((rms > 0.01).mean()) if len(rms) else 0.0


async def test_chromium_calls_the_seat_hears_it_the_console_sees_it_the_page_shows_the_eta(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with officer_phones(ports, tmp_path / "officers", 1) as officers:
        city, ids, incident = city_with_phones(officers, 1)
        lat, lon = incident
        async with (
            centre_logged_out(ports, tmp_path, 1, city=city) as (engine, phones),
            chromium(MEDIA_FLAGS) as browser,
        ):
            await place_officers(engine, ids, incident)
            url = base_url(engine)
            _, console = await page_in(browser, errors)
            await log_in(console, f"{url}/", "li", "seat1")
            await expect(console.locator("#link")).to_have_attribute("data-live", "live")
            await console.keyboard.press("Alt+r")
            await expect(console.locator("#state")).to_have_attribute("data-state", "ready")

            context = await browser.new_context(
                viewport=PHONE,  # type: ignore[arg-type]
                permissions=["geolocation", "camera", "microphone"],
                geolocation={"latitude": lat, "longitude": lon, "accuracy": 15},
            )
            citizen = await context.new_page()
            citizen.set_default_timeout(10_000)
            citizen.on("pageerror", lambda exc: errors.append(f"citizen: {exc}"))
            await citizen.goto(f"{url}/app")
            await citizen.click("#btn-locate")
            await citizen.click("#btn-call")
            clicked = time.monotonic()
            await expect(citizen.locator("body")).to_have_attribute("data-call", "answered")
            call_id = next(iter(engine.router.calls))
            record = engine.router.calls[call_id]
            assert record.trunk == "web-app"
            assert record.answered_at is not None
            assert record.answered_at - record.offered_at < 3.0
            assert record.location is not None
            assert abs(float(record.location["lat"]) - lat) < 1e-6  # type: ignore[arg-type]
            await expect(citizen.locator("#incident-number")).to_have_text(re.compile(r"-\d{6}$"))

            # the console shows the caller's live video
            await expect(console.locator("#media-panel")).to_have_attribute("data-video", "live")
            try:
                await console.wait_for_function(
                    "() => { const v = document.querySelector('#caller-video');"
                    " return v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 10; }",
                    timeout=15_000,
                )
            except Exception:
                note = await console.locator("#video-note").text_content()
                raise AssertionError(f"no live video on the console: {note!r}") from None

            # dispatch: the officer is bridged, the page shows distance and ETA
            status, view = await http_json(
                engine, "POST", f"/api/calls/{call_id}/dispatch", {"lat": lat, "lon": lon}
            )
            assert status == 202, view
            await expect(citizen.locator("#eta")).to_have_text(
                re.compile(r"Officer on the way: .*m.*min"), timeout=15_000
            )
            first = await citizen.locator("#eta").text_content()

            # the call-taker sends the scene to the officer: filed, and shown with the incident
            await console.keyboard.press("Alt+s")
            await expect(console.locator("#pictures img")).to_have_count(1, timeout=10_000)
            number = engine.incidents.by_call[call_id]
            shot = await filed(engine, number, "snapshot")
            assert shot["actor"] == "user:li" and shot["data"]["officer"] == ids[0]
            await console.wait_for_function(
                "() => document.querySelector('#pictures img').naturalWidth > 0"
            )
            await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - clicked)))
            await screenshot(console, "console-video-call.png")
            await screenshot(citizen, "citizen-video-call.png")
            await citizen.click("#btn-hangup")
            await eventually(lambda: not engine.router.calls, 15, "the call to end")
            assert first

            # the seat's phone heard the browser's microphone
            seat_end = await phones.wait_event("seat1", "ended", 5)
            samples, rate = read_wav(Path(seat_end["recording"]))
            assert len(samples) > 3 * rate
            share = loud_share(samples, rate)
            assert share > 0.05, f"the seat heard {share:.0%} of 100 ms windows above silence"

            # the caller's video is recorded and filed with the incident
            data = (await filed(engine, number, "video-recorded"))["data"]["video"]
            assert data["error"] == "", data
            with av.open(data["path"]) as container:
                frames = sum(1 for _ in container.decode(video=0))
            assert frames == data["frames"] > 30, data
            assert not errors, errors
