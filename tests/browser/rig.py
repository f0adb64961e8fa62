"""The browser rig: headless Chromium through Playwright (Debian's /usr/bin/chromium, never a
downloaded one), an engine whose seats start logged out so the console logs in, and where the
screenshots go."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from engine.app import Engine
from engine.settings import PACKAGE_ROOT
from tests.peers.conftest import running, seat_farm, settings_for
from tests.peers.ports import PortBlock

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
]
ARTIFACTS = PACKAGE_ROOT / "test-artifacts"
VIEWPORT = {"width": 1440, "height": 900}
USERS = {"li": ("call-taker", "pw-li-1234"), "sun": ("supervisor", "pw-sun-1234")}
WAIT_MS = 5000
"""Playwright's bound for every wait on the page."""


MEDIA_FLAGS = [
    # a fake camera (a test pattern) and microphone (a beep), allowed without asking
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # ICE candidates on 127.0.0.1, not hidden behind mDNS names: all traffic stays on loopback
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--force-webrtc-ip-handling-policy=default",
]


@contextlib.asynccontextmanager
async def chromium(extra: list[str] | None = None) -> AsyncIterator[Browser]:
    """Headless Chromium. Its temporary files go to a directory of its own, removed after
    (REAL-PEERS.md); a short path, as Chromium's singleton socket must fit in 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="h110-chromium-") as scratch:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*FLAGS, *(extra or [])],
                env={"TMPDIR": scratch, "HOME": scratch},
                timeout=15_000,
            )
            try:
                yield browser
            finally:
                await browser.close()


async def page_in(browser: Browser, errors: list[str]) -> tuple[BrowserContext, Page]:
    """A page of its own (own cookies: one person each); script errors go to `errors`."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return context, page


def base_url(engine: Engine) -> str:
    return f"http://{engine.settings.http.address}:{engine.settings.http.port}"


@contextlib.asynccontextmanager
async def centre_logged_out(
    ports: PortBlock, tmp_path: Path, seats: int = 1, city: Any = None, **options: Any
) -> AsyncIterator[tuple[Engine, Any]]:
    """Seat phones and an engine with USERS whose seats nobody is logged in at."""
    async with seat_farm(ports, tmp_path / "seats", seats) as phones:
        contacts = [(seat, phones.contact(seat)) for seat in phones.seat_ids()]
        settings = settings_for(ports, tmp_path / "var", contacts, users=USERS, **options)
        seats_out = tuple(
            dataclasses.replace(seat, agent="", ready=False) for seat in settings.seats
        )
        async with running(dataclasses.replace(settings, seats=seats_out), city) as engine:
            yield engine, phones


async def log_in(page: Page, url: str, user: str, seat: str = "") -> None:
    await page.goto(url)
    await page.fill("#login-user", user)
    await page.fill("#login-password", USERS[user][1])
    if seat:
        await page.fill("#login-seat", seat)
    await page.click("#login-submit")


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.mouse.move(VIEWPORT["width"] - 2, 2)  # no hover tooltip left over the map
    await page.screenshot(path=str(path))
    return path
