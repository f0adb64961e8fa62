"""The incident store, one suite run against both backends: SQLite (a file in tmp_path) and
PostgreSQL 15 (one throwaway cluster per session, a fresh database per test).

Besides the API, it checks the two promises the rest of the engine relies on: a write that
returned survives kill -9 of the writer, and numbers never repeat when several processes
create incidents in the same database at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from incidents.store import NewIncident, SqlStore, StoreError, Tx, migrations, open_store

pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parents[2]
CITY, DAY, DOMAIN = "SZ", "20261129", "110.sz.example"
SHIPPED = [version for version, _, _ in migrations("")]


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    async with open_store(url) as opened:
        yield opened


def new(opened_at: float = 100.0, **fields: object) -> NewIncident:
    base: dict[str, object] = {"source": "phone", "channel": "sip-trunk:carrier"}
    return NewIncident(**{**base, "caller": "13800000001", "opened_at": opened_at, **fields})  # type: ignore[arg-type]


def place(grid: str, station: str, county: str) -> dict[str, object]:
    return {"lat": 22.5, "lon": 114.0, "radius_m": 30.0, "method": "GPS", "source": "pidf",
            "grid": grid, "station": station, "county": county}  # fmt: skip


async def test_create_get_and_opened_event(store: SqlStore) -> None:
    first = await store.create(
        new(call_id="c1", location=place("G7", "ST-1", "FT"), severity=2, actor="seat:seat7"),
        city=CITY, day=DAY, domain=DOMAIN,
    )  # fmt: skip
    second = await store.create(
        new(source="tip", channel="rest"), city=CITY, day=DAY, domain=DOMAIN
    )
    other_day = await store.create(new(), city=CITY, day="20261130", domain=DOMAIN)
    other_city = await store.create(new(), city="GZ", day=DAY, domain=DOMAIN)
    assert [first.number, second.number] == ["SZ-20261129-000001", "SZ-20261129-000002"]
    assert (other_day.number, other_city.number) == ("SZ-20261130-000001", "GZ-20261129-000001")
    assert first.ng911_incident_uid.startswith("urn:emergency:uid:incidentid:")
    assert first.ng911_incident_uid.endswith(f":{DOMAIN}")
    assert first.ng911_incident_uid != second.ng911_incident_uid
    assert (first.status, first.grid, first.station, first.county) == ("open", "G7", "ST-1", "FT")
    assert (second.location, second.grid, second.recordings) == (None, None, [])
    assert await store.get(first.number) == first
    assert await store.get("SZ-20261129-999999") is None
    [opened] = await store.events(first.number)
    assert (opened.seq, opened.kind, opened.actor, opened.at) == (1, "opened", "seat:seat7", 100.0)
    assert opened.data["call_id"] == "c1" and opened.data["location"]["grid"] == "G7"
    with pytest.raises(StoreError) as bad:
        await store.create(new(), city="sz-bad", day=DAY, domain=DOMAIN)
    assert bad.value.status_hint == 400


async def test_append_patch_and_event_order(store: SqlStore) -> None:
    incident = await store.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    number = incident.number
    answered = await store.append(number, "answered", "seat:seat7", 101.0, {"seat": "seat7"})
    classified = await store.append(
        number, "classified", "seat:seat7", 102.5, {"by": "call-taker"},
        patch={"status": "classified", "category": "police", "type": "theft", "severity": 3,
               "summary": "bike stolen", "location": place("G2", "ST-2", "LH")},
    )  # fmt: skip
    assert (answered.seq, classified.seq) == (2, 3)
    got = await store.get(number)
    assert got is not None
    assert (got.status, got.category, got.type, got.severity, got.summary) == (
        "classified", "police", "theft", 3, "bike stolen"
    )  # fmt: skip
    assert (got.grid, got.station, got.county, got.updated_at) == ("G2", "ST-2", "LH", 102.5)
    # Location unknown after all: the error is kept, the place columns follow the location.
    await store.append(
        number,
        "location",
        "system",
        103.0,
        {},
        patch={"location": None, "location_error": "bad PIDF-LO"},
    )
    got = await store.get(number)
    assert got is not None and (got.location, got.grid, got.location_error) == (
        None,
        None,
        "bad PIDF-LO",
    )
    events = await store.events(number)
    assert [(e.seq, e.kind) for e in events] == [
        (1, "opened"),
        (2, "answered"),
        (3, "classified"),
        (4, "location"),
    ]
    assert [e.seq for e in await store.events(number, after_seq=2)] == [3, 4]
    assert events[2] == classified


async def test_bad_appends_change_nothing(store: SqlStore) -> None:
    incident = await store.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    for number, patch, status in [
        ("SZ-20261129-000404", None, 404),
        (incident.number, {"number": "x"}, 400),
        (incident.number, {"status": "lost"}, 400),
    ]:
        with pytest.raises(StoreError) as error:
            await store.append(number, "note", "system", 101.0, {}, patch=patch)
        assert error.value.status_hint == status
    with pytest.raises(StoreError) as not_json:
        await store.append(incident.number, "note", "system", 101.0, {"x": object()})
    assert not_json.value.status_hint == 400
    with pytest.raises(StoreError) as missing:
        await store.add_recording("SZ-20261129-000404", {"path": "x.wav"}, 101.0)
    assert missing.value.status_hint == 404
    assert [e.seq for e in await store.events(incident.number)] == [1]
    assert [row.seq for row in await store.outbox_pending()] == [1]
    assert await store.events("SZ-20261129-000404") == []


async def test_recordings(store: SqlStore) -> None:
    incident = await store.create(new(call_id="c9"), city=CITY, day=DAY, domain=DOMAIN)
    recordings = [
        {
            "path": f"/var/rec/c9-{n}.wav",
            "sha256": f"{n:064x}",
            "size": 1000 * n,
            "seconds": 1.5 * n,
            "call_id": "c9",
        }
        for n in (1, 2)
    ]
    for n, recording in enumerate(recordings):
        event = await store.add_recording(incident.number, recording, 110.0 + n)
        assert (event.seq, event.kind, event.data) == (2 + n, "recording", recording)
    got = await store.get(incident.number)
    assert got is not None and got.recordings == recordings


async def test_by_call_gives_the_latest(store: SqlStore) -> None:
    await store.create(new(100.0, call_id="c1"), city=CITY, day=DAY, domain=DOMAIN)
    later = await store.create(new(200.0, call_id="c1"), city=CITY, day=DAY, domain=DOMAIN)
    await store.create(new(300.0, call_id="c2"), city=CITY, day=DAY, domain=DOMAIN)
    assert await store.by_call("c1") == later
    assert await store.by_call("nope") is None
    assert await store.by_call("") is None


async def test_query_filters_pagination_and_total(store: SqlStore) -> None:
    numbers = []
    for n in range(12):
        loc = place(f"G{n % 3}", f"ST-{n % 2}", "FT" if n < 6 else "LH")
        incident = await store.create(
            new(1000.0 + n, location=loc, type="theft" if n % 4 == 0 else "fight"),
            city=CITY, day=DAY, domain=DOMAIN,
        )  # fmt: skip
        numbers.append(incident.number)
    await store.append(
        numbers[5], "closed", "system", 2000.0, {}, patch={"status": "closed", "category": "police"}
    )
    newest_first = numbers[::-1]

    page, total = await store.query(limit=5)
    assert total == 12 and [i.number for i in page] == newest_first[:5]
    page, total = await store.query(limit=5, offset=10)
    assert total == 12 and [i.number for i in page] == newest_first[10:]

    async def only(**filters: object) -> list[str]:
        page, total = await store.query(limit=100, **filters)  # type: ignore[arg-type]
        assert total == len(page)
        return [i.number for i in page]

    assert await only(station="ST-1") == [newest_first[k] for k in range(12) if (11 - k) % 2 == 1]
    assert await only(county="FT", grid="G0") == [numbers[3], numbers[0]]
    assert await only(type="theft") == [numbers[8], numbers[4], numbers[0]]
    assert await only(status="closed") == await only(category="police") == [numbers[5]]
    assert await only(since=1003.0, until=1006.0) == [numbers[5], numbers[4], numbers[3]]
    assert await only(station="ST-9") == []
    page, total = await store.query(station="ST-0", limit=2, offset=1)
    assert total == 6 and [i.number for i in page] == [numbers[8], numbers[6]]
    other = await store.create(new(1020.0, caller="13900000009"), city=CITY, day=DAY, domain=DOMAIN)
    assert await only(caller="13900000009") == [other.number]
    # the dashboard's map: how many per grid cell and status, from a time on
    counts = sorted(await store.counts(1006.0), key=str)
    assert counts == sorted(
        [("G0", "open", 2), ("G1", "open", 2), ("G2", "open", 2), (None, "open", 1)], key=str
    )
    assert sum(n for _, _, n in await store.counts(0.0)) == 13
    assert ("G2", "closed", 1) in await store.counts(0.0)


async def test_outbox_pending_sent_failed_dead(store: SqlStore) -> None:
    a = await store.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    b = await store.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    await store.append(
        a.number, "classified", "seat:s1", 101.0, {"k": 1}, patch={"status": "classified"}
    )
    await store.append(
        b.number, "note", "seat:s2", 102.0, {"text": "hi"}, targets=("mqtt", "webhook:12345")
    )
    pending = await store.outbox_pending()
    assert [(r.number, r.seq, r.kind, r.target) for r in pending] == [
        (a.number, 1, "opened", "mqtt"),
        (b.number, 1, "opened", "mqtt"),
        (a.number, 2, "classified", "mqtt"),
        (b.number, 2, "note", "mqtt"),
        (b.number, 2, "note", "webhook:12345"),
    ]
    assert pending == sorted(pending, key=lambda r: r.id)
    third = pending[2]
    assert third.payload["incident"]["status"] == "classified"
    assert third.payload["event"] == {"number": a.number, "seq": 2, "kind": "classified",
                                      "actor": "seat:s1", "at": 101.0, "data": {"k": 1}}  # fmt: skip
    assert (third.attempts, third.last_error, third.state) == (0, "", "pending")
    assert [r.target for r in await store.outbox_pending(target="webhook:12345")] == [
        "webhook:12345"
    ]

    await store.outbox_mark_sent([pending[0].id, pending[1].id], 110.0)
    await store.outbox_failed(pending[2].id, "broker down", 111.0, dead=False)
    await store.outbox_failed(pending[4].id, "HTTP 500", 112.0, dead=True)
    await store.outbox_failed(pending[0].id, "late failure of a sent row", 113.0, dead=True)
    left = await store.outbox_pending(limit=10)
    assert [r.id for r in left] == [pending[2].id, pending[3].id]
    assert (left[0].attempts, left[0].last_error) == (1, "broker down")
    assert [r.id for r in await store.outbox_pending(limit=1)] == [pending[2].id]
    [dead] = await store.dead_letters()
    assert (dead.id, dead.attempts, dead.last_error, dead.state) == (
        pending[4].id,
        1,
        "HTTP 500",
        "dead",
    )
    await store.outbox_requeue([dead.id], 120.0)
    assert await store.dead_letters() == []
    assert [r.id for r in await store.outbox_pending()] == [
        pending[2].id,
        pending[3].id,
        pending[4].id,
    ]
    await store.outbox_mark_sent([], 121.0)


async def test_migrations_are_idempotent(url: str) -> None:
    async with open_store(url) as first:
        incident = await first.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    for n in (2, 3):  # reopened: nothing re-applied, data and the counter kept
        async with open_store(url) as again:
            assert await again.get(incident.number) == incident
            # every migration file, applied once, in order
            assert await again._run(_versions(), write=False) == SHIPPED == [1, 2]
            created = await again.create(new(), city=CITY, day=DAY, domain=DOMAIN)
            assert created.number == f"{CITY}-{DAY}-{n:06d}"


async def test_sqlite_is_wal_and_fsyncs_every_commit(tmp_path: Path) -> None:
    async with open_store(f"sqlite://{tmp_path}/x.db") as store:
        for role in (True, False):  # the writer's and the reader's connection
            assert await store._run(_pragmas(), write=role) == ["wal", 2]  # 2 = FULL


def _pragmas() -> Tx[list[object]]:
    mode = yield "PRAGMA journal_mode", ()
    sync = yield "PRAGMA synchronous", ()
    return [mode[0][0], sync[0][0]]


def _versions() -> Tx[list[int]]:
    rows = yield "SELECT version FROM schema_version ORDER BY version", ()
    return [int(row[0]) for row in rows]


# ---- other processes --------------------------------------------------------------------------

APPENDER = """
import asyncio, sys
from incidents.store import open_store

