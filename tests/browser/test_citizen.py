"""The citizen's "110 app" page (GET /app, engine/ui/citizen.html) in headless Chromium on a
phone-sized screen, against a real engine: the browser's position (granted to the page,
inside the city), a text with a real PNG and a real JPEG made here with Pillow, and the
incident the engine files from them, read back through the staff REST API. A file that is
not a picture is refused on the page; a broken picture is refused by the engine in its own
words and nothing is filed; the rate limit says when to try again.

Then the conversation the report opens: a call-taker logged in at a seat takes it, both write,
the page shows every message as text and keeps the conversation over a reload. The call's
page side up to the engine's answer runs with Chromium's fake camera and microphone against
a stub of a full centre (the call itself is in the lead's tests)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from playwright.async_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Geolocation,
    Page,
    ViewportSize,
    expect,
)

from engine import http_ui
from engine.app import Engine
from tests.browser.rig import (
    MEDIA_FLAGS,
    USERS,
    WAIT_MS,
    base_url,
    centre_logged_out,
    chromium,
    screenshot,
)
from tests.peers.conftest import http_json, running, settings_for
from tests.peers.ports import PortBlock

pytestmark = pytest.mark.peers
NUMBER = re.compile(r"^\S+-\d{8}-\d{6}$")
PHONE: ViewportSize = {"width": 390, "height": 844}
"""A phone's screen (CSS pixels)."""


