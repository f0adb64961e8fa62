"""Webhooks to agencies (the 12345 ticket): retries with backoff, the receipt filed, in order,
dead letters set aside and re-queued. Real SQLite store, real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatch.city import load_city
from engine.alerts import Alerts, Events
from engine.incidents import IncidentService
from engine.settings import PACKAGE_ROOT
from engine.webhooks import WebhookRelay
from incidents.store import SqlStore, open_store


class Agency:
    """An agency's HTTP intake that fails its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503, text="busy")
        self.received.append(body)
        return web.json_response({"receipt": f"T-{len(self.received)}"})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'incidents.db'}")
    await opened.open()
    yield opened
    await opened.close()


async def serve(agency: Agency) -> TestServer:
    app = web.Application()
    app.router.add_post("/intake", agency.handle)
    server = TestServer(app)
    await server.start_server()
    return server


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_tickets_are_retried_delivered_in_order_and_the_receipt_is_filed(
    store: SqlStore,
) -> None:
    city = load_city(PACKAGE_ROOT / "config" / "city")
    events = Events()
    alerts = Alerts(events, lambda kind: None)
    service = IncidentService(
        store, city="HZ", domain="test.invalid", tz=city.roster.tz, areas=city.areas,
        events=events, alerts=alerts,
    )  # fmt: skip
    flaky, dead = Agency(failures=2), Agency(failures=10**6)
    up_flaky, up_dead = await serve(flaky), await serve(dead)
    relay = WebhookRelay(
        store,
        {"12345": str(up_flaky.make_url("/intake")), "archive": str(up_dead.make_url("/intake"))},
        city="HZ", alerts=alerts, on_receipt=service.receipt,
        max_attempts=3, backoff_min=0.02, backoff_max=0.05,
    )  # fmt: skip
    service.wake_relay = relay.wake
    tasks = [asyncio.create_task(service.run()), asyncio.create_task(relay.run())]
    try:
        numbers = []
        for n in range(2):
            incident = await service.report(
                source="tip", caller="", summary=f"noise {n}", actor="t", location=None
            )
            decision = {"route": "12345", "also": [], "transfer_uri": "", "webhook_url": "x"}
            sent = await service.classify(
                incident.number, "seat:s1", {"category": "non-police"}, decision
            )
            assert [e.kind for e in sent] == ["classified", "ticket-12345"]
            numbers.append(incident.number)

        # the first two POSTs fail (503), then both tickets arrive, in order, and receipts are filed
        async def receipts() -> bool:
            kinds = [[e.kind for e in await store.events(n)] for n in numbers]
            return all(k[-1] == "receipt" for k in kinds)

        await until(receipts)
        assert [b["incident"]["incidentNumber"] for b in flaky.received] == numbers
        assert flaky.received[0]["eventType"] == "ticket-12345"
        last = (await store.events(numbers[0]))[-1]
        assert last.actor == "agency:12345" and last.data["receipt"] == "T-1"

        # an intake that never answers well: after 3 attempts a dead letter, with an alert
        incident = await service.report(
            source="tip", caller="", summary="x", actor="t", location=None
        )
        await store.append(
            incident.number, "note", "t", time.time(), {}, targets=("webhook:archive",)
        )
        relay.wake()

        async def dead_lettered() -> bool:
            return bool(await store.dead_letters())

        await until(dead_lettered)
        (letter,) = await store.dead_letters()
        assert letter.target == "webhook:archive" and letter.attempts == 3
        assert "HTTP 503" in letter.last_error
        assert [a["kind"] for a in alerts.recent()] == ["webhook-dead-letter"]
        dead.failures = 0  # the agency is fixed: an operator re-queues the letter
        await store.outbox_requeue([letter.id], time.time())
        relay.wake()

        async def delivered() -> bool:
            return len(dead.received) == 1

        await until(delivered)
        assert not await store.dead_letters()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await up_flaky.close()
        await up_dead.close()
