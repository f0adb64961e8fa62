"""The incident store: the interface both backends share, and the SQL they both run.

Theory of operation. Every write is one database transaction that (1) changes the incident
row, (2) appends one event with the next per-incident `seq` and (3) adds one outbox row per
target carrying the incident snapshot after the event. Nothing is acknowledged before that
transaction commits, so a kill -9 right after a call returns loses nothing, and the outbox
relay can never see an event the record does not have (nor miss one it has).

The transactions are written once, here, as generators in the sans-IO style: each `yield`s a
statement `(sql, params)` with `?` placeholders and receives the rows. A backend only drives
them: `sqlite_store` in a worker thread (`drive_sync`), `pg_store` with asyncpg
(`drive_async`). Numbers come from an upsert on a `(city, day)` counter row inside the create
transaction; the row lock (PostgreSQL) or the write lock (SQLite, BEGIN IMMEDIATE) orders
concurrent creators, so two writers never get the same sequence, across processes and restarts.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from incidents.numbering import check_city, incident_number, incident_uid

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Sql = tuple[str, tuple[Any, ...]]
Tx = Generator[Sql, Rows, T]
"""A transaction: yields statements, receives their rows, returns its result."""
Targets = Sequence[str]
MQTT: Targets = ("mqtt",)

MIGRATIONS = Path(__file__).parent / "migrations"
STATUSES = frozenset({"open", "classified", "dispatched", "transferred", "closed"})
PATCHABLE = frozenset(
    {"status", "category", "type", "severity", "summary", "location", "location_error"}
    | {"grid", "station", "county"}
)
_PLACE = ("grid", "station", "county")
_COLS = (
    "number, ng911_incident_uid, source, channel, caller, call_id, ng911_call_uid, opened_at, "
    "status, location, location_error, grid, station, county, category, type, severity, "
    "summary, updated_at, recordings"
)
_OUTBOX_COLS = "id, number, seq, kind, at, payload, attempts, last_error, target, state"


class StoreError(Exception):
    """A request the store cannot serve; `status_hint` is the HTTP status a shell answers."""

    def __init__(self, message: str, status_hint: int = 500) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True, kw_only=True)
class NewIncident:
    """What opens an incident (the 'opened' event carries all of it)."""

    source: str  # 'phone' | 'webrtc' | 'text' | 'walk-in' | 'tip'
    channel: str  # e.g. 'sip-trunk:carrier', 'rest'
    caller: str  # number, or '' when anonymous
    opened_at: float  # epoch seconds
    call_id: str = ""  # the engine's call id ('' for non-calls)
    ng911_call_uid: str = ""  # urn:emergency:uid:callid:...
    location: dict[str, Any] | None = None  # {lat, lon, radius_m, method, source, grid, ...}
    location_error: str = ""
    category: str = ""
    type: str = ""
    severity: int = 0
    summary: str = ""
    actor: str = "system"  # who opened it (the 'opened' event's actor)


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """The record as stored: its latest state."""

    number: str
    ng911_incident_uid: str
    source: str
    channel: str
    caller: str
    call_id: str
    ng911_call_uid: str
    opened_at: float
    status: str  # 'open' | 'classified' | 'dispatched' | 'transferred' | 'closed'
    location: dict[str, Any] | None
    location_error: str
    grid: str | None
    station: str | None
    county: str | None
    category: str
    type: str
    severity: int
    summary: str
    updated_at: float  # `at` of the latest event
    recordings: list[dict[str, Any]]  # {path, sha256, size, seconds, call_id}


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentEvent:
    """One entry of an incident's audit trail."""

    number: str
    seq: int  # 1.. per incident, gap-free, in append order
    kind: str  # 'opened', 'classified', 'recording', 'note', ...
    actor: str  # 'system', 'seat:seat7', 'officer:O07', a user name
    at: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One event waiting for (or done with) delivery to `target`."""

    id: int  # global append order (per incident, ids follow seq)
    number: str
    seq: int
    kind: str
    at: float
    payload: dict[str, Any]  # {"incident": snapshot after the event, "event": the event}
    attempts: int
    last_error: str
    target: str  # 'mqtt' by default
    state: str  # 'pending' | 'sent' | 'dead'


class Store(Protocol):
    """Both backends. Every method is async; every write is durable before it returns."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create(
        self, new: NewIncident, *, city: str, day: str, domain: str, targets: Targets = MQTT
    ) -> Incident: ...
    async def append(
        self,
        number: str,
        kind: str,
        actor: str,
        at: float,
        data: dict[str, Any],
        *,
        patch: dict[str, Any] | None = None,
        targets: Targets = MQTT,
    ) -> IncidentEvent: ...
    async def add_recording(
        self, number: str, recording: dict[str, Any], at: float, *, actor: str = "system"
    ) -> IncidentEvent: ...
    async def get(self, number: str) -> Incident | None: ...
    async def by_call(self, call_id: str) -> Incident | None: ...
    async def events(self, number: str, after_seq: int = 0) -> list[IncidentEvent]: ...
    async def query(
        self,
        *,
        station: str | None = None,
        county: str | None = None,
        grid: str | None = None,
        since: float | None = None,
        until: float | None = None,
        type: str | None = None,
        category: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Incident], int]: ...
    async def outbox_pending(
        self, limit: int = 100, *, target: str | None = None
    ) -> list[OutboxRow]: ...
    async def outbox_mark_sent(self, ids: list[int], at: float) -> None: ...
    async def outbox_failed(self, id: int, error: str, at: float, *, dead: bool) -> None: ...
    async def dead_letters(self, limit: int = 100) -> list[OutboxRow]: ...
    async def outbox_requeue(self, ids: list[int], at: float) -> None: ...


