"""The duty roster: who is on duty at a given wall-clock time.

A `Shift` is either dated (two epoch instants, e.g. a night of overtime) or daily (a span of
local wall-clock minutes repeated every day, e.g. 07:00-19:00 or 19:00-07:00). Daily shifts
are read in the roster's time zone, so "07:00" stays 07:00 local across a DST change. An
officer is on duty when any of their shifts covers the instant; one with no shift is not.

Time is a value: every question passes `when` (epoch seconds); nothing reads a clock.

`DutyTable` is the same rule over arrays, for `dispatch.force` to mask every officer at once.
Its answer holds until the next local minute (daily shifts change only on whole minutes) or
the next dated boundary, whichever comes first, and it says so, so the caller can cache it.
Local time is computed as epoch seconds plus the zone's offset, in floats, not through
`datetime` (which rounds to microseconds), so the cached answer and `on_duty` agree to the
last representable instant before a boundary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

DAY_MINUTES = 24 * 60
DAY_SECONDS = 86400.0


def utc_offset(when: float, tz: ZoneInfo) -> float:
    """Seconds to add to epoch `when` for local wall-clock time in `tz`."""
    # the offset of the whole second: a DST change happens on one, and an int is not rounded
    offset = datetime.fromtimestamp(math.floor(when), tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset.total_seconds()


def local_second(when: float, tz: ZoneInfo) -> float:
    """Seconds after local midnight at epoch `when` in zone `tz`."""
    return (when + utc_offset(when, tz)) % DAY_SECONDS


@dataclass(frozen=True, slots=True)
class Shift:
    """One duty period of one officer: set `start` and `end`, or `daily`, never both.

    Use `Shift.dated(...)` or `Shift.every_day(...)`; the constructor checks the combination.
    """

    officer: str
    """Officer id."""
    start: float | None = None
    """Dated shift: first instant on duty, epoch seconds (inclusive)."""
    end: float | None = None
    """Dated shift: first instant off duty again, epoch seconds (exclusive); after `start`."""
    daily: tuple[int, int] | None = None
    """Daily shift: (start, end) in minutes after local midnight, 0..1440. start <= t < end;
    end < start crosses midnight ((1140, 420) is 19:00-07:00); (0, 1440) is all day."""

    def __post_init__(self) -> None:
        if self.daily is None:
            if self.start is None or self.end is None:
                raise ValueError("a shift needs start and end, or daily")
            if not (math.isfinite(self.start) and math.isfinite(self.end)):
                raise ValueError("shift start and end must be finite")
            if self.end <= self.start:
                raise ValueError("a dated shift must end after it starts")
            return
        if self.start is not None or self.end is not None:
            raise ValueError("a shift is dated (start, end) or daily, not both")
        first, last = self.daily
        if not (0 <= first < DAY_MINUTES and 0 < last <= DAY_MINUTES):
            raise ValueError("daily minutes must be 0..1439 (start) and 1..1440 (end)")
        if first == last:
            raise ValueError("a daily shift of no length (use 00:00-24:00 for all day)")

    @classmethod
    def dated(cls, officer: str, start: float, end: float) -> Shift:
        """On duty from `start` until `end` (epoch seconds)."""
        return cls(officer, start=start, end=end)

    @classmethod
    def every_day(cls, officer: str, start_minute: int, end_minute: int) -> Shift:
        """On duty every day from `start_minute` to `end_minute` local (may cross midnight)."""
        return cls(officer, daily=(start_minute, end_minute))

    def covers(self, when: float, second: float) -> bool:
        """Whether the shift covers instant `when`, which is `second` after local midnight."""
        if self.daily is None:
            assert self.start is not None and self.end is not None
            return self.start <= when < self.end
        first, last = self.daily[0] * 60, self.daily[1] * 60
        if first < last:
            return first <= second < last
        return second >= first or second < last


class Roster:
    """Every officer's shifts, in one time zone."""

    def __init__(self, shifts: Iterable[Shift], tz: ZoneInfo) -> None:
        self._tz = tz
        self._shifts: dict[str, list[Shift]] = {}
        for shift in shifts:
            self._shifts.setdefault(shift.officer, []).append(shift)
        self._version = 0

    @property
    def tz(self) -> ZoneInfo:
        """The zone daily shifts are read in."""
        return self._tz

    @property
    def version(self) -> int:
        """Increases on every change, so a cached `DutyTable` knows to be rebuilt."""
        return self._version

    def on_duty(self, officer_id: str, when: float) -> bool:
        """Whether any of the officer's shifts covers `when`; no shift means not on duty."""
        shifts = self._shifts.get(officer_id)
        if not shifts:
            return False
        second = local_second(when, self._tz)
        return any(shift.covers(when, second) for shift in shifts)

    def on_duty_set(self, when: float) -> set[str]:
        """Every officer on duty at `when` (one pass over all shifts, plain Python)."""
        second = local_second(when, self._tz)
        return {
            officer
            for officer, shifts in self._shifts.items()
            if any(shift.covers(when, second) for shift in shifts)
        }

    def shifts(self, officer_id: str) -> list[Shift]:
        """The officer's shifts (a copy; empty when none)."""
        return list(self._shifts.get(officer_id, ()))

    def set_shifts(self, officer_id: str, shifts: Iterable[Shift]) -> None:
        """Replace the officer's shifts; each must name this officer (ValueError otherwise)."""
        new = list(shifts)
        for shift in new:
            if shift.officer != officer_id:
                raise ValueError(f"shift of {shift.officer!r} given for {officer_id!r}")
        if new:
            self._shifts[officer_id] = new
        else:
            self._shifts.pop(officer_id, None)
        self._version += 1

    def officers(self) -> list[str]:
        """Officers with at least one shift."""
        return list(self._shifts)

    def duty_table(self, index: Mapping[str, int]) -> DutyTable:
        """The shifts of the officers in `index` (id -> array position) as arrays."""
        daily: list[tuple[int, int, int]] = []
        dated: list[tuple[int, float, float]] = []
        for officer, shifts in self._shifts.items():
            position = index.get(officer)
            if position is None:
                continue  # a roster entry for someone the force does not know
            for shift in shifts:
                if shift.daily is not None:
                    daily.append((position, *shift.daily))
                else:
                    assert shift.start is not None and shift.end is not None
                    dated.append((position, shift.start, shift.end))
        return DutyTable(self, len(index), daily, dated)


