"""Benchmark: what the pool costs. Run by hand; prints Markdown for bench/RESULTS.md.

1. A warm (idle) pool member: PSS and CPU, against a naive idle pjsua2 process (default
   EpConfig: a media worker thread, the null sound device), measured side by side.
2. Time to start a member (fork server -> user agent ready).
3. 100 simultaneous bridged calls with RTP flowing (SIPp carrier -> pool -> 100 pjsua2 seats):
   CPU and memory of the members, the front, the engine, the seats and SIPp.

    .venv/bin/python bench/pool_cost.py [--idle-seconds 30] [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
from sip.slots import SlotState

BASE = 19000
TICK = os.sysconf("SC_CLK_TCK")
NAIVE = """
import time, pjsua2 as pj
ep = pj.Endpoint(); ep.libCreate()
cfg = pj.EpConfig(); cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
ep.libInit(cfg)
t = pj.TransportConfig(); t.port = {port}; t.boundAddress = t.publicAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, t); ep.libStart(); ep.audDevManager().setNullDev()
print("ready", flush=True)
while True: time.sleep(1)
"""


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB."""
    pss = rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


async def measure_cpu(pids: list[int], seconds: float) -> float:
    """Share of one core used by `pids` together over `seconds`."""
    before, start = cpu_seconds(pids), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pids) - before) / (time.monotonic() - start)


def settings(work: Path, seats: tuple[SeatSettings, ...], warm: int, size: int) -> Settings:
    return Settings(
        state_dir=str(work / "var"),
        log_level="WARNING",
        trunk=TrunkSettings(port=BASE),
        front=FrontSettings(internal_port=BASE + 2, rpc_port=BASE + 4, invite_rate=500),
        pool=PoolSettings(
            size=size, warm=warm, sip_port_base=BASE + 100, rtp_port_base=BASE + 2500
        ),
        acd=AcdSettings(wrap_up=0.5, max_waiting=200),
        http=HttpSettings(port=BASE + 6),
        seats=seats,
    )


async def idle_members(work: Path, seconds: float) -> None:
    engine = Engine(settings(work, (), warm=20, size=20))
    started = time.monotonic()
    await engine.start()
    ready_after = time.monotonic() - started
    naive = [
        subprocess.Popen([sys.executable, "-c", NAIVE.format(port=BASE + 300 + n)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for n in range(5)
    ]  # fmt: skip
    try:
        for process in naive:
            assert process.stdout is not None
            while b"ready" not in process.stdout.readline():
                pass
        await asyncio.sleep(3.0)
        members = [s["pid"] for s in engine.pool.snapshot() if s["state"] == "warm"]
        both = await asyncio.gather(
            measure_cpu(members, seconds), measure_cpu([p.pid for p in naive], seconds)
        )
        member_cpu, naive_cpu = both[0] / len(members), both[1] / len(naive)
        member_mem = [memory_kib(pid) for pid in members]
        naive_mem = [memory_kib(p.pid) for p in naive]
        starts = sorted(engine.pool.member_starts)
        print(
            f"\n### Idle cost ({len(members)} warm members vs {len(naive)} naive pjsua2 "
            f"processes, {seconds:.0f} s side by side)\n"
        )
        print("| | PSS MiB each | RSS MiB each | CPU % of a core each |")
        print("|---|---|---|---|")
        for name, mem, cpu in (("warm pool member", member_mem, member_cpu),
                               ("naive idle pjsua2 process", naive_mem, naive_cpu)):  # fmt: skip
            pss = statistics.mean(m[0] for m in mem) / 1024
            rss = statistics.mean(m[1] for m in mem) / 1024
            print(f"| {name} | {pss:.1f} | {rss:.1f} | {cpu * 100:.3f} |")
        print(f"\nMember start (fork server -> user agent ready), {len(starts)} members: "
              f"p50 {statistics.median(starts) * 1000:.1f} ms, max {max(starts) * 1000:.1f} ms; "
              f"engine start to {len(members)} warm members: {ready_after:.2f} s")  # fmt: skip
    finally:
        for process in naive:
            process.kill()
            process.wait()
        await engine.stop()


async def busy_pool(work: Path, calls: int) -> None:
    async with SeatFarm(
        seats=calls, sip_port_base=BASE + 400, rtp_port_base=BASE + 800,
        workdir=work / "seats", answer_delay=(0.1, 0.3),
    ) as farm:  # fmt: skip
        seats = tuple(
            SeatSettings(id=s, contact=farm.contact(s), agent=f"a-{s}", ready=True)
            for s in farm.seat_ids()
        )
        engine = Engine(settings(work, seats, warm=16, size=calls + 40))
        await engine.start()
        runner = asyncio.create_task(engine.run())
        carrier = Carrier(
            workdir=work / "sipp", target=f"127.0.0.1:{BASE}", sip_port=BASE + 20,
            media_port=BASE + 40, control_port=BASE + 30, rate=20, calls=calls,
            hold_ms=(40000, 40000), max_concurrent=calls + 10,
        )  # fmt: skip
        try:
            await carrier.start()
            deadline = time.monotonic() + 30
            while engine.router.tally.answered < calls and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)
            connected = sum(1 for r in engine.router.calls.values() if r.answered_at is not None)
            members = [s["pid"] for s in engine.pool.snapshot() if s["state"] == "busy"]
            front_pid = int((engine.run_dir / "front" / "kamailio.pid").read_text())
            front = [front_pid, *children(front_pid)]
            sipp = children(os.getpid())
            sipp = [pid for pid in sipp if "sipp" in Path(f"/proc/{pid}/cmdline").read_text()]
            groups = {
                "pool members (busy)": members,
                "Kamailio front": front,
                "engine (this process)": [os.getpid()],
                "seat phones (pjsua2 farm)": farm.worker_pids(),
                "SIPp carrier": sipp,
            }
            cpu = await asyncio.gather(*(measure_cpu(p, 10.0) for p in groups.values()))
            print(f"\n### {connected} simultaneous bridged calls, RTP both ways (10 s)\n")
            print("| processes | count | CPU % of a core | PSS MiB total | PSS MiB each |")
            print("|---|---|---|---|---|")
            for (name, pids), share in zip(groups.items(), cpu, strict=True):
                pss = sum(memory_kib(pid)[0] for pid in pids) / 1024
                each = pss / len(pids) if pids else 0
                print(f"| {name} | {len(pids)} | {share * 100:.1f} | {pss:.0f} | {each:.1f} |")
            starts = sorted(engine.pool.member_starts)
            if starts:
                print(
                    f"\nMembers started while the calls came in at 20/s: {len(starts)}, "
                    f"fork -> ready p50 {statistics.median(starts) * 1000:.0f} ms, "
                    f"max {max(starts) * 1000:.0f} ms."
                )
            per_call = cpu[0] / max(1, len(members)) * 100
            print(f"\nPer bridged call in its member: {per_call:.2f} % of a core.")
            warm = engine.pool.core.count(SlotState.WARM)
            print(f"Warm members kept in reserve meanwhile: {warm}.")
        finally:
            await carrier.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            await engine.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="h110-cost-") as tmp:
        await idle_members(Path(tmp) / "idle", args.idle_seconds)
        await busy_pool(Path(tmp) / "busy", args.calls)


if __name__ == "__main__":
    asyncio.run(main())
