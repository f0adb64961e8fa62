"""Benchmark: N simultaneous three-way conferences with recording, across the pool.

Each conference is the real thing: a SIPp caller on the trunk (Kamailio front) -> a pool member
-> a pjsua2 seat phone (demo.seatfarm); then the engine's dispatcher dials a pjsua2 officer
phone (a second farm) into the same member's conference bridge; the member records the mix to
one WAV file per call (settings.recording, on by default).

One run, one engine, two phases over the same farms:

    two-way    N calls, caller + call-taker only (no dispatch), recorded
    three-way  N new calls, each dispatched to its own officer as soon as the seat answers

In each phase, once all N calls are up (and, three-way, all N officers bridged), the CPU
seconds (/proc/<pid>/stat utime+stime) of each process group are measured over the same
window, side by side, and PSS/RSS (/proc/<pid>/smaps_rollup) read at its end: the pool members
holding the calls, the engine (this process), Kamailio, the pool's fork server and warm
reserve, the seat farm, the officer farm and SIPp (the last three simulate the outside world).
Every call's recording must grow during the window; afterwards every call must have its
RecordingDone (record.recording) and an answered outcome, with no alert raised.

    /tmp/venv/bin/python -m bench.conferences --conferences 100 [--window 20] [--rate 5]
        [--no-two-way] [--out DIR]

Officers: the shipped city (config/city) has 48; the benchmark replaces them with N officers
"bench-<k>", copied round-robin from the shipped ones' units and grid cells, each with its own
officer-farm phone and a 00:00-24:00 daily shift, and dispatches call k to officer k (the
call-taker's choice, POST /api/calls/{id}/dispatch {"officer": id}).

Ports (all 127.0.0.1, from --base, default 12000, moved up past anything in use, < 32000):
    base+0 trunk, +2 front internal, +4 front RPC, +6 HTTP, +20 SIPp SIP, +21 SIPp control,
    then in order: pool SIP (one per slot), seat-farm SIP (one per worker), officer-farm SIP,
    SIPp media (2 per call + 40), pool RTP (10 per slot), seat-farm RTP (12 per worker),
    officer-farm RTP (12 per worker). N=100: pool 120 slots, 34 + 34 farm workers, about 2,600
    ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.flood import busy_port, machine, machine_busy
from bench.pool_cost import children, cpu_seconds, memory_kib
from conference.recording import recording_path
from demo.carrier import Carrier
from demo.seatfarm import RTP_PORTS_PER_WORKER, SeatFarm
from dispatch.city import City, load_city
from dispatch.roster import Roster, Shift
from engine.app import Engine
from engine.settings import (
    PACKAGE_ROOT,
    AcdSettings,
    FrontSettings,
    HttpSettings,
    PoolSettings,
    SeatSettings,
    Settings,
    TrunkSettings,
)

PER_WORKER = 3  # phones per farm process (pjsua2 allows 4 legs per process)
SETTLE = 3.0  # after the last call is up, before the window opens (s)
log = logging.getLogger("bench.conferences")


# -- ports ----------------------------------------------------------------------------------


class Layout:
    """Every port of one run, in the order of the module docstring."""

    def __init__(self, base: int, n: int, pool_size: int) -> None:
        self.base, self.n, self.pool_size = base, n, pool_size
        workers = math.ceil(n / PER_WORKER)
        self.pool_sip = base + 100
        self.seats_sip = self.pool_sip + pool_size
        self.officers_sip = self.seats_sip + workers
        self.sipp_media = self.officers_sip + workers
        self.pool_rtp = self.sipp_media + 2 * n + 40
        self.seats_rtp = self.pool_rtp + pool_size * PoolSettings().rtp_ports_per_member
        self.officers_rtp = self.seats_rtp + workers * RTP_PORTS_PER_WORKER
        self.end = self.officers_rtp + workers * RTP_PORTS_PER_WORKER

    def describe(self) -> str:
        return (
            f"trunk {self.base}, front {self.base + 2}/{self.base + 4}, http {self.base + 6}, "
            f"SIPp {self.base + 20}/{self.base + 21} media {self.sipp_media}+, "
            f"pool SIP {self.pool_sip}+ RTP {self.pool_rtp}+, seats SIP {self.seats_sip}+ "
            f"RTP {self.seats_rtp}+, officers SIP {self.officers_sip}+ RTP {self.officers_rtp}+"
            f" .. {self.end - 1}"
        )


def free_layout(start: int, n: int, pool_size: int) -> Layout:
    """A layout from `start`, moved up past any port in use (others test on this machine)."""
    base = start
    while True:
        layout = Layout(base, n, pool_size)
        if layout.end > 32000:
            sys.exit(f"no free block of {layout.end - base} ports from {start} below 32000")
        taken = busy_port(range(layout.base, layout.end))
        if taken is None:
            return layout
        base = taken + 1


# -- the city ---------------------------------------------------------------------------------


def bench_city(farm: SeatFarm, n: int) -> tuple[City, list[str]]:
    """The shipped city with its officers replaced by n on-duty officers on the farm's phones."""
    city = load_city(PACKAGE_ROOT / "config" / "city")
    phones = farm.seat_ids()
    officers = [
        dataclasses.replace(
            city.officers[k % len(city.officers)],
            id=f"bench-{k}",
            name=f"Bench Officer {k}",
            phone=farm.contact(phones[k]),
        )
        for k in range(n)
    ]
    roster = Roster([Shift.every_day(o.id, 0, 24 * 60) for o in officers], city.roster.tz)
    return dataclasses.replace(city, officers=officers, roster=roster), [o.id for o in officers]


