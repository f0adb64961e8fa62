"""incidents.numbering: what numbers and NG911 identifiers look like."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from incidents import numbering as nb


def test_numbers_are_city_local_day_and_six_digits() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 2026-11-28 16:30 UTC is already 2026-11-29 00:30 in Shanghai
    assert nb.local_day(1795883400.0, shanghai) == "20261129"
    assert nb.local_day(1795883400.0, ZoneInfo("UTC")) == "20261128"
    number = nb.incident_number("HZ", "20261129", 42)
    assert number == "HZ-20261129-000042"
    assert nb.parse_number(number) == ("HZ", "20261129", 42)
    assert nb.parse_number("HZ-20261129-1234567") == ("HZ", "20261129", 1234567)  # a busy day
    for bad in ("hz-20261129-000001", "HZ-2026112-000001", "HZ-20261129-42", ""):
        with pytest.raises(ValueError):
            nb.parse_number(bad)
    with pytest.raises(ValueError):
        nb.incident_number("HZ", "20261129", 0)
    with pytest.raises(ValueError):
        nb.check_city("hangzhou")


def test_ng911_identifiers() -> None:
    uid = nb.call_uid("a84b4c76e66710@pc33.example.com", "17", "hotline110.example")
    assert uid.startswith("urn:emergency:uid:callid:") and uid.endswith(":hotline110.example")
    assert uid == nb.call_uid("a84b4c76e66710@pc33.example.com", "17", "hotline110.example")
    assert uid != nb.call_uid("a84b4c76e66710@pc33.example.com", "18", "hotline110.example")
    assert nb.incident_uid("abc", "hotline110.example") == (
        "urn:emergency:uid:incidentid:abc:hotline110.example"
    )
    with pytest.raises(ValueError):
        nb.incident_uid("abc", "bad domain")
