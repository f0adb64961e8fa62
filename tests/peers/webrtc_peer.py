"""A WebRTC "browser" for tests without a browser: an aiortc peer that speaks a tone, sends a
test-pattern video, and keeps what it hears. (The Chromium tests use the real thing.)"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from sip.webcaller import use_host_addresses, use_ports

RATE = 48000
SAMPLES = 960


class ToneTrack(MediaStreamTrack):
    """A sine at `hz`, 20 ms frames paced by the clock, as a microphone would give them."""

    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz = hz
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._n / RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(SAMPLES) + self._n) / RATE
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * self.hz * t)).astype("<i2")
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate, frame.pts = RATE, self._n
        frame.time_base = fractions.Fraction(1, RATE)
        self._n += SAMPLES
        return frame


class PatternTrack(MediaStreamTrack):
    """320x240 frames at 15 fps whose brightness moves (a camera that sees something)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._n / 15 - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        image = np.zeros((240, 320, 3), np.uint8)
        image[:, :, 1] = (self._n * 8) % 256
        image[60:180, 80:240, 0] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = self._n * 6000, fractions.Fraction(1, 90000)
        self._n += 1
        return frame


class Browser:
    """One aiortc peer: `offer()` for the engine, `answer()` with its reply."""

    def __init__(
        self,
        *,
        hz: float | None = None,
        video: bool = False,
        watch: bool = False,
        ports: tuple[int, int] = (0, 0),
    ):
        use_host_addresses(("127.0.0.1",))
        use_ports(*ports)  # the test's block (PortBlock.browsers), never the ephemeral range
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.heard: list[np.ndarray] = []
        self.frames = 0
        self._tasks: list[asyncio.Task[None]] = []
        if hz is not None:
            self.pc.addTrack(ToneTrack(hz))
        if video:
            self.pc.addTrack(PatternTrack())
        if watch:
            self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _consume(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.AudioFrame):
                for out in resampler.resample(frame):
                    self.heard.append(out.to_ndarray().reshape(-1).astype(np.float64))
            else:
                self.frames += 1

    def samples(self) -> np.ndarray:
        return np.concatenate(self.heard) if self.heard else np.zeros(0)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()


async def start_call(engine: Any, browser: Browser, **extra: Any) -> dict[str, Any]:
    """POST the browser's offer to the engine as a citizen would; the 201 body."""
    import aiohttp

    http = engine.settings.http
    body = {"type": "offer", "sdp": await browser.offer(), **extra}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{http.address}:{http.port}/api/intake/calls", json=body) as r,
    ):
        data: dict[str, Any] = await r.json()
        assert r.status == 201, (r.status, data)
    await browser.answer(data["sdp"])
    return data


class FallsSilent(ToneTrack):
    """A microphone that stops after `seconds` while the connection stays up (a frozen tab)."""

    def __init__(self, hz: float, seconds: float) -> None:
        super().__init__(hz)
        self.seconds = seconds

    async def recv(self) -> av.AudioFrame:
        if self._n / RATE >= self.seconds:
            await asyncio.sleep(3600)
        return await super().recv()


async def filed(engine: Any, number: str, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The first event of `kind` in the incident, once the engine has filed it (bounded)."""
    from tests.peers.conftest import http_json

    deadline = time.monotonic() + timeout
    while True:
        _, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
        found = next((e for e in incident.get("events", []) if e["kind"] == kind), None)
        if found is not None:
            return dict(found)
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} event in {number} after {timeout} s")
        await asyncio.sleep(0.1)
