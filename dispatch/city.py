"""Load a city: its grid and station areas (GeoJSON) and its force and roster (TOML).

A city directory holds three files:

- ``grid.geojson``: grid cells, properties ``{"id", "station"}``;
- ``stations.geojson``: station jurisdictions, properties ``{"id", "name", "county"}``;
- ``force.toml``: ``timezone``, then ``[[units]]``, ``[[officers]]`` and ``[[roster]]``.

Everything is checked once, here; every problem is a `CityError` naming the file, the line
and the key (``force.toml:57: officers[3].unit: unknown unit 'X'``), so a bad city stops the
engine at start-up instead of misrouting a call later. See config/city/force.toml for the
format of each table.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.errors import AreaError, CityError
from dispatch.force import Officer, Unit
from dispatch.geo import Areas
from dispatch.roster import Roster, Shift
from engine.tomlpos import locate

GRID_FILE, STATIONS_FILE, FORCE_FILE = "grid.geojson", "stations.geojson", "force.toml"
_PHONE = re.compile(r"^(sips?:\S+|\+?[0-9*#]+)$")
_DAILY = re.compile(r"^\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*$")
_TOP = {"timezone", "units", "officers", "roster"}
_UNIT_KEYS = {"id", "name", "duty_phone", "superior", "station"}
_OFFICER_KEYS = {"id", "name", "unit", "grid", "phone"}
_ROSTER_KEYS = {"officer", "unit", "daily", "start", "end"}


@dataclass(frozen=True)
class City:
    """A loaded city: where things are, who serves, and when."""

    areas: Areas
    officers: list[Officer]
    units: list[Unit]
    roster: Roster
    tz: str
    """IANA time zone name of the roster's daily shifts."""

    def station_unit(self, station_id: str) -> Unit | None:
        """The first unit that serves the station (its `station` key), if any."""
        return next((unit for unit in self.units if unit.station == station_id), None)


def load_city(directory: Path) -> City:
    """Read and check the three files of a city directory (CityError on any problem)."""
    paths = {name: directory / name for name in (GRID_FILE, STATIONS_FILE, FORCE_FILE)}
    texts = {name: _read(path) for name, path in paths.items()}
    grid = _json(paths[GRID_FILE], texts[GRID_FILE])
    stations = _json(paths[STATIONS_FILE], texts[STATIONS_FILE])
    try:
        areas = Areas.from_geojson(grid, stations)
    except AreaError as exc:
        name = GRID_FILE if exc.layer == "grid" else STATIONS_FILE
        line = _geojson_line(texts[name], exc.index, exc.key)
        raise CityError(str(paths[name]), line, exc.key, exc.problem) from None
    return _ForceFile(paths[FORCE_FILE], texts[FORCE_FILE], areas).load()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CityError(str(path), 0, "", f"cannot read: {exc}") from None


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CityError(str(path), exc.lineno, "", f"not JSON: {exc.msg}") from None


