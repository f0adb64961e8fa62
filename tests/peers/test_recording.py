"""conference.recording against a real pjsua2 conference bridge, in a child process (one
pjsua2 Endpoint per process): the WAV header comes late, on the bridge's clock thread, and
a report made after libDestroy still hashes the finished file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.peers.ports import allocate

pytestmark = pytest.mark.peers

SCRIPT = r"""
import json, sys, time
from pathlib import Path
import pjsua2 as pj
import conference.recording as rec
from sip.pjendpoint import start_endpoint

port, path, announcement = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rec.CLOSE_WAIT_S = 0.0  # as on a starved machine: the header is never there in time
ep = start_endpoint(address="127.0.0.1", sip_port=port, codecs=("PCMU/8000/1",), log_level=0,
                    clock_rate=8000)
ep.audDevManager().setNullDev()
player = pj.AudioMediaPlayer()
player.createPlayer(announcement, 0)
events = []
recording = rec.Recording("7", path, events.append)
player.startTransmit(recording.open(time.monotonic()))
started = time.monotonic()
while time.monotonic() - started < 2.0:
    ep.libHandleEvents(10)
closed_in_time = recording.close(time.monotonic())
early = list(events)
player = None
ep.libDestroy()
recording.report()
print(json.dumps({"closed_in_time": closed_in_time, "early": [repr(e) for e in early],
                  "events": [{"type": type(e).__name__, **{k: getattr(e, k) for k in e.__slots__}}
                             for e in events]}))
"""


def test_a_late_wav_header_is_reported_after_libdestroy_with_the_final_hash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rec" / "call.wav"
    announcement = Path(__file__).parents[2] / "config" / "sounds" / "queue-announcement.wav"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(allocate().base), str(path), str(announcement)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    (done,) = [e for e in result["events"] if e["type"] == "RecordingDone"]
    assert [e["type"] for e in result["events"]] == ["RecordingDone"]  # no false alarm
    if not result["closed_in_time"]:
        assert result["early"] == []  # nothing reported from the unfinished file
    data = path.read_bytes()
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    assert done["size"] == len(data)
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.8 <= seconds <= 2.6 and abs(done["seconds"] - seconds) < 0.01
