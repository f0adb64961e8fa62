"""dispatch.force and dispatch.roster: who is on duty, and who goes first. Time is a value."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from dispatch.errors import DispatchError
from dispatch.force import Candidate, Force, ForceConfig, Officer, OfficerStatus, Unit
from dispatch.geo import distance_m
from dispatch.roster import Roster, Shift

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI).timestamp()  # a Sunday, 10:00 local
LAT, LON = 30.25, 120.15
ALL_DAY = (0, 24 * 60)
UNITS = [
    Unit(id="CITY", name="City", duty_phone="sip:duty-city@h", superior=None),
    Unit(id="U1", name="Unit 1", duty_phone="sip:duty-u1@h", superior="CITY"),
]


def officer(ident: str, grid: str = "G-0-0", unit: str = "U1") -> Officer:
    return Officer(id=ident, name=f"Officer {ident}", unit=unit, grid=grid, phone=f"sip:{ident}@h")


def force(*officers: Officer, roster: Roster | None = None, **config: float) -> Force:
    if roster is None:
        roster = Roster([Shift.every_day(o.id, *ALL_DAY) for o in officers], SHANGHAI)
    return Force(list(officers), UNITS, roster, ForceConfig(**config), now=NOW - 3600)


def north(metres: float) -> float:
    """The latitude `metres` north of the incident."""
    return LAT + math.degrees(metres / 6_371_008.8)


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.officer_id for c in candidates]


# -- ranking -----------------------------------------------------------------------------------


def test_rank_filters_off_roster_unavailable_unknown_position_and_excluded() -> None:
    names = ["on", "off-roster", "busy", "nowhere", "excluded", "unreachable"]
    roster = Roster([Shift.every_day(n, *ALL_DAY) for n in names if n != "off-roster"], SHANGHAI)
    f = force(*(officer(n) for n in names), roster=roster)
    for i, n in enumerate(names):
        if n != "nowhere":
            assert f.update_position(n, north(100 * (i + 1)), LON, NOW - 5, 10.0, NOW)
    f.set_status("busy", OfficerStatus.DISPATCHED, NOW)
    f.set_status("unreachable", OfficerStatus.UNREACHABLE, NOW)
    got = f.rank(LAT, LON, NOW, exclude=frozenset({"excluded", "nobody-known"}))
    assert ids(got) == ["on"]
    assert got == f.rank_python(LAT, LON, NOW, exclude=frozenset({"excluded", "nobody-known"}))
    assert ids(f.rank(LAT, LON, NOW)) == ["on", "excluded"]
    f.set_status("busy", OfficerStatus.AVAILABLE, NOW + 1)
    assert ids(f.rank(LAT, LON, NOW)) == ["on", "busy", "excluded"]


def test_eta_formula_and_candidate_fields() -> None:
    f = force(officer("slow"), officer("fast", grid="G-1-1"))
    f.update_position("slow", north(1000), LON, NOW - 10, 2.0, NOW)  # below min_speed
    f.update_position("fast", north(2000), LON, NOW - 20, 20.0, NOW)
    fast, slow = f.rank(LAT, LON, NOW, grid="G-1-1")  # 140 s beats 169 s anyway
    assert slow.distance_m == pytest.approx(1000.0, rel=1e-9)
    assert slow.eta_s == pytest.approx(1000.0 * 1.4 / 8.3, rel=1e-9)  # max(2.0, 8.3)
    assert fast.eta_s == pytest.approx(2000.0 * 1.4 / 20.0, rel=1e-9)  # 140 s, not reduced
    assert fast == Candidate(
        officer_id="fast", name="Officer fast", unit="U1", grid="G-1-1", phone="sip:fast@h",
        distance_m=fast.distance_m, eta_s=fast.eta_s, stale=False, same_grid=True,
        position_age_s=20.0,
    )  # fmt: skip
    assert not slow.same_grid
    assert distance_m(LAT, LON, north(1000), LON) == pytest.approx(slow.distance_m, rel=1e-12)


def test_stale_ranks_after_fresh_even_when_nearer() -> None:
    f = force(officer("near"), officer("far"))
    f.update_position("near", north(50), LON, NOW - 121, 10.0, NOW)
    f.update_position("far", north(5000), LON, NOW - 119, 10.0, NOW)
    got = f.rank(LAT, LON, NOW)
    assert [(c.officer_id, c.stale) for c in got] == [("far", False), ("near", True)]
    assert got[1].position_age_s == 121.0
    later = f.rank(LAT, LON, NOW + 2)  # now both are stale: distance decides again
    assert [(c.officer_id, c.stale) for c in later] == [("near", True), ("far", True)]


@pytest.mark.parametrize(
    ("their_eta", "first"),
    [(100.0 + 119.0, "same-grid"), (100.0 + 121.0, "other-grid")],
)
def test_same_grid_bonus_changes_order_only_within_the_bonus(their_eta: float, first: str) -> None:
    f = force(officer("other-grid", grid="G-0-0"), officer("same-grid", grid="G-2-2"))
    speed = 10.0
    f.update_position("other-grid", north(100.0 * speed / 1.4), LON, NOW, speed, NOW)
    f.update_position("same-grid", north(their_eta * speed / 1.4), LON, NOW, speed, NOW)
    got = f.rank(LAT, LON, NOW, grid="G-2-2")
    assert got[0].officer_id == first
    assert [c.eta_s for c in got if c.same_grid] == [pytest.approx(their_eta)]
    assert ids(f.rank(LAT, LON, NOW)) == ["other-grid", "same-grid"]  # no grid: no bonus
    assert got == f.rank_python(LAT, LON, NOW, grid="G-2-2")


def test_ties_go_by_officer_id_also_at_the_cut_off() -> None:
    names = ["e", "d", "c", "b", "a", "z"]
    f = force(*(officer(n) for n in names))
    for n in names:
        f.update_position(n, north(300), LON, NOW, 10.0, NOW)
    f.update_position("z", north(100), LON, NOW, 10.0, NOW)
    assert ids(f.rank(LAT, LON, NOW, limit=3)) == ["z", "a", "b"]
    assert ids(f.rank_python(LAT, LON, NOW, limit=3)) == ["z", "a", "b"]
    assert f.rank(LAT, LON, NOW, limit=0) == []
    assert len(f.rank(LAT, LON, NOW, limit=100)) == 6


def test_rank_refuses_a_bad_incident_location() -> None:
    f = force(officer("a"))
    for lat, lon in [(91.0, 0.0), (0.0, 181.0), (math.nan, 0.0)]:
        with pytest.raises(DispatchError) as caught:
            f.rank(lat, lon, NOW)
        assert caught.value.status_hint == 400


# -- position reports and statuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "ts", "speed"),
    [
        (90.5, LON, NOW, 1.0),
        (-91.0, LON, NOW, 1.0),
        (LAT, 180.1, NOW, 1.0),
        (math.nan, LON, NOW, 1.0),
        (LAT, math.inf, NOW, 1.0),
        (LAT, LON, NOW, -0.1),
        (LAT, LON, NOW, math.nan),
        (LAT, LON, NOW + 30.001, 1.0),
        (LAT, LON, math.nan, 1.0),
    ],
)
def test_update_position_refuses_bad_values(
    lat: float, lon: float, ts: float, speed: float
) -> None:
    f = force(officer("a"))
    with pytest.raises(DispatchError) as caught:
        f.update_position("a", lat, lon, ts, speed, NOW)
    assert caught.value.status_hint == 400
    assert f.officer("a", NOW).lat is None


def test_update_position_unknown_officer_and_out_of_order() -> None:
    f = force(officer("a"))
    with pytest.raises(DispatchError) as caught:
        f.update_position("x", LAT, LON, NOW, 1.0, NOW)
    assert caught.value.status_hint == 404
    assert f.update_position("a", LAT, LON, NOW + 30.0, 1.0, NOW)  # at the skew limit: fine
    assert not f.update_position("a", north(10), LON, NOW + 29.0, 1.0, NOW)  # older: ignored
    view = f.officer("a", NOW)
    assert (view.lat, view.position_ts) == (LAT, NOW + 30.0)
    assert f.update_position("a", north(10), LON, NOW + 30.0, 2.0, NOW)  # same ts replaces
    assert f.officer("a", NOW).speed == 2.0


def test_officer_views_statuses_and_roster() -> None:
    roster = Roster([Shift.every_day("day", 7 * 60, 19 * 60)], SHANGHAI)
    f = force(officer("day"), officer("never"), roster=roster)
    view = f.officer("day", NOW)
    assert (view.status, view.on_duty, view.stale, view.status_since) == (
        OfficerStatus.AVAILABLE, True, True, NOW - 3600,
    )  # fmt: skip
    f.update_position("day", LAT, LON, NOW - 10, 3.0, NOW)
    f.set_status("day", OfficerStatus.ON_SCENE, NOW + 5)
    f.set_status("day", OfficerStatus.ON_SCENE, NOW + 9)  # the same again: since unchanged
    view = f.officer("day", NOW + 10)
    assert (view.status, view.status_since, view.stale) == (OfficerStatus.ON_SCENE, NOW + 5, False)
    assert (view.lat, view.lon, view.position_ts, view.speed) == (LAT, LON, NOW - 10, 3.0)
    night = NOW + 10 * 3600  # 20:00 local: off duty whatever the stored status
    assert f.officer("day", night).status is OfficerStatus.OFF_DUTY
    assert [(v.id, v.status, v.on_duty) for v in f.officers(NOW)] == [
        ("day", OfficerStatus.ON_SCENE, True),
        ("never", OfficerStatus.OFF_DUTY, False),
    ]
    with pytest.raises(DispatchError) as caught:
        f.set_status("x", OfficerStatus.AVAILABLE, NOW)
    assert caught.value.status_hint == 404


def test_units_and_duty_chain_is_cycle_safe() -> None:
    f = force(officer("a"))
    assert [u.id for u in f.duty_chain("U1")] == ["U1", "CITY"]
    assert f.unit("CITY").superior is None
    assert [u.id for u in f.units()] == ["CITY", "U1"]
    with pytest.raises(DispatchError) as caught:
        f.unit("nope")
    assert caught.value.status_hint == 404
    loop = [
        Unit(id="A", name="A", duty_phone="", superior="B"),
        Unit(id="B", name="B", duty_phone="", superior="C"),
        Unit(id="C", name="C", duty_phone="", superior="A"),
    ]
    looped = Force([], loop, Roster([], SHANGHAI))
    assert [u.id for u in looped.duty_chain("B")] == ["B", "C", "A"]


def test_construction_checks() -> None:
    with pytest.raises(ValueError, match="duplicate officer"):
        force(officer("a"), officer("a"))
    with pytest.raises(ValueError, match="unknown unit"):
        force(officer("a", unit="U9"))
    with pytest.raises(ValueError, match="positive"):
        ForceConfig(min_speed=0.0)


# -- the roster --------------------------------------------------------------------------------


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int, sec: int = 0) -> float:
    return datetime(y, mo, d, h, mi, sec, tzinfo=tz).timestamp()


def test_daily_shift_crossing_midnight_in_shanghai() -> None:
    r = Roster([Shift.every_day("n", 19 * 60, 7 * 60)], SHANGHAI)
    assert not r.on_duty("n", local(SHANGHAI, 2026, 11, 29, 18, 59, 59))
    assert r.on_duty("n", local(SHANGHAI, 2026, 11, 29, 19, 0))
    assert r.on_duty("n", local(SHANGHAI, 2026, 11, 30, 0, 0))
    assert r.on_duty("n", local(SHANGHAI, 2026, 11, 30, 6, 59, 59))
    assert not r.on_duty("n", local(SHANGHAI, 2026, 11, 30, 7, 0))
    # 19:00 in Shanghai is 11:00 UTC: the zone, not UTC, decides
    assert r.on_duty("n", datetime(2026, 11, 29, 11, 0, tzinfo=ZoneInfo("UTC")).timestamp())
    assert not r.on_duty("nobody", local(SHANGHAI, 2026, 11, 29, 20, 0))


def test_daily_shift_keeps_local_time_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    r = Roster([Shift.every_day("d", 7 * 60, 19 * 60)], berlin)
    for day in (28, 29, 30):  # 2026-03-29: clocks go forward at 02:00
        assert not r.on_duty("d", local(berlin, 2026, 3, day, 6, 59))
        assert r.on_duty("d", local(berlin, 2026, 3, day, 7, 0))


def test_dated_shift_start_inclusive_end_exclusive() -> None:
    start, end = NOW, NOW + 12 * 3600
    r = Roster([Shift.dated("o", start, end)], SHANGHAI)
    assert [r.on_duty("o", t) for t in (start - 1, start, end - 0.001, end)] == [
        False, True, True, False,
    ]  # fmt: skip


def test_set_shifts_and_the_cached_duty_mask() -> None:
    roster = Roster([Shift.every_day("a", 10 * 60 + 1, 11 * 60)], SHANGHAI)
    f = force(officer("a"), roster=roster)
    f.update_position("a", LAT, LON, NOW, 1.0, NOW)
    assert f.rank(LAT, LON, NOW + 59.9) == []  # 10:00:59.9: not yet
    assert ids(f.rank(LAT, LON, NOW + 60.0)) == ["a"]  # 10:01 on the dot
    assert f.rank(LAT, LON, NOW + 30) == []  # back in time: recomputed
    version = roster.version
    roster.set_shifts("a", [Shift.dated("a", NOW, NOW + 10)])
    assert roster.version > version
    assert ids(f.rank(LAT, LON, NOW + 5)) == ["a"]
    assert f.rank(LAT, LON, NOW + 10) == []  # the dated end inside the cached minute
    assert roster.shifts("a") == [Shift.dated("a", NOW, NOW + 10)]
    roster.set_shifts("a", [])
    assert roster.shifts("a") == [] and roster.officers() == []
    with pytest.raises(ValueError):
        roster.set_shifts("a", [Shift.dated("b", NOW, NOW + 1)])


@pytest.mark.parametrize(
    "make",
    [
        lambda: Shift("a"),
        lambda: Shift("a", start=1.0, end=1.0),
        lambda: Shift("a", start=1.0, end=2.0, daily=(0, 60)),
        lambda: Shift.every_day("a", 60, 60),
        lambda: Shift.every_day("a", 0, 1441),
        lambda: Shift("a", start=math.nan, end=2.0),
    ],
)
def test_bad_shifts(make: Callable[[], Shift]) -> None:
    with pytest.raises(ValueError):
        make()


shift_strategy = st.one_of(
    st.tuples(st.integers(0, 24 * 60 - 1), st.integers(1, 24 * 60))
    .filter(lambda d: d[0] != d[1])
    .map(lambda d: Shift.every_day("x", *d)),
    st.tuples(st.floats(-86400, 86400), st.floats(1, 86400)).map(
        lambda se: Shift.dated("x", NOW + se[0], NOW + se[0] + se[1])
    ),
)


@given(
    shifts=st.lists(st.tuples(st.sampled_from("abc"), shift_strategy), max_size=6),
    offsets=st.lists(st.floats(-2 * 86400, 2 * 86400), min_size=1, max_size=5),
)
def test_duty_table_agrees_with_on_duty(
    shifts: list[tuple[str, Shift]], offsets: list[float]
) -> None:
    roster = Roster(
        [Shift(who, start=s.start, end=s.end, daily=s.daily) for who, s in shifts], SHANGHAI
    )
    table = roster.duty_table({"a": 0, "b": 1, "c": 2})
    for offset in offsets:
        when = NOW + offset
        mask, until = table.mask(when)
        assert mask.tolist() == [roster.on_duty(who, when) for who in "abc"]
        assert until > when
        before = math.nextafter(until, when)  # the last instant before `until`
        for probe in (when + (until - when) / 2, before):
            # (a midpoint of a sub-ulp span can round up to `until` itself: clamp it)
            assert table.mask(min(max(probe, when), before))[0].tolist() == mask.tolist()


# -- the vectorised ranking equals the loop ---------------------------------------------------

GRIDS = ["G-0-0", "G-0-1", "G-1-0"]
SPOTS = [(30.25, 120.15), (30.26, 120.15), (30.24, 120.16)]  # shared spots make exact ties
positions = st.one_of(
    st.sampled_from(SPOTS),
    st.tuples(st.floats(30.19, 30.31), st.floats(120.08, 120.22)),
    st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)),
)


@dataclass(frozen=True)
class Member:
    """One generated officer: where, how fresh, how fast, which status, which shift."""

    grid: str
    position: tuple[float, float] | None
    age: float
    speed: float
    status: OfficerStatus
    shift: tuple[int, int] | None


members_strategy = st.builds(
    Member,
    grid=st.sampled_from(GRIDS),
    position=st.none() | positions,
    age=st.sampled_from([-20.0, 0.0, 119.5, 120.0, 120.5, 900.0]) | st.floats(-30, 1e4),
    speed=st.sampled_from([0.0, 8.3, 30.0]) | st.floats(0, 60),
    status=st.sampled_from(list(OfficerStatus)),
    shift=st.sampled_from([None, ALL_DAY, (9 * 60, 10 * 60), (10 * 60, 9 * 60)]),
)


@settings(max_examples=300, deadline=None)
@given(
    members=st.lists(members_strategy, min_size=1, max_size=40),
    incident=positions,
    grid=st.none() | st.sampled_from([*GRIDS, "G-9-9"]),
    limit=st.integers(1, 12),
    excluded=st.sets(st.integers(0, 39), max_size=5),
    later=st.floats(0, 4 * 3600),
)
def test_rank_equals_rank_python(
    members: list[Member],
    incident: tuple[float, float],
    grid: str | None,
    limit: int,
    excluded: set[int],
    later: float,
) -> None:
    officers = [officer(f"o{i:02d}", grid=m.grid) for i, m in enumerate(members)]
    shifts = [
        Shift.every_day(o.id, *m.shift)
        for o, m in zip(officers, members, strict=True)
        if m.shift is not None
    ]
    f = force(*reversed(officers), roster=Roster(shifts, SHANGHAI))  # order must not matter
    for o, m in zip(officers, members, strict=True):
        if m.position is not None:
            f.update_position(o.id, *m.position, NOW - m.age, m.speed, NOW)
        f.set_status(o.id, m.status, NOW)
    exclude = frozenset(f"o{i:02d}" for i in excluded)
    for now in (NOW, NOW + later):  # the second query may reuse the cached duty mask
        fast = f.rank(*incident, now, grid=grid, limit=limit, exclude=exclude)
        slow = f.rank_python(*incident, now, grid=grid, limit=limit, exclude=exclude)
        assert ids(fast) == ids(slow)
        for a, b in zip(fast, slow, strict=True):
            assert (a.stale, a.same_grid) == (b.stale, b.same_grid)
            assert a.position_age_s == b.position_age_s
            assert a.distance_m == pytest.approx(b.distance_m, rel=1e-6, abs=1e-6)
            assert a.eta_s == pytest.approx(b.eta_s, rel=1e-6, abs=1e-6)
