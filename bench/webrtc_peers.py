"""Simulated citizens for bench.webrtc_calls: processes each holding several aiortc "browsers".

The browsers run outside the engine's process (and outside its members), so what the benchmark
measures is the product, not the caller simulators. Each process is

    python -m bench.webrtc_peers --url http://127.0.0.1:P --calls K --index I --procs M
        --rate R --video 320x240 --max-hold S

and places K calls (call j at (j * M + I) / R s after its start, so M processes together place
R calls a second), each a `tests.peers.webrtc_peer.Browser` speaking a 440 Hz tone plus a
moving test pattern at 15 fps of the chosen size, POSTed to /api/intake/calls as the 110 web
app does. It writes JSON lines on stdout ("call" when the engine answered the offer, "refused"
otherwise) and reads commands on stdin: "mark" (the measurement window opens: what each browser
hears is counted from here), "stop" (the window has closed: report what each browser heard
since the mark and how many video frames it sent, hang up with DELETE, close, exit). It exits on
its own after --max-hold seconds or when stdin closes (the benchmark is gone).

`tone_report` is the audio evidence both sides use (what a browser heard, what a seat phone
recorded): the tone's share of the energy, the level, and how many 20 ms frames were silent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import sys
import time
import wave
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack

from tests.peers.audio import rms, tone_levels
from tests.peers.webrtc_peer import Browser

CALLER_HZ = 440.0
SEAT_HZ = 880.0  # demo.seatfarm's default tone
FPS = 15
SILENT_RMS = 0.01
"""A 20 ms frame below this RMS is silence (the tones are at 0.24-0.3 of full scale)."""


class Pattern(MediaStreamTrack):
    """A camera of `width` x `height` at 15 fps whose picture moves; counts what it sent."""

    kind = "video"

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.sent = 0
        self._start: float | None = None
        self._images = []
        for shade in range(32 if width else 0):  # one loop of the brightness ramp, made once
            image = np.zeros((height, width, 3), np.uint8)
            image[:, :, 1] = shade * 8
            image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4, 0] = 255
            image[(shade * 7) % height, :, 2] = 255  # a moving line: every frame differs
            self._images.append(image)

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self.sent / FPS - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.VideoFrame.from_ndarray(self._images[self.sent % 32], format="rgb24")
        frame.pts, frame.time_base = self.sent * 6000, fractions.Fraction(1, 90000)
        self.sent += 1
        return frame


def tone_report(samples: np.ndarray, rate: int, hz: float) -> dict[str, float]:
    """The tone's share of the energy, the RMS, and the share of silent 20 ms frames."""
    step = rate // 50
    frames = len(samples) // step
    silent = 0
    if frames:
        levels = np.sqrt(np.mean(samples[: frames * step].reshape(frames, step) ** 2, axis=1))
        silent = int(np.sum(levels < SILENT_RMS))
    return {
        "seconds": round(len(samples) / rate, 2),
        "share": round(tone_levels(samples, rate, [hz])[hz], 3),
        "rms": round(rms(samples), 4),
        "frames": frames,
        "silent": silent,
    }


def wav_report(path: str, start_s: float, end_s: float, hz: float) -> dict[str, float]:
    """`tone_report` of seconds [start_s, end_s) of a 16-bit mono WAV (a seat's recording)."""
    try:
        with wave.open(path, "rb") as wav:
            rate = wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return {"seconds": 0.0, "share": 0.0, "rms": 0.0, "frames": 0, "silent": 0}
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    low, high = max(0, int(start_s * rate)), max(0, int(end_s * rate))
    return tone_report(samples[low:high], rate, hz)


# -- the benchmark's side -----------------------------------------------------------------------


class Citizens:
    """`procs` processes of this module placing `calls` calls together (see the docstring)."""

    def __init__(self, *, url: str, calls: int, procs: int, rate: float, video: str, hold: float):
        self.url, self.calls, self.rate, self.video, self.hold = url, calls, rate, video, hold
        self.procs = max(1, min(procs, calls))
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._children: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        shares = [
            self.calls // self.procs + (i < self.calls % self.procs) for i in range(self.procs)
        ]
        first = 0
        for index, share in enumerate(shares):
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.webrtc_peers", "--url", self.url,
                "--calls", str(share), "--first", str(first), "--index", str(index),
                "--procs", str(self.procs), "--rate", str(self.rate), "--video", self.video,
                "--max-hold", str(self.hold),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, limit=1 << 20,
            )  # fmt: skip
            first += share
            self._children.append(child)
            self._readers.append(asyncio.create_task(self._read(child)))

    def pids(self) -> list[int]:
        return [c.pid for c in self._children if c.returncode is None]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    async def mark(self) -> None:
        await self._command(b"mark\n", "marked", 10.0)

    async def stop(self) -> None:
        """Report what was heard and hang up; every process gone within 60 s (then killed)."""
        await self._command(b"stop\n", "done", 60.0)
        for child in self._children:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 15.0)
            if child.returncode is None:
                child.kill()
                self.errors.append(f"browser process {child.pid} killed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(child.wait(), 10.0)
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def _command(self, line: bytes, reply: str, timeout: float) -> None:
        want = len(self.of(reply)) + sum(1 for c in self._children if c.returncode is None)
        for child in self._children:
            if child.stdin is not None and child.returncode is None:
                with contextlib.suppress(ConnectionError):
                    child.stdin.write(line)
        deadline = time.monotonic() + timeout
        while len(self.of(reply)) < want and time.monotonic() < deadline:
            if all(c.returncode is not None for c in self._children):
                break
            await asyncio.sleep(0.05)
        if len(self.of(reply)) < want:
            self.errors.append(f"{want - len(self.of(reply))} browser processes missed {line!r}")

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        while line := await child.stdout.readline():
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))


