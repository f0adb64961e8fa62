"""Judging and reporting for bench.webrtc_calls (its module docstring lists the criteria)."""

from __future__ import annotations

import datetime
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.webrtc_calls import Phase

ANSWER_TARGET_S = 3.0
MIN_SHARE = 0.5
MAX_SILENT = 0.02
MIN_VIDEO = 0.5
SATURATED = 0.95


def judge(phase: Phase) -> None:
    """Fill phase.failed with the quality criteria of the module docstring it failed."""
    failed = phase.failed
    if len(phase.call_ids) < phase.n:
        failed.append(f"only {len(phase.call_ids)} of {phase.n} answered")
    waits = phase.posted_s or phase.answer_s
    late = sum(1 for w in waits if w > ANSWER_TARGET_S)
    if late:
        failed.append(f"{late} answered after {ANSWER_TARGET_S:.0f} s (max {max(waits):.2f} s)")
    for side, reports in (("seat", phase.seat_audio), ("browser", phase.browser_audio)):
        bad = [r for r in reports if r["share"] < MIN_SHARE or _silent(r) > MAX_SILENT]
        if bad:
            worst = max(_silent(r) for r in bad)
            failed.append(f"{len(bad)} calls' audio bad at the {side} (silent up to {worst:.1%})")
    if len(phase.seat_audio) < len(phase.call_ids):
        failed.append(f"{len(phase.call_ids) - len(phase.seat_audio)} seat recordings missing")
    if phase.kind == "webrtc":
        if len(phase.browser_audio) < len(phase.call_ids):
            failed.append("browsers' audio reports missing")
        few = [v for v in phase.video if v["frames"] < MIN_VIDEO * max(1, v["sent"])]
        missing = phase.resolution != "none" and len(phase.video) < len(phase.call_ids)
        if few or missing:
            failed.append(
                f"video: {len(phase.video)} recorded of {len(phase.call_ids)}, "
                f"{len(few)} under {MIN_VIDEO:.0%} of the frames sent"
            )
    cores = os.cpu_count() or 1
    ours = sum(u.cpu for u in phase.usage.values())  # others' load is reported, not judged
    if ours >= SATURATED * cores:
        failed.append(f"CPU saturated: this run's processes used {ours:.2f} of {cores} cores")


def _silent(report: dict[str, float]) -> float:
    return report["silent"] / max(1.0, report["frames"])


def _spread(values: list[float], unit: str = " s") -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"min {ordered[0]:.2f}, p50 {statistics.median(ordered):.2f}, p90 {p90:.2f}, "
        f"max {ordered[-1]:.2f}{unit}"
    )


