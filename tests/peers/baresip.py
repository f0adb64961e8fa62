"""A real softphone for tests: baresip (Debian 1.0.0) as a call-taker's seat phone.

No sound card here: it speaks from a WAV file (`aufile`), plays into an unread in-process bridge
(`aubridge`), and the `sndfile` module dumps what it heard to WAV files, which is our evidence.
It is driven over `ctrl_tcp` (netstring-framed JSON commands and events).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from pathlib import Path
from typing import Any

from demo.tones import tone_wav


class BaresipPhone:
    """One baresip process with one account; `async with` starts and stops it."""

    def __init__(
        self,
        workdir: Path,
        *,
        user: str,
        sip_port: int,
        ctrl_port: int,
        rtp_ports: tuple[int, int],
        registrar: str = "",
        tone_hz: float = 1320.0,
    ) -> None:
        self.dir = workdir
        self.user = user
        self.sip_port = sip_port
        self.ctrl_port = ctrl_port
        self.rtp_ports = rtp_ports
        self.registrar = registrar
        self.tone_hz = tone_hz
        self.events: list[dict[str, Any]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._new_event = asyncio.Event()

    @property
    def recordings(self) -> list[Path]:
        """WAV dumps of the audio the phone received (one per call)."""
        return sorted((self.dir / "rec").glob("*-dec.wav"))

    def _write_config(self) -> None:
        (self.dir / "rec").mkdir(parents=True, exist_ok=True)
        tone = self.dir / "voice.wav"
        tone_wav(tone, self.tone_hz, seconds=30.0)
        low, high = self.rtp_ports
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "net_interface 127.0.0.1",
                    "dns_server 127.0.0.1:53",
                    "call_local_timeout 120",
                    "call_max_calls 4",
                    f"audio_player aubridge,{self.user}",
                    f"audio_alert aubridge,{self.user}-alert",
                    f"audio_source aufile,{tone}",
                    f"rtp_ports {low}-{high}",
                    "rtp_stats yes",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_tmp uuid.so",
                    "module_tmp account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"snd_path {self.dir / 'rec'}",
                    "",
                ]
            )
        )
        if self.registrar:
            aor = f"<sip:{self.user}@{self.registrar}>;regint=60;answermode=auto"
        else:
            aor = f"<sip:{self.user}@127.0.0.1:{self.sip_port}>;regint=0;answermode=auto"
        (self.dir / "accounts").write_text(f"{aor};audio_codecs=PCMU,PCMA\n")

    async def __aenter__(self) -> BaresipPhone:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._log = (self.dir / "baresip.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.dir),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )  # fmt: skip
        for _ in range(100):
            if self._process.returncode is not None:
                raise RuntimeError(f"baresip exited: {self.log()[-1500:]}")
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("baresip's ctrl_tcp did not open")
        self._pump = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self.command("quit", timeout=1.0)
            self._writer.close()
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 2.0)
            if self._process.returncode is None:
                self._process.send_signal(signal.SIGKILL)
                await self._process.wait()
        self._log.close()

    def kill(self) -> None:
        """Die like a crashed phone: SIGKILL, no BYE, no unregistration."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGKILL)

    def log(self) -> str:
        return (self.dir / "baresip.log").read_text(errors="replace")

    def rtp_packets(self) -> list[tuple[int, int]]:
        """(tx, rx) RTP packet counts baresip printed at the end of each call."""
        return [
            (int(tx), int(rx)) for tx, rx in re.findall(r"packets:\s+(\d+)\s+(\d+)", self.log())
        ]

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        assert self._writer is not None
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()
        return await asyncio.wait_for(self._responses.get(), timeout)

    async def wait_event(self, kind: str, timeout: float) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("type") == kind and not event.get("_taken"):
                    event["_taken"] = True
                    return event
            seen = len(self.events)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"baresip {self.user}: no {kind} in {timeout} s")
            self._new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_event.wait(), left)

    async def registered(self, timeout: float = 10.0) -> None:
        """Poll `reginfo` until the registrar accepted the phone."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            info = await self.command("reginfo")
            plain = re.sub(r"\x1b\[[0-9;]*m", "", str(info.get("data", "")))
            if re.search(r"\sOK\s", plain):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"baresip {self.user} did not register")

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            body = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # the netstring's trailing comma
            message = json.loads(body)
            if message.get("response"):
                self._responses.put_nowait(message)
            elif message.get("event"):
                self.events.append(message)
                self._new_event.set()
