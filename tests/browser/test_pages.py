"""The pages and their files (engine/http_ui.py): content types and headers, nothing served
from outside engine/ui/ and the Leaflet package, and pages that still work (and say so) when
the map assets were never installed. The HTTP checks need no browser; the last test opens the
pages in Chromium against a stub of the API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import expect

from engine import http_ui
from tests.browser.rig import chromium, page_in, screenshot
from tests.peers.ports import PortBlock


@pytest.fixture
def leaflet(tmp_path: Path) -> Path:
    """A stand-in for web/node_modules/leaflet/dist, with a link out of it and a link loop."""
    dist = tmp_path / "leaflet" / "dist"
    dist.mkdir(parents=True)
    (dist / "leaflet-src.esm.js").write_text("export const version = 'test';\n")
    (dist / "leaflet.css").write_text(".leaflet-container {}\n")
    (tmp_path / "secret.js").write_text("TOP-SECRET-CONTENT\n")
    (dist / "escape.js").symlink_to(tmp_path / "secret.js")
    (dist / "loop.js").symlink_to(dist / "loop.js")
    return dist


@pytest.fixture
async def client(leaflet: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    http_ui.add_routes(app, leaflet)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_pages_and_files_are_served_with_their_types_and_a_strict_policy(
    client: TestClient[web.Request, web.Application],
) -> None:
    home = await client.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/console"
    for path, kind in (
        ("/console", "text/html"),
        ("/dashboard", "text/html"),
        ("/ui/js/console/main.js", "text/javascript"),
        ("/ui/js/dashboard/main.js", "text/javascript"),
        ("/ui/css/base.css", "text/css"),
        ("/ui/vendor/leaflet/leaflet-src.esm.js", "text/javascript"),
        ("/ui/vendor/leaflet/leaflet.css", "text/css"),
    ):
        reply = await client.get(path)
        assert reply.status == 200, path
        assert reply.content_type == kind, path
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        policy = reply.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "http" not in policy  # nothing from outside the engine, ever
    page = await (await client.get("/console")).text()
    assert "http://" not in page and "https://" not in page  # no CDN


@pytest.mark.parametrize(
    "path",
    [
        "/ui/%2e%2e/http_ui.py",
        "/ui/..%2fhttp_ui.py",
        "/ui/js/%2e%2e/%2e%2e/http.py",
        "/ui/vendor/leaflet/%2e%2e/%2e%2e/secret.js",
        "/ui/vendor/leaflet/escape.js",  # a link out of the package
        "/ui/vendor/leaflet/",
        "/ui/js",  # a directory
        "/ui/js/console",
        "/ui/.hidden.js",
        "/ui/js/..",
        "/ui/nothing-here.js",
        "/ui/js%2fconsole%2fmain.py",
        "/ui/%5c..%5chttp_ui.py",
        "/ui/css/base.css%00.js",
        "/ui/vendor/leaflet/loop.js",  # a link to itself
    ],
)
async def test_nothing_outside_the_two_roots_is_served(
    client: TestClient[web.Request, web.Application], path: str
) -> None:
    reply = await client.get(path)
    assert reply.status == 404, path
    assert "TOP-SECRET-CONTENT" not in await reply.text()


def test_missing_map_assets_are_logged_once_per_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.http_ui")
    http_ui.add_routes(web.Application(), tmp_path / "not-installed")
    warnings = [r for r in caplog.records if r.name == "engine.http_ui"]
    assert len(warnings) == 1
    assert "run make setup" in warnings[0].getMessage()


# -- the pages without Leaflet, in Chromium, against a stub of the API ----------------------

SESSION = {"user": "li", "role": "call-taker", "seat": "seat1", "service": False}
SEAT = {
    "seat_id": "seat1", "agent_id": "li", "state": "not-ready", "reason": "login",
    "since": 1.0, "call_id": None, "pending": None, "answered": 0, "missed": 0,
    "seconds_in_state": {},
}  # fmt: skip
STATUS = {
    "offered": 0, "answered": 0, "within_3s": 0, "abandoned": 0, "failed": 0, "queued": 0,
    "active": 0, "p50_answer_ms": None, "p99_answer_ms": None, "dispatched": 0, "bridged": 0,
    "within_30s": 0,
}  # fmt: skip
BOARD = {
    "answer_sla": {"target_s": 3.0, "live_minutes": 15, "live": {"met": 0, "total": 0, "share": None},
                   "today": {"met": 0, "total": 0, "share": None}},
    "bridge_sla": {"target_s": 30.0, "live": {"met": 0, "total": 0, "share": None},
                   "today": {"met": 0, "total": 0, "share": None}},
    "queue": {"waiting": 0, "oldest_wait_s": 0.0}, "seats": {"not-ready": 1}, "calls_active": 0,
    "pool": {"status": "ok", "front_up": True, "pool_warm": 4, "pool_busy": 0, "uptime_seconds": 5},
    "front": {"up": True, "restarts": 0, "address": "127.0.0.1:5060"}, "trunks": [], "alerts": [],
}  # fmt: skip


def stub_api() -> web.Application:
    """Just enough of the engine's API for both pages to start."""
    app = web.Application()

    def serving(data: object) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(data)

        return handler

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        snapshot = {"seq": 1, "topic": "snapshot", "at": 0, "status": STATUS,
                    "seats": [SEAT], "queue": []}  # fmt: skip
        await response.write(f"id: 1\nevent: snapshot\ndata: {json.dumps(snapshot)}\n\n".encode())
        await asyncio.sleep(30)  # an open stream, as the engine's
        return response

    routes = {
        "/api/session": SESSION,
        "/api/officers": [],
        "/api/incidents": {"total": 0, "limit": 500, "offset": 0, "items": []},
        "/api/dashboard": BOARD,
    }
    for path, data in routes.items():
        app.router.add_get(path, serving(data))
    app.router.add_get("/api/stream", stream)
    return app


@pytest.mark.peers
async def test_without_map_assets_the_pages_work_and_say_how_to_install_them(
    ports: PortBlock, tmp_path: Path
) -> None:
    app = stub_api()
    http_ui.add_routes(app, tmp_path / "not-installed")
    errors: list[str] = []
    async with (
        TestServer(app, host="127.0.0.1", port=ports.http) as server,
        chromium() as browser,
    ):
        _, page = await page_in(browser, errors)
        await page.goto(str(server.make_url("/console")))
        await expect(page.locator("#state")).to_have_attribute("data-state", "not-ready")
        notice = page.locator("#map .map-missing")
        await expect(notice).to_have_text("map assets not installed: run make setup")
        await expect(page.locator("#link")).to_have_attribute("data-live", "live")
        await screenshot(page, "console-without-map-assets.png")
        await page.goto(str(server.make_url("/dashboard")))
        await expect(page.locator("#health-pill")).to_have_attribute("data-ok", "ok")
        await expect(page.locator("#map .map-missing")).to_have_text(
            "map assets not installed: run make setup"
        )
        await expect(page.locator("#answer-live")).to_have_text("—")
    assert not errors, errors
