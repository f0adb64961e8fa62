"""Outbound webhooks (the 12345 hotline's tickets, any agency with an HTTP intake): outbox rows
with target `webhook:<name>` POSTed as the EIDO-shaped message to the configured URL.

Per target, rows go in outbox order; a row that fails (no connection, a non-2xx answer) is
retried with exponential backoff, and later rows for that target wait behind it, so an
agency never sees events out of order. After `max_attempts` the row is set aside as a dead
letter (an alert; visible and re-queueable through the API) and the rest flow again. A 2xx
answer whose JSON body carries a `receipt` (the 12345 ticket number) is filed as a 'receipt'
event of the incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from engine.alerts import Alerts
from incidents import eido
from incidents.store import OutboxRow, Store

log = logging.getLogger(__name__)
PREFIX = "webhook:"


class WebhookRelay:
    """See the module docstring."""

    def __init__(
        self,
        store: Store,
        urls: dict[str, str],
        *,
        city: str,
        alerts: Alerts,
        on_receipt: Callable[[str, str, str], Awaitable[object]],
        max_attempts: int = 8,
        backoff_min: float = 1.0,
        backoff_max: float = 300.0,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.urls = urls
        self.city = city
        self.alerts = alerts
        self.on_receipt = on_receipt
        self.max_attempts = max_attempts
        self.backoff = (backoff_min, backoff_max)
        self.timeout = timeout
        self.sent = 0
        self.dead = 0
        self._wake = asyncio.Event()
        self._not_before: dict[str, float] = {}  # target -> when its head row may be retried

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                self._wake.clear()
                for name, url in self.urls.items():
                    try:
                        await self._drain(session, f"{PREFIX}{name}", url)
                    except Exception:  # the store failing: its writer alerts; try again
                        log.exception("webhook %s: relay step failed", name)
                waits = [t - time.monotonic() for t in self._not_before.values()]
                pause = min([1.0, *(w for w in waits if w > 0)])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def _drain(self, session: aiohttp.ClientSession, target: str, url: str) -> None:
        if time.monotonic() < self._not_before.get(target, 0.0):
            return
        for row in await self.store.outbox_pending(50, target=target):
            error = await self._post(session, row, url)
            now = time.time()
            if error is None:
                await self.store.outbox_mark_sent([row.id], now)
                self._not_before.pop(target, None)
                self.sent += 1
                continue
            dead = self.max_attempts > 0 and row.attempts + 1 >= self.max_attempts
            await self.store.outbox_failed(row.id, error, now, dead=dead)
            if dead:
                self.dead += 1
                self.alerts.raise_(
                    "webhook-dead-letter",
                    f"{target} gave up on {row.number} #{row.seq} after {row.attempts + 1} "
                    f"attempts: {error}",
                    number=row.number,
                    outbox_id=row.id,
                )
                continue  # set aside: the rows behind it go on
            low, high = self.backoff
            delay = min(high, low * 2**row.attempts)
            self._not_before[target] = time.monotonic() + delay
            log.warning(
                "%s: %s #%d failed (%s); retry in %.0f s", target, row.number, row.seq, error, delay
            )
            return  # in order: nothing after it goes before it

    async def _post(self, session: aiohttp.ClientSession, row: OutboxRow, url: str) -> str | None:
        """None when delivered; else what went wrong."""
        body = eido.message(row, city=self.city)
        try:
            async with session.post(url, json=body) as response:
                text = await response.text()
                if not 200 <= response.status < 300:
                    return f"HTTP {response.status}: {text[:200]}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        receipt = _receipt(text)
        if receipt:
            await self.on_receipt(row.number, row.target.removeprefix(PREFIX), receipt)
        return None


def _receipt(text: str) -> str:
    with contextlib.suppress(ValueError):
        data: Any = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("receipt"), str | int):
            return str(data["receipt"])[:200]
    return ""
