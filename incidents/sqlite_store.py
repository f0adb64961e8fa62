"""The embedded incident store: SQLite in WAL mode, driven from two worker threads.

sqlite3 blocks, so no call runs on the event loop: one thread owns the writing connection and
one the reading connection (each connection stays in the thread that made it). WAL lets the
reader see committed data while the writer works, and lets several processes (pool members)
share one file: a write transaction starts with BEGIN IMMEDIATE, so it takes the database's
write lock before it reads the number counter, and the busy timeout queues writers from other
processes instead of failing them. synchronous=FULL fsyncs the WAL at every commit, so a write
is on disk before its call returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from incidents.store import Rows, SqlStore, StoreError, T, Tx, drive_sync, migrate_tx


class SqliteStore(SqlStore):
    """The Store API on one SQLite file (created, with its directory, if missing)."""

    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"  # ids never reused, even after a delete

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._conns: dict[str, sqlite3.Connection] = {}  # 'w'/'r' -> used only by its thread

    def _connect(self, role: str) -> None:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conns[role] = conn

    def _close(self, role: str) -> None:
        conn = self._conns.pop(role, None)
        if conn is not None:
            conn.close()

    async def open(self) -> None:
        """Connect both threads and apply pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="incidents-sqlite-w")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="incidents-sqlite-r")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._connect, "w")
            await loop.run_in_executor(self._reader, self._connect, "r")
            await self._run(migrate_tx(self.id_column), write=True)
        except sqlite3.Error as error:
            await self.close()
            raise StoreError(f"{self.path}: {error}", 503) from error

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for role, pool in (("w", self._writer), ("r", self._reader)):
            if pool is not None:
                await loop.run_in_executor(pool, self._close, role)
                pool.shutdown(wait=True)
        self._writer = self._reader = None

    async def _run(self, tx: Tx[T], *, write: bool) -> T:
        pool = self._writer if write else self._reader
        if pool is None:
            tx.close()
            raise StoreError("the incident store is not open", 503)
        return await asyncio.get_running_loop().run_in_executor(
            pool, self._transaction, tx, "w" if write else "r"
        )

    def _transaction(self, tx: Tx[T], role: str) -> T:
        conn = self._conns[role]

        def execute(sql: str, params: tuple[Any, ...]) -> Rows:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

        # IMMEDIATE: take the write lock now, not at the first write, so two processes never
        # read the same counter value and then collide (or deadlock on the lock upgrade).
        try:
            conn.execute("BEGIN IMMEDIATE" if role == "w" else "BEGIN")
            result = drive_sync(tx, execute)
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):  # locked past the timeout, disk full, I/O
                raise StoreError(f"{self.path}: {error}", 503) from error
            raise
        return result