async def main():
    store = open_store(sys.argv[1])
    await store.open()
    n = 0
    while True:
        n += 1
        event = await store.append(sys.argv[2], "note", "system", 100.0 + n, {"n": n}, patch={"summary": f"note {n}"})
        print(event.seq, flush=True)  # only after append returned

asyncio.run(main())
"""

CREATOR = """
import asyncio, json, sys
from incidents.store import NewIncident, open_store

async def main():
    store = open_store(sys.argv[1])
    await store.open()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    numbers = []
    for n in range(int(sys.argv[2])):
        new = NewIncident(source="phone", channel="t", caller=sys.argv[3], opened_at=float(n))
        numbers.append((await store.create(new, city="SZ", day="20261129", domain="110.test")).number)
    await store.close()
    print(json.dumps(numbers), flush=True)

asyncio.run(main())
"""


async def _python(code: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_kill_9_right_after_append_loses_nothing(store: SqlStore, url: str) -> None:
    incident = await store.create(new(), city=CITY, day=DAY, domain=DOMAIN)
    child = await _python(APPENDER, url, incident.number)
    assert child.stdout is not None
    acknowledged: list[int] = []
    while len(acknowledged) < 25:
        line = await asyncio.wait_for(child.stdout.readline(), 20.0)
        assert line, "the appender died"
        acknowledged.append(int(line))
    child.send_signal(signal.SIGKILL)  # while it is appending the next events
    rest, _ = await asyncio.wait_for(child.communicate(), 10.0)
    acknowledged += [int(line) for line in rest.split()]
    assert child.returncode == -signal.SIGKILL
    async with open_store(url) as reopened:
        events = await reopened.events(incident.number)
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free
        assert set(acknowledged) <= set(seqs)
        got = await reopened.get(incident.number)
        assert got is not None and got.summary == f"note {seqs[-1] - 1}"
        assert [r.seq for r in await reopened.outbox_pending(limit=1000)] == seqs


async def test_numbers_unique_across_concurrent_processes(url: str) -> None:
    processes, each = 8, 50
    children = [await _python(CREATOR, url, str(each), f"p{k}") for k in range(processes)]
    for child in children:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30.0) == b"ready\n"
    for child in children:  # all at once
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    numbers = []
    for child in children:
        out, _ = await asyncio.wait_for(child.communicate(), 60.0)
        assert child.returncode == 0
        numbers += json.loads(out)
    assert len(numbers) == len(set(numbers)) == processes * each
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, processes * each + 1))
    async with open_store(url) as store:
        page, total = await store.query(limit=1)
        assert total == processes * each and page[0].number in numbers
