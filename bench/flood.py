"""Benchmark: overload. SIPp offers twice the calls the pool can hold, and every call must end
in a known outcome: answered and completed, or refused cleanly with 503 and Retry-After.

Capacity is `pool_size / hold` calls per second (each call holds its pool member for `hold` s
after the answer). One run has two phases, each with a fresh engine (so its /api/status and
/metrics count that phase only) over the same pjsua2 seat farm:

    baseline  `--baseline-factor` x capacity (default 0.5)
    flood     `--factor` x capacity (default 2) for `--seconds` (default 60)

From the caller's side (SIPp, bench/scenarios/flood_uac.xml, one <log> line per call) every call
is counted as: completed (200, held, BYE, 200); refused with 503 + Retry-After, split by who
refused by the reason phrase (the front's own: "No Free Line" = no idle member, "Overloaded" =
ratelimit, "Flood Control" = pike; the engine's: the pool member's 503 relayed by the front as
"Service Unavailable"); 486/480 (counted apart); or failed (a 503 without Retry-After, a call cut
short by a BYE from the centre, any other status, a timeout, an unexpected message). Failed
calls are described one by one from SIPp's message trace and the engine's call records.
The engine's own view is read over HTTP (/api/status, /metrics) and from the Kamailio log.

Run by hand (about 2 x (seconds + hold + 10) s):

    .venv/bin/python bench/flood.py [--pool-size 24] [--warm 8] [--hold 6] [--seconds 60]
        [--factor 2] [--baseline-factor 0.5] [--seats 24] [--wrap-up 0.5] [--acd KEY=VALUE]

Prints a Markdown report for bench/RESULTS.md; SIPp's traces, the engine log and Kamailio's log
stay in --out (default: a new /tmp/h110-flood-* directory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from demo.carrier import Carrier
from demo.seatfarm import SeatFarm
from engine.app import Engine
from engine.settings import (
    AccessSettings,
    AcdSettings,
    FrontSettings,
    HttpSettings,
    PoolSettings,
    SeatSettings,
    Settings,
    TrunkSettings,
)
from tests.access import AUTH, access_file

SCENARIO = Path(__file__).parent / "scenarios" / "flood_uac.xml"
FRONT_PHRASES = {
    "No Free Line": "front: no free member",
    "Overloaded": "front: ratelimit",
    "Flood Control": "front: pike",
}
ENGINE_PHRASES = {"Service Unavailable": "engine: ACD admission"}
FRONT_LOG = {
    "no idle pool member": "no free member",
    "ratelimit: INVITE rate": "ratelimit",
    "pike: request flood": "pike",
}
SEPARATOR = "----------------------------------------------- "


# -- SIPp -----------------------------------------------------------------------------------


class FloodCarrier(Carrier):
    """demo.carrier.Carrier with the flood scenario and SIPp's per-call traces switched on.

    Carrier writes the working directory and the caller's voice, and reads the statistics
    file; this adds the outcome log (<log> actions), the message trace and the call-debug
    trace of aborted calls, which Carrier's own command line does not ask for."""

    def __init__(self, *, hold_s: float, workdir: Path, **kwargs: Any) -> None:
        hold_ms = int(hold_s * 1000)
        self.outcomes_file = workdir / "outcomes.log"
        self.messages_file = workdir / "messages.log"
        self.calldebug_file = workdir / "calldebug.log"
        self.errors_file = workdir / "errors.log"
        traces = (
            "-trace_logs", "-log_file", str(self.outcomes_file),
            "-trace_msg", "-message_file", str(self.messages_file),
            "-trace_calldebug", "-calldebug_file", str(self.calldebug_file),
            "-trace_err", "-error_file", str(self.errors_file),
        )  # fmt: skip
        super().__init__(hold_ms=(hold_ms, hold_ms), workdir=workdir, extra_args=traces, **kwargs)

    def prepare(self) -> Path:
        super().prepare()  # working directory and tone_pcmu.raw
        scenario = self.workdir / SCENARIO.name
        scenario.write_text(SCENARIO.read_text().replace("HOLD_MS", str(self.hold_ms[0])))
        return scenario

    async def start(self) -> None:
        for old in (self.outcomes_file, self.messages_file, self.calldebug_file):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        await super().start()


