"""The [texts] settings: read from TOML, and a wrong value stops the engine naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.settings import load


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hotline110.toml"
    path.write_text(f"[texts]\n{body}\n", encoding="utf-8")
    return path


def test_texts_are_read_with_their_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, 'sms_gateway = "sip:10.1.2.3:5060"\nper_seat = 2'))
    texts = settings.texts
    assert (texts.sms_gateway, texts.per_seat, texts.offer_timeout) == (
        "sip:10.1.2.3:5060",
        2,
        20.0,
    )
    assert load(write(tmp_path, "")).texts.sms_gateway == ""  # SMS off by default


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('sms_gateway = "gateway.example:5060"', "texts.sms_gateway"),
        ('sms_gateway = "sip:10.1.2.3:99999"', "texts.sms_gateway"),
        ("offer_timeout = 0", "texts.offer_timeout"),
        ("per_seat = 0", "texts.per_seat"),
        ('sms_sender = "police"', "texts.sms_sender"),
        ("evapi_port = 70000", "texts.evapi_port"),
        ("offer_time = 3", "texts.offer_time"),
    ],
)
def test_a_wrong_value_names_its_key_and_line(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as wrong:
        load(write(tmp_path, line))
    assert wrong.value.key == key and wrong.value.line == 2, str(wrong.value)