class DutyTable:
    """A roster's shifts as arrays indexed by officer position (see the module docstring)."""

    def __init__(
        self,
        roster: Roster,
        size: int,
        daily: list[tuple[int, int, int]],
        dated: list[tuple[int, float, float]],
    ) -> None:
        self.version = roster.version
        """The roster version this table was built from."""
        self._roster = roster
        self._size = size
        self._daily_at = np.array([d[0] for d in daily], dtype=np.intp)
        self._daily_start = np.array([d[1] * 60 for d in daily], dtype=np.float64)  # seconds
        self._daily_end = np.array([d[2] * 60 for d in daily], dtype=np.float64)
        self._daily_wraps = self._daily_end < self._daily_start
        self._dated_at = np.array([d[0] for d in dated], dtype=np.intp)
        self._dated_start = np.array([d[1] for d in dated], dtype=np.float64)
        self._dated_end = np.array([d[2] for d in dated], dtype=np.float64)
        self._bounds = np.concatenate([self._dated_start, self._dated_end])

    def mask(self, when: float) -> tuple[npt.NDArray[np.bool_], float]:
        """(on duty per officer position at `when`, the instant until which it holds)."""
        offset = utc_offset(when, self._roster.tz)
        local = when + offset
        second = local % DAY_SECONDS
        on = np.zeros(self._size, dtype=np.bool_)
        start, end = self._daily_start, self._daily_end
        covers = np.where(
            self._daily_wraps,
            (second >= start) | (second < end),
            (start <= second) & (second < end),
        )
        on[self._daily_at[covers]] = True
        dated = (self._dated_start <= when) & (when < self._dated_end)
        on[self._dated_at[dated]] = True
        # daily shifts change on whole local minutes; computed from the whole minute (not
        # when + the rest of it) so float rounding can never put it past the change
        until = (math.floor(local / 60.0) + 1.0) * 60.0 - offset
        later = self._bounds[self._bounds > when]
        if len(later):
            until = min(until, float(later.min()))
        return on, until
