"""A jitter ring of 16-bit PCM between two threads: the asyncio side and pjsua2's clock.

A WebRTC caller's audio crosses threads twice (docs/spike-webrtc-audio.md): browser audio is
written by the member's asyncio thread (aiortc) and read by the conference clock, 50 times a
second; the conference's audio for the browser goes the other way. The two clocks are not the
same clock, and either side can stall (a busy machine, a garbage collection), so the ring:

* waits for `prefill` bytes before it gives anything (a little delay buys no gaps);
* after an underrun, waits for the prefill again instead of stuttering frame by frame;
* when more than `prefill + slack` bytes wait (the writer ran ahead, or the reader stalled),
  drops the oldest down to `prefill`, so a stall never becomes a delay for the rest of the
  call (a 200 ms stall otherwise left 220 ms of extra delay in the spike).

Both methods are short and hold the lock only to copy bytes: the reader runs on the clock
thread that serves every port of the call, where a slow callback stalls the whole bridge.
"""

from __future__ import annotations

import threading


class AudioRing:
    """Bounded PCM FIFO with prefill and trim (see the module docstring)."""

    def __init__(self, *, prefill: int, slack: int) -> None:
        if prefill < 0 or slack <= 0:
            raise ValueError("prefill must be >= 0 and slack > 0")
        self.prefill = prefill
        self.slack = slack
        self._data = bytearray()
        self._lock = threading.Lock()
        self._primed = prefill == 0
        self.underruns = 0
        self.dropped = 0
        self.written = 0
        self.read = 0

    def write(self, pcm: bytes) -> None:
        with self._lock:
            self._data += pcm
            self.written += len(pcm)
            excess = len(self._data) - (self.prefill + self.slack)
            if excess > 0:
                cut = len(self._data) - self.prefill
                cut -= cut % 2  # keep sample alignment
                del self._data[:cut]
                self.dropped += cut
            if len(self._data) >= self.prefill:
                self._primed = True

    def take(self, size: int) -> bytes | None:
        """`size` bytes, or None while priming or after an underrun (the caller plays nothing)."""
        with self._lock:
            if not self._primed:
                return None
            if len(self._data) < size:
                self._primed = self.prefill == 0
                if self.written:
                    self.underruns += 1
                if not self._data:
                    return None
                chunk = bytes(self._data) + bytes(size - len(self._data))
                self._data.clear()
                self.read += size
                return chunk
            chunk = bytes(self._data[:size])
            del self._data[:size]
            self.read += size
            return chunk

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
