"""Test and demo voices: sine tones as WAV (for pjsua2 players, baresip) or raw G.711 µ-law
(for SIPp's rtp_stream). Generated where needed, so no audio binary sits in the repository."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path


def tone_wav(path: Path, hz: float, seconds: float = 10.0, rate: int = 8000) -> None:
    """A sine tone, mono 16-bit PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / rate)))
                for n in range(int(rate * seconds))
            )
        )


def ulaw(sample: int) -> int:
    """G.711 µ-law encoding of one signed 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for bit in range(7, -1, -1):
        if magnitude & (1 << (bit + 7)):
            exponent = bit
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_ulaw(path: Path, hz: float = 440.0, seconds: float = 10.0, level: float = 0.3) -> None:
    """A sine tone as raw µ-law at 8 kHz (what SIPp's rtp_stream plays as payload type 0)."""
    count = int(8000 * seconds)
    path.write_bytes(
        bytes(
            ulaw(int(level * 32767 * math.sin(2 * math.pi * hz * n / 8000))) for n in range(count)
        )
    )
