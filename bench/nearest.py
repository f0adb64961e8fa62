"""Benchmark: ranking the nearest officers, numpy (`Force.rank`) against the loop (`rank_python`).

For each force size, officers are spread uniformly over the sample city's extent
(config/city), on a mixed roster (half all day, a quarter 07:00-19:00, a quarter
19:00-07:00), ~70 % AVAILABLE and the rest in other statuses, ~2 % without any position and
~10 % of the positions stale. Then `--queries` incidents at random points in the same extent
(their grid cell looked up beforehand, outside the timing) are ranked by both methods,
interleaved query by query, alternating which goes first, so machine noise hits both alike.
Every query's two answers must name the same officers in the same order.

Also measured: the bytes held in the force's arrays, and the cost of recomputing the roster's
on-duty mask (`rank` caches it until the next local minute or shift boundary).

Run by hand (about 2 minutes on 2 shared vCPUs); prints Markdown for bench/RESULTS.md:

    .venv/bin/python -m bench.nearest [--sizes 10000,100000] [--queries 500] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from dispatch.city import City, load_city
from dispatch.force import Force, ForceConfig, Officer, OfficerStatus
from dispatch.roster import Roster, Shift

CITY = Path(__file__).resolve().parents[1] / "config" / "city"
OTHER = [s for s in OfficerStatus if s is not OfficerStatus.AVAILABLE]


def build(city: City, size: int, now: float, rng: random.Random) -> Force:
    """A force of `size` officers at random over the city (see the module docstring)."""
    south, west, north, east = city.areas.extent()
    cells = city.areas.cells()
    units = [u.id for u in city.units if u.station is not None]
    officers, shifts = [], []
    for i in range(size):
        ident = f"B{i:06d}"
        officers.append(
            Officer(
                id=ident,
                name=f"Officer {i}",
                unit=rng.choice(units),
                grid=rng.choice(cells),
                phone=f"sip:b{i}@127.0.0.1",
            )
        )
        pattern = rng.random()
        daily = (0, 1440) if pattern < 0.5 else (420, 1140) if pattern < 0.75 else (1140, 420)
        shifts.append(Shift.every_day(ident, *daily))
    force = Force(officers, city.units, Roster(shifts, city.roster.tz), ForceConfig())
    for officer in officers:
        if rng.random() < 0.02:
            continue  # never reported a position
        age = rng.uniform(200, 1000) if rng.random() < 0.10 else rng.uniform(0, 110)
        lat, lon = rng.uniform(south, north), rng.uniform(west, east)
        force.update_position(officer.id, lat, lon, now - age, rng.uniform(0, 20), now)
        if rng.random() >= 0.70:
            force.set_status(officer.id, rng.choice(OTHER), now)
    return force


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(city: City, size: int, queries: int, limit: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 29, 10, 0, tzinfo=city.roster.tz).timestamp()
    force = build(city, size, now, rng)
    eligible = sum(
        v.on_duty and v.status is OfficerStatus.AVAILABLE and v.lat is not None
        for v in force.officers(now)
    )
    south, west, north, east = city.areas.extent()
    incidents = []
    for _ in range(queries):
        lat, lon = rng.uniform(south, north), rng.uniform(west, east)
        incidents.append((lat, lon, city.areas.locate(lat, lon).grid))
    for lat, lon, grid in incidents[:5]:  # warm up both paths (and the duty mask cache)
        force.rank(lat, lon, now, grid=grid, limit=limit)
        force.rank_python(lat, lon, now, grid=grid, limit=limit)
    fast: list[float] = []
    slow: list[float] = []
    gc.collect()
    for n, (lat, lon, grid) in enumerate(incidents):
        # queries 1 ms apart: the same local minute, as a burst of incidents would be
        when = now + n * 0.001
        order = (force.rank, force.rank_python) if n % 2 else (force.rank_python, force.rank)
        answers = {}
        for method in order:
            started = time.perf_counter_ns()
            answers[method.__name__] = method(lat, lon, when, grid=grid, limit=limit)
            took = (time.perf_counter_ns() - started) / 1e6
            (fast if method.__name__ == "rank" else slow).append(took)
        got, want = answers["rank"], answers["rank_python"]
        if [c.officer_id for c in got] != [c.officer_id for c in want]:
            raise SystemExit(f"query {n}: rank and rank_python disagree")
    index = {f"B{i:06d}": i for i in range(size)}
    table = force.roster.duty_table(index)
    mask_ms = []
    for k in range(50):
        started = time.perf_counter_ns()
        table.mask(now + 60.0 * k)
        mask_ms.append((time.perf_counter_ns() - started) / 1e6)
    return {
        "size": size,
        "eligible": eligible,
        "queries": queries,
        "fast_p50": percentile(fast, 50),
        "fast_p99": percentile(fast, 99),
        "fast_mean": statistics.fmean(fast),
        "slow_p50": percentile(slow, 50),
        "slow_p99": percentile(slow, 99),
        "slow_mean": statistics.fmean(slow),
        "mask_p50": percentile(mask_ms, 50),
        "nbytes": force.nbytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    city = load_city(CITY)
    rows = [
        run(city, int(size), args.queries, args.limit, args.seed) for size in args.sizes.split(",")
    ]
    print(f"Python {platform.python_version()}, numpy {np.__version__}, limit {args.limit}\n")
    print(
        "| officers | eligible | queries | rank p50 ms | rank p99 ms | rank_python p50 ms "
        "| rank_python p99 ms | speed-up p50 | speed-up p99 | arrays MiB | duty mask ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['eligible']:,} | {r['queries']} | {r['fast_p50']:.3f} "
            f"| {r['fast_p99']:.3f} | {r['slow_p50']:.2f} | {r['slow_p99']:.2f} "
            f"| {r['slow_p50'] / r['fast_p50']:.0f}x | {r['slow_p99'] / r['fast_p99']:.0f}x "
            f"| {r['nbytes'] / 2**20:.2f} | {r['mask_p50']:.3f} |"
        )
    for r in rows:
        if r["size"] == 10_000:
            ratio, p99 = r["slow_p50"] / r["fast_p50"], r["fast_p99"]
            met = ratio >= 20 and p99 < 2.0
            print(
                f"\nGoal at 10,000 officers (>= 20x the loop, p99 < 2 ms): "
                f"{'met' if met else 'MISSED'} ({ratio:.0f}x, p99 {p99:.3f} ms)"
            )


if __name__ == "__main__":
    main()
