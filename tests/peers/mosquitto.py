"""A real MQTT broker for tests: Debian's Mosquitto 2.0 as a child process on 127.0.0.1.

Each instance has its own config file and log in its workdir and listens on one port of the
test's block, so tests never share a broker. It can be stopped and started again on the same
port (outage tests). Its log file (appended across restarts, with our own stderr lines for
errors it prints before logging starts) lets `log_text()` tell the whole story in an assertion.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

MOSQUITTO = "/usr/sbin/mosquitto"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # A broker whose test process died must not keep its port (REAL-PEERS rule 4).
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mosquitto does
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Mosquitto:
    """One broker on 127.0.0.1:`port`; `async with` starts it and always stops it.

    `extra_config` lines are appended to the generated config (e.g. ``max_inflight_messages 1``
    or a second ``listener``), so later tests can shape the broker without a new helper.
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        *,
        extra_config: Sequence[str] = (),
        executable: str = MOSQUITTO,
        ready_timeout: float = 5.0,
    ) -> None:
        self.dir = workdir
        self.port = port
        self.host = "127.0.0.1"
        self.config = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.extra_config = tuple(extra_config)
        self.executable = executable
        self.ready_timeout = ready_timeout
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence false",
            # Stay whoever started the test: dropping root to `mosquitto` would clear the
            # parent-death signal (prctl(2)) and leave an orphan holding the port.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            # Mosquitto flushes its log file on every line; stdout to a file is block-buffered.
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            *self.extra_config,
        ]
        self.config.write_text("\n".join(lines) + "\n")

    async def start(self) -> None:
        """Start the broker (again) and wait until the port accepts TCP, at most ready_timeout."""
        if self.running:
            raise RuntimeError(f"mosquitto on {self.port} is already running")
        # Otherwise the readiness probe below could be answered by whoever holds the port.
        if not _free(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use; mosquitto not started")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"--- start #{self.starts + 1} ---\n".encode())
        self._log.flush()
        self._process = await asyncio.create_subprocess_exec(
            self.executable, "-c", str(self.config),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self._process.returncode is not None:
                raise RuntimeError(
                    f"mosquitto exited {self._process.returncode}:\n{self.log_text()}"
                )
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 1.0
                )
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(
                        f"mosquitto not accepting on {self.port} after {self.ready_timeout} s:\n"
                        f"{self.log_text()}"
                    ) from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait at most `timeout`, then SIGKILL. The port is free when this returns."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), timeout)

    def log_text(self) -> str:
        """The broker's log so far (all starts), for assertion messages."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def __aenter__(self) -> Mosquitto:
        try:
            await self.start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
