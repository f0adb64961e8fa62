"""SIPp as the carrier in tests: one call (or a few) with a chosen scenario, traced."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from demo.carrier import Carrier
from demo.tones import tone_ulaw
from tests.peers.ports import PortBlock

SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass(frozen=True, slots=True)
class SippRun:
    returncode: int
    messages: str
    """SIPp's -trace_msg log: every message sent and received."""

    def received(self, first_line: str) -> list[str]:
        """Received messages whose first line starts with `first_line` (e.g. 'SIP/2.0 503')."""
        found = []
        for block in self.messages.split("----------------------------------------------- ")[1:]:
            lines = block.split("\n", 2)  # date, "UDP message received [n] bytes :", message
            if len(lines) < 3 or "message received" not in lines[1]:
                continue
            body = lines[2].lstrip("\r\n ")
            if body.startswith(first_line):
                found.append(body)
        return found


class SippCall:
    """A SIPp run against the trunk; `start()` then `await finish()`."""

    def __init__(
        self,
        workdir: Path,
        ports: PortBlock,
        instance: int,
        *,
        scenario: str = "carrier",
        calls: int = 1,
        rate: float = 10.0,
        hold_ms: int = 2000,
        expect_status: int = 0,
        source_ip: str = "127.0.0.1",
        transport: str = "u1",
        caller_prefix: str = "1380000",
        timeout_s: int = 60,
        replacements: dict[str, str] | None = None,
    ) -> None:
        self.dir = workdir / f"sipp{instance}"
        self.dir.mkdir(parents=True, exist_ok=True)
        tone_ulaw(self.dir / "tone_pcmu.raw")
        sip, control, media = ports.sipp(instance)
        self.media_port = media
        self.trace = self.dir / "messages.log"
        if scenario == "carrier":
            carrier = Carrier(
                workdir=self.dir, target="", sip_port=sip, media_port=media, control_port=control,
                rate=rate, calls=calls, hold_ms=(hold_ms, hold_ms),
            )  # fmt: skip
            path = carrier.prepare()
        else:
            path = self.dir / f"{scenario}.xml"
            text = (SCENARIOS / f"{scenario}.xml").read_text()
            for old, new in {"EXPECTED_STATUS": str(expect_status), **(replacements or {})}.items():
                text = text.replace(old, new)
            path.write_text(text)
        self.args = [
            shutil.which("sipp") or "sipp", f"127.0.0.1:{ports.trunk}", "-sf", str(path),
            "-s", "110", "-set", "caller_prefix", caller_prefix,
            "-i", source_ip, "-mi", source_ip, "-p", str(sip), "-mp", str(media),
            "-cp", str(control), "-t", transport, "-m", str(calls), "-r", str(rate), "-rp", "1000",
            "-nostdin", "-timeout", f"{timeout_s}s", "-timeout_error", "-nr",
            "-trace_msg", "-message_file", str(self.trace),
        ]  # fmt: skip
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> SippCall:
        self._process = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def finish(self, timeout: float = 90.0) -> SippRun:
        assert self._process is not None
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        finally:
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
        messages = ""
        with contextlib.suppress(OSError):
            messages = self.trace.read_text(errors="replace")
        return SippRun(self._process.returncode or 0, messages)

    async def run(self, timeout: float = 90.0) -> SippRun:
        await self.start()
        return await self.finish(timeout)
