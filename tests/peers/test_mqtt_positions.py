"""Officer positions through a real Mosquitto into PositionFeed: delivery, refusals, outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from dispatch.mqtt_feed import Position, PositionFeed
from tests.peers.conftest import eventually
from tests.peers.mosquitto import Mosquitto
from tests.peers.ports import PortBlock

pytestmark = pytest.mark.peers

MQTT_OFFSET = 1390  # the block's layout (ports.py) ends at base+1040; nothing else uses this one
FEED_LOG = "dispatch.mqtt_feed"


class Recorder:
    """The feed's callbacks, recording what they were given."""

    def __init__(self, fail_for: str = "") -> None:
        self.positions: list[Position] = []
        self.rejected: list[tuple[str, str]] = []
        self.fail_for = fail_for

    def on_position(self, position: Position) -> None:
        if position.officer_id == self.fail_for:
            raise RuntimeError(f"consumer bug on {position.officer_id}")
        self.positions.append(position)

    def on_rejected(self, topic: str, reason: str) -> None:
        self.rejected.append((topic, reason))

    def of(self, officer_id: str) -> list[Position]:
        return [p for p in self.positions if p.officer_id == officer_id]


def unique_prefix() -> str:
    return f"test/{uuid.uuid4().hex[:10]}"


def make_feed(broker: Mosquitto, prefix: str, recorder: Recorder) -> PositionFeed:
    return PositionFeed(
        host=broker.host,
        port=broker.port,
        prefix=prefix,
        on_position=recorder.on_position,
        on_rejected=recorder.on_rejected,
        client_id=f"feed-{uuid.uuid4().hex[:8]}",
        reconnect_min=0.1,
        reconnect_max=0.5,
    )


@contextlib.asynccontextmanager
async def feeding(feed: PositionFeed) -> AsyncIterator[asyncio.Task[None]]:
    """Run the feed in a task; on exit check it never ended by itself, then cancel it."""
    task = asyncio.create_task(feed.run())
    try:
        yield task
        assert not task.done(), f"PositionFeed.run ended: {task.exception()!r}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)
    assert not feed.connected


async def publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"pub-{uuid.uuid4().hex[:8]}", timeout=5.0
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


def fix(lat: float, lon: float, ts: float, **extra: object) -> bytes:
    return json.dumps({"lat": lat, "lon": lon, "ts": ts, **extra}).encode()


@pytest.fixture
def broker_port(ports: PortBlock) -> int:
    return ports.base + MQTT_OFFSET


@pytest.fixture
async def broker(broker_port: int, tmp_path: Path) -> AsyncIterator[Mosquitto]:
    async with Mosquitto(tmp_path / "mosquitto", broker_port) as mosquitto:
        yield mosquitto


async def test_positions_of_three_officers_arrive_in_order(broker: Mosquitto) -> None:
    prefix, recorder = unique_prefix(), Recorder()
    feed = make_feed(broker, prefix, recorder)
    officers = ["O-1", "O-2", "O-3"]
    sent: dict[str, list[Position]] = {officer: [] for officer in officers}
    messages = []
    for step in range(10):  # interleaved, as three patrol cars would report
        for n, officer in enumerate(officers):
            lat, lon, ts, speed = (
                52.5 + step / 1000,
                13.4 + n / 100,
                1718000000.0 + step,
                step * 1.5,
            )
            sent[officer].append(Position(officer_id=officer, lat=lat, lon=lon, ts=ts, speed=speed))
            messages.append(
                (f"{prefix}/officers/{officer}/position", fix(lat, lon, ts, speed=speed))
            )
    async with feeding(feed):
        await eventually(lambda: feed.connected, 5.0, "the feed to subscribe")
        await publish(broker, messages)
        await eventually(lambda: len(recorder.positions) == 30, 5.0, "30 positions")
        for officer in officers:
            assert recorder.of(officer) == sent[officer]
        assert (feed.received, feed.rejected, feed.reconnects) == (30, 0, 0)
        assert recorder.rejected == []


async def test_malformed_payloads_are_rejected_and_later_fixes_still_arrive(
    broker: Mosquitto,
) -> None:
    prefix, recorder = unique_prefix(), Recorder()
    feed = make_feed(broker, prefix, recorder)
    topic = f"{prefix}/officers/O-9/position"
    bad = [
        b"lat=52.5;lon=13.4",
        fix(200.0, 13.4, 1718000000.0),
        json.dumps({"lat": 52.5, "lon": 13.4}).encode(),
        json.dumps({"lat": True, "lon": 13.4, "ts": 1718000000.0}).encode(),
    ]
    async with feeding(feed):
        await eventually(lambda: feed.connected, 5.0, "the feed to subscribe")
        await publish(broker, [(topic, payload) for payload in bad])
        await publish(broker, [(topic, fix(52.51, 13.41, 1718000001.0))])
        await eventually(lambda: recorder.positions, 5.0, "the valid fix after the bad ones")
        reasons = [reason for _, reason in recorder.rejected]
        assert [t for t, _ in recorder.rejected] == [topic] * 4
        assert "not JSON" in reasons[0]
        assert "lat 200.0 is out of range" in reasons[1]
        assert "ts is missing" in reasons[2]
        assert "lat is not a number: true" in reasons[3]
        assert recorder.positions == [
            Position(officer_id="O-9", lat=52.51, lon=13.41, ts=1718000001.0, speed=0.0)
        ]
        assert (feed.received, feed.rejected) == (5, 4)


