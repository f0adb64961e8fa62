"""The production incident store: PostgreSQL through an asyncpg connection pool.

The transactions are the same as SQLite's (`incidents.store`); this module only turns their
`?` placeholders into `$n`, and runs each in one PostgreSQL transaction. Writes run at READ
COMMITTED: the create upsert locks the `(city, day)` counter row and an append's UPDATE locks
the incident row, so concurrent writers (many engines on one database) queue on exactly the
row they share. Reads (a page and its total count) run in one REPEATABLE READ snapshot.
A commit returns after the WAL is flushed (synchronous_commit on, the server default), so a
write is durable before its call returns.
"""

from __future__ import annotations

import functools
from typing import Any

import asyncpg

from incidents.store import Rows, SqlStore, StoreError, T, Tx, drive_async, migrate_tx

# Any constant: serializes migration runs of engines that start at the same moment.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(110110)"


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """`?` placeholders as `$1, $2, ...` (our statements never hold a literal '?')."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))


class PgStore(SqlStore):
    """The Store API on a PostgreSQL database (its schema is created on open)."""

    id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect the pool and apply pending migrations."""
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.min_size, max_size=self.max_size
            )
            await self._run(migrate_tx(self.id_column, _MIGRATION_LOCK), write=True)
        except (OSError, asyncpg.PostgresError) as error:
            await self.close()
            raise StoreError(f"PostgreSQL: {error}", 503) from error

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _run(self, tx: Tx[T], *, write: bool) -> T:
        if self._pool is None:
            tx.close()
            raise StoreError("the incident store is not open", 503)
        try:
            async with self._pool.acquire() as conn:

                async def execute(sql: str, params: tuple[Any, ...]) -> Rows:
                    return [tuple(row) for row in await conn.fetch(pg_sql(sql), *params)]

                if write:
                    async with conn.transaction():
                        return await drive_async(tx, execute)
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    return await drive_async(tx, execute)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # The server went away or refused: the write did not happen (or is unknown when
            # the connection broke during COMMIT); the caller answers 503 and may retry.
            tx.close()
            raise StoreError(f"PostgreSQL: {error}", 503) from error
