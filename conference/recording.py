"""The call's recording: one WAV file per call, the conference mix of every party.

Runs on the member's pj thread. pjsua2's `AudioMediaRecorder` writes the file as the
conference clock ticks; the WAV header is completed only when the recorder is destroyed, so
the file is closed (and hashed) when the call ends, before `CallEnded` is sent: the engine
files path and SHA-256 with the call record.

A recording must never cost the call: every failure (no directory, a full disk, a write
error) becomes a `RecordingFailed` event for the engine to raise as an alert, and the call
goes on. pjmedia drops frames it cannot write without telling anyone, so the file's growth is
watched: a file that stops growing while the call goes on is a failed recording, said at once
rather than found out after the call.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import shutil
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from sip import messages as msg

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Below this much free space the recording still starts, but an alert is raised at once."""
GROWTH_CHECK_S = 2.0
STALL_S = 4.0
"""pjmedia writes through a buffer of a few KiB (~0.3 s of audio at 8 kHz): a file that has not
grown for this long is not being written."""
CLOSE_WAIT_S = 0.5
COMPLETE_SHARE = 0.9
"""A closed file holding less audio than this share of the time it was open is incomplete."""


def recording_path(directory: str, call_id: str, sip_call_id: str, wall: float) -> Path:
    """<dir>/<YYYY-MM-DD>/<YYYYmmddTHHMMSSZ>-m<call id>-<hash of the SIP Call-ID>.wav (UTC):
    unique across members and restarts, sortable, and linkable to the SIP trace."""
    stamp = time.gmtime(wall)
    tag = hashlib.sha256(sip_call_id.encode()).hexdigest()[:10]
    safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", call_id)
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', stamp)}-m{safe_id}-{tag}.wav"
    return Path(directory).resolve() / time.strftime("%Y-%m-%d", stamp) / name


WAV_HEADER = 44
"""pjmedia's WAV writer: RIFF, one 16-byte fmt chunk, then the data chunk."""


def wav_seconds(path: Path) -> float:
    """Audio actually held by a closed WAV file (0.0 when it cannot be read): what its header
    says, but no more than its bytes hold (a writer that hit a full disk counts frames it
    could not write)."""
    try:
        with wave.open(str(path), "rb") as wav:
            frame = wav.getsampwidth() * wav.getnchannels()
            frames = min(wav.getnframes(), max(0, path.stat().st_size - WAV_HEADER) // frame)
            return frames / float(wav.getframerate())
    except (OSError, EOFError, wave.Error, ZeroDivisionError):
        return 0.0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Recording:
    """One call's recorder (see the module docstring)."""

    def __init__(self, call_id: str, path: Path, emit: Callable[[msg.Message], None]) -> None:
        self.call_id = call_id
        self.path = path
        self._emit = emit
        self.port: Any = None
        self.failed = False
        self._opened_at = 0.0
        self._size = 0
        self._grew_at = 0.0
        self._next_check = 0.0
        self._closed_at: float | None = None
        self._reported = False

    def open(self, now: float) -> Any:
        """Create the file and its recorder port; None (and an alert) when that fails."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.path.parent).free
            if free < MIN_FREE_BYTES:
                self._fail(f"only {free // (1024 * 1024)} MiB free for recordings", now)
                self.failed = False  # an early warning: try to record anyway
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(str(self.path))
        except (OSError, pj.Error) as exc:
            reason = exc.reason if isinstance(exc, pj.Error) else str(exc)
            self._fail(f"cannot open the recording: {reason}", now)
            return None
        self.port = recorder
        self._opened_at = self._grew_at = now
        self._next_check = now + GROWTH_CHECK_S
        return recorder

    def watch(self, now: float) -> None:
        """Raise the alert as soon as the file stops growing (disk full, write error)."""
        if self.port is None or self.failed or now < self._next_check:
            return
        self._next_check = now + GROWTH_CHECK_S
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            self._fail(f"the recording file went away: {exc}", now)
            return
        if size > self._size:
            self._size, self._grew_at = size, now
        elif now - self._grew_at >= STALL_S:
            free = _free_bytes(self.path.parent)
            self._fail(f"the recording stopped growing at {size} bytes ({free} bytes free)", now)

    def close(self, now: float) -> bool:
        """Drop the recorder and, once the WAV header is written, hash the file and report it.

        pjsua 2.15 removes conference ports on the bridge's clock thread: the header is written
        a tick or two after the recorder is dropped, not by its destructor, and on a starved
        machine a tick can take seconds. If the header is not there after CLOSE_WAIT_S, False:
        the member calls `report` after `libDestroy`, which finishes every port at once (the
        report then comes after CallEnded; the engine files it with the finished call)."""
        if self.port is None:
            return True
        self.port = None
        self._closed_at = now
        gc.collect()
        deadline = time.monotonic() + CLOSE_WAIT_S
        while not _closed(self.path) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not _closed(self.path):
            return False
        self.report()
        return True

    def report(self) -> None:
        """Hash and report the closed file; an incomplete one is also reported as failed."""
        if self._reported or self._closed_at is None:
            return
        self._reported = True
        now = self._closed_at
        opened_for = now - self._opened_at
        try:
            size = self.path.stat().st_size
            digest = sha256_of(self.path)
        except OSError as exc:
            self._fail(f"the recording cannot be read back: {exc}", now)
            return
        seconds = wav_seconds(self.path)
        if not self.failed and seconds < COMPLETE_SHARE * opened_for - 0.5:
            self._fail(f"the recording holds {seconds:.1f} s of a {opened_for:.1f} s call", now)
        event = msg.RecordingDone(
            call_id=self.call_id,
            path=str(self.path),
            sha256=digest,
            size=size,
            seconds=round(seconds, 3),
            at=now,
        )
        self._emit(event)  # even an incomplete file is evidence: file it with its hash

    def _fail(self, reason: str, now: float) -> None:
        if self.failed:
            return
        self.failed = True
        self._emit(
            msg.RecordingFailed(call_id=self.call_id, path=str(self.path), reason=reason, at=now)
        )


def _closed(path: Path) -> bool:
    """Whether the WAV header accounts for the whole file (the writer has finished it)."""
    try:
        with path.open("rb") as file:
            head = file.read(8)
        return len(head) == 8 and int.from_bytes(head[4:8], "little") == path.stat().st_size - 8
    except OSError:
        return True  # nothing more will come: report what is there


def _free_bytes(directory: Path) -> int:
    with contextlib.suppress(OSError):
        return shutil.disk_usage(directory).free
    return -1
