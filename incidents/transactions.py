"""The SQL both store backends run, written once (see `incidents.store`).

The transactions are generators in the sans-IO style: each `yield`s a statement `(sql, params)`
with `?` placeholders and receives the rows. A backend only drives them: `sqlite_store` in a
worker thread (`drive_sync`), `pg_store` with asyncpg (`drive_async`). Numbers come from an
upsert on a `(city, day)` counter row inside the create transaction; the row lock (PostgreSQL)
or the write lock (SQLite, BEGIN IMMEDIATE) orders concurrent creators, so two writers never get
the same sequence, across processes and restarts.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from incidents.numbering import incident_number, incident_uid
from incidents.records import (
    PATCHABLE,
    STATUSES,
    Incident,
    IncidentEvent,
    NewIncident,
    OutboxRow,
    Rows,
    StoreError,
    T,
    Targets,
    Tx,
)

MIGRATIONS = Path(__file__).parent / "migrations"
_PLACE = ("grid", "station", "county")
_COLS = (
    "number, ng911_incident_uid, source, channel, caller, call_id, ng911_call_uid, opened_at, "
    "status, location, location_error, grid, station, county, category, type, severity, "
    "summary, updated_at, recordings"
)
_OUTBOX_COLS = "id, number, seq, kind, at, payload, attempts, last_error, target, state"


# ---- driving a transaction ---------------------------------------------------------------


def drive_sync(tx: Tx[T], execute: Callable[[str, tuple[Any, ...]], Rows]) -> T:
    """Run `tx` to completion with a blocking `execute` (the caller owns BEGIN/COMMIT)."""
    rows: Rows | None = None
    try:
        while True:
            sql, params = tx.send(rows)  # type: ignore[arg-type]  # the first send is None
            rows = execute(sql, params)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        tx.close()


async def drive_async(tx: Tx[T], execute: Callable[[str, tuple[Any, ...]], Awaitable[Rows]]) -> T:
    """Run `tx` to completion with an async `execute` (the caller owns the transaction)."""
    rows: Rows | None = None
    try:
        while True:
            sql, params = tx.send(rows)  # type: ignore[arg-type]
            rows = await execute(sql, params)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        tx.close()


# ---- migrations ---------------------------------------------------------------------------


def migrations(id_column: str) -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of every file in migrations/, in version order."""
    found = []
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        text = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
        statements = [s.strip().replace("@ID@", id_column) for s in text.split(";")]
        found.append((int(path.name[:4]), path.stem, [s for s in statements if s]))
    return found


def migrate_tx(id_column: str, lock: str | None = None) -> Tx[list[int]]:
    """Apply the pending migrations in one transaction; the versions applied."""
    if lock:  # PostgreSQL: many engines may start at once (SQLite has BEGIN IMMEDIATE)
        yield lock, ()
    yield (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
        (),
    )
    done = {row[0] for row in (yield "SELECT version FROM schema_version", ())}
    applied = []
    for version, name, statements in migrations(id_column):
        if version in done:
            continue
        for statement in statements:
            yield statement, ()
        yield "INSERT INTO schema_version VALUES (?, ?, ?)", (version, name, time.time())
        applied.append(version)
    return applied


# ---- the transactions ---------------------------------------------------------------------


def _incident(row: tuple[Any, ...]) -> Incident:
    (number, uid, source, channel, caller, call_id, call_uid, opened_at, status, location,
     location_error, grid, station, county, category, type_, severity, summary, updated_at,
     recordings) = row  # fmt: skip
    return Incident(
        number=number, ng911_incident_uid=uid, source=source, channel=channel, caller=caller,
        call_id=call_id, ng911_call_uid=call_uid, opened_at=float(opened_at), status=status,
        location=json.loads(location) if location is not None else None,
        location_error=location_error, grid=grid, station=station, county=county,
        category=category, type=type_, severity=severity, summary=summary,
        updated_at=float(updated_at), recordings=json.loads(recordings),
    )  # fmt: skip


def _outbox_row(row: tuple[Any, ...]) -> OutboxRow:
    id_, number, seq, kind, at, payload, attempts, last_error, target, state = row
    return OutboxRow(
        id=id_, number=number, seq=seq, kind=kind, at=float(at), payload=json.loads(payload),
        attempts=attempts, last_error=last_error, target=target, state=state,
    )  # fmt: skip


