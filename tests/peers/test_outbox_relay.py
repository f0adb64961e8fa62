"""The outbox relay through a real Mosquitto: every event, in order per incident, across a
30 s broker outage; unserialisable rows go to the dead letters and the rest still flow.

The store is an in-memory fake with exactly the outbox part of the store's interface, so
these tests are about the relay and the broker, not SQL.

Why nothing can be lost on the subscriber's side either. Both the relay and the subscriber
lose the broker when it stops. The relay publishes again only after it has reconnected, but
the subscriber may reconnect later than the relay; and a message the broker acknowledged to
the relay just before the stop may not have reached the subscriber yet. So the subscriber
keeps a persistent session (``clean_session=False``, a fixed client id, QoS 1) and the broker
runs with ``persistence true``: on SIGTERM Mosquitto saves its sessions (the subscription and
any undelivered QoS 1 messages) and restores them at start, so whatever is published after
the restart, before the subscriber is back, is queued for it. Without broker persistence the
restarted broker would have forgotten the subscription, and every event the relay delivered
before the subscriber re-subscribed would be lost to it: that is a deployment requirement of
the consumers, not something the relay can fix. Duplicates are allowed (QoS 1 is at least
once) and removed by ``eventId``, as a consumer must.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from incidents.relay import OutboxRelay
from tests.peers.conftest import eventually
from tests.peers.mosquitto import Mosquitto
from tests.peers.ports import PortBlock

pytestmark = pytest.mark.peers

MQTT_OFFSET = 1390  # as in test_mqtt_positions: the block's layout leaves base+1390 free
CITY = "BJ"
OUTAGE = 30.0


# ---- the fake store: the outbox part of incidents.store.Store, in memory ---------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    id: int
    number: str
    seq: int
    kind: str
    at: float
    payload: dict[str, Any]
    attempts: int
    last_error: str
    target: str


class FakeStore:
    """Appends events like the store does (snapshot + event per outbox row) and serves the
    outbox methods the relay calls."""

    def __init__(self) -> None:
        self.rows: dict[int, OutboxRow] = {}
        self.state: dict[int, str] = {}  # 'pending' | 'sent' | 'dead'
        self._seqs: dict[str, int] = defaultdict(int)

    def append(
        self,
        number: str,
        kind: str,
        *,
        severity: int = 2,
        data: dict[str, Any] | None = None,
        target: str = "mqtt",
    ) -> OutboxRow:
        self._seqs[number] += 1
        seq, at = self._seqs[number], time.time()
        station = f"st-{number[-1]}"
        incident = {
            "number": number,
            "ng911_incident_uid": f"urn:emergency:uid:incidentid:{number}:test.invalid",
            "source": "phone",
            "channel": "sip-trunk:test",
            "caller": "13800000000",
            "call_id": f"call-{number}",
            "ng911_call_uid": f"urn:emergency:uid:callid:{number}:test.invalid",
            "opened_at": at,
            "status": "open",
            "location": {"lat": 39.9, "lon": 116.4, "grid": "g1", "station": station},
            "grid": "g1",
            "station": station,
            "county": "east",
            "category": "police",
            "type": "theft",
            "severity": severity,
            "summary": "",
            "updated_at": at,
            "recordings": [],
        }
        event = {
            "number": number,
            "seq": seq,
            "kind": kind,
            "actor": "system",
            "at": at,
            "data": data or {},
        }
        row = OutboxRow(
            id=len(self.rows) + 1, number=number, seq=seq, kind=kind, at=at,
            payload={"incident": incident, "event": event}, attempts=0, last_error="",
            target=target,
        )  # fmt: skip
        self.rows[row.id] = row
        self.state[row.id] = "pending"
        return row

    def in_state(self, state: str) -> list[OutboxRow]:
        return [self.rows[i] for i in sorted(self.rows) if self.state[i] == state]

    async def outbox_pending(
        self, limit: int = 100, *, target: str | None = None
    ) -> list[OutboxRow]:
        rows = [r for r in self.in_state("pending") if target is None or r.target == target]
        return rows[:limit]

    async def outbox_mark_sent(self, ids: list[int], at: float) -> None:
        for i in ids:
            if self.state.get(i) == "pending":
                self.state[i] = "sent"

    async def outbox_failed(self, id: int, error: str, at: float, *, dead: bool) -> None:
        if self.state.get(id) != "pending":
            return
        row = self.rows[id]
        self.rows[id] = dataclasses.replace(row, attempts=row.attempts + 1, last_error=error)
        if dead:
            self.state[id] = "dead"


# ---- a consumer that reconnects by itself -------------------------------------------------


class Subscriber:
    """Persistent session (see the module docstring); records (topic, message) as received."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.broker, self.prefix = broker, prefix
        self.client_id = f"sub-{uuid.uuid4().hex[:8]}"
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.connects = 0
        self.subscribed = asyncio.Event()
        self.may_connect = asyncio.Event()  # a test clears it to keep the consumer away
        self.may_connect.set()

    async def run(self) -> None:
        while True:
            await self.may_connect.wait()
            try:
                async with aiomqtt.Client(
                    self.broker.host, self.broker.port, identifier=self.client_id,
                    clean_session=False, keepalive=5, timeout=5.0,
                ) as client:  # fmt: skip
                    self.connects += 1
                    # Harmless when the session was restored; needed the first time.
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.got.append((str(message.topic), json.loads(message.payload)))
            except aiomqtt.MqttError:
                pass
            self.subscribed.clear()
            await asyncio.sleep(0.1)

    def by_incident(self, branch: str = "") -> tuple[dict[str, list[int]], int]:
        """Per incident the sequences in the order first received (duplicates dropped by
        eventId, as a consumer does), and how many duplicates there were. `branch` keeps
        only topics with that level after the city ('command', or a county)."""
        seen: set[str] = set()
        order: dict[str, list[int]] = defaultdict(list)
        duplicates = 0
        for topic, body in self.got:
            if branch and topic.split("/")[2] != branch:
                continue
            if body["eventId"] in seen:
                duplicates += 1
                continue
            seen.add(body["eventId"])
            order[body["incident"]["incidentNumber"]].append(body["sequence"])
        return dict(order), duplicates


