"""dispatch.city: the shipped sample city, and file:line key errors for bad ones."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch.city import City, load_city
from dispatch.errors import CityError
from dispatch.force import Force
from dispatch.roster import Shift

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "city"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 29, month: int = 11) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


@pytest.fixture(scope="module")
def sample() -> City:
    return load_city(SAMPLE)


def test_the_sample_city_loads(sample: City) -> None:
    assert len(sample.officers) == 48
    assert len(sample.areas.cells()) == 64
    assert sample.areas.stations() == ["S-nw", "S-ne", "S-sw", "S-se"]
    assert sample.tz == "Asia/Shanghai" and sample.roster.tz == SHANGHAI
    assert [u.id for u in sample.units] == [
        "CMD-city", "CMD-west", "CMD-east", "P-nw", "P-ne", "P-sw", "P-se",
    ]  # fmt: skip
    force = Force(sample.officers, sample.units, sample.roster)
    assert [u.id for u in force.duty_chain("P-se")] == ["P-se", "CMD-east", "CMD-city"]
    for unit in sample.units:
        assert unit.duty_phone == f"sip:duty-{unit.id}@127.0.0.1"
    per_station = {s: 0 for s in sample.areas.stations()}
    for officer in sample.officers:
        station = sample.areas.cell_station(officer.grid)
        assert sample.station_unit(station) == force.unit(officer.unit)
        per_station[station] += 1
        assert officer.phone == f"sip:officer{int(officer.id[1:])}@127.0.0.1"
    assert set(per_station.values()) == {12}


def test_the_sample_city_areas(sample: City) -> None:
    place = sample.areas.locate(30.26, 120.16)
    assert (place.grid, place.station, place.county) == ("G-3-4", "S-ne", "C-east")
    assert sample.areas.locate(30.20, 120.10).county == "C-west"
    assert sample.areas.locate(30.40, 120.15).grid is None
    south, west, north, east = sample.areas.extent()
    assert (north - south, east - west) == pytest.approx((0.108, 0.1248))
    rng = random.Random(1)
    for cell in sample.areas.cells():
        assert sample.areas.locate(*sample.areas.random_point(cell, rng)).grid == cell


def test_the_sample_roster_has_day_and_night_shifts(sample: City) -> None:
    roster = sample.roster

    def on_duty(when: float) -> set[str]:
        return {o.id for o in sample.officers if roster.on_duty(o.id, when)}

    everyone = {o.id for o in sample.officers}
    day = {f"O{n}" for n in range(13, 19)}
    night = {f"O{n}" for n in range(19, 25)}
    assert on_duty(at(10)) == everyone - night
    assert on_duty(at(23)) == everyone - day
    assert on_duty(at(6, 59)) == everyone - day
    assert on_duty(at(7)) == everyone - night
    assert roster.on_duty("O13", at(23, day=24, month=12))  # the dated Christmas Eve shift
    assert roster.shifts("O01") == [Shift.every_day("O01", 0, 24 * 60)]  # from a unit entry


# -- small bad cities --------------------------------------------------------------------------

GRID = """{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"id": "G-0-0", "station": "S-a"},
 "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}},
{"type": "Feature", "properties": {"id": "G-0-1", "station": "S-a"},
 "geometry": {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]]}}
]}
"""
STATIONS = """{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"id": "S-a", "name": "A", "county": "C-1"},
 "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]]}}
]}
"""
FORCE = """timezone = "Asia/Shanghai"

[[units]]
id = "TOP"
name = "Top"
duty_phone = "sip:duty-top@h"

[[units]]
id = "U1"
name = "Unit 1"
duty_phone = "+8657100110"
superior = "TOP"
station = "S-a"

[[officers]]
id = "A"
name = "Officer A"
unit = "U1"
grid = "G-0-0"
phone = "sip:a@h"

[[officers]]
id = "B"
name = "Officer B"
unit = "U1"
grid = "G-0-1"
phone = "13800000000"

[[roster]]
unit = "U1"
daily = "07:00-19:00"