# -- measuring --------------------------------------------------------------------------------


@dataclasses.dataclass
class Usage:
    count: int
    cpu: float
    """Share of one core over the window (all processes of the group together)."""
    pss_kib: int
    rss_kib: int
    waited: float
    """Time its threads spent runnable but waiting for a CPU, over the window (1.0 = one
    thread waiting all along): how short of CPU the group was."""


@dataclasses.dataclass
class Phase:
    name: str
    n: int
    call_ids: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    usage: dict[str, Usage] = dataclasses.field(default_factory=dict)
    window_s: float = 0.0
    machine_cores: float = 0.0
    """Whole machine busy over the window, in cores (ours and everyone else's)."""
    up_at_start: int = 0
    up_at_end: int = 0
    bridged: int = 0
    bridge_s: list[float] = dataclasses.field(default_factory=list)
    growth_s: list[float] = dataclasses.field(default_factory=list)
    """Audio seconds each recording gained during the window."""
    sized_over: float = 0.0
    """Seconds between the two readings of the recordings' sizes (the window and a bit)."""
    lag_start: list[float] = dataclasses.field(default_factory=list)
    lag_end: list[float] = dataclasses.field(default_factory=list)
    recordings: int = 0
    recording_bytes: int = 0
    recording_seconds: float = 0.0
    carrier: str = ""
    ramp_s: float = 0.0


def process_groups(
    engine: Engine, seats: SeatFarm, officers: SeatFarm, call_ids: set[str]
) -> dict[str, list[int]]:
    slots = engine.pool.snapshot()
    members = [s["pid"] for s in slots if s["state"] == "busy" and s["call_id"] in call_ids]
    warm = [s["pid"] for s in slots if s["state"] == "warm" and s["pid"]]
    front_pid = int((engine.run_dir / "front" / "kamailio.pid").read_text())
    ours = children(os.getpid())
    cmd = {pid: _cmdline(pid) for pid in ours}
    zygote = [pid for pid in ours if "sip.zygote" in cmd[pid]]
    sipp = [pid for pid in ours if cmd[pid].startswith("sipp")]
    farm_server = {pid: set(children(pid)) for pid in ours if "demo.seatfarm" in cmd[pid]}
    seat_pids, officer_pids = seats.worker_pids(), officers.worker_pids()
    for server, kids in farm_server.items():
        if kids & set(seat_pids):
            seat_pids.append(server)
        elif kids & set(officer_pids):
            officer_pids.append(server)
    return {
        "pool members (holding the calls)": [p for p in members if p],
        "engine (this process)": [os.getpid()],
        "Kamailio front": [front_pid, *children(front_pid)],
        "pool fork server + warm reserve": zygote + warm,
        "seat phones (farm)": seat_pids,
        "officer phones (farm)": officer_pids,
        "SIPp caller": sipp,
    }


