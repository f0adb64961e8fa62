"""The live police force: officers, units, positions and statuses, and who goes first.

Theory of operation. Officers are fixed at construction and each gets an array position.
Every position report and status change writes that officer's slot in numpy arrays (O(1)),
and the same values into plain Python lists (for views and for the loop reference). A query
(`rank`) then works on all officers at once:

1. eligible = on duty (roster) & AVAILABLE & position known & not excluded;
2. haversine distance to each eligible officer, ETA = distance x road_factor / max(speed,
   min_speed) (the latitudes' radians and cosines are precomputed per report);
3. rank key = ETA, minus `same_grid_bonus` for an officer assigned to the incident's cell,
   compared in whole milliseconds: officers within 1 ms of each other rank by id, so the
   vectorised path and the loop agree and nobody's rank hangs on the last bit of a sine;
4. fresh positions before stale ones; top-k by `np.argpartition`, then only the k sorted.

The roster's on-duty mask is cached: it is recomputed when the roster changes (its
`version`), when `now` reaches the next local minute (daily shifts change on whole minutes)
or the next dated shift boundary, or when `now` goes back before the cached instant. So the
mask is exact, and at most one recomputation happens per minute of queries.

`rank_python` is the same rule as a plain loop: the reference for tests and the benchmark.
Times (`now`, `ts`) are wall-clock epoch seconds, as officers' phones stamp positions.
"""

from __future__ import annotations

import enum
import heapq
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dispatch.errors import DispatchError
from dispatch.geo import distance_m, haversine_m
from dispatch.roster import DutyTable, Roster

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