# -- one process of citizens ------------------------------------------------------------------


class Citizen:
    def __init__(self, number: int, width: int, height: int) -> None:
        self.number = number
        self.browser = Browser(hz=CALLER_HZ)
        self.video = Pattern(width, height)
        if width:  # --video none: an audio-only caller
            self.browser.pc.addTrack(self.video)
        self.call = ""
        self.token = ""
        self.mark = 0
        self.marked_at = 0.0
        self.sent_at_mark = (0, 0)

    def tone_samples(self) -> int:
        """48 kHz samples the browser's microphone has given aiortc so far."""
        tracks = [s.track for s in self.browser.pc.getSenders() if s.track is not None]
        return sum(int(getattr(t, "_n", 0)) for t in tracks if t.kind == "audio")

    def set_mark(self) -> None:
        self.mark, self.marked_at = len(self.browser.heard), time.monotonic()
        self.sent_at_mark = (self.tone_samples(), self.video.sent)


async def place(
    citizen: Citizen, session: aiohttp.ClientSession, url: str, out: list[dict[str, Any]]
) -> None:
    body = {
        "type": "offer",
        "sdp": await citizen.browser.offer(),
        "phone": f"1380{citizen.number:07d}",
    }
    posted = time.monotonic()
    try:
        async with session.post(f"{url}/api/intake/calls", json=body) as response:
            data = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        status, data = 0, {"error": repr(exc)}
    replied = time.monotonic()
    if status != 201:
        out.append({"kind": "refused", "status": status, "body": data, "posted": posted})
        return
    await citizen.browser.answer(data["sdp"])
    citizen.call, citizen.token = data["call"], data["token"]
    out.append({"kind": "call", "call": citizen.call, "posted": posted, "replied": replied})


def heard_report(citizen: Citizen) -> dict[str, Any]:
    heard = citizen.browser.heard[citizen.mark :]
    samples = np.concatenate(heard) / 32768.0 if heard else np.zeros(0)
    report = tone_report(samples, 8000, SEAT_HZ)
    wall = time.monotonic() - citizen.marked_at if citizen.marked_at else 0.0
    return {
        "kind": "result",
        "call": citizen.call,
        "video_sent": citizen.video.sent,
        "video_received": citizen.browser.frames,
        "heard": report,
        "wall_s": round(wall, 2),
        "window_audio_sent_s": round((citizen.tone_samples() - citizen.sent_at_mark[0]) / 48000, 2),
        "window_video_sent": citizen.video.sent - citizen.sent_at_mark[1],
    }


async def serve(args: argparse.Namespace) -> None:
    width, height = (0, 0) if args.video == "none" else (int(v) for v in args.video.split("x"))
    lines: list[dict[str, Any]] = []

    def flush() -> None:
        while lines:
            sys.stdout.write(json.dumps(lines.pop(0)) + "\n")
        sys.stdout.flush()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    citizens = [Citizen(args.first + j, width, height) for j in range(args.calls)]
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(j: int, citizen: Citizen) -> None:
            due = started + (j * args.procs + args.index) / args.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await place(citizen, session, args.url, lines)
            flush()

        placing = [asyncio.ensure_future(one(j, c)) for j, c in enumerate(citizens)]
        lag = {"max": 0.0, "over_100ms": 0, "on": False}

        async def watch_loop() -> None:  # is this simulator itself short of CPU?
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.02)
                late = time.monotonic() - before - 0.02
                if lag["on"]:
                    lag["max"] = max(lag["max"], late)
                    lag["over_100ms"] += late > 0.1

        placing.append(asyncio.ensure_future(watch_loop()))
        deadline = started + args.max_hold
        while time.monotonic() < deadline:
            try:
                command = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
            except TimeoutError:
                break
            word = command.decode().strip()
            if not command or word == "stop":
                break
            if word == "mark":
                for citizen in citizens:
                    citizen.set_mark()
                lag["on"] = True
                lines.append({"kind": "marked"})
                flush()
        for task in placing:
            task.cancel()
        await asyncio.gather(*placing, return_exceptions=True)
        for citizen in citizens:
            if citizen.call:
                result = heard_report(citizen)
                result.update(loop_lag_max_s=round(lag["max"], 3), loop_lags=lag["over_100ms"])
                lines.append(result)
        flush()
        for citizen in citizens:  # the citizen hangs up on the page
            if citizen.call:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    headers = {"X-Citizen-Token": citizen.token}
                    url = f"{args.url}/api/intake/calls/{citizen.call}"
                    async with session.delete(url, headers=headers) as response:
                        await response.read()
    for citizen in citizens:
        await citizen.browser.close()
    lines.append({"kind": "done"})
    flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first citizen")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=2.0, help="calls/s, all processes")
    parser.add_argument("--video", default="320x240")
    parser.add_argument("--max-hold", type=float, default=300.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
