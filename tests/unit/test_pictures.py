"""intake.pictures and intake.media: a citizen's picture checked by its bytes (type, size,
decoding, pixel count), its EXIF position, and stored whole under its SHA-256."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from intake.media import MediaStore
from intake.pictures import PictureError, check_picture


def picture(fmt: str = "JPEG", gps: Mapping[int, object] | None = None) -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    out = io.BytesIO()
    if gps is None:
        image.save(out, fmt)
    else:
        exif = Image.Exif()
        exif[ExifTags.IFD.GPSInfo] = dict(gps)
        image.save(out, fmt, exif=exif)
    return out.getvalue()


HANGZHOU: dict[int, object] = {1: "N", 2: (30.0, 15.0, 36.0), 3: "E", 4: (120.0, 9.0, 0.0)}


def test_a_phone_photo_with_gps_is_placed() -> None:
    data = picture(gps=HANGZHOU)
    checked = check_picture(data)
    assert (checked.kind, checked.content_type, checked.suffix) == ("jpeg", "image/jpeg", ".jpg")
    assert (checked.width, checked.height) == (64, 48)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert checked.location == (30.26, 120.15) and checked.location_error == ""
    south_west = check_picture(picture(gps={1: "S", 2: (33.0, 52.0, 0.0), 3: "W", 4: (70, 30, 0)}))
    assert south_west.location == (round(-(33 + 52 / 60), 7), -70.5)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_without_gps_have_no_position(fmt: str) -> None:
    checked = check_picture(picture(fmt))
    assert checked.kind == fmt.lower() and checked.location is None
    assert checked.location_error == ""


def test_gps_that_makes_no_sense_is_noted_not_used() -> None:
    checked = check_picture(picture(gps={1: "N", 2: (30.0, 75.0, 0.0), 3: "E", 4: (120, 0, 0)}))
    assert checked.location is None and "not usable" in checked.location_error
    checked = check_picture(picture(gps={1: "Q", 2: (30.0, 1.0, 0.0), 3: "E", 4: (120, 0, 0)}))
    assert checked.location is None and "hemisphere" in checked.location_error


def test_what_is_not_a_picture_we_take_is_refused_with_its_reason() -> None:
    cases = [
        (b"", 422, "empty"),
        (b"GIF89a" + b"\0" * 100, 415, "not a JPEG, PNG or WebP"),
        (b"%PDF-1.7 ...", 415, "not a JPEG, PNG or WebP"),
        (picture()[:200], 422, "broken"),  # a JPEG cut short
        (b"\xff\xd8\xff" + b"not really a jpeg" * 10, 422, ""),
        (picture("PNG")[:8] + picture()[8:], 422, ""),  # a PNG signature on JPEG bytes
    ]
    for data, status, words in cases:
        with pytest.raises(PictureError) as refused:
            check_picture(data, name="scene.jpg")
        assert refused.value.status_hint == status, (data[:12], refused.value)
        assert words in str(refused.value) and "scene.jpg" in str(refused.value)
    with pytest.raises(PictureError) as large:
        check_picture(picture(), max_bytes=100)
    assert large.value.status_hint == 413


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 Mpx in a few kilobytes
    with pytest.raises(PictureError) as bomb:
        check_picture(out.getvalue())
    assert bomb.value.status_hint == 413 and "too many pixels" in str(bomb.value)


def test_the_store_writes_whole_files_once_and_takes_back_its_own(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    checked = check_picture(picture(gps=HANGZHOU))
    record, created = media.put(checked, now=1_795_000_000.0)
    path = Path(record["path"])
    assert created and path.read_bytes() == checked.data
    assert path.parent.name == "20261118" and path.name == f"{checked.sha256}.jpg"  # UTC day
    assert record["exif_location"] == {"lat": 30.26, "lon": 120.15}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporaries
    again, created_again = media.put(checked, now=1_795_000_000.0)
    assert again == record and not created_again
    media.remove([record])
    assert not path.exists()
