"""The PCM ring between aiortc and the conference clock (sip.audioring): prefill, underrun,
and the trim that keeps a stall from becoming a delay for the rest of the call."""

from __future__ import annotations

import pytest

from sip.audioring import AudioRing

FRAME = 320  # 20 ms at 8 kHz, 16-bit mono


def frames(*values: int) -> bytes:
    return b"".join(bytes([v]) * FRAME for v in values)


def test_nothing_is_given_until_the_prefill_is_there() -> None:
    ring = AudioRing(prefill=2 * FRAME, slack=3 * FRAME)
    ring.write(frames(1))
    assert ring.take(FRAME) is None
    ring.write(frames(2))
    assert ring.take(FRAME) == frames(1)
    assert ring.take(FRAME) == frames(2)


def test_an_underrun_plays_what_is_left_padded_then_waits_for_the_prefill_again() -> None:
    ring = AudioRing(prefill=2 * FRAME, slack=3 * FRAME)
    ring.write(frames(1, 2))
    assert ring.take(FRAME) == frames(1)
    ring.write(b"\x03" * 100)
    chunk = ring.take(2 * FRAME)  # asks for more than there is
    assert chunk == frames(2) + b"\x03" * 100 + bytes(FRAME - 100)
    assert ring.underruns == 1
    ring.write(frames(4))
    assert ring.take(FRAME) is None  # priming again: no stutter frame by frame
    ring.write(frames(5))
    assert ring.take(FRAME) == frames(4)


def test_a_writer_far_ahead_is_cut_back_to_the_prefill_keeping_the_newest() -> None:
    ring = AudioRing(prefill=2 * FRAME, slack=3 * FRAME)
    ring.write(frames(1, 2, 3, 4, 5))  # exactly prefill + slack: kept
    assert len(ring) == 5 * FRAME
    ring.write(frames(6))  # over: the oldest go, the newest prefill stays
    assert len(ring) == 2 * FRAME and ring.dropped == 4 * FRAME
    assert ring.take(FRAME) == frames(5)
    assert ring.take(FRAME) == frames(6)


def test_odd_cuts_keep_samples_whole() -> None:
    ring = AudioRing(prefill=4, slack=2)
    ring.write(b"\x01\x02\x03\x04\x05\x06\x07")  # 7 bytes: the cut must be even
    assert ring.dropped % 2 == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        AudioRing(prefill=-1, slack=10)
    with pytest.raises(ValueError):
        AudioRing(prefill=10, slack=0)
