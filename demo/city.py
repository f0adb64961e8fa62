"""The simulated city: real SIP callers on the trunk, real SIP seat and officer phones, the
real engine.

`hotline110 demo` starts a seat farm (pjsua2 phones that answer like call-takers) and an
officer farm (one phone per officer of the city and a duty phone shared by every unit,
`demo.officers`), the engine on embedded defaults with those seats logged in and ready and
the city's phones moved onto the officer farm, and SIPp as the carrier placing calls at the
chosen rate. While it runs, the officers patrol the grid and report their positions, and a
share of the answered calls (`dispatch_share`) is dispatched to a random point of the city:
the nearest officer's phone rings and joins the caller and the call-taker. It shows a live
status line and, for a fixed number of calls, ends with one summary line:

    offered=N answered=N within_3s=N abandoned=N failed=N p50_answer_ms=X p99_answer_ms=Y \
    bridged=N within_30s=N p99_bridge_ms=Z

(one line). `offered` counts the calls the carrier placed; a call the front refused before it
reached the engine counts as failed, so the line adds up from the caller's side. `bridged`
counts officers joined into a call; their time runs from the caller's INVITE, and
`within_30s` counts those within the 30 s target.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from demo.carrier import Carrier, CarrierResult
from demo.officers import PER_PROCESS, Patrol, city_on_farm, officer_farm
from demo.seatfarm import RTP_PORTS_PER_WORKER, SeatFarm
from dispatch.city import City
from engine.access import hash_password
from engine.app import Engine, load_city_settings
from engine.errors import StartupError
from engine.settings import SeatSettings, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPlan:
    calls: int | None
    """Calls to place; None = keep calling until interrupted."""
    rate: float
    seats: int
    hold_ms: tuple[int, int]
    answer_delay: tuple[float, float] = (0.2, 0.8)
    dispatch_share: float = 0.3
    """Share of the answered calls dispatched to an officer (0..1)."""
    seed: int = 110
    """Seeds which calls are dispatched, where, and how officers patrol."""
    port_base: int = 24000
    """Demo ports: trunk base+60, front internal base+70, RPC base+72, pool SIP base+100..
    (one per slot), seats base+400.. (one per 3 seats), carrier base+500, 501 and 510..,
    officer phones base+800.. (one per 3 phones), pool RTP base+2000.. (10 per slot: to
    base+3599 at the default 160 slots), officer RTP base+3700.. (12 per 3 phones: to base+3903
    for the sample city's 48 officers and duty phone), seat RTP base+4500.. (12 per 3 seats).
    `check_ports` refuses a layout whose ranges overlap (e.g. a pool of more than 170 slots)."""


OFFICERS_SIP, OFFICERS_RTP = 800, 3700


def demo_settings(base: Settings, plan: DemoPlan, farm: SeatFarm) -> Settings:
    """Embedded defaults moved onto the demo's ports, with the farm's seats ready."""
    p = plan.port_base
    seats = tuple(
        SeatSettings(
            id=seat_id, contact=farm.contact(seat_id), agent=f"agent-{seat_id}", ready=True
        )
        for seat_id in farm.seat_ids()
    )
    return dataclasses.replace(
        base,
        trunk=dataclasses.replace(base.trunk, port=p + 60),
        front=dataclasses.replace(base.front, internal_port=p + 70, rpc_port=p + 72),
        pool=dataclasses.replace(base.pool, sip_port_base=p + 100, rtp_port_base=p + 2000),
        seats=seats,
    )


def caller_points(city: City, seed: int, count: int = 500) -> list[tuple[float, float]]:
    """Where the demo's callers are (a PIDF-LO by value in each INVITE): random points of
    random grid cells, used in turn."""
    rng = random.Random(seed)
    cells = city.areas.cells()
    return [city.areas.random_point(rng.choice(cells), rng) for _ in range(count)]


def demo_supervisor(workdir: Path) -> tuple[Path, str]:
    """An access file with one supervisor whose password is new every run (printed, never
    stored in clear); returns the file and the log-in to show."""
    password = secrets.token_urlsafe(9)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "access.toml"
    path.write_text(
        f'[[users]]\nname = "supervisor"\nrole = "supervisor"\n'
        f'password = "{hash_password(password)}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path, f"user supervisor  password {password}"


def check_ports(plan: DemoPlan, settings: Settings, officer_phones: int) -> None:
    """StartupError naming two of the demo's port ranges that overlap, if any do."""
    p = plan.port_base
    seat_workers = -(-plan.seats // 3)  # SeatFarm's default per_process
    officer_workers = -(-officer_phones // PER_PROCESS)
    size, span = settings.pool.size, settings.pool.rtp_ports_per_member
    ranges = {
        "trunk": (p + 60, p + 61),
        "front internal and RPC": (p + 70, p + 73),
        "pool SIP": (p + 100, p + 100 + size),
        "seat SIP": (p + 400, p + 400 + seat_workers),
        "carrier": (p + 500, p + 520),
        "officer SIP": (p + OFFICERS_SIP, p + OFFICERS_SIP + officer_workers),
        "pool RTP": (p + 2000, p + 2000 + size * span),
        "officer RTP": (
            p + OFFICERS_RTP,
            p + OFFICERS_RTP + officer_workers * RTP_PORTS_PER_WORKER,
        ),
        "seat RTP": (p + 4500, p + 4500 + seat_workers * RTP_PORTS_PER_WORKER),
    }
    spans = sorted(ranges.items(), key=lambda item: item[1])
    for (name, (_, end)), (other, (start, _)) in itertools.pairwise(spans):
        if start < end:
            raise StartupError(f"demo ports: {name} overlaps {other} (port {start})")
    if spans[-1][1][1] > 65536:
        raise StartupError(f"demo ports: {spans[-1][0]} goes past port 65535")


def status_line(summary: dict[str, Any]) -> str:
    return (
        f"offered {summary['offered']:>5}  answered {summary['answered']:>5}  "
        f"within 3 s {summary['within_3s']:>5}  queued {summary['queued']:>3}  "
        f"p50 {summary['p50_answer_ms']:>4} ms  p99 {summary['p99_answer_ms']:>4} ms  |  "
        f"seats ready {summary['seats_ready']:>3} talking {summary['seats_talking']:>3}  |  "
        f"pool warm {summary['pool_warm']:>3} busy {summary['pool_busy']:>3}  |  "
        f"dispatched {summary['dispatched']:>4} bridged {summary['bridged']:>4}"
    )


def summary_line(summary: dict[str, Any], carrier: CarrierResult, placed: int | None) -> str:
    offered = max(summary["offered"], placed or 0, carrier.created)
    never_reached = max(0, offered - summary["offered"])
    failed = summary["failed"] + never_reached
    return (
        f"offered={offered} answered={summary['answered']} within_3s={summary['within_3s']} "
        f"abandoned={summary['abandoned']} failed={failed} "
        f"p50_answer_ms={summary['p50_answer_ms']} p99_answer_ms={summary['p99_answer_ms']} "
        f"bridged={summary['bridged']} within_30s={summary['within_30s']} "
        f"p99_bridge_ms={summary['p99_bridge_ms']}"
    )


async def run_demo(base: Settings, plan: DemoPlan, out: TextIO = sys.stdout) -> str:
    """Run the simulated city; return the summary line (also printed) when it ends."""
    workdir = Path(base.state_dir).resolve() / "demo"
    city = load_city_settings(base)
    farm = SeatFarm(
        seats=plan.seats,
        sip_port_base=plan.port_base + 400,
        rtp_port_base=plan.port_base + 4500,
        workdir=workdir / "seats",
        answer_delay=plan.answer_delay,
    )
    officers = officer_farm(
        city,
        sip_port_base=plan.port_base + OFFICERS_SIP,
        rtp_port_base=plan.port_base + OFFICERS_RTP,
        workdir=workdir / "officers",
    )
    settings = demo_settings(base, plan, farm)
    login = ""
    if not settings.access.users:  # a supervisor for the dashboard, new every run
        users, login = demo_supervisor(workdir)
        settings = dataclasses.replace(
            settings, access=dataclasses.replace(settings.access, users=str(users))
        )
    check_ports(plan, settings, len(officers.seat_ids()))
    engine: Engine | None = None
    carrier: Carrier | None = None
    status: asyncio.Task[None] | None = None
    patrol: asyncio.Task[None] | None = None
    try:
        started = await asyncio.gather(farm.start(), officers.start(), return_exceptions=True)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        engine = Engine(settings, city=city_on_farm(city, officers))
        await engine.start()
        if login and plan.calls is None:
            http = f"http://{settings.http.address}:{settings.http.port}"
            print(f"dashboard {http}/dashboard  {login}", file=out, flush=True)
            print(f"110 web app (video, text, pictures) {http}/app", file=out, flush=True)
        runner = asyncio.create_task(engine.run())
        patrol = asyncio.create_task(
            Patrol(engine, dispatch_share=plan.dispatch_share, seed=plan.seed).run()
        )
        carrier = Carrier(
            workdir=workdir / "carrier",
            target=f"{settings.trunk.address}:{settings.trunk.port}",
            sip_port=plan.port_base + 500,
            media_port=plan.port_base + 510,
            control_port=plan.port_base + 501,
            rate=plan.rate,
            calls=plan.calls,
            hold_ms=plan.hold_ms,
            locations=caller_points(city, plan.seed),
        )
        await carrier.start()
        status = asyncio.create_task(_show_status(engine, out))
        try:
            result = await _wait_carrier(carrier, runner)
        except asyncio.CancelledError:
            result = await carrier.stop()
        await _drain(engine, timeout=15.0)
        line = summary_line(engine.summary(), result, plan.calls)
        status.cancel()
        patrol.cancel()
        _clear_status(out)
        print(line, file=out, flush=True)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        return line
    finally:
        for task in (status, patrol):
            if task is not None:
                task.cancel()
        if carrier is not None:
            with contextlib.suppress(Exception):
                await carrier.stop()
        if engine is not None:
            await engine.stop()
        await farm.stop()
        await officers.stop()


async def _wait_carrier(carrier: Carrier, runner: asyncio.Task[None]) -> CarrierResult:
    waiter = asyncio.create_task(carrier.wait())
    done, _ = await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        runner.result()  # raises what stopped the engine
        raise RuntimeError("the engine stopped")
    return waiter.result()


async def _drain(engine: Engine, timeout: float) -> None:
    """Let calls in progress finish (their BYEs cross the engine after SIPp exits)."""
    deadline = time.monotonic() + timeout
    while engine.router.calls and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def _show_status(engine: Engine, out: TextIO) -> None:
    tty = out.isatty()
    tick = 0
    while True:
        await asyncio.sleep(1.0)
        tick += 1
        line = status_line(engine.summary())
        if tty:
            out.write("\r\033[K" + line)
            out.flush()
        elif tick % 5 == 0:
            print(line, file=out, flush=True)


def _clear_status(out: TextIO) -> None:
    if out.isatty():
        out.write("\r\033[K")
        out.flush()