def _place(location: dict[str, Any] | None, key: str) -> str | None:
    value = (location or {}).get(key)
    return None if value is None else str(value)


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:  # inside a transaction: it is rolled back
        raise StoreError(f"{what} is not JSON: {error}", 400) from None


def _log(incident: Incident, event: IncidentEvent, targets: Targets) -> Tx[None]:
    """Append `event` and its outbox rows (the incident row is already up to date)."""
    yield (
        "INSERT INTO incident_event (number, seq, kind, actor, at, data) VALUES (?, ?, ?, ?, ?, ?)",
        (event.number, event.seq, event.kind, event.actor, event.at, _json(event.data, "data")),
    )
    payload = json.dumps(
        {"incident": dataclasses.asdict(incident), "event": dataclasses.asdict(event)}
    )
    for target in targets:
        yield (
            "INSERT INTO outbox (number, seq, kind, at, target, payload, state, attempts, "
            "last_error) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, '')",
            (event.number, event.seq, event.kind, event.at, target, payload),
        )


def create_tx(new: NewIncident, city: str, day: str, domain: str, targets: Targets) -> Tx[Incident]:
    """Allocate the next number of (city, day), insert the record and its 'opened' event."""
    # The upsert takes the counter row's lock (PostgreSQL) or runs under the database write
    # lock (SQLite), so concurrent creators are ordered and each gets its own sequence.
    rows = yield (
        "INSERT INTO incident_counter (city, day, last) VALUES (?, ?, 1) ON CONFLICT (city, day) "
        "DO UPDATE SET last = incident_counter.last + 1 RETURNING last",
        (city, day),
    )
    seq = int(rows[0][0])
    loc = new.location
    incident = Incident(
        number=incident_number(city, day, seq),
        ng911_incident_uid=incident_uid(uuid.uuid4().hex, domain),
        source=new.source, channel=new.channel, caller=new.caller, call_id=new.call_id,
        ng911_call_uid=new.ng911_call_uid, opened_at=float(new.opened_at), status="open",
        location=loc, location_error=new.location_error, grid=_place(loc, "grid"),
        station=_place(loc, "station"), county=_place(loc, "county"), category=new.category,
        type=new.type, severity=int(new.severity), summary=new.summary,
        updated_at=float(new.opened_at), recordings=[],
    )  # fmt: skip
    yield (
        f"INSERT INTO incident (city, day, day_seq, last_seq, {_COLS}) "
        f"VALUES ({', '.join('?' * 24)})",
        (city, day, seq, 1, *_values(incident)),
    )
    data = {f.name: getattr(new, f.name) for f in dataclasses.fields(new) if f.name != "actor"}
    event = IncidentEvent(
        number=incident.number, seq=1, kind="opened", actor=new.actor, at=incident.opened_at,
        data=data,
    )  # fmt: skip
    yield from _log(incident, event, targets)
    return incident


def _values(i: Incident) -> tuple[Any, ...]:
    location = _json(i.location, "location") if i.location is not None else None
    return (
        i.number, i.ng911_incident_uid, i.source, i.channel, i.caller, i.call_id,
        i.ng911_call_uid, i.opened_at, i.status, location, i.location_error, i.grid, i.station,
        i.county, i.category, i.type, i.severity, i.summary, i.updated_at,
        "[]",  # a new incident has none
    )  # fmt: skip


def check_patch(patch: dict[str, Any]) -> dict[str, Any]:
    """The column values of a patch: only PATCHABLE keys; a new location also sets grid,
    station and county unless the patch names them."""
    unknown = set(patch) - PATCHABLE
    if unknown:
        raise StoreError(f"cannot patch {sorted(unknown)}; only {sorted(PATCHABLE)}", 400)
    if "status" in patch and patch["status"] not in STATUSES:
        raise StoreError(f"status {patch['status']!r} is not one of {sorted(STATUSES)}", 400)
    columns = dict(patch)
    if "location" in patch:
        location = patch["location"]
        if location is not None and not isinstance(location, dict):
            raise StoreError("location must be an object or null", 400)
        for key in _PLACE:
            columns.setdefault(key, _place(location, key))
        columns["location"] = _json(location, "location") if location is not None else None
    if "severity" in columns:
        columns["severity"] = int(columns["severity"])
    return columns