[[roster]]
officer = "B"
start = 2026-12-24T19:00:00+08:00
end = 2026-12-25T07:00:00+08:00
"""


def write_city(
    directory: Path, force: str = FORCE, grid: str = GRID, stations: str = STATIONS
) -> Path:
    for name, text in (
        ("force.toml", force),
        ("grid.geojson", grid),
        ("stations.geojson", stations),
    ):
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence]


def test_the_small_city_loads(tmp_path: Path) -> None:
    city = load_city(write_city(tmp_path))
    assert [o.id for o in city.officers] == ["A", "B"]
    assert city.units[1].duty_phone == "+8657100110" and city.units[1].station == "S-a"
    assert city.station_unit("S-a") is city.units[1]
    assert city.roster.on_duty("A", at(8)) and not city.roster.on_duty("A", at(20))
    assert city.roster.on_duty("B", at(23, day=24, month=12))  # unit day shift + a dated night
    assert not city.roster.on_duty("B", at(23, day=25, month=12))
    assert city.roster.shifts("B")[0] == Shift.every_day("B", 7 * 60, 19 * 60)


# (text to replace in FORCE, its replacement, the needle marking the reported line, key, problem)
FORCE_CASES = [
    ('unit = "U1"\ngrid = "G-0-1"', 'unit = "X"\ngrid = "G-0-1"', 'unit = "X"',
     "officers[1].unit", "unknown unit 'X'"),
    ('id = "B"', 'id = "A"', 'id = "A"#1', "officers[1].id", "duplicate officer id 'A'"),
    ('id = "U1"', 'id = "TOP"', 'id = "TOP"#1', "units[1].id", "duplicate unit id 'TOP'"),
    ('grid = "G-0-1"', 'grid = "G-9-9"', "G-9-9", "officers[1].grid", "unknown grid cell 'G-9-9'"),
    ('superior = "TOP"', 'superior = "NOPE"', "NOPE", "units[1].superior", "unknown unit 'NOPE'"),
    ('duty_phone = "sip:duty-top@h"', 'duty_phone = "sip:duty-top@h"\nsuperior = "U1"',
     'superior = "U1"', "units[0].superior", "superior loop: TOP -> U1 -> TOP"),
    ('station = "S-a"', 'station = "S-z"', "S-z", "units[1].station", "unknown station 'S-z'"),
    ('phone = "13800000000"', 'phone = "call me"', "call me", "officers[1].phone",
     "neither a SIP URI nor a phone number"),
    ('daily = "07:00-19:00"', 'daily = "25:00-07:00"', "25:00", "roster[0].daily",
     "is not \"HH:MM-HH:MM\""),
    ('daily = "07:00-19:00"', 'daily = "07:00-07:00"', "07:00-07:00", "roster[0].daily",
     "has no length"),
    ('daily = "07:00-19:00"', "daily = 7", "daily = 7", "roster[0].daily", "is not"),
    ("start = 2026-12-24T19:00:00+08:00", "start = 2026-12-24T19:00:00", "start =",
     "roster[1].start", "needs a UTC offset"),
    ("end = 2026-12-25T07:00:00+08:00", "end = 2026-12-24T07:00:00+08:00", "end =",
     "roster[1].end", "must be after start"),
    ('officer = "B"', 'officer = "B"\nunit = "U1"', "[[roster]]#1", "roster[1]",
     "exactly one of officer or unit"),
    ('officer = "B"', 'officer = "Z"', 'officer = "Z"', "roster[1].officer",
     "unknown officer 'Z'"),
    ('unit = "U1"\ndaily', 'unit = "TOP"\ndaily', 'unit = "TOP"', "roster[0].unit",
     "unit 'TOP' has no officers"),
    ('daily = "07:00-19:00"', 'daily = "07:00-19:00"\nstart = 2026-12-24T19:00:00+08:00',
     'daily = "07', "roster[0].daily", "not both"),
    ('phone = "sip:a@h"', 'phone = "sip:a@h"\nrank = "sergeant"', "rank =", "officers[0].rank",
     "unknown key"),
    ('name = "Officer A"\n', "", "[[officers]]", "officers[0].name", "required"),
    ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"', "timezone", "timezone",
     "unknown time zone 'Mars/Olympus'"),
    ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nofficer = 1', "officer = 1",
     "officer", "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "needle", "key", "problem"), FORCE_CASES)
def test_force_toml_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, needle: str, key: str, problem: str
) -> None:
    assert old in FORCE
    text = FORCE.replace(old, new, 1)
    needle, _, nth = needle.partition("#")
    expected_line = line_of(text, needle, int(nth or 0))
    with pytest.raises(CityError) as caught:
        load_city(write_city(tmp_path, force=text))
    error = caught.value
    assert (error.path, error.line, error.key) == (str(tmp_path / "force.toml"), expected_line, key)
    assert problem in error.problem
    assert str(error).startswith(f"{tmp_path / 'force.toml'}:{expected_line}: {key}: ")


def test_force_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    text = FORCE.replace('name = "Officer B"', 'name = "Officer B')
    with pytest.raises(CityError) as caught:
        load_city(write_city(tmp_path, force=text))
    assert caught.value.line == line_of(text, 'name = "Officer B')
    assert "not TOML" in caught.value.problem


@pytest.mark.parametrize(
    ("layer", "old", "new", "needle", "key", "problem"),
    [
        ("grid", '"id": "G-0-1", "station": "S-a"', '"id": "G-0-1", "station": "S-q"', "S-q",
         "features[1].properties.station", "unknown station 'S-q'"),
        ("grid", '"id": "G-0-1"', '"id": "G-0-0"', '"id": "G-0-0"#1', "features[1].properties.id",
         "duplicate id 'G-0-0'"),
        ("grid", '"coordinates": [[[1, 0]', '"coordinates": [[[1, 95]', "[[[1, 95]",
         "features[1].geometry", "out of range"),
        ("stations", '"county": "C-1"', '"county": ""', '"county": ""',
         "features[0].properties.county", "must be a non-empty string"),
        ("grid", '"G-0-0", "station": "S-a"},', '"G-0-0", "station": "S-a"},,', "},,", "",
         "not JSON"),
    ],
)  # fmt: skip
def test_geojson_errors_name_file_line_and_key(
    tmp_path: Path, layer: str, old: str, new: str, needle: str, key: str, problem: str
) -> None:
    source = GRID if layer == "grid" else STATIONS
    assert old in source
    text = source.replace(old, new, 1)
    needle, _, nth = needle.partition("#")
    files = {"grid": text} if layer == "grid" else {"stations": text}
    with pytest.raises(CityError) as caught:
        load_city(write_city(tmp_path, **files))
    error = caught.value
    path = str(tmp_path / f"{layer}.geojson")
    assert (error.path, error.line, error.key) == (path, line_of(text, needle, int(nth or 0)), key)
    assert problem in error.problem


def test_geojson_line_of_a_pretty_printed_feature(tmp_path: Path) -> None:
    grid = json.loads(GRID)
    grid["features"][1]["properties"]["station"] = "S-q"
    text = json.dumps(grid, indent=2)
    with pytest.raises(CityError) as caught:
        load_city(write_city(tmp_path, grid=text))
    assert caught.value.line == line_of(text, '"S-q"')


def test_a_missing_file(tmp_path: Path) -> None:
    write_city(tmp_path)
    (tmp_path / "stations.geojson").unlink()
    with pytest.raises(CityError) as caught:
        load_city(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'stations.geojson'}: cannot read")
