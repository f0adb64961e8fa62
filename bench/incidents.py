"""Benchmark: incident events through store + outbox + relay + Mosquitto, SQLite vs PostgreSQL.

Each backend runs in its production durability setting: SQLite in WAL mode with
synchronous=FULL on the local disk (a temporary directory), PostgreSQL 15 with fsync=on,
full_page_writes=on and synchronous_commit=on (the tests' cluster runs with fsync off; this one
does not). A real Mosquitto carries the messages; a subscriber (aiomqtt, QoS 1, on
``<prefix>/#``) records when each ``eventId`` arrives.

A writer does what `engine.incidents.IncidentService` does: one task, in order, creates an
incident or appends one event, and calls `relay.wake()` after each write. Incidents go round
robin (all get their 'opened' event, then all their second event, ...), each ten events long
by default: opened, announced, answered, classified, note, dispatch-requested,
officer-assigned, officer-arrived, call-ended, closed (status patched on the way). Every
event's `at` (and `data.t0`) is the wall time of the state change, taken just before the
write, so latency = arrival at the subscriber - `at` covers the commit (fsync), the outbox
read, the publish, the PUBACK wait, the broker and the subscriber's loop.

Modes, each on a fresh database, SQLite and PostgreSQL back to back:

    alone    the writer with no relay (appends/s of the store alone), then the relay drains
             the backlog (rows/s of the relay alone; no latency: the rows waited on purpose)
    live     the writer with the relay running, flat out
    paced    the writer at --rate events/s with the relay running (latency at a sane load)
    4 procs  4 writer processes, each with its own connection(s), their own incidents, the
             relay in this process woken by a UDP datagram after each write

Every mode checks that every event arrived, in order per incident (duplicates counted, not
failed: QoS 1 is at least once).

    /tmp/venv/bin/python -m bench.incidents [--incidents 200] [--events 10] [--rate 50]
        [--paced-incidents 50] [--writers 4] [--base 21500]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib.metadata
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg

from bench.flood import busy_port, machine, machine_busy
from incidents.relay import OutboxRelay
from incidents.store import NewIncident, SqlStore, open_store
from tests.peers.mosquitto import Mosquitto
from tests.peers.postgres import Postgres

CITY = "BJ"
DAY = "20261129"
DOMAIN = "bench.hotline110.example"
PREFIX = "bench110"
DELIVERY_TIMEOUT = 120.0
# (kind, actor, patch) of events 2..10; longer incidents repeat the middle ones.
STEPS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("announced", "system", None),
    ("answered", "seat:seat7", None),
    ("classified", "seat:seat7", {"status": "classified", "category": "theft", "severity": 2}),
    ("note", "seat:seat7", None),
    ("dispatch-requested", "seat:seat7", {"status": "dispatched"}),
    ("officer-assigned", "dispatcher:d1", None),
    ("officer-arrived", "officer:O07", None),
    ("call-ended", "system", None),
    ("closed", "officer:O07", {"status": "closed"}),
]


def step(seq: int, events: int) -> tuple[str, str, dict[str, Any] | None]:
    """The event with `seq` (2..events) of an incident `events` long; the last one closes it."""
    if seq == events:
        return STEPS[-1]
    return STEPS[(seq - 2) % (len(STEPS) - 1)]


def new_incident(k: int, now: float) -> NewIncident:
    location = {"lat": 39.9 + k * 1e-4, "lon": 116.4, "radius_m": 30, "method": "cell",
                "source": "network", "grid": f"G{k % 40:03d}", "station": f"S{k % 12:02d}",
                "county": f"C{k % 4}"}  # fmt: skip
    return NewIncident(
        source="phone", channel="sip-trunk:carrier", caller=f"1390000{k:04d}", opened_at=now,
        call_id=f"bench-{k}", location=location, summary="bench",
    )  # fmt: skip


# -- the writer ---------------------------------------------------------------------------


@dataclasses.dataclass
class Written:
    """What one writer did: write durations (s) and its wall-clock span."""

    durations: list[float]
    started: float
    ended: float


async def write(
    store: SqlStore,
    *,
    incidents: int,
    events: int,
    first: int,
    wake: Callable[[], None],
    rate: float = 0.0,
) -> Written:
    """Create `incidents` incidents and append their events, round robin, one at a time."""
    numbers: list[str] = []
    durations: list[float] = []
    started = time.time()
    t_start = time.perf_counter()
    n = 0
    for seq in range(1, events + 1):
        for i in range(incidents):
            if rate > 0:
                await asyncio.sleep(max(0.0, t_start + n / rate - time.perf_counter()))
            n += 1
            now = time.time()  # the state change
            t = time.perf_counter()
            if seq == 1:
                incident = await store.create(
                    new_incident(first + i, now), city=CITY, day=DAY, domain=DOMAIN
                )
                numbers.append(incident.number)
            else:
                kind, actor, patch = step(seq, events)
                data = {"t0": now, "text": "bench event"}
                await store.append(numbers[i], kind, actor, now, data, patch=patch)
            durations.append(time.perf_counter() - t)
            wake()
    return Written(durations, started, time.time())


def writer_process(url: str, first: int, incidents: int, events: int, start_at: float,
                   wake_port: int) -> Written:  # fmt: skip
    """One of the concurrent writers: its own process, its own store connection(s)."""

    async def main() -> Written:
        store = open_store(url, **({"max_size": 2} if url.startswith("postgres") else {}))
        async with store:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                await asyncio.sleep(max(0.0, start_at - time.time()))

                def wake() -> None:
                    sock.sendto(b"w", ("127.0.0.1", wake_port))

                return await write(
                    store, incidents=incidents, events=events, first=first, wake=wake
                )

    return asyncio.run(main())


class _Waker(asyncio.DatagramProtocol):
    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.relay.wake()


# -- the subscriber -----------------------------------------------------------------------


class Subscriber:
    """Records (seq, at, arrival) per incident of every message on `topic`, first copies only."""

    def __init__(self, host: str, port: int, topic: str, expected: int) -> None:
        self.host, self.port, self.topic, self.expected = host, port, topic, expected
        self.seen: set[str] = set()
        self.by_incident: dict[str, list[tuple[int, float, float]]] = {}
        self.duplicates = 0
        self.ready = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client(self.host, self.port, clean_session=True) as client:
            await client.subscribe(self.topic, qos=1)
            self.ready.set()
            async for message in client.messages:
                arrived = time.time()
                assert isinstance(message.payload, bytes)
                body = json.loads(message.payload)
                if body["eventId"] in self.seen:
                    self.duplicates += 1
                    continue
                self.seen.add(body["eventId"])
                number = body["incident"]["incidentNumber"]
                at = float(body["at"])
                if body["sequence"] > 1 and body["data"].get("t0") != at:
                    raise AssertionError(f"{body['eventId']}: data.t0 != at")
                self.by_incident.setdefault(number, []).append((body["sequence"], at, arrived))
                if len(self.seen) >= self.expected:
                    self.done.set()

    def latencies(self) -> list[float]:
        return [arr - at for rows in self.by_incident.values() for _, at, arr in rows]

    def out_of_order(self, events: int) -> int:
        """Incidents whose events did not arrive as exactly 1..events in order."""
        want = list(range(1, events + 1))
        return sum(1 for rows in self.by_incident.values() if [s for s, _, _ in rows] != want)


# -- one run --------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    backend: str
    mode: str
    writers: int
    events: int
    write_seconds: float  # first write start .. last write end
    durations: list[float]
    latencies: list[float] = dataclasses.field(default_factory=list)
    delivered: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    drain_seconds: float | None = None
    busy: float = 0.0  # machine CPU busy fraction (of all cores) during the writes
    own_cpu: float = 0.0  # this process's CPU during the writes (1.0 = one core)
    relay_sent: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.write_seconds


class Bench:
    def __init__(
        self, args: argparse.Namespace, broker: Mosquitto, pg: Postgres, tmp: Path
    ) -> None:
        self.args, self.broker, self.pg, self.tmp = args, broker, pg, tmp
        self.runs = 0

    async def fresh(self, backend: str) -> str:
        self.runs += 1
        if backend == "sqlite":
            return f"sqlite://{self.tmp / f'run{self.runs}.db'}"
        return await self.pg.create_database(f"bench{self.runs}")

    def relay(self, store: SqlStore, prefix: str) -> OutboxRelay:
        # As engine.app builds it (defaults: batch 100, inflight 20, idle_poll 0.2 s).
        return OutboxRelay(store, host=self.broker.host, port=self.broker.port, prefix=prefix,
                           city=CITY)  # fmt: skip

    async def run(self, backend: str, mode: str) -> Result:
        args = self.args
        url = await self.fresh(backend)
        prefix = f"{PREFIX}/r{self.runs}"
        writers = args.writers if mode == "procs" else 1
        incidents = args.paced_incidents if mode == "paced" else args.incidents
        incidents -= incidents % writers
        total = incidents * args.events
        subscriber = Subscriber(self.broker.host, self.broker.port, f"{prefix}/#", total)
        async with open_store(url) as store, asyncio.TaskGroup() as group:
            sub_task = group.create_task(subscriber.run())
            await asyncio.wait_for(subscriber.ready.wait(), 10)
            relay = self.relay(store, prefix)
            relay_task = group.create_task(relay.run()) if mode != "alone" else None
            busy0, cpu0, wall0 = machine_busy(), time.process_time(), time.perf_counter()
            if mode == "procs":
                written = await self.processes(url, relay, incidents, writers)
            else:
                one = await write(
                    store, incidents=incidents, events=args.events, first=0, wake=relay.wake,
                    rate=args.rate if mode == "paced" else 0.0,
                )  # fmt: skip
                written = [one]
            busy1, cpu1, wall1 = machine_busy(), time.process_time(), time.perf_counter()
            result = Result(
                backend=backend, mode=mode, writers=writers, events=total,
                write_seconds=max(w.ended for w in written) - min(w.started for w in written),
                durations=[d for w in written for d in w.durations],
                busy=(busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]),
                own_cpu=(cpu1 - cpu0) / (wall1 - wall0),
            )  # fmt: skip
            drain_start = time.perf_counter()
            if relay_task is None:
                relay_task = group.create_task(relay.run())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.done.wait(), DELIVERY_TIMEOUT)
            if mode == "alone":
                result.drain_seconds = time.perf_counter() - drain_start
            else:
                result.latencies = subscriber.latencies()
            await asyncio.sleep(0.3)  # late duplicates, if any
            relay_task.cancel()
            sub_task.cancel()
        result.delivered = len(subscriber.seen)
        result.duplicates = subscriber.duplicates
        result.out_of_order = subscriber.out_of_order(args.events)
        result.relay_sent = relay.sent
        print(line(result), flush=True)
        return result

    async def processes(
        self, url: str, relay: OutboxRelay, incidents: int, writers: int
    ) -> list[Written]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Waker(relay), local_addr=("127.0.0.1", 0)
        )
        wake_port = transport.get_extra_info("sockname")[1]
        share = incidents // writers
        context = multiprocessing.get_context("spawn")
        try:
            with concurrent.futures.ProcessPoolExecutor(writers, mp_context=context) as pool:
                start_at = time.time() + self.args.spawn_wait
                futures = [
                    loop.run_in_executor(pool, writer_process, url, 100_000 * (k + 1), share,
                                         self.args.events, start_at, wake_port)
                    for k in range(writers)
                ]  # fmt: skip
                written = await asyncio.gather(*futures)
        finally:
            transport.close()
        late = max(w.started for w in written) - start_at
        if late > 0.05:
            print(f"  note: a writer process started {late:.2f} s late", flush=True)
        return list(written)


# -- peers ----------------------------------------------------------------------------------


class DurablePostgres(Postgres):
    """The tests' throwaway cluster with the production durability settings (fsync on)."""

    def __init__(self, port: int) -> None:
        super().__init__(port, durable=True)

    async def settings(self) -> str:
        conn = await asyncpg.connect(self.url())
        try:
            version = await conn.fetchval("SHOW server_version")
            shown = [
                f"{name}={await conn.fetchval(f'SHOW {name}')}"
                for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
            ]
        finally:
            await conn.close()
        return f"PostgreSQL {version.split()[0]} ({', '.join(shown)})"