def report_phase(phase: Phase) -> list[str]:
    title = (
        f"SIP (SIPp -> seat), N={phase.n}"
        if phase.kind == "sip"
        else (f"WebRTC (aiortc browser, video {phase.resolution}) -> seat, N={phase.n}")
    )
    window = phase.window[1] - phase.window[0]
    lines = [
        f"### {title}: {len(phase.call_ids)} answered, {window:.0f} s window",
        "",
        "| processes | count | CPU % of a core | waited for a CPU % | PSS MiB | RSS MiB | "
        "per call: CPU % | per call: PSS MiB | per call: RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    calls = max(1, len(phase.call_ids))
    for name, u in phase.usage.items():
        lines.append(
            f"| {name} | {u.count} | {u.cpu * 100:.1f} | {u.waited * 100:.1f} | "
            f"{u.pss_kib / 1024:.0f} | {u.rss_kib / 1024:.0f} | {u.cpu * 100 / calls:.2f} | "
            f"{u.pss_kib / 1024 / calls:.1f} | {u.rss_kib / 1024 / calls:.1f} |"
        )
    total = sum(u.cpu for u in phase.usage.values())
    others = max(0.0, phase.machine_cores - total)
    product = sum(u.cpu for k, u in phase.usage.items() if "farm" not in k and "caller" not in k)
    lines += [
        "",
        f"- product (members, engine, Kamailio, fork server): {product * 100:.1f} % of a core; "
        f"with the simulated seats and callers {total * 100:.1f} %; the whole machine "
        f"{phase.machine_cores:.2f} cores busy (others {others:.2f})",
        f"- ramp {phase.ramp_s:.1f} s; {phase.callers}",
        f"- offer -> seat answered (engine): {_spread(phase.answer_s)}",
    ]
    if phase.posted_s:
        lines.append(f"- citizen's POST -> seat answered: {_spread(phase.posted_s)}")
        lines.append(f"- POST -> 201 with aiortc's answer: {_spread(phase.http_s)}")
    for side, reports, hz in (
        ("seat heard the caller (440 Hz)", phase.seat_audio, "share"),
        ("browser heard the seat (880 Hz)", phase.browser_audio, "share"),
    ):
        if reports:
            silent = [100 * _silent(r) for r in reports]
            lines.append(
                f"- {side}, window: {len(reports)} calls, tone {hz} "
                f"{_spread([r['share'] for r in reports], '')}; silent 20 ms frames % "
                f"{_spread(silent, '')}; seconds {_spread([r['seconds'] for r in reports], '')}"
            )
    if phase.sent:
        audio = [r["window_audio_sent_s"] / max(0.1, r["wall_s"]) for r in phase.sent]
        fps = [r["window_video_sent"] / max(0.1, r["wall_s"]) for r in phase.sent]
        lags = [float(r["loop_lag_max_s"]) for r in phase.sent]
        lines.append(
            f"- browsers sent during the window (audio s per wall s; video fps): "
            f"{_spread(audio, '')}; {_spread(fps, '')}; their processes' event loop late by "
            f"up to {max(lags):.2f} s ({max(r['loop_lags'] for r in phase.sent)} times > 0.1 s)"
        )
    if phase.growth_s:
        lines.append(
            f"- call recordings (WAV) grew {min(phase.growth_s):.1f}-{max(phase.growth_s):.1f} s "
            f"in the window; RecordingDone {phase.recordings} of {len(phase.call_ids)}"
        )
    if phase.video:
        ratios = [v["frames"] / max(1, v["sent"]) for v in phase.video]
        fps = [v["frames"] / max(0.1, v["seconds"]) for v in phase.video]
        lines.append(
            f"- VideoRecorded: {len(phase.video)} of {len(phase.call_ids)}, frames "
            f"{_spread([float(v['frames']) for v in phase.video], '')}, recorded/sent "
            f"{_spread(ratios, '')}, fps {_spread(fps, '')}, "
            f"{sum(v['size'] for v in phase.video) / 2**20:.1f} MiB"
        )
    lines.append(f"- quality: {'FAILED: ' + '; '.join(phase.failed) if phase.failed else 'pass'}")
    lines.append(f"- problems: {len(phase.problems)}")
    lines += [f"  - {problem}" for problem in phase.problems[:15]]
    return [*lines, ""]


def ratios(phases: list[Phase]) -> list[str]:
    lines = []
    sips = {p.n: p for p in phases if p.kind == "sip"}
    for web in (p for p in phases if p.kind == "webrtc" and p.n in sips):
        sip = sips[web.n]
        lines.append(f"WebRTC / SIP at N={web.n}:")
        for group in ("pool members (holding the calls)", "engine (this process)"):
            a, b = web.usage.get(group), sip.usage.get(group)
            if a is None or b is None:
                continue
            cpu = a.cpu / b.cpu if b.cpu > 0 else float("inf")
            lines.append(
                f"- {group}: CPU x{cpu:.1f} ({a.cpu * 100 / web.n:.2f} vs "
                f"{b.cpu * 100 / sip.n:.2f} % of a core per call), PSS "
                f"x{a.pss_kib / max(1, b.pss_kib):.1f} ({a.pss_kib / 1024 / web.n:.1f} vs "
                f"{b.pss_kib / 1024 / sip.n:.1f} MiB per call), RSS "
                f"x{a.rss_kib / max(1, b.rss_kib):.1f}"
            )
    return lines


def report(phases: list[Phase], command: str, out: Path, host: str, load: str) -> str:
    lines = [
        f"`{command}` ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; logs in {out})",
        "",
        f"Machine: {host}; load average at the end: {load}",
        "",
    ]
    for phase in phases:
        lines += report_phase(phase)
    lines += ratios(phases)
    webs = [p for p in phases if p.kind == "webrtc"]
    passed = [p.n for p in webs if not p.failed]
    failed = sorted((p for p in webs if p.failed), key=lambda p: p.n)
    lines.append("")
    lines.append(
        f"Limit: largest WebRTC N that passed: {max(passed) if passed else 'none'}; "
        + (
            f"smallest failing N={failed[0].n}: {'; '.join(failed[0].failed)}"
            if failed
            else "no step failed"
        )
    )
    return "\n".join(lines)