def run_delay(pids: list[int]) -> float:
    """Seconds every thread of `pids` has spent waiting on a run queue (/proc/.../schedstat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


async def measure(groups: dict[str, list[int]], seconds: float) -> tuple[dict[str, Usage], float]:
    """CPU of every group over the same `seconds`, memory at the end; and the machine's cores."""
    busy0, total0 = machine_busy()
    before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    waited = {name: run_delay(pids) for name, pids in groups.items()}
    start = time.monotonic()
    await asyncio.sleep(seconds)
    after = {name: cpu_seconds(pids) for name, pids in groups.items()}
    elapsed = time.monotonic() - start
    waited = {name: run_delay(pids) - waited[name] for name, pids in groups.items()}
    busy1, total1 = machine_busy()
    cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1.0, total1 - total0)
    usage = {}
    for name, pids in groups.items():
        mem = [memory_kib(pid) for pid in pids]
        usage[name] = Usage(
            count=len(pids),
            cpu=(after[name] - before[name]) / elapsed,
            pss_kib=sum(m[0] for m in mem),
            rss_kib=sum(m[1] for m in mem),
            waited=waited[name] / elapsed,
        )
    return usage, cores


def recording_lag(engine: Engine, sizes: dict[str, int]) -> list[float]:
    """Per call: seconds since the call was answered minus seconds of audio in its file."""
    now = time.monotonic()
    lags = []
    for call_id, size in sizes.items():
        record = engine.router.find(call_id)
        if record is not None and record.answered_at is not None and size >= 0:
            lags.append(now - record.answered_at - max(0, size - 44) / 16000)
    return lags


def recording_sizes(engine: Engine, call_ids: list[str]) -> dict[str, int]:
    """Current size of each call's recording file (-1 when there is none)."""
    directory = Path(engine.pool.recordings_dir)
    sizes = {}
    for call_id in call_ids:
        probe = recording_path(str(directory), call_id, "", time.time()).name
        safe = probe.split("-m", 1)[1].rsplit("-", 1)[0]  # the call id as the file name has it
        found = list(directory.glob(f"*/*-m{safe}-*.wav"))
        sizes[call_id] = max((f.stat().st_size for f in found), default=-1)
    return sizes


# -- one phase --------------------------------------------------------------------------------