class OfficerStatus(enum.Enum):
    """An officer's own status; OFF_DUTY is also shown whenever the roster says so."""

    OFF_DUTY = "off-duty"
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    ON_SCENE = "on-scene"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True, kw_only=True)
class Officer:
    """A police officer who can be sent."""

    id: str
    name: str
    unit: str
    """Unit id."""
    grid: str
    """The grid cell the officer is assigned to patrol."""
    phone: str
    """A SIP URI ("sip:...") or a dialable number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """A unit (patrol team, station, county or city command) with a duty phone."""

    id: str
    name: str
    duty_phone: str
    """SIP URI or number answered around the clock; "" when the unit has none."""
    superior: str | None
    """The unit above this one, or None at the top."""
    station: str | None = None
    """The station whose jurisdiction the unit serves, if it is a station's unit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One ranked officer for an incident."""

    officer_id: str
    name: str
    unit: str
    grid: str
    phone: str
    distance_m: float
    """Great-circle distance to the incident."""
    eta_s: float
    """distance x road_factor / max(speed, min_speed); not reduced by the same-grid bonus."""
    stale: bool
    """The position is older than `stale_after`."""
    same_grid: bool
    """The officer is assigned to the incident's grid cell."""
    position_age_s: float
    """now - position timestamp (negative when the phone's clock is ahead)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerView:
    """An officer as the console shows them at `now`."""

    id: str
    name: str
    unit: str
    grid: str
    phone: str
    status: OfficerStatus
    """OFF_DUTY when the roster says not on duty, else the stored status."""
    on_duty: bool
    lat: float | None
    lon: float | None
    position_ts: float | None
    speed: float | None
    stale: bool
    """No position at all, or one older than `stale_after`."""
    status_since: float
    """When the stored status was last changed (the force's start until then)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ForceConfig:
    """How positions are judged and officers ranked."""

    stale_after: float = 120.0
    """A position older than this (s) ranks after every fresh one."""
    road_factor: float = 1.4
    """Road distance / great-circle distance."""
    min_speed: float = 8.3
    """m/s; the ETA uses max(reported speed, min_speed), a parked car still drives off."""
    same_grid_bonus: float = 120.0
    """s taken off the ranking ETA of an officer assigned to the incident's grid cell."""
    max_future_skew: float = 30.0
    """A position stamped more than this (s) ahead of now is refused."""

    def __post_init__(self) -> None:
        if not (self.stale_after > 0 and self.road_factor > 0 and self.min_speed > 0):
            raise ValueError("stale_after, road_factor and min_speed must be positive")
        if not (self.same_grid_bonus >= 0 and self.max_future_skew >= 0):
            raise ValueError("same_grid_bonus and max_future_skew must not be negative")


_AVAILABLE = OfficerStatus.AVAILABLE
_Fix = tuple[float, float, float, float]  # lat, lon, ts, speed


class Force:
    """See the module docstring."""

    def __init__(
        self,
        officers: list[Officer],
        units: list[Unit],
        roster: Roster,
        config: ForceConfig = ForceConfig(),  # frozen, so one shared default is harmless
        *,
        now: float = 0.0,
    ) -> None:
        """`now` is when the force starts: every officer is AVAILABLE since then."""
        self._units = {unit.id: unit for unit in units}
        if len(self._units) != len(units):
            raise ValueError("duplicate unit id")
        for unit in units:
            if unit.superior is not None and unit.superior not in self._units:
                raise ValueError(f"unit {unit.id!r}: unknown superior {unit.superior!r}")
        self._officers = list(officers)
        self._index = {officer.id: i for i, officer in enumerate(officers)}
        if len(self._index) != len(officers):
            raise ValueError("duplicate officer id")
        for officer in officers:
            if officer.unit not in self._units:
                raise ValueError(f"officer {officer.id!r}: unknown unit {officer.unit!r}")
        self._roster = roster
        self.config = config
        n = len(officers)
        self._status = [_AVAILABLE] * n
        self._since = [now] * n
        self._fix: list[_Fix | None] = [None] * n
        self._phi = np.full(n, np.nan)
        self._lam = np.full(n, np.nan)
        self._cos_phi = np.full(n, np.nan)
        self._ts = np.full(n, np.nan)
        self._speed = np.full(n, config.min_speed)  # max(reported, min_speed)
        self._known = np.zeros(n, dtype=np.bool_)
        self._available = np.ones(n, dtype=np.bool_)
        grids = {grid: code for code, grid in enumerate(sorted({o.grid for o in officers}))}
        self._grid_codes = grids
        self._grid = np.array([grids[o.grid] for o in officers], dtype=np.intp)
        by_id = sorted(range(n), key=lambda i: officers[i].id)
        self._id_rank = np.empty(n, dtype=np.intp)
        self._id_rank[by_id] = np.arange(n)
        self._table: DutyTable = roster.duty_table(self._index)
        self._mask = np.zeros(n, dtype=np.bool_)
        self._mask_from, self._mask_until = math.inf, -math.inf

    @property
    def roster(self) -> Roster:
        """The duty roster (changes through it are seen at the next query)."""
        return self._roster

    @property
    def nbytes(self) -> int:
        """Bytes held in the per-officer numpy arrays (not the Python lists)."""
        arrays = (self._phi, self._lam, self._cos_phi, self._ts, self._speed, self._known,
                  self._available, self._grid, self._id_rank, self._mask)  # fmt: skip
        return sum(a.nbytes for a in arrays)

    # -- changes ---------------------------------------------------------------------------

    def update_position(
        self, officer_id: str, lat: float, lon: float, ts: float, speed: float, now: float
    ) -> bool:
        """Store a position report; False (ignored) when older than the one held.

        DispatchError 404 for an unknown officer; 400 for lat/lon out of range or not
        finite, a negative or non-finite speed, or `ts` more than `max_future_skew` ahead of
        `now`. A report with the same `ts` as the one held replaces it (a corrected fix).
        """
        i = self._at(officer_id)
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise DispatchError(f"latitude {lat!r} is not in -90..90", 400)
        if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise DispatchError(f"longitude {lon!r} is not in -180..180", 400)
        if not (math.isfinite(speed) and speed >= 0.0):
            raise DispatchError(f"speed {speed!r} must be a finite number >= 0", 400)
        if not math.isfinite(ts):
            raise DispatchError(f"timestamp {ts!r} is not a number", 400)
        if ts > now + self.config.max_future_skew:
            raise DispatchError(f"timestamp {ts!r} is in the future (now {now:.3f})", 400)
        held = self._fix[i]
        if held is not None and ts < held[2]:
            return False  # out of order: a newer fix already arrived
        self._fix[i] = (lat, lon, ts, speed)
        phi = math.radians(lat)
        self._phi[i], self._lam[i], self._cos_phi[i] = phi, math.radians(lon), math.cos(phi)
        self._ts[i] = ts
        self._speed[i] = max(speed, self.config.min_speed)
        self._known[i] = True
        return True

    def set_status(self, officer_id: str, status: OfficerStatus, now: float) -> None:
        """Set an officer's own status (404 when unknown); the same status again is a no-op."""
        i = self._at(officer_id)
        if self._status[i] is status:
            return
        self._status[i] = status
        self._since[i] = now
        self._available[i] = status is _AVAILABLE

    # -- ranking -----------------------------------------------------------------------------

    def rank(
        self,
        lat: float,
        lon: float,
        now: float,
        *,
        grid: str | None = None,
        limit: int = 10,
        exclude: frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """The best `limit` officers for an incident at (lat, lon); see the module docstring."""
        _check_point(lat, lon)
        if limit <= 0:
            return []
        eligible = self._duty_mask(now) & self._available & self._known
        for officer_id in exclude:
            i = self._index.get(officer_id)
            if i is not None:
                eligible[i] = False
        idx: IntArray = np.flatnonzero(eligible)
        if not len(idx):
            return []
        cfg = self.config
        dist = haversine_m(
            math.radians(lat), math.radians(lon),
            self._phi[idx], self._lam[idx], self._cos_phi[idx],
        )  # fmt: skip
        eta = dist * cfg.road_factor / self._speed[idx]
        key = eta
        code = self._grid_codes.get(grid) if grid is not None else None
        same = self._grid[idx] == code if code is not None else np.zeros(len(idx), np.bool_)
        if code is not None:
            key = eta - cfg.same_grid_bonus * same
        key_ms = np.floor(key * 1000.0 + 0.5)
        age = now - self._ts[idx]
        stale = age > cfg.stale_after
        rank_of = self._id_rank[idx]
        chosen = _top(np.flatnonzero(~stale), key_ms, rank_of, limit)
        if len(chosen) < limit:
            more = _top(np.flatnonzero(stale), key_ms, rank_of, limit - len(chosen))
            chosen = np.concatenate([chosen, more])
        out = []
        for p in chosen.tolist():
            officer = self._officers[int(idx[p])]
            out.append(
                Candidate(
                    officer_id=officer.id,
                    name=officer.name,
                    unit=officer.unit,
                    grid=officer.grid,
                    phone=officer.phone,
                    distance_m=float(dist[p]),
                    eta_s=float(eta[p]),
                    stale=bool(stale[p]),
                    same_grid=bool(same[p]),
                    position_age_s=float(age[p]),
                )
            )
        return out

    def rank_python(
        self,
        lat: float,
        lon: float,
        now: float,
        *,
        grid: str | None = None,
        limit: int = 10,
        exclude: frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """`rank` as a plain loop (no numpy): the reference and the benchmark baseline."""
        _check_point(lat, lon)
        if limit <= 0:
            return []
        cfg = self.config
        on_duty = self._roster.on_duty_set(now)
        rows = []
        for i, officer in enumerate(self._officers):
            fix = self._fix[i]
            if (
                fix is None
                or self._status[i] is not _AVAILABLE
                or officer.id not in on_duty
                or officer.id in exclude
            ):
                continue
            f_lat, f_lon, ts, speed = fix
            dist = distance_m(lat, lon, f_lat, f_lon)
            eta = dist * cfg.road_factor / max(speed, cfg.min_speed)
            same = grid is not None and officer.grid == grid
            key = eta - cfg.same_grid_bonus if same else eta
            age = now - ts
            stale = age > cfg.stale_after
            sort_key = (stale, math.floor(key * 1000.0 + 0.5), officer.id)
            rows.append((sort_key, officer, dist, eta, stale, same, age))
        best = heapq.nsmallest(limit, rows, key=lambda row: row[0])
        return [
            Candidate(
                officer_id=o.id,
                name=o.name,
                unit=o.unit,
                grid=o.grid,
                phone=o.phone,
                distance_m=dist,
                eta_s=eta,
                stale=stale,
                same_grid=same,
                position_age_s=age,
            )
            for _, o, dist, eta, stale, same, age in best
        ]

    def _duty_mask(self, now: float) -> npt.NDArray[np.bool_]:
        """On duty per officer at `now`, cached while it cannot change (module docstring)."""
        if self._table.version != self._roster.version:
            self._table = self._roster.duty_table(self._index)
            self._mask_from, self._mask_until = math.inf, -math.inf
        if not (self._mask_from <= now < self._mask_until):
            self._mask, self._mask_until = self._table.mask(now)
            self._mask_from = now
        return self._mask

    # -- views -------------------------------------------------------------------------------

    def officer(self, officer_id: str, now: float) -> OfficerView:
        """One officer as seen at `now`; DispatchError 404 when unknown."""
        i = self._at(officer_id)
        return self._view(i, self._roster.on_duty(officer_id, now), now)

    def officers(self, now: float) -> list[OfficerView]:
        """Every officer as seen at `now`, in configuration order."""
        on = self._duty_mask(now).tolist()
        return [self._view(i, on[i], now) for i in range(len(self._officers))]

    def _view(self, i: int, on_duty: bool, now: float) -> OfficerView:
        o, fix = self._officers[i], self._fix[i]
        return OfficerView(
            id=o.id, name=o.name, unit=o.unit, grid=o.grid, phone=o.phone,
            status=self._status[i] if on_duty else OfficerStatus.OFF_DUTY, on_duty=on_duty,
            lat=fix[0] if fix else None, lon=fix[1] if fix else None,
            position_ts=fix[2] if fix else None, speed=fix[3] if fix else None,
            stale=fix is None or now - fix[2] > self.config.stale_after,
            status_since=self._since[i],
        )  # fmt: skip

    def unit(self, unit_id: str) -> Unit:
        """A unit; DispatchError 404 when unknown."""
        unit = self._units.get(unit_id)
        if unit is None:
            raise DispatchError(f"unknown unit {unit_id!r}", 404)
        return unit

    def units(self) -> list[Unit]:
        """Every unit, in configuration order."""
        return list(self._units.values())

    def duty_chain(self, unit_id: str) -> list[Unit]:
        """The unit, its superior, the superior's superior... (stops at a repeat)."""
        chain = [self.unit(unit_id)]
        seen = {unit_id}
        while (up := chain[-1].superior) is not None and up not in seen:
            seen.add(up)
            chain.append(self.unit(up))
        return chain

    def _at(self, officer_id: str) -> int:
        i = self._index.get(officer_id)
        if i is None:
            raise DispatchError(f"unknown officer {officer_id!r}", 404)
        return i


def _check_point(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise DispatchError(f"incident location ({lat!r}, {lon!r}) is out of range", 400)


def _top(positions: IntArray, key: FloatArray, id_rank: IntArray, k: int) -> IntArray:
    """The `k` of `positions` with the smallest (key, id rank), sorted."""
    keys = key[positions]
    if len(positions) > k:
        part = np.argpartition(keys, k - 1)
        threshold = keys[part[k - 1]]
        pick = part[:k]
        # officers tied at the cut-off: keep them all so the id decides, not argpartition
        if np.count_nonzero(keys == threshold) > np.count_nonzero(keys[pick] == threshold):
            pick = np.flatnonzero(keys <= threshold)
        positions, keys = positions[pick], keys[pick]
    order = np.lexsort((id_rank[positions], keys))[:k]
    result: IntArray = positions[order]
    return result
