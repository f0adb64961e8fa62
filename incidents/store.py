"""The incident store: the interface both backends share (`SqlStore` over the SQL of
`incidents.transactions`, the types of `incidents.records`), and `open_store`.

Theory of operation. Every write is one database transaction that (1) changes the incident
row, (2) appends one event with the next per-incident `seq` and (3) adds one outbox row per
target carrying the incident snapshot after the event. Nothing is acknowledged before that
transaction commits, so a kill -9 right after a call returns loses nothing, and the outbox
relay can never see an event the record does not have (nor miss one it has).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from incidents.numbering import check_city, incident_uid
from incidents.records import (
    MQTT,
    Incident as Incident,
    IncidentEvent as IncidentEvent,
    NewIncident as NewIncident,
    OutboxRow as OutboxRow,
    Rows as Rows,
    StoreError as StoreError,
    T as T,
    Targets as Targets,
    Tx as Tx,
)
from incidents.transactions import (
    append_tx,
    check_patch,
    counts_tx,
    create_tx,
    drive_async as drive_async,
    drive_sync as drive_sync,
    events_tx,
    migrate_tx as migrate_tx,
    migrations as migrations,
    outbox_set_tx,
    outbox_tx,
    query_tx,
    select_tx,
)


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


# ---- the Store API -------------------------------------------------------------------------


class SqlStore(abc.ABC):
    """The Store API, both backends: every method is async, every write durable before it
    returns. It runs the transactions of `incidents.transactions`; a backend supplies `open`,
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
        incident, _ = await self.create_with(new, (), city=city, day=day, domain=domain,
                                             targets=targets)  # fmt: skip
        return incident

    async def create_with(
        self,
        new: NewIncident,
        then: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        city: str,
        day: str,
        domain: str,
        targets: Targets = MQTT,
    ) -> tuple[Incident, list[IncidentEvent]]:
        """`create`, and the events `then` ((kind, actor, data), at the opening's time) in the
        same transaction: all of them are stored, or none (a text conversation's opening)."""
        if new.location is not None and not isinstance(new.location, dict):
            raise StoreError("location must be an object or None", 400)
        if len(day) != 8 or not day.isdigit():
            raise StoreError(f"day {day!r} is not YYYYMMDD", 400)
        try:
            check_city(city)
            incident_uid("x", domain)  # checks the domain before any number is taken
        except ValueError as error:
            raise StoreError(str(error), 400) from None

        def tx() -> Tx[tuple[Incident, list[IncidentEvent]]]:
            incident = yield from create_tx(new, city, day, domain, targets)
            events = []
            for kind, actor, data in then:
                tx = append_tx(incident.number, kind, actor, new.opened_at, data, {}, targets)
                events.append((yield from tx))
            return incident, events

        return await self._run(tx(), write=True)

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

    async def counts(self, since: float) -> list[tuple[str | None, str, int]]:
        """(grid cell or None, status, how many) of the incidents opened since `since`."""
        return await self._run(counts_tx(since), write=False)

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


Store = SqlStore
"""What the engine holds: one API, two dialects (SQLite, PostgreSQL)."""