def sqlite_settings(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        conn.close()
    return f"SQLite {sqlite3.sqlite_version} (journal_mode={mode}, synchronous={sync} = FULL)"


def fsync_cost(directory: Path, count: int = 200) -> tuple[float, float]:
    """(p50, p99) ms of one 8 KiB append + fdatasync on this disk."""
    path = directory / "fsync.probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            os.write(fd, b"x" * 8192)
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return percentile(times, 0.5), percentile(times, 0.99)


def free_port(start: int) -> int:
    port = start
    while busy_port(range(port, port + 1)) is not None:
        port += 1
    if port >= 32768:
        sys.exit(f"no free port from {start} below 32768")
    return port


# -- report ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}" if values else "-"


MODES = {"alone": "writer alone", "live": "writer + relay", "paced": "paced + relay",
         "procs": "writers + relay"}  # fmt: skip


def label(r: Result) -> str:
    name = MODES[r.mode]
    return f"{r.writers} {name}" if r.mode == "procs" else name


def line(r: Result) -> str:
    drain = f"{r.events / r.drain_seconds:.0f}" if r.drain_seconds else "-"
    lat = "-" if not r.latencies else max(r.latencies) * 1000
    return (
        f"| {r.backend} | {label(r)} | {r.events} | {r.rate:.0f} | "
        f"{_ms(r.durations, 0.5)} | {_ms(r.durations, 0.99)} | {drain} | "
        f"{_ms(r.latencies, 0.5)} | {_ms(r.latencies, 0.99)} | "
        f"{lat if isinstance(lat, str) else f'{lat:.1f}'} | "
        f"{r.delivered}/{r.events} | {r.out_of_order} | {r.duplicates} | "
        f"{r.busy * 100:.0f} % | {r.own_cpu * 100:.0f} % |"
    )


HEADER = (
    "| backend | mode | events | events/s written | write p50 ms | write p99 ms | "
    "relay drain rows/s | e2e p50 ms | e2e p99 ms | e2e max ms | delivered | "
    "incidents out of order | duplicates | machine CPU busy | bench process CPU |\n"
    + "|---" * 15
    + "|"
)


def ratios(results: list[Result]) -> list[str]:
    by = {(r.backend, r.mode): r for r in results}
    out = []
    for mode in ("alone", "live", "paced", "procs"):
        s, p = by.get(("sqlite", mode)), by.get(("postgresql", mode))
        if s is None or p is None:
            continue
        parts = [f"events/s {s.rate / p.rate:.2f}x"]
        if s.latencies and p.latencies:
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                parts.append(
                    f"{name} {percentile(s.latencies, q) / percentile(p.latencies, q):.2f}x"
                )
        if s.drain_seconds and p.drain_seconds:
            parts.append(f"relay drain {p.drain_seconds / s.drain_seconds:.2f}x")
        out.append(f"- {label(s)}: SQLite / PostgreSQL = {', '.join(parts)}")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--events", type=int, default=10, help="events per incident (>= 2)")
    parser.add_argument("--rate", type=float, default=50.0, help="paced mode, events/s")
    parser.add_argument("--paced-incidents", type=int, default=50)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument(
        "--spawn-wait", type=float, default=4.0, help="s for writer processes to start"
    )
    parser.add_argument("--base", type=int, default=21500, help="first port to try")
    parser.add_argument("--modes", default="alone,live,paced,procs")
    parser.add_argument(
        "--nodelay", action="store_true", help="the broker sets TCP_NODELAY (set_tcp_nodelay)"
    )
    args = parser.parse_args()
    if args.events < 2:
        parser.error("--events must be >= 2")
    modes = [m for m in args.modes.split(",") if m]
    print(f"Machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="hotline110-bench-incidents-", dir="/tmp") as name:
        tmp = Path(name)
        p50, p99 = fsync_cost(tmp)
        print(f"fdatasync of an 8 KiB append in {tmp.parent}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        print(sqlite_settings(tmp / "settings.db"))
        pg_port = free_port(args.base)
        mqtt_port = free_port(pg_port + 1)
        # The subscriber is in this busy process: let the broker queue for it rather than drop
        # (Mosquitto's default is 1000 queued QoS 1 messages per client).
        extra = ["max_queued_messages 0", *(["set_tcp_nodelay true"] if args.nodelay else [])]
        with DurablePostgres(pg_port) as pg:
            assert isinstance(pg, DurablePostgres)
            print(await pg.settings())
            async with Mosquitto(tmp / "mqtt", mqtt_port, extra_config=extra) as broker:
                print(
                    f"Mosquitto {mqtt_port}, PostgreSQL {pg_port}; aiomqtt "
                    f"{importlib.metadata.version('aiomqtt')}, asyncpg "
                    f"{importlib.metadata.version('asyncpg')}; "
                    f"{args.incidents} incidents x {args.events} events, paced "
                    f"{args.paced_incidents} x {args.events} at {args.rate:g}/s, "
                    f"{args.writers} writer processes"
                )
                bench = Bench(args, broker, pg, tmp)
                print(HEADER, flush=True)
                results = []
                for mode in modes:  # the two backends back to back in each mode
                    for backend in ("sqlite", "postgresql"):
                        results.append(await bench.run(backend, mode))
        print()
        print("\n".join(ratios(results)))
        write_ms = statistics.mean(d for r in results if r.mode == "alone" for d in r.durations)
        print(f"mean write (alone, both backends): {write_ms * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