async def run_phase(
    name: str,
    engine: Engine,
    seats: SeatFarm,
    officers: SeatFarm,
    officer_ids: list[str],
    layout: Layout,
    args: argparse.Namespace,
    out: Path,
    events: asyncio.Queue[dict[str, Any]],
) -> Phase:
    """One phase (see the module docstring); `events` is the engine's bus, for alerts."""
    n, three_way = args.conferences, name == "three-way"
    phase = Phase(name=name, n=n)
    ramp = n / args.rate
    hold_ms = int((ramp + args.window + SETTLE + 25) * 1000)
    carrier = Carrier(
        workdir=out / f"sipp-{name}", target=f"127.0.0.1:{layout.base}",
        sip_port=layout.base + 20, control_port=layout.base + 21, media_port=layout.sipp_media,
        rate=args.rate, calls=n, hold_ms=(hold_ms, hold_ms), max_concurrent=n + 10,
    )  # fmt: skip
    before = set(engine.router.calls) | {r.call_id for r in engine.router.finished}
    mine: list[str] = []
    dispatched: set[str] = set()
    started = time.monotonic()
    await carrier.start()
    deadline = started + ramp + 30 + (15 if three_way else 0)
    while time.monotonic() < deadline:
        for call_id, active in list(engine.router.calls.items()):
            if call_id in before or active.answered_at is None:
                continue
            if call_id not in mine:
                mine.append(call_id)
            if three_way and call_id not in dispatched and len(dispatched) < len(officer_ids):
                officer = officer_ids[len(dispatched)]
                dispatched.add(call_id)
                try:
                    engine.dispatcher.dispatch(call_id, officer_id=officer)
                except Exception as exc:  # a DispatchError is a result to report, not to hide
                    phase.problems.append(f"dispatch of {call_id} to {officer} failed: {exc!r}")
        bridged = sum(1 for c in mine if _bridged_at(engine, c) is not None)
        if len(mine) >= n and (not three_way or bridged >= n):
            break
        await asyncio.sleep(0.05)
    phase.ramp_s = time.monotonic() - started
    phase.call_ids = mine
    if len(mine) < n:
        phase.problems.append(f"only {len(mine)} of {n} calls answered by a seat in time")
    await asyncio.sleep(SETTLE)
    ids = set(mine)
    phase.up_at_start = sum(1 for c in mine if c in engine.router.calls)
    groups = process_groups(engine, seats, officers, ids)
    sizes_before, sized_at = recording_sizes(engine, mine), time.monotonic()
    phase.lag_start = recording_lag(engine, sizes_before)
    phase.usage, phase.machine_cores = await measure(groups, args.window)
    phase.window_s = args.window
    sizes_after = recording_sizes(engine, mine)
    phase.sized_over = time.monotonic() - sized_at
    phase.lag_end = recording_lag(engine, sizes_after)
    phase.up_at_end = sum(1 for c in mine if c in engine.router.calls)
    if phase.up_at_end < n:
        phase.problems.append(f"{phase.up_at_end} of {n} calls still up at the window's end")
    for call_id in mine:
        grown = sizes_after[call_id] - sizes_before[call_id]
        phase.growth_s.append(grown / 16000)  # 8 kHz, 16-bit mono
        if sizes_before[call_id] < 0 or grown <= 0:
            phase.problems.append(
                f"recording of {call_id} not growing ({sizes_before[call_id]} -> "
                f"{sizes_after[call_id]} bytes)"
            )
    if three_way:
        for call_id in mine:
            done = engine.router.find(call_id)
            at = _bridged_at(engine, call_id)
            if at is not None and done is not None:
                phase.bridge_s.append(at - done.offered_at)
        phase.bridged = len(phase.bridge_s)
        if phase.bridged < n:
            phase.problems.append(f"only {phase.bridged} of {n} officers bridged")
    result = await carrier.wait()
    phase.carrier = (
        f"SIPp: {result.created} created, {result.successful} successful, "
        f"{result.failed} failed (exit {result.returncode})"
    )
    if result.failed or result.successful < n:
        phase.problems.append(phase.carrier)
    end_by = time.monotonic() + 20
    while time.monotonic() < end_by:
        records = [engine.router.find(c) for c in mine]
        if all(r is not None and r.ended_at is not None and r.recording for r in records):
            break
        await asyncio.sleep(0.2)
    for call_id in mine:
        record = engine.router.find(call_id)
        if record is None:
            phase.problems.append(f"{call_id}: no record")
            continue
        if record.outcome != "answered":
            phase.problems.append(f"{call_id}: outcome {record.outcome!r} ({record.reason})")
        if record.recording_errors:
            phase.problems.append(f"{call_id}: RecordingFailed {record.recording_errors}")
        if record.recording is None:
            phase.problems.append(f"{call_id}: no RecordingDone")
        else:
            phase.recordings += 1
            phase.recording_bytes += int(record.recording["size"])
            phase.recording_seconds += float(record.recording["seconds"])
        if three_way and (record.dispatch is None or record.dispatch.outcome != "bridged"):
            outcome = None if record.dispatch is None else record.dispatch.outcome
            phase.problems.append(f"{call_id}: dispatch outcome {outcome!r}")
    while not events.empty():
        event = events.get_nowait()
        if event["topic"].startswith("alert/"):
            phase.problems.append(
                f"alert {event['kind']} [call {event.get('call_id')}]: {event['message']}"
            )
    return phase


