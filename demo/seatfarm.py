"""A farm of simulated seat phones, driven from asyncio (the demo's call-takers; test seats).

`SeatFarm` starts one server process (`python -m demo.seatfarm --serve`) that imports pjsua2
once and forks the workers of `demo.seatphone` (3 seats each), so a hundred seats start in well
under a second and share their code pages. The server relays JSON lines: commands from us to
the right worker, events from every worker to us.

    async with SeatFarm(seats=100, sip_port_base=24400, rtp_port_base=28500, workdir=d) as farm:
        farm.contact("seat7")                    # sip:seat7@127.0.0.1:24402
        await farm.set_behaviour("seat7", answer="never")
        await farm.wait_event("seat7", "ended", 10)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from sip.lifetime import die_with_parent

RTP_PORTS_PER_WORKER = 12
START_TIMEOUT = 20.0


class SeatFarm:
    """N seat phones in worker processes (see the module docstring)."""

    def __init__(
        self,
        *,
        seats: int,
        first: int = 1,
        per_process: int = 3,
        sip_port_base: int,
        rtp_port_base: int,
        workdir: Path,
        answer_delay: tuple[float, float] = (0.2, 0.8),
        tone_hz: float = 880.0,
        record: bool = False,
    ) -> None:
        if not 1 <= per_process <= 3:
            raise ValueError("a worker holds 1 to 3 seats (pjsua2 allows 4 legs per process)")
        self.workdir = Path(workdir)
        self._ids = [f"seat{n}" for n in range(first, first + seats)]
        self._workers = [
            self._ids[index : index + per_process] for index in range(0, seats, per_process)
        ]
        self._port_of = {
            seat: sip_port_base + number
            for number, group in enumerate(self._workers)
            for seat in group
        }
        self._worker_of = {
            seat: number for number, group in enumerate(self._workers) for seat in group
        }
        self._config = {
            "workers": [
                {
                    "seats": group,
                    "sip_port": sip_port_base + number,
                    "rtp_port": rtp_port_base + number * RTP_PORTS_PER_WORKER,
                    "rtp_span": RTP_PORTS_PER_WORKER,
                    "workdir": str(self.workdir),
                    "answer_delay": list(answer_delay),
                    "tone_hz": tone_hz,
                    "record": record,
                }
                for number, group in enumerate(self._workers)
            ]
        }
        self.events: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pids: list[int] = []

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "demo.seatfarm", "--serve", json.dumps(self._config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        deadline = time.monotonic() + START_TIMEOUT
        while sum(1 for e in self.events if e["kind"] == "ready") < len(self._ids):
            if self._process.returncode is not None or any(
                e["kind"] == "worker-exit" for e in self.events
            ):
                raise RuntimeError(f"seat farm failed to start: {self.events[-3:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("seat farm not ready in time")
            await self._wait_change(0.5)

    async def stop(self) -> None:
        if self._process is None:
            return
        if self._process.returncode is None and self._process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self._process.stdin.close()  # the server stops its workers and exits
            try:
                await asyncio.wait_for(self._process.wait(), 10.0)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for pid in self._pids:  # anything the server could not stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def __aenter__(self) -> SeatFarm:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- queries and commands ------------------------------------------------------------

    def seat_ids(self) -> list[str]:
        return list(self._ids)

    def contact(self, seat_id: str) -> str:
        return f"sip:{seat_id}@127.0.0.1:{self._port_of[seat_id]}"

    def worker_pids(self) -> list[int]:
        return list(self._pids)

    async def set_behaviour(
        self,
        seat_id: str,
        *,
        answer: str | None = None,
        delay: tuple[float, float] | None = None,
        hangup_after: float | None = None,
        record: bool | None = None,
    ) -> None:
        """Change how a seat treats its next calls: answer auto|never|reject|busy, ..."""
        command: dict[str, Any] = {"cmd": "set", "seat": seat_id}
        if answer is not None:
            if answer not in ("auto", "never", "reject", "busy"):
                raise ValueError(f"answer must be auto, never, reject or busy, not {answer!r}")
            command["answer"] = answer
        if delay is not None:
            command["delay"] = list(delay)
        if hangup_after is not None:
            command["hangup_after"] = hangup_after
        if record is not None:
            command["record"] = record
        self._send(command)
        await self.wait_event(seat_id, "set", 5.0)

    async def hang_up(self, seat_id: str) -> None:
        """The call-taker hangs up the current call."""
        self._send({"cmd": "hangup", "seat": seat_id})

    async def wait_event(self, seat_id: str, kind: str, timeout: float) -> dict[str, Any]:
        """The oldest not yet taken event of that kind for that seat (waiting if needed)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if index not in self._taken and event["seat"] == seat_id and event["kind"] == kind:
                    self._taken.add(index)
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{seat_id}: no {kind!r} event in {timeout} s")
            await self._wait_change(left)

    # -- internals -----------------------------------------------------------------------

    def _send(self, command: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        command["worker"] = self._worker_of[command["seat"]]
        self._process.stdin.write(json.dumps(command).encode() + b"\n")

    async def _wait_change(self, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            event = json.loads(line)
            if event["kind"] == "worker-pid":
                self._pids.append(event["pid"])
                continue
            self.events.append(event)
            self._changed.set()
        self.events.append({"seat": "", "kind": "worker-exit", "at": time.monotonic()})
        self._changed.set()


# -- the server process ----------------------------------------------------------------------


def _serve(config: dict[str, Any]) -> None:
    """Fork the workers, relay commands and events, stop everything when stdin closes."""
    from demo.seatphone import tone_path, worker_main  # pjsua2 imported once, here
    from demo.tones import tone_wav

    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # events get their own descriptor: pjlib prints its start-up banner on fd 1
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    for spec in config["workers"]:
        tone = Path(tone_path(Path(spec["workdir"]), spec["tone_hz"]))
        if not tone.exists():
            tone_wav(tone, spec["tone_hz"])
    channels: dict[int, socket.socket] = {}
    pids: dict[int, int] = {}
    for number, spec in enumerate(config["workers"]):
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                ours.close()
                for other in channels.values():
                    other.close()
                die_with_parent()
                worker_main(spec, theirs)
            except BaseException as exc:  # report, then die: the parent sees worker-exit
                sys.stderr.write(f"seat worker {number} failed: {exc!r}\n")
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        channels[number] = ours
        pids[number] = pid
        out.write(json.dumps({"seat": "", "kind": "worker-pid", "pid": pid}).encode() + b"\n")
    out.flush()
    buffers = dict.fromkeys(channels, b"")
    stdin = sys.stdin.buffer.fileno()
    pending = b""
    open_channels = dict(channels)
    while open_channels:
        watch = [*open_channels.values(), *([stdin] if stdin >= 0 else [])]
        readable, _, _ = select.select(watch, [], [], 1.0)
        for number, channel in list(open_channels.items()):
            if channel not in readable:
                continue
            data = channel.recv(65536)
            if not data:
                del open_channels[number]
                exit_event = {"seat": "", "kind": "worker-exit", "worker": number}
                out.write(json.dumps(exit_event).encode() + b"\n")
                continue
            buffers[number] += data
            *lines, buffers[number] = buffers[number].split(b"\n")
            for line in lines:
                out.write(line + b"\n")
        out.flush()
        if stdin >= 0 and stdin in readable:
            data = os.read(stdin, 65536)
            if not data:
                for channel in open_channels.values():
                    with contextlib.suppress(OSError):
                        channel.sendall(b'{"cmd": "stop"}\n')
                stdin = -1
                continue
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                command = json.loads(line)
                target = open_channels.get(command.get("worker", -1))
                if target is not None:
                    target.sendall(line + b"\n")
    deadline = time.monotonic() + 5.0
    for pid in pids.values():
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


async def _foreground(args: Any) -> None:
    farm = SeatFarm(
        seats=args.seats,
        per_process=args.per_process,
        sip_port_base=args.sip_port_base,
        rtp_port_base=args.rtp_port_base,
        workdir=Path(args.workdir),
    )
    async with farm:
        print(f"{args.seats} seats up, e.g. {farm.contact(farm.seat_ids()[0])}; Ctrl-C to stop")
        seen = 0
        while True:
            await asyncio.sleep(0.5)
            for event in farm.events[seen:]:
                print(json.dumps(event))
            seen = len(farm.events)


def main() -> None:
    import argparse

    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        _serve(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description="simulated seat phones")
    parser.add_argument("--seats", type=int, default=10)
    parser.add_argument("--per-process", type=int, default=3)
    parser.add_argument("--sip-port-base", type=int, required=True)
    parser.add_argument("--rtp-port-base", type=int, required=True)
    parser.add_argument("--workdir", default="var/seats")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_foreground(parser.parse_args()))


if __name__ == "__main__":
    main()
