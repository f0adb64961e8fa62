"""The Texts panel of the seat console in headless Chromium against a real engine: a citizen's
report from the 110 web page is offered to call-taker li's READY seat, li accepts it in the
console and replies with the keyboard; the citizen reads the reply with the conversation's
secret and writes back, which shows up live. What the citizen wrote is shown as text, never
as HTML. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.rig import base_url, centre_logged_out, chromium, log_in, page_in, screenshot
from tests.peers.ports import PortBlock

pytestmark = pytest.mark.peers
HOSTILE = '<img src=x onerror="document.title=1"> a man with a knife at Wulin Square'


async def test_a_call_taker_accepts_a_citizens_text_in_the_console_and_replies(
    ports: PortBlock, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with centre_logged_out(ports, tmp_path, 1) as (engine, _), chromium() as browser:
        url = base_url(engine)
        _, console = await page_in(browser, errors)
        await log_in(console, f"{url}/", "li", "seat1")
        await expect(console.locator("#link")).to_have_attribute("data-live", "live")
        await console.keyboard.press("Alt+r")
        await expect(console.locator("#state")).to_have_attribute("data-state", "ready")

        async with aiohttp.ClientSession() as citizen:  # no account: the 110 web page
            form = aiohttp.FormData()
            form.add_field("text", HOSTILE)
            async with citizen.post(f"{url}/api/intake/reports", data=form) as r:
                assert r.status == 201, await r.text()
                report = await r.json()
            offered_at = time.monotonic()
            page = f"{url}/api/intake/conversations/{report['conversation']}"
            mine = {"X-Citizen-Token": report["token"]}

            # offered to li's seat: the drawer opens by itself; Accept
            panel = console.locator("#texts-panel")
            offer = panel.locator('.text-conversation[data-state="offered"]')
            await expect(offer).to_be_visible()
            await expect(offer.locator("header")).to_contain_text(report["number"])
            words = offer.locator(".text-message.from-citizen .words")
            await expect(words).to_have_text(HOSTILE)  # shown as text
            assert await panel.locator("img").count() == 0  # never as HTML
            await offer.locator(".text-accept").click()
            taken = panel.locator('.text-conversation[data-state="taken"]')
            await expect(taken).to_be_visible()
            accepted = time.monotonic() - offered_at

            # reply by keyboard: type, Enter
            reply = "Police are on the way. Are you somewhere safe?"
            await taken.locator(".text-reply-input").fill(reply)
            await taken.locator(".text-reply-input").press("Enter")
            await expect(taken.locator(".text-message.from-call-taker .words")).to_have_text(reply)
            async with citizen.get(f"{page}?since=1", headers=mine) as r:
                view = await r.json()
            assert [(m["seq"], m["from"], m["text"]) for m in view["messages"]] == [
                (2, "call-taker", reply)
            ]
            assert view["state"] == "taken" and view["seat"] == "seat1"

            # the citizen answers: it appears in the console, live
            async with citizen.post(f"{page}/messages", headers=mine,
                                    json={"text": "Yes, inside the bank"}) as r:  # fmt: skip
                assert r.status == 201
            await expect(taken.locator('.text-message[data-seq="3"] .words')).to_have_text(
                "Yes, inside the bank"
            )
            assert await console.title() != "1"
            await screenshot(console, "console-texts.png")
            await taken.locator(".text-close").click()
            await expect(panel.locator(".text-conversation")).to_have_count(0)
            async with citizen.get(page, headers=mine) as r:
                assert (await r.json())["state"] == "closed"
        print(f"\ntext offered -> accepted in the console: {accepted * 1000:.0f} ms")
    assert errors == []
