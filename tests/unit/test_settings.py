"""engine.settings: defaults, the shipped config, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.settings import PACKAGE_ROOT, Settings, expand_seats, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "h.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_loads() -> None:
    settings = load(PACKAGE_ROOT / "config" / "hotline110.toml")
    seats = expand_seats(settings.seats, settings.front)
    assert len(seats) == 100
    assert seats[6].seat_id == "seat7"
    assert seats[6].contact == "sip:seat7@127.0.0.1:5070"
    assert settings.acd.announce_after == 2.0
    assert [q.name for q in settings.acd.queues] == ["main"]
    assert seats[95].skills == {"video": 5, "lang:yue": 8} and seats[5].skills == {}


def test_defaults_need_no_file() -> None:
    settings = Settings()
    assert settings.front.mode == "embedded"
    assert settings.pool.warm <= settings.pool.size


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[trunk]\nname = "c"\n\n[acd]\nring_timeout = 5\nring_timout = 6\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.line == 6
    assert info.value.key == "acd.ring_timout"
    assert str(info.value).startswith(f"{path}:6: acd.ring_timout: unknown key")


def test_wrong_type_in_an_array_of_tables(tmp_path: Path) -> None:
    text = '[[seats]]\nid = "a"\ncontact = "sip:a@h"\n\n[[seats]]\nid = "b"\ncontact = 7\n'
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    assert (info.value.line, info.value.key) == (7, "seats.1.contact")


def test_unknown_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, 'centre = "x"\n[trunks]\nport = 1\n'))
    assert (info.value.line, info.value.key) == (2, "trunks")


def test_bad_values(tmp_path: Path) -> None:
    cases = {
        "[trunk]\nport = 70000\n": ("trunk.port", 2),
        '[trunk]\nallow = ["10.0.0.0/8", "nonsense"]\n': ("trunk.allow.1", 2),
        '[front]\nmode = "cloud"\n': ("front.mode", 2),
        "[acd]\nwrap_up = -1\n": ("acd.wrap_up", 2),
        '[[seats]]\nid = "s{n}"\ncount = 2\ncontact = "sip:a@h"\nregistered = "x"\n': (
            "seats.0.contact",
            4,
        ),
        '[[seats]]\nid = "same"\ncontact = "sip:a@h"\n[[seats]]\nid = "same"\ncontact = "sip:b@h"\n': (
            "seats.1.id",
            5,
        ),
        '[[acd.queues]]\nname = "main"\nstrategy = "fastest"\n': ("acd.queues.0.strategy", 3),
        '[[acd.queues]]\nname = "a"\noverflow = "queue:b"\n': ("acd.queues.0.overflow", 3),
        "[acd]\nparallel_max = 4\n": ("acd.parallel_max", 2),
        '[[seats]]\nid = "s"\ncontact = "sip:a@h"\nqueues = ["nope"]\n': ("seats.0.queues", 4),
        '[[seats]]\nid = "s"\ncontact = "sip:a@h"\nskills = { video = 0 }\n': (
            "seats.0.skills.video",
            4,
        ),
        '[[seats]]\nid = "s"\ncontact = "sip:a@h"\nskills = { video = "high" }\n': (
            "seats.0.skills.video",
            4,
        ),
    }
    for text, (key, line) in cases.items():
        with pytest.raises(ConfigError) as info:
            load(write(tmp_path, text))
        assert (info.value.key, info.value.line) == (key, line), text


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "[acd]\nring_timeout = = 3\n"))
    assert info.value.line == 2


def test_cli_exits_2_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[pool]\nsizee = 3\n")
    assert main(["run", "--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"hotline110: configuration error: {path}:2: pool.sizee: unknown key (known: address, "
    )
    assert " size, warm)" in line


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(write(tmp_path, "[acd]\nwrap_up = 0\n"))]) == 0
