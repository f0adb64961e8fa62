"""Benchmark: concurrent WebRTC calls from the 110 web app (issue 7) against plain SIP calls.

One engine (embedded defaults, recording on), one pjsua2 seat farm, one run, phases over the
same engine and farm:

    sip      N SIPp calls on the trunk (Kamailio -> pool member -> ACD -> seat phone),
             two-way, recorded: bench/conferences.py's two-way phase
    webrtc   N citizens' calls from aiortc browsers (bench.webrtc_peers, in processes of their
             own): POST /api/intake/calls -> an idle member answers with aiortc -> ACD -> seat
             phone; the browser's audio is a port of the member's conference (recorded with
             the seat's), its video (a moving test pattern, 15 fps) is decoded and re-encoded
             to VP8 Matroska by the member
    limit    (--steps) WebRTC phases at each N in ascending order; once an N fails a quality
             criterion, the larger steps are skipped

In each phase, once all N calls are answered (and SETTLE seconds more), the CPU seconds
(/proc/<pid>/stat utime+stime) of each process group are measured over the same window, PSS/RSS
(/proc/<pid>/smaps_rollup) read at its end (bench.conferences.measure). Then the calls end and
each is checked:

- answered by a seat within 3 s: the engine's offer -> answer (the ACD target) and, for WebRTC,
  the citizen's POST -> answer;
- audio both ways during the window: the seat phone's recording holds the caller's 440 Hz
  (share of the energy >= 0.5, silent 20 ms frames <= 2 %), and for WebRTC the browser heard the
  seat's 880 Hz with the same limits; the call's own WAV recording grew;
- WebRTC: VideoRecorded filed in the incident with frames > 0 and at least 50 % of the frames
  the browser sent;
- the machine not saturated: this run's processes (product and simulators) under 95 % of its
  cores over the window (other users' load is reported beside it, not judged).

    /tmp/venv/bin/python -m bench.webrtc_calls --calls 10 [--window 20] [--video 320x240]
        [--steps 5,10,15,20] [--per-process 4] [--no-sip] [--out DIR]

--video none: audio-only callers (no video track, nothing to record but the WAV).

Ports: bench.conferences.Layout (127.0.0.1, < 32000; its officer range stays unused). aiortc's
ICE sockets (members and browsers) take the kernel's ephemeral ports (>= 32768). The intake's
per-address limit (6 calls a minute) is raised for the run: every browser here is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.conferences import (
    PER_WORKER,
    SETTLE,
    Layout,
    Usage,
    free_layout,
    measure,
    recording_sizes,
    settings,
)
from bench.flood import machine
from bench.pool_cost import children
from bench.webrtc_peers import CALLER_HZ, Citizens, wav_report
from bench.webrtc_report import judge, report
from demo.carrier import Carrier
from demo.seatfarm import SeatFarm
from engine.app import Engine
from engine.settings import IntakeSettings, SeatSettings

log = logging.getLogger("bench.webrtc_calls")


@dataclasses.dataclass
class Phase:
    kind: str
    n: int
    resolution: str = ""
    call_ids: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    """The quality criteria this phase failed (the limit search stops at the first)."""
    usage: dict[str, Usage] = dataclasses.field(default_factory=dict)
    machine_cores: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    ramp_s: float = 0.0
    answer_s: list[float] = dataclasses.field(default_factory=list)
    """Per call: the engine's CallOffered -> a seat answered."""
    posted_s: list[float] = dataclasses.field(default_factory=list)
    """Per WebRTC call: the citizen's POST -> a seat answered."""
    http_s: list[float] = dataclasses.field(default_factory=list)
    """Per WebRTC call: the POST's 201 (aiortc's answer SDP)."""
    seat_audio: list[dict[str, float]] = dataclasses.field(default_factory=list)
    browser_audio: list[dict[str, float]] = dataclasses.field(default_factory=list)
    video: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    sent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Per WebRTC call: what its browser sent during the window (the simulator's health)."""
    growth_s: list[float] = dataclasses.field(default_factory=list)
    recordings: int = 0
    callers: str = ""


@dataclasses.dataclass
class Bench:
    engine: Engine
    seats: SeatFarm
    layout: Layout
    args: argparse.Namespace
    out: Path
    events: asyncio.Queue[dict[str, Any]]


# -- measuring --------------------------------------------------------------------------------


def process_groups(bench: Bench, call_ids: set[str], callers: list[int]) -> dict[str, list[int]]:
    slots = bench.engine.pool.snapshot()
    members = [s["pid"] for s in slots if s["state"] == "busy" and s["call_id"] in call_ids]
    warm = [s["pid"] for s in slots if s["state"] == "warm" and s["pid"]]
    front_pid = int((bench.engine.run_dir / "front" / "kamailio.pid").read_text())
    ours = children(os.getpid())
    zygote = [pid for pid in ours if "sip.zygote" in _cmdline(pid)]
    farm = [pid for pid in ours if "demo.seatfarm" in _cmdline(pid)]
    return {
        "pool members (holding the calls)": [p for p in members if p],
        "engine (this process)": [os.getpid()],
        "Kamailio front": [front_pid, *children(front_pid)],
        "pool fork server + warm reserve": zygote + warm,
        "seat phones (farm)": farm + bench.seats.worker_pids(),
        "callers (simulated)": callers,
    }


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


async def wait_answered(
    bench: Bench, phase: Phase, before: set[str], deadline: float, webrtc: set[str] | None
) -> None:
    """Collect the phase's calls as seats answer them, until N are answered or the deadline."""
    router = bench.engine.router
    while time.monotonic() < deadline:
        for call_id, record in list(router.calls.items()):
            if call_id in before or record.answered_at is None or call_id in phase.call_ids:
                continue
            if webrtc is None or call_id in webrtc:
                phase.call_ids.append(call_id)
        if len(phase.call_ids) >= phase.n:
            return
        await asyncio.sleep(0.05)


async def hold_and_measure(bench: Bench, phase: Phase, callers: list[int]) -> None:
    """The window: every group's CPU and memory; each call's recording must grow."""
    groups = process_groups(bench, set(phase.call_ids), callers)
    sizes = recording_sizes(bench.engine, phase.call_ids)
    start = time.monotonic()
    phase.usage, phase.machine_cores = await measure(groups, bench.args.window)
    phase.window = (start, time.monotonic())
    after = recording_sizes(bench.engine, phase.call_ids)
    for call_id in phase.call_ids:
        grown = after[call_id] - sizes[call_id]
        phase.growth_s.append(grown / 16000)
        if sizes[call_id] < 0 or grown <= 0:
            phase.problems.append(f"{call_id}: the call's recording is not growing")
    up = sum(1 for c in phase.call_ids if c in bench.engine.router.calls)
    if up < phase.n:
        phase.problems.append(f"only {up} of {phase.n} calls still up at the window's end")


# -- after the calls --------------------------------------------------------------------------


async def check_calls(bench: Bench, phase: Phase) -> None:
    """Every call ended answered and recorded; what its seat phone heard during the window."""
    engine = bench.engine
    end_by = time.monotonic() + 30
    while time.monotonic() < end_by:
        records = [engine.router.find(c) for c in phase.call_ids]
        if all(r is not None and r.ended_at is not None and r.recording for r in records):
            break
        await asyncio.sleep(0.2)
    for call_id in phase.call_ids:
        record = engine.router.find(call_id)
        if record is None:
            phase.problems.append(f"{call_id}: no record")
            continue
        if record.answered_at is not None:
            phase.answer_s.append(record.answered_at - record.offered_at)
        if record.outcome != "answered":
            phase.problems.append(f"{call_id}: outcome {record.outcome!r} ({record.reason})")
        if record.recording is None:
            phase.problems.append(f"{call_id}: no RecordingDone {record.recording_errors}")
        else:
            phase.recordings += 1
        report = await seat_heard(bench, phase, set(record.legs.values()))
        if report is None:
            phase.problems.append(f"{call_id}: no recording of seat {record.seat_id!r}")
        else:
            phase.seat_audio.append(report)
    while not bench.events.empty():
        event = bench.events.get_nowait()
        if event["topic"].startswith("alert/"):
            phase.problems.append(f"alert {event['kind']} [{event.get('call_id')}]: {event}")


async def seat_heard(bench: Bench, phase: Phase, sip_ids: set[str]) -> dict[str, float] | None:
    """The seat phone's recording of this call, over the window (bounded wait for its end)."""
    events = bench.seats.events
    incoming = next(
        (e for e in events if e["kind"] == "incoming" and e.get("call_id") in sip_ids), None
    )
    if incoming is None:
        return None
    seat, number = incoming["seat"], incoming["number"]
    end_by = time.monotonic() + 15
    while time.monotonic() < end_by:
        found = {
            e["kind"]: e
            for e in events
            if e["seat"] == seat
            and e.get("number") == number
            and e["kind"] in ("answered", "ended")
        }
        if "ended" in found and "answered" in found:
            at = found["answered"]["at"]
            start, end = phase.window
            return wav_report(found["ended"]["recording"], start - at, end - at, CALLER_HZ)
        await asyncio.sleep(0.1)
    return None


async def check_videos(bench: Bench, phase: Phase, sent: dict[str, int]) -> None:
    """VideoRecorded in each call's incident: frames > 0 and >= MIN_VIDEO of those sent."""
    engine = bench.engine
    for call_id in phase.call_ids:
        found: dict[str, Any] | None = None
        end_by = time.monotonic() + 20
        while found is None and time.monotonic() < end_by:
            number = engine.incidents.by_call.get(call_id)
            if number:
                stored = await engine.incidents.store.events(number)
                found = next((e.data["video"] for e in stored if e.kind == "video-recorded"), None)
            if found is None:
                await asyncio.sleep(0.2)
        if found is None:
            phase.problems.append(f"{call_id}: no VideoRecorded in its incident")
            continue
        found = {**found, "sent": sent.get(call_id, 0)}
        phase.video.append(found)
        if found.get("error") or not found.get("frames"):
            phase.problems.append(f"{call_id}: video {found}")


# -- the phases -------------------------------------------------------------------------------


async def sip_phase(bench: Bench, n: int) -> Phase:
    args, layout, engine = bench.args, bench.layout, bench.engine
    phase = Phase(kind="sip", n=n)
    ramp = n / args.rate
    hold_ms = int((ramp + args.window + SETTLE + 12) * 1000)
    carrier = Carrier(
        workdir=bench.out / f"sipp-{n}", target=f"127.0.0.1:{layout.base}",
        sip_port=layout.base + 20, control_port=layout.base + 21, media_port=layout.sipp_media,
        rate=args.rate, calls=n, hold_ms=(hold_ms, hold_ms), max_concurrent=n + 10,
    )  # fmt: skip
    before = set(engine.router.calls) | {r.call_id for r in engine.router.finished}
    started = time.monotonic()
    await carrier.start()
    await wait_answered(bench, phase, before, started + ramp + 30, None)
    phase.ramp_s = time.monotonic() - started
    if len(phase.call_ids) < n:
        phase.problems.append(f"only {len(phase.call_ids)} of {n} calls answered by a seat")
    pid = carrier._process.pid if carrier._process is not None else 0
    await asyncio.sleep(SETTLE)
    await hold_and_measure(bench, phase, [pid] if pid else [])
    try:
        result = await asyncio.wait_for(carrier.wait(), hold_ms / 1000 + 60)
    except TimeoutError:
        result = await carrier.stop()
    phase.callers = (
        f"SIPp: {result.created} created, {result.successful} successful, "
        f"{result.failed} failed (exit {result.returncode})"
    )
    if result.failed or result.successful < n:
        phase.problems.append(phase.callers)
    await check_calls(bench, phase)
    return phase


async def webrtc_phase(bench: Bench, n: int) -> Phase:
    args, engine = bench.args, bench.engine
    phase = Phase(kind="webrtc", n=n, resolution=args.video)
    http = engine.settings.http
    ramp = n / args.web_rate
    citizens = Citizens(
        url=f"http://{http.address}:{http.port}", calls=n, procs=-(-n // args.per_process),
        rate=args.web_rate, video=args.video, hold=ramp + args.window + SETTLE + 120,
    )  # fmt: skip
    before = set(engine.router.calls) | {r.call_id for r in engine.router.finished}
    started = time.monotonic()
    await citizens.start()
    try:
        deadline = started + ramp + 30
        while time.monotonic() < deadline and len(citizens.of("call") + citizens.of("refused")) < n:
            await asyncio.sleep(0.1)
        placed = {e["call"]: e for e in citizens.of("call")}
        for refused in citizens.of("refused")[:5]:
            phase.problems.append(f"POST refused: {refused['status']} {refused['body']}")
        await wait_answered(bench, phase, before, time.monotonic() + 15, set(placed))
        phase.ramp_s = time.monotonic() - started
        if len(phase.call_ids) < n:
            phase.problems.append(f"only {len(phase.call_ids)} of {n} calls answered by a seat")
        for call_id in phase.call_ids:
            record = engine.router.find(call_id)
            if record is not None and record.answered_at is not None:
                phase.posted_s.append(record.answered_at - placed[call_id]["posted"])
                phase.http_s.append(placed[call_id]["replied"] - placed[call_id]["posted"])
        await asyncio.sleep(SETTLE)
        await citizens.mark()
        await hold_and_measure(bench, phase, citizens.pids())
    finally:
        await citizens.stop()
    results = {e["call"]: e for e in citizens.of("result")}
    for call_id in phase.call_ids:
        result = results.get(call_id)
        if result is None:
            phase.problems.append(f"{call_id}: its browser reported nothing")
        else:
            phase.browser_audio.append(result["heard"])
            phase.sent.append(result)
    phase.problems += citizens.errors
    phase.callers = f"{citizens.procs} browser processes, {len(placed)} calls placed"
    await check_calls(bench, phase)
    sent = {c: int(r["video_sent"]) for c, r in results.items()}
    if args.video != "none":
        await check_videos(bench, phase, sent)
    return phase


# -- the run ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, out: Path) -> list[Phase]:
    steps = [s for s in args.steps if s != args.calls]
    most = max([args.calls, *steps])
    layout = free_layout(args.base, most, most + args.spare)
    print(f"ports: {layout.describe()}", file=sys.stderr)
    phases: list[Phase] = []
    async with SeatFarm(
        seats=most, sip_port_base=layout.seats_sip, rtp_port_base=layout.seats_rtp,
        workdir=out / "seats", per_process=PER_WORKER, answer_delay=(0.2, 0.4), record=True,
    ) as seats:  # fmt: skip
        seat_settings = tuple(
            SeatSettings(id=s, contact=seats.contact(s), agent=f"a-{s}", ready=True)
            for s in seats.seat_ids()
        )
        base = settings(out, layout, seat_settings, max(args.warm, most + 4))
        intake = IntakeSettings(reports_per_minute=max(60, 4 * most))
        # the machine's raw capacity is measured: the engine's own admission limits (what
        # this benchmark found) are lifted, unless --admission keeps the shipped ones
        webrtc = base.webrtc
        if not args.admission:
            webrtc = dataclasses.replace(
                webrtc, max_calls=10_000, max_video=10_000, calls_per_minute=10_000
            )
        engine = Engine(dataclasses.replace(base, intake=intake, webrtc=webrtc))
        await engine.start()
        runner = asyncio.create_task(engine.run())
        bench = Bench(engine, seats, layout, args, out, engine.events.subscribe())
        try:
            await asyncio.sleep(3.0)
            plan = ([("sip", args.calls)] if args.sip else []) + [("webrtc", args.calls)]
            plan += [("webrtc", n) for n in steps]
            failed_at = most + 1
            for kind, n in plan:
                if kind == "webrtc" and n >= failed_at:
                    continue  # the limit is found: a larger step would fail as well
                print(f"phase {kind} N={n} ...", file=sys.stderr)
                phase = await (sip_phase(bench, n) if kind == "sip" else webrtc_phase(bench, n))
                judge(phase)
                phases.append(phase)
                print(f"phase {kind} N={n}: failed {phase.failed}", file=sys.stderr)
                if kind == "webrtc" and phase.failed:
                    failed_at = min(failed_at, n)
                await asyncio.sleep(5.0)  # members exit and the reserve refills
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            await engine.stop()
    return phases


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=10, help="N of the SIP / WebRTC pair")
    parser.add_argument("--window", type=float, default=20.0, help="measurement window, s")
    parser.add_argument("--video", default="320x240", choices=["320x240", "640x480", "none"])
    parser.add_argument(
        "--steps", default="", help="then WebRTC alone at these N (e.g. 15,20,25) until one fails"
    )
    parser.add_argument("--rate", type=float, default=5.0, help="SIP calls per second")
    parser.add_argument("--web-rate", type=float, default=2.0, help="WebRTC calls per second")
    parser.add_argument("--per-process", type=int, default=4, help="browsers per process")
    parser.add_argument("--warm", type=int, default=24, help="warm members (at least N + 4)")
    parser.add_argument("--spare", type=int, default=10, help="pool slots beyond N")
    parser.add_argument("--base", type=int, default=12000, help="first port to try")
    parser.add_argument("--no-sip", dest="sip", action="store_false", help="skip the SIP phase")
    parser.add_argument(
        "--admission",
        action="store_true",
        help="keep the shipped webrtc.max_calls / max_video (default: lifted, raw capacity)",
    )
    parser.add_argument("--out", type=Path, default=None, help="logs (default: a new /tmp dir)")
    args = parser.parse_args()
    args.steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    if args.calls < 1 or args.per_process < 1 or args.spare < 4 or any(s > 60 for s in args.steps):
        sys.exit("--calls >= 1, --per-process >= 1, --spare >= 4, steps <= 60")
    out = args.out or Path(tempfile.mkdtemp(prefix="h110-webrtc-"))
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=out / "engine.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    command = " ".join(["python -m bench.webrtc_calls", *sys.argv[1:]])
    host = machine()  # its load average before we start anything
    phases = await run(args, out)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(report(phases, command, out, host, load))


if __name__ == "__main__":
    asyncio.run(main())