def append_tx(
    number: str, kind: str, actor: str, at: float, data: dict[str, Any],
    columns: dict[str, Any], targets: Targets, recording: dict[str, Any] | None = None,
) -> Tx[IncidentEvent]:  # fmt: skip
    """Next seq, patched row, event and outbox rows: one transaction."""
    sets = "".join(f", {column} = ?" for column in columns)
    # UPDATE first: it locks the row (PostgreSQL), so seq = last_seq + 1 is race-free.
    rows = yield (
        f"UPDATE incident SET last_seq = last_seq + 1, updated_at = ?{sets} WHERE number = ? "
        f"RETURNING last_seq, {_COLS}",
        (float(at), *columns.values(), number),
    )
    if not rows:
        raise StoreError(f"no incident {number}", 404)
    incident = _incident(rows[0][1:])
    if recording is not None:
        incident = dataclasses.replace(incident, recordings=[*incident.recordings, recording])
        yield (
            "UPDATE incident SET recordings = ? WHERE number = ?",
            (_json(incident.recordings, "recording"), number),
        )
    event = IncidentEvent(
        number=number, seq=int(rows[0][0]), kind=kind, actor=actor, at=float(at), data=data
    )
    yield from _log(incident, event, targets)
    return event


def select_tx(where: str, params: tuple[Any, ...], tail: str = "") -> Tx[list[Incident]]:
    rows = yield f"SELECT {_COLS} FROM incident{where}{tail}", params
    return [_incident(row) for row in rows]


def query_tx(filters: dict[str, Any], limit: int, offset: int) -> Tx[tuple[list[Incident], int]]:
    """Newest first; `since` inclusive, `until` exclusive (on opened_at); and the total."""
    if limit < 0 or offset < 0:
        raise StoreError("limit and offset must not be negative", 400)
    clauses, params = [], []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "since":
            clauses.append("opened_at >= ?")
        elif key == "until":
            clauses.append("opened_at < ?")
        else:
            clauses.append(f"{key} = ?")
        params.append(float(value) if key in ("since", "until") else value)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    total = yield f"SELECT COUNT(*) FROM incident{where}", tuple(params)
    page = yield from select_tx(
        where, (*params, limit, offset), " ORDER BY opened_at DESC, number DESC LIMIT ? OFFSET ?"
    )
    return page, int(total[0][0])


def counts_tx(since: float) -> Tx[list[tuple[str | None, str, int]]]:
    """How many incidents opened since `since`, by grid cell and status (the dashboard's map)."""
    rows = yield (
        "SELECT grid, status, COUNT(*) FROM incident WHERE opened_at >= ? GROUP BY grid, status",
        (float(since),),
    )
    return [(grid, str(status), int(count)) for grid, status, count in rows]


def events_tx(number: str, after_seq: int) -> Tx[list[IncidentEvent]]:
    rows = yield (
        "SELECT number, seq, kind, actor, at, data FROM incident_event "
        "WHERE number = ? AND seq > ? ORDER BY seq",
        (number, after_seq),
    )
    return [
        IncidentEvent(number=n, seq=s, kind=k, actor=a, at=float(t), data=json.loads(d))
        for n, s, k, a, t, d in rows
    ]


def outbox_tx(state: str, limit: int, target: str | None) -> Tx[list[OutboxRow]]:
    where, params = (
        ("state = ? AND target = ?", (state, target)) if target else ("state = ?", (state,))
    )
    rows = yield (
        f"SELECT {_OUTBOX_COLS} FROM outbox WHERE {where} ORDER BY id LIMIT ?",
        (*params, limit),
    )
    return [_outbox_row(row) for row in rows]


def outbox_set_tx(sql: str, params: tuple[Any, ...], ids: Sequence[int]) -> Tx[None]:
    """`sql` ending in 'id IN ' for the given ids (nothing to do for none)."""
    if ids:
        yield f"{sql}({', '.join('?' * len(ids))})", (*params, *ids)
