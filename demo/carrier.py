"""The simulated city's carrier: SIPp placing emergency calls on the trunk.

SIPp is the real thing a carrier test uses. This wrapper writes its working files (the
scenario with the hold times filled in, and the caller's voice as raw G.711 µ-law, made here so
no binary sits in the repository), runs it, and reads its statistics file at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import shlex
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from demo.tones import tone_ulaw

TONE_FILE = "tone_pcmu.raw"
LOCATIONS_FILE = "locations.csv"
_PIDF = """
      --h110bnd
      Content-Type: application/pidf+xml
      Content-ID: <loc-[call_number]-[pid]@carrier.invalid>

      <?xml version="1.0" encoding="UTF-8"?>
      <presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:gml="http://www.opengis.net/gml"
          xmlns:gs="http://www.opengis.net/pidflo/1.0"
          entity="sip:[$caller_prefix][call_number]@[local_ip]">
        <dm:device id="handset">
          <gp:geopriv>
            <gp:location-info>
              <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">
                <gml:pos>[field0] [field1]</gml:pos>
                <gs:radius uom="urn:ogc:def:uom:EPSG::9001">50</gs:radius>
              </gs:Circle>
            </gp:location-info>
            <gp:usage-rules/>
            <gp:method>Cell</gp:method>
          </gp:geopriv>
        </dm:device>
      </presence>
      --h110bnd--
"""
_BODY = (  # (marker, plain SDP, SDP with a PIDF-LO by value): the scenario's INVITE
    ("LOCATION_HEADERS\n", "", (
        "      Geolocation: <cid:loc-[call_number]-[pid]@carrier.invalid>\n"
        "      Geolocation-Routing: yes\n"
    )),
    ("Content-Type: CONTENT_TYPE", "Content-Type: application/sdp",
     "Content-Type: multipart/mixed; boundary=h110bnd"),
    ("BODY_HEAD\n", "", "      --h110bnd\n      Content-Type: application/sdp\n\n"),
    ("BODY_TAIL\n", "", _PIDF),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CarrierResult:
    returncode: int
    successful: int
    failed: int
    created: int


class Carrier:
    """One SIPp run placing calls at `rate` per second (all of `calls`, or until stopped)."""

    def __init__(
        self,
        *,
        workdir: Path,
        target: str,
        sip_port: int,
        media_port: int,
        control_port: int,
        rate: float,
        calls: int | None,
        hold_ms: tuple[int, int],
        called: str = "110",
        caller_prefix: str = "1390000",
        max_concurrent: int = 400,
        transport: str = "u1",
        extra_args: tuple[str, ...] = (),
        locations: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.workdir = workdir
        self.target = target
        self.sip_port = sip_port
        self.media_port = media_port
        self.control_port = control_port
        self.rate = rate
        self.calls = calls
        self.hold_ms = hold_ms
        self.called = called
        self.caller_prefix = caller_prefix
        self.extra_args = extra_args
        self.locations = tuple(locations)
        """(lat, lon) points the calls report, in turn, as a PIDF-LO (none: no location)."""
        """More SIPp options (e.g. traces a benchmark reads)."""
        self.max_concurrent = max_concurrent
        self.transport = transport
        self.stats_file = workdir / "carrier-stats.csv"
        self._process: asyncio.subprocess.Process | None = None

    def prepare(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tone = self.workdir / TONE_FILE
        if not tone.exists():
            tone_ulaw(tone)
        template = resources.files("demo").joinpath("scenarios/carrier_uac.xml").read_text()
        scenario = self.workdir / "carrier_uac.xml"
        low, high = self.hold_ms
        text = template.replace("HOLD_MIN_MS", str(low)).replace("HOLD_MAX_MS", str(max(low, high)))
        for marker, plain, located in _BODY:
            text = text.replace(marker, located if self.locations else plain)
        scenario.write_text(text)
        if self.locations:
            rows = "".join(f"{lat:.6f};{lon:.6f}\n" for lat, lon in self.locations)
            (self.workdir / LOCATIONS_FILE).write_text("SEQUENTIAL\n" + rows)
        return scenario

    async def start(self) -> None:
        scenario = self.prepare()
        with contextlib.suppress(FileNotFoundError):
            self.stats_file.unlink()
        args = [
            "sipp", self.target, "-sf", str(scenario), "-s", self.called,
            "-set", "caller_prefix", self.caller_prefix,
            "-i", "127.0.0.1", "-mi", "127.0.0.1",
            "-p", str(self.sip_port), "-mp", str(self.media_port), "-cp", str(self.control_port),
            "-t", self.transport,
            "-r", _rate(self.rate), "-rp", "1000", "-l", str(self.max_concurrent),
            "-nostdin", "-trace_stat", "-stf", str(self.stats_file), "-fd", "1",
            "-recv_timeout", "60000", "-nr",
        ]  # fmt: skip
        if self.calls is not None:
            args += ["-m", str(self.calls), "-timeout", f"{int(self.calls / self.rate) + 120}s"]
        if self.locations:
            args += ["-inf", LOCATIONS_FILE]
        args += self.extra_args
        (self.workdir / "command.txt").write_text(shlex.join(args) + "\n")
        self._log = (self.workdir / "carrier.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            *args,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    async def wait(self) -> CarrierResult:
        assert self._process is not None
        code = await self._process.wait()
        self._log.close()
        return self.result(code)

    async def stop(self) -> CarrierResult:
        """Stop placing calls; SIPp ends the calls in progress (SIGUSR1 = soft exit)."""
        if self._process is None:
            return CarrierResult(-1, 0, 0, 0)
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGUSR1)
            try:
                await asyncio.wait_for(self._process.wait(), 30.0)
            except TimeoutError:
                self._process.kill()
        return await self.wait()

    def result(self, code: int) -> CarrierResult:
        successful = failed = created = 0
        with contextlib.suppress(OSError, StopIteration, KeyError, ValueError):
            with self.stats_file.open(newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter=";"))
            last = rows[-1]
            successful = int(last["SuccessfulCall(C)"])
            failed = int(last["FailedCall(C)"])
            created = int(last["TotalCallCreated"])
        return CarrierResult(code, successful, failed, created)


def _rate(rate: float) -> str:
    return f"{rate:.3f}".rstrip("0").rstrip(".")