def photo(fmt: str, colour: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 16):  # a pattern, so the thumbnail shows something
        for y in range(size[1]):
            image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def upload(name: str, mime: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": data}


@contextlib.asynccontextmanager
async def citizen_engine(ports: PortBlock, tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with no seats: a written report needs none."""
    async with running(settings_for(ports, tmp_path / "var", [], users=USERS)) as engine:
        yield engine


async def inside_the_city(engine: Engine) -> Geolocation:
    """The middle of the city's first grid cell (GET /api/city), as Playwright's geolocation."""
    status, city = await http_json(engine, "GET", "/api/city")
    assert status == 200, city
    ring = city["grid"]["features"][0]["geometry"]["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "latitude": round((min(lats) + max(lats)) / 2, 6),
        "longitude": round((min(lons) + max(lons)) / 2, 6),
        "accuracy": 12.0,
    }


async def phone_page(
    browser: Browser, errors: list[str], geolocation: Geolocation | None = None
) -> tuple[BrowserContext, Page]:
    """A phone-sized page with the position granted; script errors and console errors go to
    `errors`."""
    context = await browser.new_context(
        viewport=PHONE,
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
        permissions=["geolocation"] if geolocation else [],
        geolocation=geolocation,
    )
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return context, page


async def incidents(engine: Engine) -> list[dict[str, Any]]:
    status, listed = await http_json(engine, "GET", "/api/incidents")
    assert status == 200, listed
    return list(listed["items"])


async def test_a_citizen_sends_text_pictures_and_position_and_gets_an_incident_number(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    png, jpeg = photo("PNG", (200, 30, 30)), photo("JPEG", (30, 90, 200))
    text = "Two men fighting outside the metro exit, one has a knife. 地铁口有人持刀打架"
    async with citizen_engine(ports, tmp_path) as engine, chromium() as browser:
        where = await inside_the_city(engine)
        _, page = await phone_page(browser, errors, where)
        reply = await page.goto(f"{base_url(engine)}/app")
        assert reply is not None and reply.status == 200
        policy = await reply.header_value("Permissions-Policy")
        assert policy is not None and "geolocation=(self)" in policy and "camera=(self)" in policy
        assert "default-src 'self'" in (await reply.header_value("Content-Security-Policy") or "")
        await expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        await expect(page.locator(".call-first")).to_contain_text("If you can, call 110")

        # share the position: the page shows it with its accuracy
        await page.click("#btn-locate")
        position = page.locator("#position")
        await expect(position).to_contain_text(f"{where['latitude']:.5f}, {where['longitude']:.5f}")
        await expect(position).to_contain_text("accurate to 12 m")
        await expect(page.locator("body")).to_have_attribute("data-location", "shared")
        await screenshot(page, "citizen-app.png")

        # the text, a call-back number typed the way people type it, two pictures previewed
        await page.fill("#phone", "139 0000 0001")
        await page.fill("#text", text)
        await page.set_input_files(
            "#picture-input",
            files=[upload("scene.png", "image/png", png), upload("street.jpg", "image/jpeg", jpeg)],
        )
        await expect(page.locator("#thumbs li.thumb")).to_have_count(2)
        await expect(page.locator("#thumbs canvas.thumb-img")).to_have_count(2)  # decoded
        await expect(page.locator("#picture-count")).to_have_text("2 of 5 pictures.")
        await screenshot(page, "citizen-report-before-sending.png")
        await page.click("#btn-send")

        number_el = page.locator("#report-number")
        await expect(number_el).to_have_text(NUMBER)
        number = await number_el.inner_text()
        await expect(page.locator("#report-where")).to_contain_text("your shared location")
        await expect(page.locator("#report-error")).to_be_hidden()
        await screenshot(page, "citizen-report-sent.png")

        # the engine's incident: the text, the number, the browser's position, both pictures
        status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert status == 200, incident
        assert (incident["source"], incident["channel"]) == ("text", "web-app")
        assert incident["summary"] == text
        assert incident["caller"] == "13900000001"
        location = incident["location"]
        assert location["method"] == "app"
        assert location["lat"] == pytest.approx(where["latitude"], abs=1e-6)
        assert location["lon"] == pytest.approx(where["longitude"], abs=1e-6)
        assert location.get("grid"), location  # inside the city: placed on its grid
        filed = incident["events"][0]["data"]["attachments"]
        assert [a["sha256"] for a in filed] == [
            hashlib.sha256(png).hexdigest(),
            hashlib.sha256(jpeg).hexdigest(),
        ]
        assert [a["content_type"] for a in filed] == ["image/png", "image/jpeg"]
        assert [Path(a["path"]).read_bytes() for a in filed] == [png, jpeg]

        # a reload keeps the incident number (sessionStorage) and the sharing
        await page.reload()
        await expect(page.locator("#report-number")).to_have_text(number)
        await expect(page.locator("#position")).to_contain_text(f"{where['latitude']:.5f}")
        # "New report" starts again with an empty form
        await page.click("#btn-new")
        await expect(page.locator("#report-form")).to_be_visible()
        await expect(page.locator("#text")).to_have_value("")
        assert len(await incidents(engine)) == 1
    assert not errors, errors


async def test_what_is_not_a_picture_is_refused_clearly_and_nothing_is_filed(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    good = photo("JPEG", (10, 120, 40))
    broken = good[: len(good) // 2]  # a JPEG by its first bytes, cut off half-way
    async with citizen_engine(ports, tmp_path) as engine, chromium() as browser:
        _, page = await phone_page(browser, errors)
        url = f"{base_url(engine)}/app"
        await page.goto(url)
        await expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        await page.fill("#text", "Someone is trying car doors in the car park")
        error = page.locator("#report-error")

        # a text file given a picture's name and type is not even added
        await page.set_input_files(
            "#picture-input",
            files=[upload("notes.jpg", "image/jpeg", b"these are my notes, not a photo\n")],
        )
        await expect(error).to_be_visible()
        await expect(error).to_have_text(
            "notes.jpg is not a JPEG, PNG or WebP picture, so it was not added"
        )
        await expect(page.locator("#thumbs li")).to_have_count(0)

        # a broken JPEG passes the page's check; the engine refuses it (422) in its own words
        await page.set_input_files(
            "#picture-input", files=[upload("cut.jpg", "image/jpeg", broken)]
        )
        await expect(page.locator("#thumbs li")).to_have_count(1)
        await page.click("#btn-send")
        await expect(error).to_contain_text("A picture could not be read: cut.jpg is broken")
        await expect(error).to_contain_text("Nothing was sent: remove that picture")
        await error.scroll_into_view_if_needed()
        await screenshot(page, "citizen-report-refused.png")
        await expect(page.locator("#sent")).to_be_hidden()
        await expect(page.locator("#text")).to_have_value(
            "Someone is trying car doors in the car park"
        )
        assert await incidents(engine) == []
        assert not list((tmp_path / "var").rglob("*.jpg"))  # no picture kept either

        # remove it and send again: filed (the position is unknown: never shared)
        await page.click("#thumbs li button.remove")
        await expect(page.locator("#thumbs li")).to_have_count(0)
        await expect(error).to_be_hidden()
        await page.click("#btn-send")
        await expect(page.locator("#report-number")).to_have_text(NUMBER)
        await expect(page.locator("#report-where")).to_contain_text("We do not know where you are")
        assert len(await incidents(engine)) == 1

        # the rate limit (6 a minute from one address: 2 sent above): 4 more, then the page's
        # own is refused with the time to wait
        async with aiohttp.ClientSession() as citizen:
            for n in range(4):
                form = aiohttp.FormData({"text": f"report {n}"})
                async with citizen.post(f"{base_url(engine)}/api/intake/reports", data=form) as r:
                    assert r.status == 201, await r.text()
        await page.click("#btn-new")
        await page.fill("#text", "and one more")
        await page.click("#btn-send")
        await expect(error).to_contain_text("Please wait: too many reports from here")
        await expect(error).to_contain_text(re.compile(r"you can send again in \d+ s"))
        assert len(await incidents(engine)) == 5
    # the 422 and 429 replies are logged by Chromium as failed loads: those are expected
    unexpected = [e for e in errors if "status of 422" not in e and "status of 429" not in e]
    assert not unexpected, errors


@contextlib.asynccontextmanager
async def call_taker(engine: Engine, user: str, seat: str) -> AsyncIterator[Any]:
    """A call-taker's REST session (the console's cookie), logged in at `seat` and ready."""
    jar = aiohttp.CookieJar(unsafe=True)  # the engine is on an IP address: keep its cookie
    async with aiohttp.ClientSession(base_url=base_url(engine), cookie_jar=jar) as staff:
        body = {"user": user, "password": USERS[user][1], "seat": seat}
        async with staff.post("/api/session", json=body) as reply:
            assert reply.status == 200, await reply.text()
        async with staff.post(f"/api/seats/{seat}/ready") as reply:
            assert reply.status == 200, await reply.text()
        yield staff


async def staff_json(staff: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with staff.request(method, path, json=body) as reply:
        return reply.status, await reply.json(content_type=None)


async def test_the_citizen_and_the_call_taker_write_to_each_other_about_the_report(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with (
        centre_logged_out(ports, tmp_path, 1) as (engine, _),
        chromium() as browser,
        call_taker(engine, "li", "seat1") as staff,
    ):
        _, page = await phone_page(browser, errors)
        await page.goto(f"{base_url(engine)}/app")
        await page.fill("#phone", "13900000002")
        await page.fill("#text", "My neighbour is shouting <threats> & banging on my door")
        async with page.expect_response("**/api/intake/reports") as sent:
            await page.click("#btn-send")
        answer = await (await sent.value).json()
        assert answer.get("conversation") and answer.get("token"), answer  # a report opens one
        cid, number = answer["conversation"], answer["number"]
        await expect(page.locator("#report-number")).to_have_text(number)
        mine = page.locator("#messages li.mine .text")
        await expect(mine).to_have_text(["My neighbour is shouting <threats> & banging on my door"])
        assert "token" not in json.dumps(await staff_json(staff, "GET", f"/api/texts/{cid}"))

        # the call-taker at seat1 takes it and writes; the page shows it (as text, not HTML)
        status, taken = await staff_json(staff, "POST", f"/api/texts/{cid}/accept")
        assert status == 200 and taken["state"] == "taken", taken
        await expect(page.locator("#conv-state")).to_contain_text("A call-taker is reading")
        said = "Police are on the way. Is the door <b>locked</b>?"
        status, reply = await staff_json(
            staff, "POST", f"/api/texts/{cid}/messages", {"text": said}
        )
        assert status == 201, reply
        await expect(page.locator("#messages li.theirs .text")).to_have_text([said])
        await expect(page.locator("#messages li.theirs b")).to_have_count(0)

        # the citizen answers; the call-taker reads it
        await page.fill("#reply", "Yes, locked. He is still outside")
        await page.click("#btn-reply")
        await expect(mine).to_have_count(2)
        status, seen = await staff_json(staff, "GET", f"/api/texts/{cid}")
        assert [(m["seq"], m["from"]) for m in seen["messages"]] == [
            (1, "citizen"), (2, "call-taker"), (3, "citizen"),
        ]  # fmt: skip
        assert seen["messages"][2]["text"] == "Yes, locked. He is still outside"
        await page.locator("#conversation").scroll_into_view_if_needed()
        await screenshot(page, "citizen-conversation.png")

        # a reload keeps it all (sessionStorage); the call-taker closes it: the page says so
        await page.reload()
        await expect(page.locator("#messages li")).to_have_count(3)
        status, closed = await staff_json(staff, "POST", f"/api/texts/{cid}/close")
        assert status == 200 and closed["state"] == "closed", closed
        await expect(page.locator("#conv-state")).to_contain_text("This conversation is closed")
        await expect(page.locator("#reply-form")).to_be_hidden()

        # the whole conversation is in the incident's timeline
        status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        assert status == 200, incident
        kinds = [e["kind"] for e in incident["events"]]
        assert "text-opened" in kinds, kinds
        texts = json.dumps(incident["events"], ensure_ascii=False)
        assert said in texts and "Yes, locked. He is still outside" in texts
    assert not errors, errors


# -- the call page's side, with a fake camera, against a stub of a full centre ------------------


class FullCentre:
    """POST /api/intake/calls as the engine answers it when every line is busy (503 with
    Retry-After), recording each offer the page sends."""

    def __init__(self) -> None:
        self.offers: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/intake/calls", self.call)
        http_ui.add_routes(app, Path("/nonexistent"))
        return app

    async def call(self, request: web.Request) -> web.Response:
        self.offers.append(await request.json())
        return web.json_response(
            {"error": "every line of the centre is busy: retrying"},
            status=503,
            headers={"Retry-After": "1"},
        )


async def test_a_call_to_a_full_centre_is_retried_and_can_be_hung_up(ports: PortBlock) -> None:
    """The page's side of the call up to the engine's answer (the call itself: the lead's
    tests): a fake camera previewed, the whole offer (ICE gathered, not trickled) with the
    position, 503 said in words and retried by itself, hang-up stops camera and microphone."""
    centre = FullCentre()
    errors: list[str] = []
    async with (
        TestServer(centre.app(), host="127.0.0.1", port=ports.http) as server,
        chromium(MEDIA_FLAGS) as browser,
    ):
        where: Geolocation = {"latitude": 30.2741, "longitude": 120.1551, "accuracy": 8.0}
        context, page = await phone_page(browser, errors, where)
        await context.grant_permissions(["geolocation", "camera", "microphone"])
        await page.goto(str(server.make_url("/app")))
        await expect(page.locator("body")).to_have_attribute("data-call", "idle")
        await page.click("#btn-locate")
        await expect(page.locator("#position")).to_contain_text("30.27410, 120.15510")
        await page.click("#btn-call")
        await expect(page.locator("body")).to_have_attribute("data-call", "busy")
        await expect(page.locator("#call-state")).to_contain_text(
            "All call-takers are busy. Trying again in 1 s"
        )
        await asyncio.wait_for(_until(lambda: len(centre.offers) >= 2), 10)
        await page.wait_for_function(
            "document.getElementById('preview').videoWidth > 0", timeout=WAIT_MS
        )
        offer = centre.offers[0]
        assert offer["type"] == "offer"
        assert (offer["lat"], offer["lon"], offer["accuracy"]) == (30.2741, 120.1551, 8.0)
        sdp = offer["sdp"]
        assert "m=audio" in sdp and "m=video" in sdp and "a=sendonly" in sdp
        assert "a=candidate" in sdp  # gathered before sending: not trickled
        await page.locator("#call-state").scroll_into_view_if_needed()
        await screenshot(page, "citizen-call-busy.png")

        await page.click("#btn-hangup")
        await expect(page.locator("body")).to_have_attribute("data-call", "ended")
        await expect(page.locator("#call-state")).to_have_text("Call ended")
        await expect(page.locator("#btn-call")).to_have_text("Call again")
        await page.wait_for_function(
            "document.getElementById('preview').srcObject === null", timeout=WAIT_MS
        )
        offers = len(centre.offers)
        await page.wait_for_timeout(1500)  # longer than Retry-After: no retry after hang-up
        assert len(centre.offers) == offers
    assert not [e for e in errors if "status of 503" not in e], errors


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.05)