def open_store(url: str, **options: Any) -> SqlStore:
    """'sqlite:///abs/path.db' or 'sqlite:rel/path.db', or 'postgresql://user@host:port/db'."""
    if url.startswith("sqlite:"):
        from incidents.sqlite_store import SqliteStore

        path = url.removeprefix("sqlite:")
        path = "/" + path.lstrip("/") if path.startswith("//") else path
        if not path:
            raise StoreError(f"{url!r}: no database path", 400)
        return SqliteStore(path, **options)
    if url.startswith(("postgresql://", "postgres://")):
        from incidents.pg_store import PgStore

        return PgStore(url, **options)
    raise StoreError(f"{url!r}: not a sqlite: or postgresql:// URL", 400)


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


# ---- the Store API on top of the transactions -----------------------------------------------


class SqlStore(abc.ABC):
    """Serves the Store API by running the transactions above; a backend supplies `open`,
    `close` and `_run`."""

    id_column = ""  # the dialect's auto-increment primary key for migrations' @ID@

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and run pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def _run(self, tx: Tx[T], *, write: bool) -> T:
        """Run `tx` in one transaction, committed (durably) before this returns."""

    async def __aenter__(self) -> SqlStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def create(
        self, new: NewIncident, *, city: str, day: str, domain: str, targets: Targets = MQTT
    ) -> Incident:
        """A new incident numbered `<city>-<day>-<seq:06d>`, with its 'opened' event (seq 1)."""
        if new.location is not None and not isinstance(new.location, dict):
            raise StoreError("location must be an object or None", 400)
        if len(day) != 8 or not day.isdigit():
            raise StoreError(f"day {day!r} is not YYYYMMDD", 400)
        try:
            check_city(city)
            incident_uid("x", domain)  # checks the domain before any number is taken
        except ValueError as error:
            raise StoreError(str(error), 400) from None
        return await self._run(create_tx(new, city, day, domain, targets), write=True)

    async def append(
        self,
        number: str,
        kind: str,
        actor: str,
        at: float,
        data: dict[str, Any],
        *,
        patch: dict[str, Any] | None = None,
        targets: Targets = MQTT,
    ) -> IncidentEvent:
        """Append one event and apply `patch` (PATCHABLE keys) in one transaction."""
        columns = check_patch(patch or {})
        return await self._run(
            append_tx(number, kind, actor, at, data, columns, targets), write=True
        )

    async def add_recording(
        self, number: str, recording: dict[str, Any], at: float, *, actor: str = "system"
    ) -> IncidentEvent:
        """Append a 'recording' event (data = `recording`) and add it to `recordings`."""
        tx = append_tx(number, "recording", actor, at, recording, {}, MQTT, recording)
        return await self._run(tx, write=True)

    async def get(self, number: str) -> Incident | None:
        found = await self._run(select_tx(" WHERE number = ?", (number,)), write=False)
        return found[0] if found else None

    async def by_call(self, call_id: str) -> Incident | None:
        """The latest incident opened for an engine call id."""
        if not call_id:
            return None
        tail = " ORDER BY opened_at DESC, number DESC LIMIT 1"
        found = await self._run(select_tx(" WHERE call_id = ?", (call_id,), tail), write=False)
        return found[0] if found else None

    async def events(self, number: str, after_seq: int = 0) -> list[IncidentEvent]:
        """Events with seq > after_seq in order ([] for an unknown number)."""
        return await self._run(events_tx(number, after_seq), write=False)

    async def query(
        self,
        *,
        station: str | None = None,
        county: str | None = None,
        grid: str | None = None,
        since: float | None = None,
        until: float | None = None,
        type: str | None = None,
        category: str | None = None,
        status: str | None = None,
        caller: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Incident], int]:
        """One page of matching incidents, newest first, and how many match in all."""
        filters = dict(station=station, county=county, grid=grid, since=since, until=until)
        filters.update(type=type, category=category, status=status, caller=caller)
        return await self._run(query_tx(filters, limit, offset), write=False)

    async def outbox_pending(
        self, limit: int = 100, *, target: str | None = None
    ) -> list[OutboxRow]:
        """Unsent rows in id order (per incident that is seq order)."""
        return await self._run(outbox_tx("pending", limit, target), write=False)

    async def outbox_mark_sent(self, ids: list[int], at: float) -> None:
        sql = "UPDATE outbox SET state = 'sent', changed_at = ? WHERE state = 'pending' AND id IN "
        await self._run(outbox_set_tx(sql, (float(at),), ids), write=True)

    async def outbox_failed(self, id: int, error: str, at: float, *, dead: bool) -> None:
        """Count a failed attempt; `dead` moves the row to the dead letters (no longer pending).
        A row that is not pending (sent meanwhile, unknown) is left alone."""
        state = "'dead'" if dead else "state"
        sql = (
            f"UPDATE outbox SET attempts = attempts + 1, last_error = ?, changed_at = ?, "
            f"state = {state} WHERE state = 'pending' AND id IN "
        )
        await self._run(outbox_set_tx(sql, (error, float(at)), [id]), write=True)

    async def dead_letters(self, limit: int = 100) -> list[OutboxRow]:
        return await self._run(outbox_tx("dead", limit, None), write=False)

    async def outbox_requeue(self, ids: list[int], at: float) -> None:
        """Dead letters back to pending (an operator's retry from the API)."""
        sql = "UPDATE outbox SET state = 'pending', changed_at = ? WHERE state = 'dead' AND id IN "
        await self._run(outbox_set_tx(sql, (float(at),), ids), write=True)