def _bridged_at(engine: Engine, call_id: str) -> float | None:
    record = engine.router.find(call_id)
    dispatch = None if record is None else record.dispatch
    return None if dispatch is None else dispatch.officer_bridged_at


# -- the run ----------------------------------------------------------------------------------


def settings(work: Path, layout: Layout, seats: tuple[SeatSettings, ...], warm: int) -> Settings:
    return Settings(
        state_dir=str(work / "var"),
        log_level="INFO",
        trunk=TrunkSettings(port=layout.base),
        front=FrontSettings(internal_port=layout.base + 2, rpc_port=layout.base + 4),
        pool=PoolSettings(
            size=layout.pool_size,
            warm=warm,
            sip_port_base=layout.pool_sip,
            rtp_port_base=layout.pool_rtp,
        ),
        acd=AcdSettings(wrap_up=0.5, max_waiting=layout.n + 10),
        http=HttpSettings(port=layout.base + 6),
        seats=seats,
    )


async def run(args: argparse.Namespace, out: Path) -> list[Phase]:
    n = args.conferences
    pool_size = max(n + 10, n + args.spare)
    layout = free_layout(args.base, n, pool_size)
    print(f"ports: {layout.describe()}", file=sys.stderr)
    phases: list[Phase] = []
    farm_options: dict[str, Any] = {"per_process": PER_WORKER, "answer_delay": (0.2, 0.4)}
    async with (
        SeatFarm(
            seats=n, sip_port_base=layout.seats_sip, rtp_port_base=layout.seats_rtp,
            workdir=out / "seats", **farm_options,
        ) as seats,
        SeatFarm(
            seats=n, first=1001, sip_port_base=layout.officers_sip,
            rtp_port_base=layout.officers_rtp, workdir=out / "officers", tone_hz=1320.0,
            **farm_options,
        ) as officers,
    ):  # fmt: skip
        city, officer_ids = bench_city(officers, n)
        seat_settings = tuple(
            SeatSettings(id=s, contact=seats.contact(s), agent=f"a-{s}", ready=True)
            for s in seats.seat_ids()
        )
        engine = Engine(settings(out, layout, seat_settings, args.warm), city)
        await engine.start()
        runner = asyncio.create_task(engine.run())
        events = engine.events.subscribe()
        try:
            await asyncio.sleep(2.0)
            names = ["two-way", "three-way"] if args.two_way else ["three-way"]
            for name in names:
                print(f"phase {name}: {n} calls at {args.rate}/s ...", file=sys.stderr)
                phase = await run_phase(
                    name, engine, seats, officers, officer_ids, layout, args, out, events
                )
                phases.append(phase)
                print(f"phase {name}: {len(phase.problems)} problems", file=sys.stderr)
                await asyncio.sleep(3.0)  # the slots drain before the next phase
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            await engine.stop()
    return phases


# -- the report -------------------------------------------------------------------------------