# ---- fixtures --------------------------------------------------------------------------------


def broker_for(ports: PortBlock, tmp_path: Path) -> Mosquitto:
    workdir = tmp_path / "mqtt"
    return Mosquitto(
        workdir,
        ports.base + MQTT_OFFSET,
        extra_config=["persistence true", f"persistence_location {workdir}/"],
    )


def relay_for(store: FakeStore, broker: Mosquitto, prefix: str) -> OutboxRelay:
    return OutboxRelay(
        store, host=broker.host, port=broker.port, prefix=prefix, city=CITY,
        client_id=f"relay-{uuid.uuid4().hex[:8]}", idle_poll=0.2, reconnect_min=0.1,
        reconnect_max=1.0, publish_timeout=5.0,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(*runners: Any) -> AsyncIterator[None]:
    """Run each `runner.run()` as a task; on exit check none ended by itself, then cancel."""
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield
        for task in tasks:
            assert not task.done(), f"{task} ended: {task.exception()!r}"
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)


def prefix() -> str:
    return f"test{uuid.uuid4().hex[:10]}"


def numbers(n: int) -> list[str]:
    return [f"{CITY}-20250301-{i:06d}" for i in range(1, n + 1)]


# ---- the tests -------------------------------------------------------------------------------


async def test_every_event_of_three_incidents_in_order(ports: PortBlock, tmp_path: Path) -> None:
    store, top = FakeStore(), prefix()
    async with broker_for(ports, tmp_path) as broker:
        subscriber, relay = Subscriber(broker, top), relay_for(store, broker, top)
        async with running(subscriber, relay):
            await asyncio.wait_for(subscriber.subscribed.wait(), 5.0)
            incidents = numbers(3)
            webhook = store.append(incidents[0], "ticket", target="webhook:12345")
            for step in range(6):
                for i, number in enumerate(incidents):
                    # the third incident is major: its events also go to the command topic
                    store.append(number, f"step{step}", severity=5 if i == 2 else 2)
                    relay.wake()
            await eventually(lambda: relay.sent == 18, 10.0, "18 rows sent")
            await eventually(lambda: len(subscriber.got) >= 24, 10.0, "24 messages")

    stations, duplicates = subscriber.by_incident("east")
    assert duplicates == 0
    # seq 1 of the first incident is the webhook row, which is not this relay's
    assert stations == {
        incidents[0]: [2, 3, 4, 5, 6, 7],
        incidents[1]: [1, 2, 3, 4, 5, 6],
        incidents[2]: [1, 2, 3, 4, 5, 6],
    }
    command, _ = subscriber.by_incident("command")
    assert command == {incidents[2]: [1, 2, 3, 4, 5, 6]}
    for topic, body in subscriber.got:
        number, seq = body["incident"]["incidentNumber"], body["sequence"]
        assert body["schema"] == "hotline110.incident-event/1"
        assert body["eventId"] == f"{number}:{seq}"
        assert topic.endswith(f"/incidents/{number}/{body['eventType']}")
        if "/command/" not in topic:
            assert topic.startswith(f"{top}/{CITY}/east/st-{number[-1]}/incidents/")
    assert relay.published == 24
    assert [r.id for r in store.in_state("pending")] == [webhook.id]
    assert relay.lag_seconds == 0.0
    assert (relay.failed, relay.dead) == (0, 0)


