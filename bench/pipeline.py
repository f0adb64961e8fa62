"""Benchmark: calls per second through trunk -> Kamailio -> pool -> ACD -> seat, side by side with
a bare one-process pjsua2 B2BUA, in the same run.

For each rate, SIPp places `rate * seconds` calls (PCMU + RTP, short hold). Measured per call:
trunk INVITE -> seat INVITE (for the pipeline: the front's receive stamp -> the seat phone's
receive time; for the bare B2BUA: its own receive time -> the seat's), and every failure (SIPp's
failed calls, calls not answered). Run by hand:

    .venv/bin/python bench/pipeline.py [--rates 1,5,20] [--seconds 20] [--hold 1.0]

Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from demo.carrier import Carrier
from demo.seatfarm import SeatFarm
from engine.app import Engine
from engine.settings import (
    AcdSettings,
    FrontSettings,
    HttpSettings,
    PoolSettings,
    SeatSettings,
    Settings,
    TrunkSettings,
)

BASE = 14000  # ports BASE .. BASE+5000, all below 32768


@dataclasses.dataclass
class Result:
    system: str
    rate: float
    calls: int
    failed: int
    latencies_ms: list[float]

    def row(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = statistics.quantiles(lat, n=100, method="inclusive")[98] if len(lat) > 1 else p50
        return (
            f"| {self.system} | {self.rate:g} | {self.calls} | {self.failed} | "
            f"{len(lat)} | {p50:.1f} | {p99:.1f} |"
        )


def seat_invites(farm: SeatFarm, since: int) -> dict[str, list[float]]:
    """Receive times of INVITEs at each seat, in order, from event index `since`."""
    times: dict[str, list[float]] = {}
    for event in farm.events[since:]:
        if event["kind"] == "incoming":
            times.setdefault(event["seat"], []).append(event["at"])
    return times


async def run_pipeline(
    farm: SeatFarm, rates: list[float], seconds: float, hold: float, work: Path
) -> list[Result]:
    seats = tuple(
        SeatSettings(id=s, contact=farm.contact(s), agent=f"a-{s}", ready=True)
        for s in farm.seat_ids()
    )
    settings = Settings(
        state_dir=str(work / "var"),
        log_level="WARNING",
        trunk=TrunkSettings(port=BASE),
        front=FrontSettings(
            internal_port=BASE + 2, rpc_port=BASE + 4, invite_rate=500, per_source_rate=2000
        ),
        pool=PoolSettings(size=200, warm=32, sip_port_base=BASE + 100, rtp_port_base=BASE + 2500),
        acd=AcdSettings(wrap_up=0.2, max_waiting=200),
        http=HttpSettings(port=BASE + 6),
        seats=seats,
    )
    engine = Engine(settings)
    await engine.start()
    runner = asyncio.create_task(engine.run())
    results = []
    try:
        for number, rate in enumerate(rates):
            calls = int(rate * seconds)
            mark = len(farm.events)
            seen = len(engine.router.finished)
            carrier = Carrier(
                workdir=work / f"sipp-pool-{number}", target=f"127.0.0.1:{BASE}",
                sip_port=BASE + 20 + number, media_port=BASE + 40 + 2 * number,
                control_port=BASE + 30 + number, rate=rate, calls=calls,
                hold_ms=(int(hold * 1000), int(hold * 1000)),
            )  # fmt: skip
            await carrier.start()
            await carrier.wait()
            deadline = time.monotonic() + 20
            while engine.router.calls and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            records = list(engine.router.finished)[seen:]
            arrived_at = {
                e["call_id"]: e["at"] for e in farm.events[mark:] if e["kind"] == "incoming"
            }
            latencies = []
            for record in records:
                first_seat = next((s for _, s, what in record.rings if what == "ringing"), None)
                seat_call = record.legs.get(f"seat:{first_seat}")
                if seat_call in arrived_at:
                    latencies.append((arrived_at[seat_call] - record.offered_at) * 1000)
            answered = sum(1 for r in records if r.outcome == "answered")
            failed = calls - answered  # from the caller's side: not answered by a seat
            outcomes: dict[str, int] = {}
            for record in records:
                outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
            never = calls - len(records)
            if failed:
                print(f"  rate {rate:g}: engine saw {len(records)} ({outcomes}); "
                      f"{never} never reached a member", flush=True)  # fmt: skip
            results.append(Result("pool (this engine)", rate, calls, failed, latencies))
            print(results[-1].row(), flush=True)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await engine.stop()
    return results


async def run_bare(
    farm: SeatFarm, rates: list[float], seconds: float, hold: float, work: Path
) -> list[Result]:
    port = BASE + 60
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).parent / "bare_b2bua.py"), str(port), str(BASE + 4500),
        *[farm.contact(s) for s in farm.seat_ids()],
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if line.startswith(b"{"):  # pjlib prints its banner on stdout too
                lines.append(json.loads(line))

    reader = asyncio.create_task(read())
    await asyncio.sleep(1.0)
    results = []
    try:
        for number, rate in enumerate(rates):
            calls = int(rate * seconds)
            mark, first = len(farm.events), len(lines)
            carrier = Carrier(
                workdir=work / f"sipp-bare-{number}", target=f"127.0.0.1:{port}",
                sip_port=BASE + 70 + number, media_port=BASE + 80 + 2 * number,
                control_port=BASE + 90 + number, rate=rate, calls=calls,
                hold_ms=(int(hold * 1000), int(hold * 1000)),
            )  # fmt: skip
            await carrier.start()
            outcome = await carrier.wait()
            await asyncio.sleep(2.0)
            arrivals = seat_invites(farm, mark)
            per_seat: dict[str, list[float]] = {}
            for line in lines[first:]:
                if line["ok"]:
                    seat = line["seat"].split(":")[1].split("@")[0]
                    per_seat.setdefault(seat, []).append(line["arrived"])
            latencies = [
                (arrived - start) * 1000
                for seat, starts in per_seat.items()
                for start, arrived in zip(starts, arrivals.get(seat, []), strict=False)
            ]
            failed = calls - outcome.successful
            results.append(Result("bare pjsua2 B2BUA", rate, calls, failed, latencies))
            print(results[-1].row(), flush=True)
    finally:
        process.terminate()
        await process.wait()
        reader.cancel()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1,5,20")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="h110-bench-") as tmp:
        work = Path(tmp)
        farm = SeatFarm(
            seats=100, sip_port_base=BASE + 400, rtp_port_base=BASE + 800,
            workdir=work / "seats", answer_delay=(0.0, 0.02),
        )  # fmt: skip
        async with farm:
            print("| system | calls/s | calls | failed | measured | p50 INVITE->seat ms | p99 ms |")
            print("|---|---|---|---|---|---|---|")
            await run_pipeline(farm, rates, args.seconds, args.hold, work)
            if not args.no_baseline:
                await run_bare(farm, rates, args.seconds, args.hold, work)


if __name__ == "__main__":
    asyncio.run(main())