def report(
    phases: list[Phase], args: argparse.Namespace, command: str, out: Path, host: str
) -> str:
    n = args.conferences
    lines = [
        f"`{command}` ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; logs in {out})",
        "",
        f"Machine: {host}",
        "",
    ]
    cpus = os.cpu_count() or 1
    for p in phases:
        total = sum(u.cpu for u in p.usage.values())
        product = sum(u.cpu for k, u in p.usage.items() if not _simulated(k))
        lines += [
            f"### {p.name}: {len(p.call_ids)} of {n} calls up "
            f"({p.up_at_start} at the window's start, {p.up_at_end} at its end), "
            f"{p.window_s:.0f} s window",
            "",
            "| processes | count | CPU % of a core | waited for a CPU % | PSS MiB | RSS MiB | "
            "per call: CPU % | per call: PSS MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, u in p.usage.items():
            calls = max(1, len(p.call_ids))
            lines.append(
                f"| {name} | {u.count} | {u.cpu * 100:.1f} | {u.waited * 100:.1f} | "
                f"{u.pss_kib / 1024:.0f} | "
                f"{u.rss_kib / 1024:.0f} | {u.cpu * 100 / calls:.2f} | "
                f"{u.pss_kib / 1024 / calls:.1f} |"
            )
        lines += [
            "",
            f"- the product (members, engine, Kamailio, fork server): {product * 100:.1f} % of "
            f"a core = {product / cpus * 100:.1f} % of the machine; with the simulated phones and "
            f"SIPp {total * 100:.1f} % of a core = {total / cpus * 100:.1f} % of the machine; the "
            f"whole machine was {p.machine_cores:.2f} cores busy, so others used "
            f"{max(0.0, p.machine_cores - total):.2f}",
            f"- ramp (first INVITE to all calls up{' and bridged' if p.bridge_s else ''}): "
            f"{p.ramp_s:.1f} s; {p.carrier}",
        ]
        if p.bridge_s:
            ordered = sorted(p.bridge_s)
            lines.append(
                f"- officers bridged: {p.bridged} of {n}; INVITE -> officer bridged p50 "
                f"{statistics.median(ordered):.2f} s, max {ordered[-1]:.2f} s"
            )
        if p.growth_s:
            lines.append(
                f"- recordings growing during the window: "
                f"{sum(1 for g in p.growth_s if g > 0)} of {len(p.call_ids)} (gained "
                f"{min(p.growth_s):.1f}-{max(p.growth_s):.1f} s of audio in "
                f"{p.sized_over:.1f} s between the two readings)"
            )
        if p.lag_start and p.lag_end:
            lines.append(
                "- recording behind the call (time since answered - audio in the file), "
                f"median / max: {statistics.median(p.lag_start):.2f} / {max(p.lag_start):.2f} s "
                f"at the window's start, {statistics.median(p.lag_end):.2f} / "
                f"{max(p.lag_end):.2f} s at its end"
            )
        lines.append(
            f"- after the calls: RecordingDone for {p.recordings} of {len(p.call_ids)}, "
            f"{p.recording_bytes / 2**20:.1f} MiB, {p.recording_seconds:.0f} s of audio"
        )
        lines.append(f"- problems: {len(p.problems)}")
        lines += [f"  - {problem}" for problem in p.problems[:30]]
        lines.append("")
    members = {p.name: p.usage.get("pool members (holding the calls)") for p in phases}
    two, three = members.get("two-way"), members.get("three-way")
    if two and three and two.cpu > 0:
        lines.append(
            f"Members, three-way / two-way: CPU x{three.cpu / two.cpu:.2f} "
            f"({three.cpu * 100 / max(1, three.count):.2f} vs "
            f"{two.cpu * 100 / max(1, two.count):.2f} % of a core per call), "
            f"PSS x{three.pss_kib / max(1, two.pss_kib):.2f}."
        )
    return "\n".join(lines)


def _simulated(group: str) -> bool:
    return "farm" in group or "SIPp" in group


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--conferences", type=int, default=100)
    parser.add_argument("--window", type=float, default=20.0, help="measurement window, s")
    parser.add_argument("--rate", type=float, default=5.0, help="calls per second")
    parser.add_argument("--warm", type=int, default=24, help="warm members (>= 20)")
    parser.add_argument("--spare", type=int, default=20, help="pool slots beyond N (>= 10)")
    parser.add_argument("--base", type=int, default=12000, help="first port to try")
    parser.add_argument(
        "--no-two-way", dest="two_way", action="store_false", help="skip the two-way phase"
    )
    parser.add_argument("--out", type=Path, default=None, help="logs (default: a new /tmp dir)")
    args = parser.parse_args()
    if args.warm < 20 or args.spare < 10 or args.conferences < 1:
        sys.exit("--warm must be >= 20, --spare >= 10, --conferences >= 1")
    out = args.out or Path(tempfile.mkdtemp(prefix="h110-conf-"))
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=out / "engine.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    command = " ".join(["python -m bench.conferences", *sys.argv[1:]])
    host = machine()  # its load average: before we start anything
    phases = await run(args, out)
    print(report(phases, args, command, out, host))


if __name__ == "__main__":
    asyncio.run(main())
