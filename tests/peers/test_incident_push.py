"""The engine pushes every incident event to a real Mosquitto, under the station's topic (and
the city command's for a major incident), in order, EIDO-shaped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.peers.conftest import centre, eventually, http_json
from tests.peers.mosquitto import Mosquitto
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
MQTT_OFFSET = 1390


async def test_call_and_walk_in_events_reach_the_broker_in_order(
    ports: PortBlock, tmp_path: Path
) -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    async with Mosquitto(tmp_path / "mqtt", ports.base + MQTT_OFFSET) as broker:
        options = {"mqtt_host": broker.host, "mqtt_port": broker.port, "major_severity": 4}
        async with (
            aiomqtt.Client(broker.host, broker.port, identifier="city-bureau") as sub,
            centre(ports, tmp_path, 1, incidents=options) as (engine, _),
        ):
            await sub.subscribe("hotline110/#", qos=1)

            async def collect() -> None:
                async for message in sub.messages:
                    got.append((str(message.topic), json.loads(bytes(message.payload))))

            reader = asyncio.create_task(collect())
            try:
                run = await SippCall(tmp_path, ports, 0, calls=1, hold_ms=2000).run()
                assert run.returncode == 0, run.messages[-2000:]
                await eventually(lambda: not engine.router.calls, 10, "the call to end")
                status, walk_in = await http_json(
                    engine, "POST", "/api/incidents",
                    {"source": "walk-in", "summary": "armed robbery at the bank", "lat": 30.25,
                     "lon": 120.15, "category": "police", "type": "robbery", "severity": 5},
                )  # fmt: skip
                assert status == 201, walk_in
                call_number = next(iter(engine.incidents.by_call.values()))

                def kinds(number: str) -> list[str]:
                    return [m["eventType"] for t, m in got if m["incident"]["incidentNumber"] == number and "/command/" not in t]  # fmt: skip

                await eventually(lambda: "recording" in kinds(call_number), 10, "the call's events")
                await eventually(lambda: kinds(walk_in["number"]), 10, "the walk-in's event")
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    call_events = [(t, m) for t, m in got if m["incident"]["incidentNumber"] == call_number]
    assert [m["sequence"] for _, m in call_events] == list(range(1, len(call_events) + 1))
    assert [m["eventType"] for _, m in call_events][:2] == ["opened", "answered"]
    assert {"call-ended", "recording"} <= {m["eventType"] for _, m in call_events}
    first_topic, first = call_events[0]
    assert first_topic == f"hotline110/HZ/unknown/unknown/incidents/{call_number}/opened"
    assert first["schema"] == "hotline110.incident-event/1"
    assert first["eventId"] == f"{call_number}:1"
    assert first["location"]["known"] is False  # SIPp sends no location: kept, as unknown
    # the walk-in: under its station's topic, and the city command's (severity 5 >= 4)
    walk_topics = sorted(t for t, m in got if m["incident"]["incidentNumber"] == walk_in["number"])
    station, county = walk_in["station"], walk_in["county"]
    assert walk_topics == sorted(
        [
            f"hotline110/HZ/{county}/{station}/incidents/{walk_in['number']}/opened",
            f"hotline110/HZ/command/incidents/{walk_in['number']}/opened",
        ]
    )
    assert time.time() - first["at"] < 120
