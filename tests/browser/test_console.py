"""The seat console and the operations dashboard in headless Chromium, against a real engine:
a SIPp carrier call (with its caller's PIDF-LO location), a pjsua2 seat phone that answers by
itself, pjsua2 officer phones. A call-taker logs in, goes ready by keyboard, gets the screen
pop, classifies the call as police and sees the officer bridged; a supervisor watches it on
the dashboard. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.rig import (
    WAIT_MS,
    base_url,
    centre_logged_out,
    chromium,
    log_in,
    page_in,
    screenshot,
)
from tests.peers.conftest import eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall
from tests.peers.test_dispatch_live import city_with_phones, officer_phones, place_officers

pytestmark = pytest.mark.peers
NUMBER = re.compile(r"^\S+-\d{8}-\d{6}$")


def located_call(
    tmp_path: Path, ports: PortBlock, where: tuple[float, float], hold_ms: int
) -> SippCall:
    """A carrier call whose PIDF-LO puts the caller at `where`, talking for hold_ms."""
    lat, lon = where
    return SippCall(
        tmp_path,
        ports,
        0,
        scenario="uac_pidflo",
        replacements={
            "31.2353 121.4840": f"{lat:.5f} {lon:.5f}",
            '<pause milliseconds="1500"/>': f'<pause milliseconds="{hold_ms}"/>',
        },
    )


async def test_a_call_taker_takes_a_real_call_dispatches_police_and_a_supervisor_watches(
    ports: PortBlock, tmp_path: Path
) -> None:
    started = time.monotonic()
    errors: list[str] = []
    async with officer_phones(ports, tmp_path / "officers", 1) as officers:
        city, ids, incident_at = city_with_phones(officers, 1)
        async with (
            centre_logged_out(ports, tmp_path, 1, city=city) as (engine, _),
            chromium() as browser,
        ):
            await place_officers(engine, ids, incident_at)
            # the same number called in a tip earlier: the screen pop must show it
            tip = {"source": "tip", "caller": "13800001", "summary": "Men loitering by the ATM"}
            status, earlier = await http_json(engine, "POST", "/api/incidents", tip)
            assert status == 201, earlier
            url = base_url(engine)
            _, console = await page_in(browser, errors)

            # log in at seat1: signed in there, not ready
            await log_in(console, f"{url}/", "li", "seat1")
            await expect(console).to_have_url(f"{url}/console")
            await expect(console.locator("#state")).to_have_attribute("data-state", "not-ready")
            await expect(console.locator("#agent")).to_have_text("li")
            await expect(console.locator("#link")).to_have_attribute("data-live", "live")

            # ready by keyboard
            await console.keyboard.press("Alt+r")
            await expect(console.locator("#state")).to_have_attribute("data-state", "ready")
            assert engine.acd.seat("seat1", time.monotonic()).state.value == "ready"

            # a real call: the seat phone answers by itself; the screen pops
            sipp = await located_call(tmp_path, ports, incident_at, 14000).start()
            call_id = await eventually(lambda: next(iter(engine.router.calls), None), 5, "call")
            await expect(console.locator("#call-panel")).to_have_attribute(
                "data-phase", "talking", timeout=8000
            )
            await expect(console.locator("#incident-number")).to_have_text(NUMBER)
            await expect(console.locator("#caller-number")).to_have_text(re.compile("^1380000"))
            number = (await console.locator("#incident-number").text_content()) or ""
            assert engine.incidents.by_call[call_id] == number
            lat, lon = incident_at
            await expect(console.locator("#location-text")).to_contain_text(f"{lat:.5f}, {lon:.5f}")
            await expect(console.locator("#earlier-count")).to_have_text("1")
            await expect(console.locator("#earlier-list")).to_contain_text(
                "Men loitering by the ATM"
            )
            # before anything is sent: the nearest officer, with distance and ETA
            first = console.locator("#ranked-body tr").first
            await expect(first).to_have_attribute("data-officer", ids[0])
            await expect(first.locator("td.num").first).to_have_text(re.compile(r"\d+ m"))
            await expect(console.locator("#timeline li[data-kind='answered']")).to_have_count(1)

            # classify as police: the rules dispatch at once; the officer's phone answers
            await console.locator("#category label:has(input[value='police'])").click()
            await console.fill("#type", "robbery")
            await console.locator("#severity label:has(input[value='4'])").click()
            await console.fill("#summary", "Handbag taken at knifepoint, two men ran north")
            await console.keyboard.press("Control+Enter")
            await expect(console.locator("#decision-route")).to_have_attribute(
                "data-route", "dispatch"
            )
            await expect(console.locator("#dispatch-status")).to_have_attribute(
                "data-outcome", "bridged", timeout=10_000
            )
            bridged = console.locator("#timeline li[data-kind='dispatch-bridged']")
            await expect(bridged).to_have_count(1)
            await expect(console.locator("#attempts-body tr.hl")).to_contain_text("answered")
            await expect(console.locator("#conf-state")).to_contain_text("in the call")
            await expect(console.locator("path.officer-marker.mark-bridged")).to_have_count(1)
            record = engine.router.calls[call_id]
            assert record.dispatch is not None and record.dispatch.officer_bridged_at is not None
            status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
            assert status == 200 and incident["category"] == "police"
            assert incident["type"] == "robbery" and incident["severity"] == 4
            classified = next(e for e in incident["events"] if e["kind"] == "classified")
            assert classified["actor"] == "user:li"  # the logged-in name, not a claim
            await screenshot(console, "console.png")

            # the supervisor's dashboard, in a browser context of its own
            _, board = await page_in(browser, errors)
            await log_in(board, f"{url}/dashboard", "sun")
            await expect(board.locator("#user")).to_have_text("sun")
            await expect(board.locator("#link")).to_have_attribute("data-live", "live")
            await expect(board.locator("#answer-live")).to_have_text("100.0 %")
            await expect(board.locator("#answer-live-sub")).to_have_text("1 of 1 calls")
            await expect(board.locator("#queue-waiting")).to_have_text("0")
            await expect(board.locator("#calls-active")).to_have_text("1")
            await expect(board.locator(".tile[data-seat='seat1']")).to_have_attribute(
                "data-state", "talking"
            )
            await expect(board.locator("#count-talking td.num")).to_have_text("1")
            await expect(board.locator("#health-pill")).to_have_attribute("data-ok", "ok")
            await expect(board.locator("#trunks-body")).to_contain_text("1")
            markers = board.locator("path.officer-marker")
            await expect(markers.first).to_be_visible()
            assert await markers.count() == len(
                [o for o in engine.dispatcher.force.officers(time.time()) if o.lat is not None]
            )
            await expect(board.locator(".incident-marker")).to_have_count(1)
            await expect(board.locator("#map .map-missing")).to_have_count(0)
            await screenshot(board, "dashboard.png")

            # the supervisor sends seat1 on a break: the call goes on, the console says so
            await board.locator(".tile[data-seat='seat1']").click()
            await board.get_by_role("button", name="Force not ready").click()
            await expect(console.locator("#state-reason")).to_have_text(
                "→ not ready after this call"
            )
            assert call_id in engine.router.calls

            run = await sipp.finish(30)
            assert run.returncode == 0, run.messages[-2000:]
            # the call ended: the console says so, and the seat is not ready for the supervisor
            await expect(console.locator("#call-panel")).to_have_attribute(
                "data-phase", "ended", timeout=WAIT_MS
            )
            await expect(console.locator("#timeline li[data-kind='call-ended']")).to_have_count(1)
            await expect(console.locator("#state")).to_have_attribute("data-state", "not-ready")
            await expect(console.locator("#state-reason")).to_have_text("supervisor")
            await expect(board.locator(".tile[data-seat='seat1']")).to_have_attribute(
                "data-state", "not-ready"
            )
    assert not errors, errors
    assert time.monotonic() - started < 60


async def test_a_wrong_password_is_said_and_the_console_works_by_keyboard_alone(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with (
        centre_logged_out(ports, tmp_path, 1) as (engine, _),
        chromium() as browser,
    ):
        _, page = await page_in(browser, errors)
        await page.goto(f"{base_url(engine)}/console")

        # a wrong password: the engine's words, and nobody signed in at the seat
        await page.fill("#login-user", "li")
        await page.fill("#login-password", "not-the-password")
        await page.fill("#login-seat", "seat1")
        await page.keyboard.press("Enter")
        await expect(page.locator("#login-error")).to_have_text("wrong user name or password")
        await expect(page.locator("#login-error")).to_be_visible()
        assert engine.acd.seat("seat1", time.monotonic()).state.value == "logged-out"
        # the password is selected for typing again: the keyboard alone from here on
        await page.keyboard.type("pw-li-1234")
        await page.keyboard.press("Enter")
        state = page.locator("#state")
        await expect(state).to_have_attribute("data-state", "not-ready")

        def seat() -> Any:
            return engine.acd.seat("seat1", time.monotonic())

        await page.keyboard.press("Alt+r")
        await expect(state).to_have_attribute("data-state", "ready")
        await page.keyboard.press("Alt+n")
        await expect(page.locator("#reason-picker")).to_be_visible()
        await page.keyboard.press("2")
        await expect(state).to_have_attribute("data-state", "not-ready")
        await expect(page.locator("#state-reason")).to_have_text("meal")
        assert seat().state.value == "not-ready" and seat().reason == "meal"
        await page.keyboard.press("Alt+n")
        await page.keyboard.press("Escape")  # changed my mind: nothing sent
        await expect(page.locator("#reason-picker")).to_have_count(0)
        await page.keyboard.press("Alt+r")
        await expect(state).to_have_attribute("data-state", "ready")

        sipp = await SippCall(tmp_path, ports, 0, calls=1, hold_ms=9000).start()
        call_id = await eventually(lambda: next(iter(engine.router.calls), None), 5, "call")
        await expect(page.locator("#call-panel")).to_have_attribute(
            "data-phase", "talking", timeout=8000
        )
        await expect(state).to_have_attribute("data-state", "talking")
        record = engine.router.calls[call_id]
        hold, mute = page.locator("#btn-hold"), page.locator("#btn-mute")

        await page.keyboard.press("Alt+h")
        await expect(hold).to_have_class(re.compile(r"\bon\b"))
        await expect(page.locator("#conf-state")).to_contain_text("Caller on hold")
        assert record.held
        await page.keyboard.press("Alt+h")
        await expect(hold).not_to_have_class(re.compile(r"\bon\b"))
        assert not record.held
        await page.keyboard.press("Alt+m")
        await expect(mute).to_have_class(re.compile(r"\bon\b"))
        await expect(page.locator("#conf-state")).to_contain_text("You are muted")
        assert record.muted
        await page.keyboard.press("Alt+m")
        await expect(mute).not_to_have_class(re.compile(r"\bon\b"))
        assert not record.muted
        # every press is in the incident's timeline, under the call-taker's name
        for kind in ("hold", "unhold", "mute", "unmute"):
            entry = page.locator(f"#timeline li[data-kind='{kind}']")
            await expect(entry).to_have_count(1)
            await expect(entry).to_contain_text("user:li")

        # the caller says where they are: typed (Alt+P, then Enter), then picked on the map
        await expect(page.locator("#ranked-body")).to_contain_text("the location is unknown")
        await page.keyboard.press("Alt+p")
        await page.keyboard.type("30.2512, 120.1534")
        await page.keyboard.press("Enter")
        await expect(page.locator("#location-text")).to_contain_text("30.25120, 120.15340")
        await expect(page.locator("#location-source")).to_have_text("(typed by the call-taker)")
        await expect(page.locator("#timeline li[data-kind='location']")).to_have_count(1)
        # ranked again for the place (this city's officers have reported no position yet)
        await expect(page.locator("#ranked-body")).to_contain_text("no available officer")
        await page.keyboard.press("Alt+p")
        await page.locator("#map").click(position={"x": 120, "y": 120})  # near the typed place
        await expect(page.locator("#timeline li[data-kind='location']")).to_have_count(2)
        number = engine.incidents.by_call[call_id]
        status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert status == 200 and incident["location"]["method"] == "typed", incident
        assert abs(incident["location"]["lat"] - 30.2512) < 0.01, incident["location"]

        # the help lists the keys; Escape closes it
        await page.keyboard.press("?")
        await expect(page.locator("#help")).to_contain_text("Hold / resume the caller")
        await page.keyboard.press("Escape")
        await expect(page.locator("#help")).to_have_count(0)

        # nothing for the police: closed with a disposition (Alt+X asks for one first)
        await page.keyboard.press("Alt+x")
        await expect(page.locator("#disposition")).to_be_focused()
        await page.keyboard.type("advice given")
        await page.keyboard.press("Alt+x")
        closed = page.locator("#timeline li[data-kind='closed']")
        await expect(closed).to_contain_text("advice given")
        await expect(closed).to_contain_text("user:li")
        status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert incident["status"] == "closed", incident

        run = await sipp.finish(20)
        assert run.returncode == 0, run.messages[-2000:]
        await expect(page.locator("#call-panel")).to_have_attribute("data-phase", "ended")
        await expect(state).to_have_attribute("data-state", re.compile("wrap-up|ready"))
    assert not errors, errors