class _ForceFile:
    """force.toml, checked against the areas; `load` builds the City."""

    def __init__(self, path: Path, text: str, areas: Areas) -> None:
        self.path, self.text, self.areas = path, text, areas

    def error(self, keypath: tuple[str | int, ...], problem: str) -> CityError:
        """A CityError at the line of `keypath`; ("roster", 3) is the entry's [[roster]] line."""
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in keypath)
        # a key no line can match makes `locate` fall back to the line of the entry's header
        where = (*keypath, "") if isinstance(keypath[-1], int) else keypath
        return CityError(str(self.path), locate(self.text, where), key.lstrip("."), problem)

    def load(self) -> City:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            line = int(found.group(1)) if found else 0
            raise CityError(str(self.path), line, "", f"not TOML: {exc}") from None
        for key in data:
            if key not in _TOP:
                raise self.error((key,), f"unknown key (known: {', '.join(sorted(_TOP))})")
        tz_name = data.get("timezone")
        if not isinstance(tz_name, str):
            raise self.error(("timezone",), 'required, an IANA zone name like "Asia/Shanghai"')
        try:
            tz = ZoneInfo(tz_name)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise self.error(("timezone",), f"unknown time zone {tz_name!r}") from None
        units = self.units(self.tables(data, "units", _UNIT_KEYS))
        officers = self.officers(self.tables(data, "officers", _OFFICER_KEYS), units)
        shifts = self.roster(self.tables(data, "roster", _ROSTER_KEYS), units, officers)
        return City(
            areas=self.areas,
            officers=officers,
            units=list(units.values()),
            roster=Roster(shifts, tz),
            tz=tz_name,
        )

    def tables(self, data: dict[str, Any], name: str, allowed: set[str]) -> list[dict[str, Any]]:
        """An array of tables whose entries use only `allowed` keys."""
        entries = data.get(name, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.error((name,), f"must be an array of tables ([[{name}]])")
        for i, entry in enumerate(entries):
            for key in entry:
                if key not in allowed:
                    known = ", ".join(sorted(allowed))
                    raise self.error((name, i, key), f"unknown key (known: {known})")
        return entries

    def required(self, entry: dict[str, Any], where: tuple[str | int, ...], key: str) -> str:
        """A required non-empty string."""
        value = entry.get(key)
        if value is None:
            raise self.error((*where, key), "required")
        if not isinstance(value, str) or not value.strip():
            raise self.error((*where, key), f"must be a non-empty string, not {value!r}")
        return value

    def phone(self, value: str, keypath: tuple[str | int, ...]) -> str:
        if not _PHONE.match(value.strip()):
            raise self.error(keypath, f"{value!r} is neither a SIP URI nor a phone number")
        return value

    def units(self, entries: list[dict[str, Any]]) -> dict[str, Unit]:
        units: dict[str, Unit] = {}
        for i, entry in enumerate(entries):
            at: tuple[str | int, ...] = ("units", i)
            ident = self.required(entry, at, "id")
            if ident in units:
                raise self.error((*at, "id"), f"duplicate unit id {ident!r}")
            phone = entry.get("duty_phone", "")
            if not isinstance(phone, str):
                raise self.error((*at, "duty_phone"), "must be a string")
            if phone:
                self.phone(phone, (*at, "duty_phone"))
            superior = self.required(entry, at, "superior") if "superior" in entry else None
            station = self.required(entry, at, "station") if "station" in entry else None
            if station is not None and station not in self.areas.stations():
                raise self.error((*at, "station"), f"unknown station {station!r}")
            units[ident] = Unit(
                id=ident,
                name=self.required(entry, at, "name"),
                duty_phone=phone,
                superior=superior,
                station=station,
            )
        order = list(units)
        for i, unit in enumerate(units.values()):
            if unit.superior is not None and unit.superior not in units:
                raise self.error(("units", i, "superior"), f"unknown unit {unit.superior!r}")
        for unit in units.values():
            chain = [unit.id]
            while (up := units[chain[-1]].superior) is not None:
                if up in chain:
                    members = chain[chain.index(up) :]
                    first = min(order.index(member) for member in members)
                    turn = members.index(order[first])  # start the loop at its first unit
                    loop = [*members[turn:], *members[:turn], order[first]]
                    loop_text = " -> ".join(loop)
                    raise self.error(("units", first, "superior"), f"superior loop: {loop_text}")
                chain.append(up)
        return units

    def officers(self, entries: list[dict[str, Any]], units: dict[str, Unit]) -> list[Officer]:
        cells = set(self.areas.cells())
        officers: list[Officer] = []
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            at: tuple[str | int, ...] = ("officers", i)
            ident = self.required(entry, at, "id")
            if ident in seen:
                raise self.error((*at, "id"), f"duplicate officer id {ident!r}")
            seen.add(ident)
            unit = self.required(entry, at, "unit")
            if unit not in units:
                raise self.error((*at, "unit"), f"unknown unit {unit!r}")
            grid = self.required(entry, at, "grid")
            if grid not in cells:
                raise self.error((*at, "grid"), f"unknown grid cell {grid!r}")
            officers.append(
                Officer(
                    id=ident,
                    name=self.required(entry, at, "name"),
                    unit=unit,
                    grid=grid,
                    phone=self.phone(self.required(entry, at, "phone"), (*at, "phone")),
                )
            )
        return officers

    def roster(
        self, entries: list[dict[str, Any]], units: dict[str, Unit], officers: list[Officer]
    ) -> list[Shift]:
        known = {officer.id for officer in officers}
        shifts: list[Shift] = []
        for i, entry in enumerate(entries):
            at: tuple[str | int, ...] = ("roster", i)
            if ("officer" in entry) == ("unit" in entry):
                raise self.error(at, "give exactly one of officer or unit")
            if "officer" in entry:
                who = [self.required(entry, at, "officer")]
                if who[0] not in known:
                    raise self.error((*at, "officer"), f"unknown officer {who[0]!r}")
            else:
                unit = self.required(entry, at, "unit")
                if unit not in units:
                    raise self.error((*at, "unit"), f"unknown unit {unit!r}")
                who = [officer.id for officer in officers if officer.unit == unit]
                if not who:
                    raise self.error((*at, "unit"), f"unit {unit!r} has no officers")
            shifts += [self.shift(entry, at, officer) for officer in who]
        return shifts

    def shift(self, entry: dict[str, Any], at: tuple[str | int, ...], officer: str) -> Shift:
        if "daily" in entry:
            if "start" in entry or "end" in entry:
                raise self.error((*at, "daily"), "a shift is daily or has start/end, not both")
            first, last = self.daily(entry["daily"], (*at, "daily"))
            return Shift.every_day(officer, first, last)
        if "start" not in entry or "end" not in entry:
            raise self.error(at, 'needs daily = "HH:MM-HH:MM", or start and end')
        start = self.instant(entry["start"], (*at, "start"))
        end = self.instant(entry["end"], (*at, "end"))
        if end <= start:
            raise self.error((*at, "end"), "must be after start")
        return Shift.dated(officer, start, end)

    def daily(self, value: Any, keypath: tuple[str | int, ...]) -> tuple[int, int]:
        found = _DAILY.match(value) if isinstance(value, str) else None
        bad = f'{value!r} is not "HH:MM-HH:MM" (e.g. "19:00-07:00"; "00:00-24:00" all day)'
        if not found:
            raise self.error(keypath, bad)
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        first, last = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or first >= 24 * 60 or last > 24 * 60:
            raise self.error(keypath, bad)
        if first == last:
            raise self.error(keypath, f"{value!r} has no length (all day is 00:00-24:00)")
        return first, last or 24 * 60  # "19:00-00:00" ends at midnight

    def instant(self, value: Any, keypath: tuple[str | int, ...]) -> float:
        if not isinstance(value, datetime):
            raise self.error(keypath, "must be a date-time like 2026-12-01T19:00:00+08:00")
        if value.tzinfo is None:
            raise self.error(keypath, "needs a UTC offset (e.g. +08:00)")
        return value.timestamp()


def _geojson_line(text: str, index: int, key: str) -> int:
    """The line of `key` (features[i].properties.x) in a GeoJSON text, or of its feature.

    json gives no positions; a scan of the features array (strings and nesting) finds where
    each feature starts and ends, then the key's names are searched for inside it.
    """
    names = [part for part in re.split(r"\.|\[\d+\]", key) if part]
    span = (0, len(text))
    if index >= 0:
        spans = _feature_spans(text)
        if index >= len(spans):
            return 0
        span = spans[index]
        names = names[1:] if names and names[0] == "features" else names
    offset = span[0]
    for name in names:
        found = re.compile(rf'"{re.escape(name)}"\s*:').search(text, offset, span[1])
        if found is None:
            break
        offset = found.start()
    return text.count("\n", 0, offset) + 1


def _feature_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each element of the top-level "features" array."""
    opened = re.search(r'"features"\s*:\s*\[', text)
    if opened is None:
        return []
    spans: list[tuple[int, int]] = []
    depth, start, in_string, escaped = 0, 0, False, False
    for j in range(opened.end(), len(text)):
        char = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            if depth == 0:
                start = j
            depth += 1
        elif char in "}]":
            if depth == 0:
                break  # the end of the features array
            depth -= 1
            if depth == 0:
                spans.append((start, j + 1))
    return spans
