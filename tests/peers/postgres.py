"""A throwaway PostgreSQL 15 cluster for tests, from Debian's `postgresql-15` binaries.

`with Postgres(port) as pg:` runs initdb into a fresh directory under /tmp, starts the server on
127.0.0.1:`port` (trust auth, fsync off: a test cluster need not survive a power cut, only a
killed client), and on exit stops it (fast shutdown) and removes the directory.
`await pg.create_database()` gives each test its own empty database, so one cluster can serve a
whole session. PostgreSQL refuses to run as root, so when the tests run as root the server runs
as the `postgres` OS user; its directory lives in /tmp because pytest's tmp_path is private to
root. The server gets the parent-death signal, so a killed test run does not leave it running.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
_PR_SET_PDEATHSIG = 1
_names = itertools.count(1)


def available() -> bool:
    return (BIN / "postgres").exists()


class Postgres:
    """One cluster on 127.0.0.1:`port`; sync start/stop so a session fixture can own it."""

    def __init__(self, port: int, *, ready_timeout: float = 20.0, durable: bool = False) -> None:
        self.host = "127.0.0.1"
        self.durable = durable
        """True: fsync, full-page writes and synchronous commit on, as in production (the
        benchmarks); False: off, for fast tests."""
        self.port = port
        self.ready_timeout = ready_timeout
        self.dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        user = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self._uid, self._gid = user.pw_uid, user.pw_gid

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "postgres.log"

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def _durability(self) -> list[str]:
        value = "on" if self.durable else "off"
        names = ("fsync", "full_page_writes", "synchronous_commit")
        return [arg for name in names for arg in ("-c", f"{name}={value}")]

    def _as_postgres(self) -> None:
        # Runs in the child before exec. Drop root first: changing the uid clears the
        # parent-death signal (prctl(2)), so it is set afterwards.
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(self._gid)
            os.setuid(self._uid)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)

    def start(self) -> None:
        """initdb, start, and wait (at most ready_timeout) until it accepts connections."""
        self.dir = Path(tempfile.mkdtemp(prefix="hotline110-pg-"))
        os.chown(self.dir, self._uid, self._gid)
        data = self.dir / "data"
        initdb = subprocess.run(
            [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", *([] if self.durable else ["--no-sync"]), "--no-instructions"],
            capture_output=True, preexec_fn=self._as_postgres, cwd=self.dir, check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stdout!r} {initdb.stderr!r}")
        with self.log_path.open("ab") as log:
            os.chown(self.log_path, self._uid, self._gid)
            self._process = subprocess.Popen(
                [str(BIN / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
                 *self._durability(), "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir,
                preexec_fn=self._as_postgres,
            )  # fmt: skip
        deadline = time.monotonic() + self.ready_timeout
        while "ready to accept connections" not in self.log_text() or not self._accepts():
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited {self._process.returncode}:\n{self.log_text()}"
                )
            if time.monotonic() > deadline:
                log_text = self.log_text()
                self.stop()
                raise RuntimeError(f"postgres not ready on {self.port}:\n{log_text}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex((self.host, self.port)) == 0

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT), SIGKILL after `timeout`; then remove the directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    async def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import asyncpg

        name = name or f"t{os.getpid()}_{next(_names)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def __enter__(self) -> Postgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
