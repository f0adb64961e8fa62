"""The console's and the dashboard's data from a real engine: the server-sent event stream while
a SIPp call is offered, rings a pjsua2 seat and is answered; the dashboard's service levels; the
city's map layers; earlier calls from the same number."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.access import AUTH
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers


async def read_stream(url: str, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    """Parse server-sent events (id/event/data lines, blank line ends one) into `into`."""
    timeout = aiohttp.ClientTimeout(total=60, sock_read=5)
    async with (
        aiohttp.ClientSession(headers=AUTH, timeout=timeout) as session,
        session.get(url) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            event = json.loads(fields["data"])
            name = "alert" if event["topic"].startswith("alert/") else event["topic"]
            assert name == fields["event"] and str(event["seq"]) == fields["id"]
            into.append(event)
            fields = {}
            if stop.is_set():
                return


async def test_the_live_stream_the_dashboard_and_the_city_of_a_real_call(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 1) as (engine, _):
        http = engine.settings.http
        events: list[dict[str, Any]] = []
        stop = asyncio.Event()
        reader = asyncio.create_task(
            read_stream(f"http://{http.address}:{http.port}/api/stream", events, stop)
        )
        try:
            await eventually(lambda: any(e["topic"] == "snapshot" for e in events), 5, "snapshot")
            run = await SippCall(tmp_path, ports, 0, calls=1, hold_ms=2000).run()
            assert run.returncode == 0, run.messages[-2000:]

            def topics() -> list[str]:
                return [e["topic"] for e in events if e["topic"] != "snapshot"]

            await eventually(lambda: "call/ended" in topics(), 10, "the call's end on the stream")
            engine.alerts.raise_("store-failing", "checking the stream carries alerts")
            await eventually(lambda: "alert/store-failing" in topics(), 5, "the alert (as 'alert')")
            await eventually(lambda: "incident/event" in topics(), 5, "incident events")
            order = topics()
            for earlier, later in (("call/offered", "call/ringing"),
                                   ("call/ringing", "call/answered"),
                                   ("call/answered", "call/ended")):  # fmt: skip
                assert order.index(earlier) < order.index(later), order
            ringing = next(e for e in events if e["topic"] == "call/ringing")
            assert ringing["seat_id"] == "seat1" and ringing["caller"].startswith("1380000")
            opened = next(e for e in events if e["topic"] == "incident/opened")
            ended = next(e for e in events if e["topic"] == "call/ended")
            assert ended["incident"] == opened["number"] and ended["outcome"] == "answered"
            kinds = [e["kind"] for e in events if e["topic"] == "incident/event"]
            assert "answered" in kinds and "call-ended" in kinds
            snapshot = [e for e in events if e["topic"] == "snapshot"][-1]
            assert snapshot["status"]["answered"] == 1
            assert [s["seat_id"] for s in snapshot["seats"]] == ["seat1"]
            seqs = [e["seq"] for e in events if e["topic"] != "snapshot"]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))

            # a reconnecting screen gets what it missed
            since = next(e for e in events if e["topic"] == "call/offered")["seq"]
            replay: list[dict[str, Any]] = []
            stop_replay = asyncio.Event()
            stop_replay.set()  # one event is enough
            url = f"http://{http.address}:{http.port}/api/stream?since={since}"
            await asyncio.wait_for(read_stream(url, replay, stop_replay), 5)
            assert replay[0]["topic"] == "call/ringing" and replay[0]["seq"] > since
        finally:
            stop.set()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

        status, board = await http_json(engine, "GET", "/api/dashboard")
        assert status == 200, board
        assert board["answer_sla"]["today"] == {"met": 1, "total": 1, "share": 1.0}
        assert board["answer_sla"]["target_s"] == 3.0 and board["bridge_sla"]["target_s"] == 30.0
        (trunk,) = board["trunks"]
        assert (trunk["name"], trunk["offered"], trunk["answered"]) == ("carrier", 1, 1)
        assert 0 < time.time() - trunk["last_offered_at"] < 60
        assert board["front"]["up"] and board["pool"]["pool_warm"] >= 1
        assert sum(board["seats"].values()) == 1
        today = board["incidents_today"]
        assert (today["total"], today["open"]) == (1, 1)
        assert sum(today["by_grid"].values()) == (1 if opened["location"] else 0)

        status, city = await http_json(engine, "GET", "/api/city")
        west, south, east, north = city["extent"]
        assert west < east and south < north
        assert len(city["grid"]["features"]) == 64 and len(city["stations"]["features"]) == 4
        assert city["grid"]["features"][0]["geometry"]["type"] == "Polygon"

        caller = opened["caller"]
        status, page = await http_json(engine, "GET", f"/api/incidents?caller={caller}")
        assert page["total"] == 1 and page["items"][0]["number"] == opened["number"]
        status, page = await http_json(engine, "GET", "/api/incidents?caller=19999999999")
        assert page["total"] == 0

        # a screen still watching when the engine stops does not hold the shutdown up
        watching = asyncio.create_task(
            read_stream(f"http://{http.address}:{http.port}/api/stream", [], asyncio.Event())
        )
        await asyncio.sleep(0.5)
        stopping = time.monotonic()
    await asyncio.wait_for(watching, 5)  # the engine ended the stream
    assert time.monotonic() - stopping < 15.0