@dataclasses.dataclass
class SipMessage:
    at: float
    sent: bool
    first_line: str
    call_id: str
    cseq: str
    headers: str


def read_messages(path: Path) -> dict[str, list[SipMessage]]:
    """SIPp's -trace_msg file, grouped by Call-ID, in order."""
    calls: dict[str, list[SipMessage]] = {}
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace")
        for block in text.split(SEPARATOR)[1:]:
            stamp, _, rest = block.partition("\n")
            direction, _, message = rest.partition("\n")
            message = message.lstrip("\r\n ")
            try:
                at = datetime.datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            except ValueError:
                continue
            head = message.split("\n\n", 1)[0].split("\r\n\r\n", 1)[0]
            call_id = _header(head, "Call-ID")
            if not call_id:
                continue
            calls.setdefault(call_id, []).append(
                SipMessage(
                    at=at,
                    sent="sent" in direction,
                    first_line=message.split("\n", 1)[0].strip(),
                    call_id=call_id,
                    cseq=_header(head, "CSeq"),
                    headers=head,
                )
            )
    return calls


def _header(head: str, name: str) -> str:
    found = re.search(rf"^{name}\s*:\s*(.*?)\s*$", head, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else ""


@dataclasses.dataclass(frozen=True)
class Outcome:
    number: int
    call_id: str
    kind: str  # completed | cut-short | rejected
    status: int
    retry_after: str
    phrase: str


def read_outcomes(path: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("OUTCOME|"):
                continue
            _, number, call_id, kind, status, retry, phrase = line.split("|", 6)
            outcomes[call_id] = Outcome(
                int(number), call_id, kind, int(status or 0), retry.strip(), phrase.strip()
            )
    return outcomes


# -- the machine's and the process tree's CPU ---------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def cpu_by_part() -> dict[str, float]:
    """CPU seconds so far of this process and every descendant, grouped by what it is.

    A descendant that has exited and been reaped counts in its parent's cutime/cstime (the
    fork server reaps pool members, Kamailio its workers; we reap SIPp and the fork server)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    me = os.times()
    parts: dict[str, float] = {}
    parts["engine + this script (one process)"] = me.user + me.system
    parts["SIPp (exited children)"] = me.children_user + me.children_system
    for child in children.get(os.getpid(), []):
        command = _cmdline(child)
        label = (
            "Kamailio front" if "kamailio" in command
            else "pool (fork server + members)" if "zygote" in command
            else "seat phones (pjsua2 farm)" if "seatfarm" in command
            else "SIPp" if "sipp" in command
            else "other"
        )  # fmt: skip
        stack = [child]
        while stack:
            pid = stack.pop()
            fields = _stat_fields(pid)
            if fields:
                used = sum(int(value) for value in fields[11:15]) / tick
                parts[label] = parts.get(label, 0.0) + used
            stack.extend(children.get(pid, []))
    return parts


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


# -- one phase ------------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    name: str
    factor: float
    rate: float
    offered: int = 0
    created: int = 0
    completed: int = 0
    no_call_taker: int = 0
    refused: Counter[str] = dataclasses.field(default_factory=Counter)
    busy_or_unavailable: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: list[str] = dataclasses.field(default_factory=list)
    failure_kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    caller_answer_ms: list[float] = dataclasses.field(default_factory=list)
    caller_refusal_ms: list[float] = dataclasses.field(default_factory=list)
    status: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    front_log: Counter[str] = dataclasses.field(default_factory=Counter)
    restarts: int = 0
    sipp_rc: int = 0
    sipp_failed: int = 0
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    machine_busy_cores: float = 0.0
    seconds: float = 0.0
    peak_busy: int = 0
    peak_queue: int = 0
    min_warm: int = 10**9
    drain_s: list[float] = dataclasses.field(default_factory=list)
    """Pool slots seen DRAINING: call ended -> the slot's next state (member exited)."""
    up_at_refusal: list[int] = dataclasses.field(default_factory=list)
    """Front refusals: calls up at that moment, from the caller's side."""

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def front_refused(self) -> int:
        return sum(n for who, n in self.refused.items() if who.startswith("front"))

    @property
    def engine_refused(self) -> int:
        return sum(n for who, n in self.refused.items() if not who.startswith("front"))


def _fmt(values: list[float], q: float, digits: int) -> str:
    return "-" if not values else f"{_percentile(values, q):.{digits}f}"


def _ms(seconds: list[float], q: float) -> str:
    return "-" if not seconds else f"{_percentile(seconds, q) * 1000:.0f}"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


def flat_metrics(text: str) -> dict[str, float]:
    """Every sample as 'name{label="v",...}' -> value."""
    flat: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            flat[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return flat


def metric_sum(metrics: dict[str, float], prefix: str, **labels: str) -> float:
    total = 0.0
    for key, value in metrics.items():
        name, _, rest = key.partition("{")
        if name != prefix:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


class Layout:
    """Ports of one phase, all on 127.0.0.1 and below 32768."""

    def __init__(self, base: int, pool_size: int) -> None:
        self.trunk, self.internal, self.rpc, self.http = base, base + 2, base + 4, base + 6
        self.sipp_sip, self.sipp_control, self.sipp_media = base + 20, base + 21, base + 30
        self.pool_sip = base + 100
        self.pool_rtp = self.pool_sip + pool_size + 10
        self.end = self.pool_rtp + pool_size * PoolSettings().rtp_ports_per_member

    def ports(self) -> range:
        return range(self.trunk, self.end)


def busy_port(ports: range) -> int | None:
    """The first port of `ports` something holds (UDP or TCP), else None."""
    for port in ports:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    return port
    return None


def free_layout(start: int, pool_size: int) -> Layout:
    """A phase's ports from `start`, moved up past anything in use (other test runs on this
    machine take random blocks of ports below 32768 too)."""
    base = start
    while True:
        layout = Layout(base, pool_size)
        if layout.end >= 32768:
            sys.exit(f"no free block of ports from {start} below 32768")
        taken = busy_port(layout.ports())
        if taken is None:
            return layout
        base = taken + 1


def acd_settings(args: argparse.Namespace) -> AcdSettings:
    """The ACD settings: wrap-up from --wrap-up, anything else from --acd KEY=VALUE (checked
    against whatever AcdSettings has today, so new admission settings need no change here)."""
    changes: dict[str, Any] = {"wrap_up": args.wrap_up}
    fields = {f.name: f for f in dataclasses.fields(AcdSettings)}
    defaults = AcdSettings()
    for item in args.acd:
        key, _, value = item.partition("=")
        if key not in fields:
            sys.exit(f"--acd {key}: unknown (AcdSettings has {', '.join(sorted(fields))})")
        kind = type(getattr(defaults, key))
        if kind not in (bool, int, float, str):
            sys.exit(f"--acd {key}: only numbers, strings and booleans can be set here")
        changes[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return dataclasses.replace(defaults, **changes)


def describe_acd(acd: AcdSettings) -> str:
    """The ACD settings that differ from the defaults, and the admission ones in any case."""
    defaults = AcdSettings()
    shown = [
        f"{f.name}={getattr(acd, f.name)}"
        for f in dataclasses.fields(acd)
        if getattr(acd, f.name) != getattr(defaults, f.name)
        or f.name in ("max_waiting", "retry_after", "default_handle_time")
    ]
    for queue in getattr(acd, "queues", ()):
        if hasattr(queue, "max_expected_wait"):
            shown.append(f"queue {queue.name} max_expected_wait={queue.max_expected_wait}")
    return ", ".join(shown) + " (others at their defaults)"


async def run_phase(
    phase: Phase, farm: SeatFarm, args: argparse.Namespace, start: int, work: Path
) -> Phase:
    layout = free_layout(start, args.pool_size)
    seats = tuple(
        SeatSettings(id=s, contact=farm.contact(s), agent=f"a-{s}", ready=True)
        for s in farm.seat_ids()
    )
    settings = Settings(
        state_dir=str(work / f"engine-{phase.name}"),
        log_level="INFO",
        trunk=TrunkSettings(port=layout.trunk),
        front=FrontSettings(
            internal_port=layout.internal, rpc_port=layout.rpc,
            invite_rate=args.invite_rate, per_source_rate=args.per_source_rate,
        ),
        pool=PoolSettings(
            size=args.pool_size, warm=args.warm,
            sip_port_base=layout.pool_sip, rtp_port_base=layout.pool_rtp,
        ),
        acd=acd_settings(args),
        http=HttpSettings(port=layout.http),
        access=AccessSettings(users=str(access_file(work / f"access-{phase.name}.toml"))),
        seats=seats,
    )  # fmt: skip
    engine = Engine(settings)
    await engine.start()
    runner = asyncio.create_task(engine.run())
    http = f"http://127.0.0.1:{layout.http}"
    calls = round(phase.rate * args.seconds)
    carrier = FloodCarrier(
        workdir=work / f"sipp-{phase.name}", target=f"127.0.0.1:{layout.trunk}",
        sip_port=layout.sipp_sip, media_port=layout.sipp_media,
        control_port=layout.sipp_control, rate=phase.rate, calls=calls, hold_s=args.hold,
        max_concurrent=max(400, calls),
    )  # fmt: skip
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, headers=AUTH) as session:

            async def get_status() -> dict[str, Any]:
                async with session.get(f"{http}/api/status") as response:
                    status: dict[str, Any] = await response.json()
                    return status

            deadline = time.monotonic() + 30
            while True:  # the warm reserve started, every seat ready
                status = await get_status()
                if status["pool_warm"] >= args.warm and status["seats_ready"] == len(seats):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"engine not ready: {status}")
                await asyncio.sleep(0.2)
            cpu_before, busy_before, started = cpu_by_part(), machine_busy(), time.monotonic()
            await carrier.start()
            waiter = asyncio.create_task(carrier.wait())
            last: dict[int, tuple[str, float, Any]] = {}  # slot -> (state, since, member)
            while not waiter.done():  # sample the engine's view while SIPp runs
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    status = await get_status()
                    phase.peak_busy = max(phase.peak_busy, status["pool_busy"])
                    phase.peak_queue = max(phase.peak_queue, status["queued"])
                    phase.min_warm = min(phase.min_warm, status["pool_warm"])
                    async with session.get(f"{http}/api/pool") as response:
                        slots = await response.json()
                    for slot in slots:
                        now = (slot["state"], slot["since"], slot["member_id"])
                        before = last.get(slot["slot"])
                        if before and before[0] == "draining" and now[2] != before[2]:
                            # the draining member exited; the slot's next state began since
                            phase.drain_s.append(now[1] - before[1])
                        last[slot["slot"]] = now
                await asyncio.wait({waiter}, timeout=0.25)
            result = waiter.result()
            deadline = time.monotonic() + 30
            while (await get_status())["active"] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            phase.seconds = time.monotonic() - started
            cpu_after, busy_after = cpu_by_part(), machine_busy()
            await asyncio.sleep(1.5)  # the front's statistics are cached for a second
            phase.status = await get_status()
            async with session.get(f"{http}/metrics") as response:
                text = await response.text()
            phase.metrics = flat_metrics(text)
            (work / f"metrics-{phase.name}.txt").write_text(text)
            (work / f"status-{phase.name}.json").write_text(json.dumps(phase.status, indent=1))
            with contextlib.suppress(Exception):
                front_stats = await engine.front.statistics()
                (work / f"front-stats-{phase.name}.json").write_text(
                    json.dumps(front_stats, indent=1)
                )
        phase.cpu = {
            part: cpu_after.get(part, 0.0) - cpu_before.get(part, 0.0)
            for part in sorted(set(cpu_before) | set(cpu_after))
        }
        busy = busy_after[0] - busy_before[0]
        total = busy_after[1] - busy_before[1]
        phase.machine_busy_cores = (os.cpu_count() or 1) * busy / total if total else 0.0
        phase.restarts = engine.pool.core.restarts
        phase.sipp_rc, phase.sipp_failed = result.returncode, result.failed
        phase.created = result.created
        records = {r.sip_call_id: r for r in list(engine.router.finished)}
        records.update({r.sip_call_id: r for r in engine.router.calls.values()})
        await asyncio.sleep(0.5)  # SIPp's last <log> lines are flushed at exit; be sure
        tally(phase, carrier, records, calls)
        front_log = Path(settings.state_dir) / "front" / "kamailio.log"
        with contextlib.suppress(OSError):
            for line in front_log.read_text(errors="replace").splitlines():
                for needle, what in FRONT_LOG.items():
                    if needle in line:
                        phase.front_log[what] += 1
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await engine.stop()
    return phase


def tally(phase: Phase, carrier: FloodCarrier, records: dict[str, Any], calls: int) -> None:
    """Give every call SIPp placed one outcome, from the caller's side."""
    outcomes = read_outcomes(carrier.outcomes_file)
    sipp_errors = ""
    with contextlib.suppress(OSError):
        sipp_errors = carrier.errors_file.read_text(errors="replace")
    messages = read_messages(carrier.messages_file)
    placed = [
        call_id
        for call_id, trace in messages.items()
        if any(m.sent and m.first_line.startswith("INVITE ") for m in trace)
    ]
    phase.offered = len(placed)
    spans: list[tuple[float, float]] = []  # completed calls: INVITE -> their last message
    front_refusals: list[float] = []
    if phase.offered != calls or phase.created != calls:
        phase.failures.append(
            f"SIPp placed {phase.offered} INVITEs (stats: {phase.created} calls created), "
            f"asked for {calls}"
        )
        phase.failure_kinds["calls not placed"] += abs(calls - phase.offered)
    for call_id in placed:
        trace = messages[call_id]
        invite_at = next(m.at for m in trace if m.sent and m.first_line.startswith("INVITE "))
        final = next(
            (
                m
                for m in trace
                if not m.sent
                and m.cseq.endswith("INVITE")
                and re.match(r"SIP/2\.0 [2-6]\d\d", m.first_line)
            ),
            None,
        )
        outcome = outcomes.get(call_id)
        problem = ""
        if outcome is None:
            problem = "no outcome (SIPp aborted the call)"
        elif outcome.kind == "completed":
            phase.completed += 1
            spans.append((invite_at, trace[-1].at))
            record = records.get(call_id)
            if record is None or record.answered_at is None:
                phase.no_call_taker += 1  # held on the queue announcement, then hung up
            if final is not None:
                phase.caller_answer_ms.append((final.at - invite_at) * 1000)
        elif outcome.kind == "cut-short":
            problem = "answered, then cut short by a BYE from the centre"
        elif outcome.status == 503 and outcome.retry_after:
            who = FRONT_PHRASES.get(outcome.phrase) or ENGINE_PHRASES.get(
                outcome.phrase, f"503 '{outcome.phrase}'"
            )
            phase.refused[who] += 1
            if who.startswith("front"):
                front_refusals.append(invite_at)
            if final is not None:
                phase.caller_refusal_ms.append((final.at - invite_at) * 1000)
        elif outcome.status == 503:
            problem = f"503 '{outcome.phrase}' without Retry-After"
        else:
            phase.busy_or_unavailable[f"{outcome.status} {outcome.phrase}"] += 1
        if problem:
            phase.failure_kinds[problem.split(" (")[0]] += 1
            said = [
                line.split(": ", 1)[-1][:200]
                for line in sipp_errors.splitlines()
                if call_id in line and "jumping to label" not in line
            ]
            if said:
                problem += f" (SIPp: {' / '.join(said)})"
            phase.failures.append(describe(call_id, problem, trace, invite_at, records))
    phase.up_at_refusal = [sum(a <= at <= b for a, b in spans) for at in front_refusals]
    with contextlib.suppress(OSError):
        debug = carrier.calldebug_file.read_text(errors="replace").strip()
        if debug:
            (carrier.workdir / "calldebug-copy.log").write_text(debug)


def describe(
    call_id: str, problem: str, trace: list[SipMessage], t0: float, records: dict[str, Any]
) -> str:
    steps = ", ".join(
        f"{'>' if m.sent else '<'}{m.first_line.split(' sip:')[0].replace('SIP/2.0 ', '')}"
        f"@{(m.at - t0) * 1000:.0f}ms"
        for m in trace
    )
    record = records.get(call_id)
    engine = (
        "engine: never offered (no CallOffered)"
        if record is None
        else f"engine: outcome={record.outcome or 'in progress'} reason={record.reason!r} "
        f"announced={record.announced_at is not None} seat={record.seat_id or '-'} "
        f"rings={[(seat, what) for _, seat, what in record.rings]}"
    )
    return f"{call_id}: {problem}; SIP: {steps}; {engine}"


# -- the report ------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory = f"{kib / 2**20:.0f} GiB"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = []
    for command in (["kamailio", "-v"], ["sipp", "-v"]):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            found = re.search(r"(kamailio \S+|SIPp v\S+)", done.stdout + done.stderr)
            if found:
                versions.append(found.group(1).rstrip(",."))
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions.append(f"pjsua2-python {importlib.metadata.version('pjsua2-python')}")
    return (
        f"{os.cpu_count()} CPU ({model}), {memory}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {', '.join(versions)}; load average at start {load}"
    )


def report(phases: list[Phase], args: argparse.Namespace, capacity: float, out: Path) -> str:
    lines = []
    header = (
        "| phase | x capacity | calls/s | offered | completed | of which no call-taker "
        "| refused 503+RA | by front "
        "| by engine ACD | 486/480 | failed | pool crashes | engine answer p50 ms | p99 ms "
        "| within 3 s | peak busy members | peak queue |"
    )
    lines += [header, header_rule(header)]
    for p in phases:
        s = p.status
        lines.append(
            f"| {p.name} | {p.factor:g} | {p.rate:g} | {p.offered} | {p.completed} "
            f"| {p.no_call_taker} "
            f"| {p.refused_total} | {p.front_refused} | {p.engine_refused} "
            f"| {sum(p.busy_or_unavailable.values())} | {p.failed} | {p.restarts} "
            f"| {s.get('p50_answer_ms', '-')} | {s.get('p99_answer_ms', '-')} "
            f"| {s.get('within_3s', '-')} | {p.peak_busy} | {p.peak_queue} |"
        )
    lines.append("")
    lines.append("Caller's side (SIPp), per phase:")
    for p in phases:
        refusals = ", ".join(f"{who} {n}" for who, n in sorted(p.refused.items())) or "none"
        lines.append(
            f"- {p.name}: INVITE->200 p50 {_fmt(p.caller_answer_ms, 0.5, 0)} ms, "
            f"p99 {_fmt(p.caller_answer_ms, 0.99, 0)} ms; INVITE->503 p50 "
            f"{_fmt(p.caller_refusal_ms, 0.5, 1)} ms, p99 "
            f"{_fmt(p.caller_refusal_ms, 0.99, 1)} ms; refusals by reason phrase: "
            f"{refusals}; 486/480: {dict(p.busy_or_unavailable) or 'none'}; SIPp exit "
            f"{p.sipp_rc}, its own failed-call count {p.sipp_failed}"
        )
    lines.append("")
    lines.append("Engine's side (/api/status, /metrics, Kamailio log), per phase:")
    for p in phases:
        m, s = p.metrics, p.status
        failed_by = {
            key.split('reason="')[1].split('"')[0]: int(v)
            for key, v in m.items()
            if key.startswith("hotline110_calls_failed_total{") and v
        }
        five = {"class": "5xx"}
        lines.append(
            f"- {p.name}: offered to members "
            f"{metric_sum(m, 'hotline110_calls_offered_total'):.0f}, "
            f"answered by a call-taker {metric_sum(m, 'hotline110_calls_answered_total'):.0f}, "
            f"announced {metric_sum(m, 'hotline110_calls_announced_total'):.0f}, "
            f"abandoned {metric_sum(m, 'hotline110_calls_abandoned_total'):.0f}, "
            f"failed/refused by reason {failed_by or 'none'}; status refused={s.get('refused')} "
            f"failed={s.get('failed')}; pool 5xx sent "
            f"{metric_sum(m, 'hotline110_sip_responses_sent_total', **five):.0f}; "
            f"front 5xx replies: own (stateless) "
            f"{metric_sum(m, 'hotline110_front_sip_replies_total', kind='stateless', **five):.0f}"
            f", transaction "
            f"{metric_sum(m, 'hotline110_front_sip_replies_total', kind='transaction', **five):.0f}"
            f"; Kamailio log refusals {dict(p.front_log) or 'none'}; member restarts "
            f"{metric_sum(m, 'hotline110_pool_member_restarts_total'):.0f} "
            f"(pool core {p.restarts}); front restarts "
            f"{metric_sum(m, 'hotline110_front_restarts_total'):.0f}; warm members at the "
            f"lowest {p.min_warm}; hotline110_front_refusals_total "
            f"{by_label(m, 'hotline110_front_refusals_total')}; "
            f"hotline110_admissions_refused_total "
            f"{by_label(m, 'hotline110_admissions_refused_total')}"
        )
        lines.append(f"  - cross-check: {cross_check(p)}")
    lines.append("")
    lines.append("Pool slots under load (/api/pool sampled every 0.25 s; caller's side):")
    for p in phases:
        short = [n for n in p.up_at_refusal if n < args.pool_size]
        drain = (
            f"call ended -> member gone (slot DRAINING) p50 {_ms(p.drain_s, 0.5)} ms, "
            f"p99 {_ms(p.drain_s, 0.99)} ms over {len(p.drain_s)} slots seen"
        )
        refusals = (
            f"{len(short)} of {len(p.up_at_refusal)} front refusals came while fewer than "
            f"{args.pool_size} calls were up (as few as {min(short)})"
            if short
            else f"every front refusal ({len(p.up_at_refusal)}) came with the pool full"
        )
        lines.append(f"- {p.name}: {drain}; {refusals}")
    lines.append("")
    lines.append("CPU seconds during each phase (first INVITE to the last call ended):")
    for p in phases:
        parts = ", ".join(f"{part} {sec:.1f}" for part, sec in p.cpu.items() if sec >= 0.05)
        ours = sum(p.cpu.values())
        lines.append(
            f"- {p.name} ({p.seconds:.0f} s): ours {ours:.1f} s = {ours / p.seconds:.2f} cores "
            f"({parts}); whole machine busy {p.machine_busy_cores:.2f} of "
            f"{os.cpu_count()} cores (the rest of it is other users)"
        )
    if len(phases) == 2:
        base, flood = phases
        lines.append("")
        lines.append(
            f"Flood / baseline: offered x{_ratio(flood.offered, base.offered)}, completed "
            f"x{_ratio(flood.completed, base.completed)}, answer p50 "
            f"x{_ratio(flood.status.get('p50_answer_ms'), base.status.get('p50_answer_ms'))}, "
            f"p99 x{_ratio(flood.status.get('p99_answer_ms'), base.status.get('p99_answer_ms'))}"
            f", CPU x{_ratio(sum(flood.cpu.values()), sum(base.cpu.values()))}; "
            f"completed / capacity x seconds: baseline "
            f"{base.completed / (capacity * args.seconds):.2f}, flood "
            f"{flood.completed / (capacity * args.seconds):.2f}"
        )
    for p in phases:
        if p.failures:
            lines.append("")
            lines.append(f"Failed calls in {p.name} ({dict(p.failure_kinds)}):")
            lines += [f"- {text}" for text in p.failures[: args.show_failures]]
            if len(p.failures) > args.show_failures:
                lines.append(f"- ... {len(p.failures) - args.show_failures} more in {out}")
    return "\n".join(lines)


def by_label(metrics: dict[str, float], name: str) -> str:
    """Non-zero samples of a metric as {labels: value}."""
    found = {
        key.partition("{")[2].rstrip("}") or "-": int(value)
        for key, value in metrics.items()
        if key.partition("{")[0] == name
    }
    if not found:
        return "no samples"
    return str({k: v for k, v in found.items() if v} or "all 0")


def cross_check(p: Phase) -> str:
    """Do the caller's counts agree with the engine's and the front's own?"""
    m = p.metrics
    checks = {
        "caller completed = engine answered + abandoned": (
            p.completed,
            metric_sum(m, "hotline110_calls_answered_total")
            + metric_sum(m, "hotline110_calls_abandoned_total"),
        ),
        "caller front refusals = Kamailio log lines": (
            p.front_refused,
            sum(p.front_log.values()),
        ),
        "caller engine refusals = /api/status refused": (
            p.engine_refused,
            p.status.get("refused", 0),
        ),
        "caller engine refusals = pool 5xx sent": (
            p.engine_refused,
            metric_sum(m, "hotline110_sip_responses_sent_total", **{"class": "5xx"}),
        ),
        "offered - front refusals = engine offered": (
            p.offered - p.front_refused,
            metric_sum(m, "hotline110_calls_offered_total"),
        ),
    }
    if any(key.startswith("hotline110_front_refusals_total") for key in m):
        checks["caller front refusals = front_refusals_total"] = (
            p.front_refused,
            metric_sum(m, "hotline110_front_refusals_total"),
        )
    wrong = [f"{what}: {a:g} vs {b:g}" for what, (a, b) in checks.items() if a != b]
    return "all agree" if not wrong else "MISMATCH " + "; ".join(wrong)


def header_rule(header: str) -> str:
    return "|" + "---|" * (header.count("|") - 1)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-size", type=int, default=24)
    parser.add_argument("--warm", type=int, default=8)
    parser.add_argument("--hold", type=float, default=6.0, help="s a call lasts after its 200")
    parser.add_argument("--seconds", type=float, default=60.0, help="s of calls per phase")
    parser.add_argument("--factor", type=float, default=2.0, help="flood rate / capacity")
    parser.add_argument("--baseline-factor", type=float, default=0.5)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--seats", type=int, default=0, help="seat phones (default: pool size)")
    parser.add_argument("--answer-delay", default="0.2-0.5", help="seat answer delay, s MIN-MAX")
    parser.add_argument("--wrap-up", type=float, default=0.5, help="ACD wrap-up, s")
    parser.add_argument(
        "--acd", action="append", default=[], metavar="KEY=VALUE", help="other ACD settings"
    )
    parser.add_argument("--invite-rate", type=int, default=FrontSettings().invite_rate)
    parser.add_argument("--per-source-rate", type=int, default=FrontSettings().per_source_rate)
    parser.add_argument("--port-base", type=int, default=16000, help="ports from here, < 32768")
    parser.add_argument("--out", default="", help="directory for traces and logs")
    parser.add_argument("--show-failures", type=int, default=20)
    args = parser.parse_args()
    seats = args.seats or args.pool_size
    low, _, high = args.answer_delay.partition("-")
    answer_delay = (float(low), float(high or low))
    capacity = args.pool_size / args.hold
    out = Path(args.out or tempfile.mkdtemp(prefix="h110-flood-"))
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=out / "engine.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    phases = [] if args.no_baseline else [("baseline", args.baseline_factor)]
    phases.append(("flood", args.factor))
    workers = -(-seats // 3)
    seat_ports = range(args.port_base + 20, args.port_base + 20 + workers * 13)
    if (taken := busy_port(seat_ports)) is not None:
        sys.exit(f"port {taken} is in use; choose another --port-base")
    phase_start = seat_ports.stop + 10
    command = "bench/flood.py " + shlex.join(sys.argv[1:])
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
        code = f"git {head}" + (f" + {len([d for d in dirty if d])} modified files" * any(dirty))
    except (OSError, subprocess.CalledProcessError):
        code = "not a git checkout"
    print(f"Machine: {machine()}")
    print(f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; command: {command}")
    print(f"Code: {root} ({code})")
    print(
        f"Pool {args.pool_size} slots ({args.warm} warm), hold {args.hold:g} s -> capacity "
        f"{capacity:g} calls/s; {seats} seat phones answering after {args.answer_delay} s; "
        f"ACD {describe_acd(acd_settings(args))}; front invite_rate {args.invite_rate}/s, pike "
        f"{args.per_source_rate}/s; traces in {out}",
        flush=True,
    )
    results = []
    farm = SeatFarm(
        seats=seats, sip_port_base=args.port_base + 20, rtp_port_base=args.port_base + 20 + workers,
        workdir=out / "seats", answer_delay=answer_delay,
    )  # fmt: skip
    async with farm:
        for name, factor in phases:
            phase = Phase(name, factor, round(factor * capacity, 3))
            print(f"{name}: {phase.rate:g} calls/s for {args.seconds:g} s ...", flush=True)
            results.append(await run_phase(phase, farm, args, phase_start, out))
            phase_start = Layout(phase_start, args.pool_size).end + 10
            await asyncio.sleep(2.0)
    text = report(results, args, capacity, out)
    (out / "report.md").write_text(text + "\n")
    print(text)
    if any(p.failed or p.restarts for p in results):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