async def test_broker_down_30_s_loses_nothing_and_keeps_order(
    ports: PortBlock, tmp_path: Path
) -> None:
    """The issue's test: 5 incidents x 10 events, most appended while the broker is down."""
    store, top = FakeStore(), prefix()
    incidents = numbers(5)
    plan = [number for _ in range(10) for number in incidents]  # 50 events, round robin
    began = time.monotonic()
    async with broker_for(ports, tmp_path) as broker:
        subscriber, relay = Subscriber(broker, top), relay_for(store, broker, top)
        async with running(subscriber, relay):
            await asyncio.wait_for(subscriber.subscribed.wait(), 5.0)
            await eventually(lambda: relay.connected, 5.0, "relay connected")

            def append(number: str) -> None:
                store.append(number, f"e{store._seqs[number] + 1}")
                relay.wake()

            for number in plan[:10]:  # flowing normally
                append(number)
                await asyncio.sleep(0.05)
            await eventually(lambda: relay.sent == 10, 5.0, "first 10 sent")
            for number in plan[10:15]:  # a burst, and the broker stops under it
                append(number)
            await asyncio.sleep(0.002)
            stopped = time.monotonic()
            await broker.stop()

            later = plan[15:]  # appended evenly across the outage
            for number in later:
                await asyncio.sleep((OUTAGE - 1.0) / len(later))
                append(number)
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
            assert not relay.connected
            assert not subscriber.subscribed.is_set()
            assert len(store.in_state("pending")) >= len(later)
            lag_in_outage = relay.lag_seconds
            assert lag_in_outage > OUTAGE - 5.0, lag_in_outage
            got_in_outage = len(subscriber.got)

            # The worst order: the relay is back and delivers everything while the consumer
            # is still away, so the events can only reach it through its restored session.
            subscriber.may_connect.clear()
            await broker.start()  # same port, same persistence file
            restarted = time.monotonic()
            await eventually(lambda: relay.sent == 50, 15.0, "all 50 rows sent")
            assert subscriber.connects == 1
            subscriber.may_connect.set()
            # Dedupe before counting: a burst row may have been published twice.
            await eventually(
                lambda: len({body["eventId"] for _, body in subscriber.got}) == 50,
                15.0,
                "all 50 events at the subscriber",
            )
            recovered = time.monotonic() - restarted
            await eventually(lambda: relay.lag_seconds == 0.0, 5.0, "lag back to 0")
            assert relay.connected
            assert relay.reconnects >= 1
            assert subscriber.connects >= 2

    order, duplicates = subscriber.by_incident()
    assert order == {number: list(range(1, 11)) for number in incidents}, broker.log_text()
    assert store.in_state("pending") == [] and store.in_state("dead") == []
    assert broker.starts == 2
    assert got_in_outage <= 15
    total = time.monotonic() - began
    print(
        f"outage {OUTAGE:.0f} s: lag before restart {lag_in_outage:.1f} s, all delivered "
        f"{recovered:.2f} s after restart, {duplicates} duplicates, relay failed="
        f"{relay.failed} reconnects={relay.reconnects}, subscriber connects="
        f"{subscriber.connects}, test {total:.1f} s"
    )
    assert total < 60.0


async def test_unserialisable_row_is_dead_lettered_and_the_rest_flow(
    ports: PortBlock, tmp_path: Path
) -> None:
    store, top = FakeStore(), prefix()
    a, b = numbers(2)
    async with broker_for(ports, tmp_path) as broker:
        subscriber, relay = Subscriber(broker, top), relay_for(store, broker, top)
        store.append(a, "opened")
        bad = store.append(a, "note", data={"text": object()})  # JSON cannot encode this
        store.append(b, "opened", data={"speed": float("nan")})  # sent, with null
        store.append(a, "closed")
        store.append(b, "closed")
        async with running(subscriber):
            await asyncio.wait_for(subscriber.subscribed.wait(), 5.0)
            async with running(relay):
                await eventually(lambda: relay.sent == 4, 10.0, "4 rows sent")
                await eventually(lambda: len(subscriber.got) >= 4, 10.0, "4 messages")

    assert [r.id for r in store.in_state("dead")] == [bad.id]
    dead = store.rows[bad.id]
    assert dead.attempts == 1 and "cannot build the message" in dead.last_error
    assert (relay.dead, relay.sent) == (1, 4)
    assert store.in_state("pending") == []
    order, _ = subscriber.by_incident()
    assert order == {a: [1, 3], b: [1, 2]}
    nan_row = next(body for _, body in subscriber.got if body["eventId"] == f"{b}:1")
    assert nan_row["data"] == {"speed": None}
