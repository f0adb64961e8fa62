"""Evidence from audio: which tones a recording or a captured RTP stream holds (numpy FFT)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 µ-law bytes to float samples in [-1, 1]."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    pcm = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84)
    return pcm.astype(np.float64) / 32768.0


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
        width = wav.getsampwidth()
        channels = wav.getnchannels()
    assert width == 2, f"{path}: expected 16-bit PCM"
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def tone_levels(samples: np.ndarray, rate: int, freqs: list[float]) -> dict[float, float]:
    """Share of the signal's spectral energy within ±15 Hz of each frequency."""
    if len(samples) < rate // 10:
        return dict.fromkeys(freqs, 0.0)
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window)) ** 2
    bins = np.fft.rfftfreq(len(samples), 1.0 / rate)
    total = float(spectrum.sum()) or 1.0
    return {f: float(spectrum[(bins > f - 15) & (bins < f + 15)].sum()) / total for f in freqs}


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def alaw_encode(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to G.711 A-law bytes."""
    pcm = np.clip(samples * 32767, -32768, 32767).astype(np.int32) >> 3  # 13-bit
    sign = np.where(pcm >= 0, 0x80, 0x00)
    magnitude = np.minimum(np.where(pcm >= 0, pcm, -pcm - 1), 0xFFF)
    exponent = np.zeros_like(magnitude)
    for bit in range(1, 8):
        exponent = np.where(magnitude >= (0x10 << bit), bit, exponent)
    mantissa = np.where(exponent == 0, magnitude >> 1, magnitude >> exponent) & 0x0F
    encoded: bytes = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes()
    return encoded


def alaw_decode(data: bytes) -> np.ndarray:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float64) / 32768.0
