"""A WebRTC caller's seat in the member's pjsua2 conference: a Python `AudioMediaPort`.

To the conference bridge the port is one more party, like a SIP leg's audio: what the bridge
sends it (`onFrameReceived`) is what the browser will hear; what it asks of it
(`onFrameRequested`) is what the browser said. Both callbacks run on the null sound device's
clock thread, 50 times a second, for every port of the call in turn, so they only copy bytes
to and from two `AudioRing`s (aiortc's side resamples on the asyncio thread) and never raise:
an exception escaping a SWIG director callback is printed 50 times a second, and the traceback
it leaves keeps the port alive into libDestroy, which aborts the process.

The port is created, connected and destroyed on the member's pj thread only
(docs/spike-webrtc-audio.md has the rules and what broke without them).
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

import pjsua2 as pj

from sip.audioring import AudioRing

log = logging.getLogger(__name__)
FRAME_US = 20_000


def _vector_bytes(vector: Any) -> bytes:
    """The bytes of a pj.ByteVector (std::vector<unsigned char>).

    `bytes(vector)` walks it element by element through SWIG: 122 us per 20 ms frame at
    8 kHz, on the clock thread that serves the whole call. libstdc++'s vector starts with its
    begin and end pointers, which read in 1.6 us; the layout is checked once against the slow
    way (`_check_layout`) and the slow way is kept if it ever differs.
    """
    if _FAST:
        begin, end = ctypes.cast(int(vector.this), ctypes.POINTER(ctypes.c_void_p))[0:2]
        if begin and end and end >= begin:
            return ctypes.string_at(begin, end - begin)
        return b""
    return bytes(vector)


def _check_layout() -> bool:
    probe = pj.ByteVector(b"\x01\x02\x03\x7f\x80\xff")
    try:
        begin, end = ctypes.cast(int(probe.this), ctypes.POINTER(ctypes.c_void_p))[0:2]
        return bool(begin) and ctypes.string_at(begin, end - begin) == bytes(probe)
    except (TypeError, ValueError, OSError):
        return False


_FAST = _check_layout()


class WebPort(pj.AudioMediaPort):  # type: ignore[misc]
    """The conference port of a WebRTC caller (see the module docstring)."""

    def __init__(self, to_conference: AudioRing, to_browser: AudioRing) -> None:
        super().__init__()
        self.to_conference = to_conference
        self.to_browser = to_browser
        self.faults = 0
        self.live = True
        """False once the caller is gone: the port stays in the conference, silent, until the
        member shuts down (destroyed under a running clock, it could die on the clock thread)."""

    def open(self, name: str, clock_rate: int) -> None:
        fmt = pj.MediaFormatAudio()
        bits = 16
        bps = clock_rate * bits
        fmt.init(pj.PJMEDIA_FORMAT_PCM, clock_rate, 1, FRAME_US, bits, bps, bps)
        self.createPort(name, fmt)

    def onFrameRequested(self, frame: Any) -> None:
        try:
            pcm = self.to_conference.take(int(frame.size)) if self.live else None
            if pcm is None:
                frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
                return
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(pcm)
            frame.size = len(pcm)  # never above the size given: pjmedia would overrun
        except Exception:
            self._fault()

    def onFrameReceived(self, frame: Any) -> None:
        try:
            if self.live and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                self.to_browser.write(_vector_bytes(frame.buf))
        except Exception:
            self._fault()

    def _fault(self) -> None:
        self.faults += 1
        if self.faults in (1, 100, 10_000):
            log.error("web caller port callback failed (%d times)", self.faults, exc_info=True)