async def test_a_failing_consumer_is_logged_and_the_feed_goes_on(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=FEED_LOG)
    prefix, recorder = unique_prefix(), Recorder(fail_for="O-bug")
    feed = make_feed(broker, prefix, recorder)
    async with feeding(feed):
        await eventually(lambda: feed.connected, 5.0, "the feed to subscribe")
        await publish(
            broker,
            [
                (f"{prefix}/officers/O-bug/position", fix(1.0, 2.0, 3.0)),
                (f"{prefix}/officers/O-ok/position", fix(4.0, 5.0, 6.0)),
            ],
        )
        await eventually(lambda: recorder.of("O-ok"), 5.0, "O-ok's fix")
        failures = [r for r in caplog.records if "on_position failed" in r.getMessage()]
        assert len(failures) == 1 and failures[0].exc_info is not None
        assert "consumer bug on O-bug" in caplog.text
        assert feed.connected and feed.reconnects == 0


async def test_broker_restart_feed_notices_and_reconnects_by_itself(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=FEED_LOG)
    prefix, recorder = unique_prefix(), Recorder()
    feed = make_feed(broker, prefix, recorder)
    topic = f"{prefix}/officers/O-5/position"
    async with feeding(feed):
        await eventually(lambda: feed.connected, 5.0, "the feed to subscribe")
        await publish(broker, [(topic, fix(52.5, 13.4, 100.0))])
        await eventually(lambda: recorder.positions, 5.0, "the fix before the outage")

        await broker.stop()
        await eventually(lambda: not feed.connected, 5.0, "the feed to notice the outage")
        await asyncio.sleep(2.0)  # the outage itself: several failed reconnects at 0.1..0.5 s
        assert not feed.connected and feed.reconnects == 0
        await broker.start()

        await eventually(lambda: feed.connected, 5.0, "the feed to reconnect by itself")
        assert feed.reconnects == 1, broker.log_text()
        await publish(broker, [(topic, fix(52.6, 13.5, 200.0))])
        await eventually(lambda: len(recorder.positions) == 2, 5.0, "the fix after the restart")
        assert [p.ts for p in recorder.positions] == [100.0, 200.0]

    unavailable = [r for r in caplog.records if "broker unavailable" in r.getMessage()]
    assert [r.levelno for r in unavailable][:1] == [logging.WARNING]
    assert [r.levelno for r in unavailable].count(logging.WARNING) == 1, caplog.text
    assert len(unavailable) >= 3, "retries while the broker was down"
    assert any("back after" in r.getMessage() for r in caplog.records)


async def test_feed_started_before_the_broker_connects_when_it_comes_up(
    broker_port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=FEED_LOG)
    broker = Mosquitto(tmp_path / "mosquitto", broker_port)
    prefix, recorder = unique_prefix(), Recorder()
    feed = make_feed(broker, prefix, recorder)
    async with feeding(feed):
        await eventually(
            lambda: any(r.levelno == logging.WARNING for r in caplog.records),
            5.0,
            "a warning that the broker is unavailable",
        )
        assert not feed.connected
        async with broker:
            await eventually(lambda: feed.connected, 5.0, "the feed to connect")
            assert feed.reconnects == 0  # the first connection is not a reconnect
            await publish(broker, [(f"{prefix}/officers/O-1/position", fix(1.0, 2.0, 3.0))])
            await eventually(lambda: recorder.positions, 5.0, "the first fix")


async def test_the_engine_takes_officer_positions_from_the_broker(
    ports: PortBlock, tmp_path: Path
) -> None:
    """`[dispatch] mqtt_host` set: positions published for an officer move it in the engine's
    force (REST shows it, ranking uses it); a malformed one is counted, not applied."""
    import time

    from tests.peers.conftest import http_json, running, settings_for
    from tests.peers.test_calls import metric_values

    prefix = unique_prefix()
    async with Mosquitto(tmp_path / "mqtt", ports.base + MQTT_OFFSET) as broker:
        settings = settings_for(
            ports, tmp_path / "var", [],
            dispatch={"mqtt_host": broker.host, "mqtt_port": broker.port, "mqtt_prefix": prefix},
        )  # fmt: skip
        async with running(settings) as engine, aiomqtt.Client(broker.host, broker.port) as pub:
            officer_id = engine.dispatcher.city.officers[0].id
            feed = engine.position_feed
            assert feed is not None
            await eventually(lambda: feed.connected, 10, "the feed to subscribe")
            fix = {"lat": 30.2511, "lon": 120.1523, "ts": time.time(), "speed": 6.5}
            topic = f"{prefix}/officers/{officer_id}/position"
            await pub.publish(topic, json.dumps(fix), qos=1)
            await pub.publish(topic, b"{not json", qos=1)

            async def moved() -> bool:
                _, view = await http_json(engine, "GET", f"/api/officers/{officer_id}")
                return bool(view["lat"] == fix["lat"] and view["speed"] == fix["speed"])

            deadline = time.monotonic() + 10
            while not await moved():
                assert time.monotonic() < deadline, "the position never reached the engine"
                await asyncio.sleep(0.1)
            _, text = await http_json(engine, "GET", "/metrics")
            values = metric_values(text)
            accepted = (("result", "accepted"), ("source", "mqtt"))
            rejected = (("result", "rejected"), ("source", "mqtt"))
            await eventually(lambda: feed.rejected == 1, 5, "the refusal")
            assert values[("hotline110_officer_positions_total", accepted)] == 1
            assert values[("hotline110_position_feed_up", ())] == 1
            _, text = await http_json(engine, "GET", "/metrics")
            assert metric_values(text)[("hotline110_officer_positions_total", rejected)] == 1
