"""The asyncio side of a WebRTC caller in a pool member: aiortc, the video, the console's view.

A member that takes a caller from the 110 web app runs aiortc on its asyncio thread (the one
that talks to the engine) beside its pj thread. This module never touches pjsua2: the caller's
audio meets the conference through two `AudioRing`s that `sip.webport.WebPort` reads and writes
on the conference clock (docs/spike-webrtc-audio.md measured the arrangement):

* browser -> conference: aiortc decodes Opus (48 kHz stereo); `_pump_audio` resamples to the
  conference's rate, mono 16-bit, into `to_conference`;
* conference -> browser: `ConferenceTrack.recv`, paced by the wall clock like aiortc's own
  tracks, takes 20 ms from `to_browser` (silence when there is none) and aiortc encodes it.

The caller's video is received once and shared through aiortc's `MediaRelay`: one consumer
keeps the latest frame (the snapshot for the officer) and writes the recording (VP8 in
Matroska, the encoder in real-time mode: the machine's CPU is the limit on concurrent video
calls); each console that watches gets its own peer connection with a relayed track that
skips frames rather than queue them (a live view must not fall behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fractions
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aioice.ice
import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from sip.audioring import AudioRing

log = logging.getLogger(__name__)
FRAME_S = 0.020
PREFILL_S = 0.040
SLACK_S = 0.060
NEGOTIATE_S = 10.0
VIDEO_RATE = 30
VIDEO_TIME_BASE = fractions.Fraction(1, 1000)
VIDEO_QUEUE = 8
"""Frames waiting for the encoder (about a quarter of a second at 30 fps)."""
CLOSE_WAIT_S = 10.0


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer ICE candidates on these addresses only (the engine's media addresses).

    aioice offers every address of every interface; a member must offer the ones the
    citizen's browser can reach and its firewall allows (on the test machine, loopback)."""
    if addresses:
        chosen = list(addresses)

        def chosen_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
            return list(chosen)

        aioice.ice.get_host_addresses = chosen_addresses


def use_ports(first: int, count: int) -> None:
    """Bind this process's WebRTC sockets in [first, first + count): firewalls open a known
    range, and members never collide. aioice asks the loop for port 0; the running loop's
    `create_datagram_endpoint` is wrapped to try the range's ports in turn instead."""
    if first <= 0 or count <= 0:
        return
    loop = asyncio.get_running_loop()
    original = getattr(loop, "_unranged_datagram_endpoint", loop.create_datagram_endpoint)
    loop._unranged_datagram_endpoint = original  # type: ignore[attr-defined]
    ports = [first + n for n in range(count)]

    async def bound(factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await original(factory, local_addr=local_addr, **kwargs)
        for _ in range(len(ports)):
            port = ports.pop(0)
            ports.append(port)  # round robin: a port just closed rests before it is reused
            try:
                return await original(factory, local_addr=(local_addr[0], port), **kwargs)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"every WebRTC port {first}-{first + count - 1} is in use")

    loop.create_datagram_endpoint = bound  # type: ignore[method-assign,assignment]


class ConferenceTrack(MediaStreamTrack):
    """What the conference says to the browser, 20 ms at a time (see the module docstring)."""

    kind = "audio"

    def __init__(self, ring: AudioRing, rate: int) -> None:
        super().__init__()
        self.ring = ring
        self.rate = rate
        self.samples = int(rate * FRAME_S)
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += self.samples
            wait = self._start + self._pts / self.rate - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        size = self.samples * 2
        pcm = self.ring.take(size) or bytes(size)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame


class VideoFile:
    """The caller's video, re-encoded as VP8 in Matroska on a thread of its own.

    Encoding a frame takes milliseconds to tens of milliseconds (more for a phone's 720p); on
    the member's asyncio thread it would delay the caller's audio, which that thread also
    carries. Frames wait in a short queue; when the encoder falls behind, frames are dropped
    (counted in the report), never the audio."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.container: Any = None
        self.stream: Any = None
        self.first: float | None = None
        self.last = 0.0
        self.frames = 0
        self.dropped = 0
        self.width = 0
        self.height = 0
        self.error = ""
        self._queue: queue.Queue[tuple[av.VideoFrame, float] | None] = queue.Queue(VIDEO_QUEUE)
        self._thread: threading.Thread | None = None

    def offer(self, frame: av.VideoFrame) -> None:
        """From the asyncio thread: queue the frame with its arrival time, or drop it."""
        if self.error:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="video-rec", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((frame, time.monotonic()))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._encode(*item)

    def _encode(self, frame: av.VideoFrame, at: float) -> None:
        if self.error:
            return
        try:
            if self.container is None:
                self._open(frame.width, frame.height)
            # the frame is shared (MediaRelay) with the consoles' senders, whose encoders run on
            # aiortc's executor threads and set its pts: never touch it, encode a copy (a
            # resolution change, browsers make them under load, is scaled to the file's size)
            out = frame.reformat(width=self.width, height=self.height, format="yuv420p")
            if out is frame:
                planes = frame.to_ndarray(format="yuv420p")
                out = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            if self.first is None:
                self.first = at
            pts = round((at - self.first) * 1000)
            if self.frames and pts <= round((self.last - self.first) * 1000):
                pts = round((self.last - self.first) * 1000) + 1
            self.last = self.first + pts / 1000
            out.pts, out.time_base = pts, VIDEO_TIME_BASE
            for packet in self.stream.encode(out):
                self.container.mux(packet)
            self.frames += 1
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.error = f"video recording failed: {exc}"
            log.error("%s", self.error)

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width - width % 2, height - height % 2
        self.container = av.open(str(self.path), "w", format="matroska")
        options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self.stream = self.container.add_stream("libvpx", rate=VIDEO_RATE, options=options)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = VIDEO_TIME_BASE

    def close(self) -> dict[str, Any] | None:
        """Finish the queue, flush and close; the report for the incident (None when no frame
        ever came). Blocking: run it off the asyncio thread."""
        if self._thread is not None:
            self._queue.put(None)  # after the frames already queued
            self._thread.join(CLOSE_WAIT_S)
            if self._thread.is_alive():
                self.error = self.error or "video recording: the encoder did not finish in time"
                return None  # its container is still in use: leave it (the file stays)
        if self.container is None:
            return None
        try:
            if not self.error:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
            self.container.close()
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.error = self.error or f"video recording failed: {exc}"
        self.container = None
        size, digest = 0, ""
        with contextlib.suppress(OSError):
            data = self.path.read_bytes()
            size, digest = len(data), hashlib.sha256(data).hexdigest()
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        seconds = 0.0 if self.first is None else self.last - self.first
        return {
            "path": str(self.path),
            "size": size,
            "sha256": digest,
            "frames": self.frames,
            "dropped": self.dropped,
            "seconds": round(seconds, 3),
            "width": self.width,
            "height": self.height,
            "error": self.error,
        }


class WebCaller:
    """One WebRTC caller's peer connection and everything hanging off it."""

    def __init__(
        self, *, rate: int, video_path: Path | None, on_gone: Callable[[str], None]
    ) -> None:
        self.rate = rate
        frame_bytes = int(rate * FRAME_S) * 2
        self.to_conference = AudioRing(
            prefill=2 * frame_bytes, slack=int(SLACK_S / FRAME_S) * frame_bytes
        )
        self.to_browser = AudioRing(prefill=frame_bytes, slack=3 * frame_bytes)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.relay = MediaRelay()
        self.video: MediaStreamTrack | None = None
        self.latest: av.VideoFrame | None = None
        self.recording = None if video_path is None else VideoFile(video_path)
        self.watchers: dict[str, RTCPeerConnection] = {}
        self.audio_frames = 0
        self.connected = False
        """The peer connection is up (ICE and DTLS done): read by the pj thread each poll."""
        self._on_gone = on_gone
        self._gone = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed: dict[str, Any] | None = None
        self._closing: asyncio.Task[dict[str, Any] | None] | None = None

    @property
    def gone(self) -> bool:
        return self._gone

    async def accept(self, offer: str, *, video: bool = True) -> str:
        """Answer the browser's offer (its candidates included); returns our answer SDP.
        Without `video` the answer refuses the video stream: the browser does not send it."""
        pc = self.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._spawn(self._pump_audio(track))
            elif track.kind == "video" and self.video is None and video:
                self.video = track
                self._spawn(self._pump_video(self.relay.subscribe(track)))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected = True
            elif pc.connectionState in ("failed", "closed"):
                self.hang_up(f"WebRTC connection {pc.connectionState}")

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if not any(t.kind == "audio" for t in pc.getTransceivers()):
            raise ValueError("the offer has no audio")
        pc.addTrack(ConferenceTrack(self.to_browser, self.rate))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video" and not video:
                transceiver.direction = "inactive"
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def offers_video(self) -> bool:
        """The call carries the caller's video (offered, and not refused by us)."""
        return any(
            t.kind == "video" and t.direction != "inactive" for t in self.pc.getTransceivers()
        )

    def hang_up(self, reason: str) -> None:
        """The caller is gone (or must go): tell the agent once; the member closes us later."""
        if not self._gone:
            self._gone = True
            self._on_gone(reason)

    async def watch(self, offer: str) -> tuple[str, RTCPeerConnection]:
        """A console's peer connection receiving the caller's live video."""
        if self.video is None:
            raise LookupError("the caller sends no video")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            pc.addTrack(self.relay.subscribe(self.video, buffered=False))
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await pc.close()
            raise

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                for key in [k for k, v in self.watchers.items() if v is pc]:
                    del self.watchers[key]  # a console that went away
                await pc.close()

        return str(pc.localDescription.sdp), pc

    async def snapshot(self, path: Path) -> tuple[int, int]:
        """The latest frame as a JPEG at `path` (written whole, then renamed)."""
        frame = self.latest
        if frame is None:
            raise LookupError("no video frame has arrived")
        image = frame.to_image()  # type: ignore[no-untyped-call]

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(".tmp")
            with open(temp, "wb") as out:
                image.save(out, format="JPEG", quality=85)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)

        await asyncio.to_thread(write)
        return image.width, image.height

    async def close(self) -> dict[str, Any] | None:
        """Close everything; the video recording's report (None if no video was recorded)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        return await asyncio.shield(self._closing)

    async def _close(self) -> dict[str, Any] | None:
        for watcher in list(self.watchers.values()):
            with contextlib.suppress(Exception):
                await watcher.close()
        self.watchers.clear()
        with contextlib.suppress(Exception):
            await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        report = None
        if self.recording is not None:
            report = await asyncio.to_thread(self.recording.close)
        return report

    # -- consumers ----------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._pump_ended)

    def _pump_ended(self, task: asyncio.Task[None]) -> None:
        """A pump that dies of anything but the track's end must not leave a silent call up."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("WebRTC media pump failed", exc_info=task.exception())
        self.hang_up(f"the caller's media failed: {task.exception()!r}")

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                self.to_conference.write(bytes(out.planes[0])[: out.samples * 2])
            self.audio_frames += 1

    async def _pump_video(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.VideoFrame)
            self.latest = frame
            if self.recording is not None:
                self.recording.offer(frame)
