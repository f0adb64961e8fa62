"""A citizen's picture, checked before anything is stored: its real type (read from its bytes,
not from what the upload claims), its size, that it decodes as the picture it says it is, and
where it was taken (EXIF GPS) when the phone wrote that down.

Pure: bytes in, a `Picture` or a `PictureError` out (with the HTTP status a shell answers).
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

KINDS = {  # magic bytes -> (kind, content type, file suffix)
    b"\xff\xd8\xff": ("jpeg", "image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("png", "image/png", ".png"),
}
WEBP = ("webp", "image/webp", ".webp")
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
"""A phone photo is ~12 Mpx; far more is a decompression bomb, not a picture of a scene."""


class PictureError(ValueError):
    """An upload that is not an acceptable picture; `status_hint`: 413 too large, 415 not a
    picture type we take, 422 broken or not what it claims to be."""

    def __init__(self, message: str, status_hint: int) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True, kw_only=True)
class Picture:
    data: bytes
    kind: str
    content_type: str
    suffix: str
    sha256: str
    width: int
    height: int
    location: tuple[float, float] | None
    """(lat, lon) from EXIF GPS, when present and valid."""
    location_error: str
    """Why EXIF GPS was present but not usable ('' otherwise)."""


def check_picture(data: bytes, *, name: str = "picture", max_bytes: int = MAX_BYTES) -> Picture:
    if len(data) > max_bytes:
        raise PictureError(f"{name} is larger than {max_bytes // (1024 * 1024)} MiB", 413)
    if not data:
        raise PictureError(f"{name} is empty", 422)
    kind = _sniff(data)
    if kind is None:
        raise PictureError(f"{name} is not a JPEG, PNG or WebP picture", 415)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format is None or probe.format.lower() != kind[0]:
                    raise PictureError(f"{name} claims to be {kind[0]} but is not", 422)
                if probe.width * probe.height > MAX_PIXELS:
                    raise PictureError(f"{name} has too many pixels", 413)
                probe.verify()  # the structure; `load` below decodes the pixels
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                width, height = image.size
                exif = image.getexif()
    except PictureError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as exc:
        raise PictureError(f"{name} is broken: {exc}", 422) from None
    location, error = gps_location(exif)
    return Picture(
        data=data, kind=kind[0], content_type=kind[1], suffix=kind[2],
        sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
        location=location, location_error=error,
    )  # fmt: skip


def _sniff(data: bytes) -> tuple[str, str, str] | None:
    for magic, kind in KINDS.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def gps_location(exif: Any) -> tuple[tuple[float, float] | None, str]:
    """(lat, lon) from an EXIF block's GPS IFD, or (None, why not) when it is there but wrong;
    (None, '') when there is none."""
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # a broken IFD: the picture is fine, its position is not usable
        return None, "EXIF GPS block unreadable"
    if not gps:
        return None, ""
    try:
        lat = _degrees(gps[2], gps[1], "NS")
        lon = _degrees(gps[4], gps[3], "EW")
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return None, f"EXIF GPS not usable: {exc}"
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        return None, f"EXIF GPS ({lat}, {lon}) is off the globe"
    return (round(lat, 7), round(lon, 7)), ""


def _degrees(value: Any, ref: Any, refs: str) -> float:
    d, m, s = (float(part) for part in value)
    if not all(math.isfinite(x) and x >= 0 for x in (d, m, s)) or m >= 60 or s >= 60:
        raise ValueError(f"degrees/minutes/seconds {value!r}")
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    if ref not in refs:
        raise ValueError(f"hemisphere {ref!r}")
    degrees = d + m / 60 + s / 3600
    return -degrees if ref == refs[1] else degrees
