"""The demo's police officers: their phones, their patrols, and a share of calls sent to them.

- `officer_farm` is a second `SeatFarm` (1320 Hz, picking up in 0.5-2.5 s like an officer
  reaching for a radio phone): one phone per officer of the city, plus one duty phone that
  every unit shares. `city_on_farm` moves the city's phones onto it.
- `Patrol` drives the engine's dispatcher as the officers' terminals and a call-taker would:
  every `STEP_S` each on-duty officer takes a step of patrol (5-12 m/s, a wandering heading,
  inside the grid's extent) or heads for its incident, and reports the position; each newly
  answered call is dispatched, with probability `dispatch_share`, to a random point of a
  random grid cell; an officer is available again `CLEAR_AFTER_S` after its call ended.

Positions and roster use wall-clock time (as officers' phones stamp them); call records use
the monotonic clock, as the engine does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from demo.seatfarm import SeatFarm
from dispatch.city import City
from dispatch.errors import DispatchError
from dispatch.force import OfficerStatus
from dispatch.geo import EARTH_RADIUS_M
from engine.app import Engine

log = logging.getLogger(__name__)

OFFICER_HZ = 1320.0
ANSWER_DELAY = (0.5, 2.5)
"""s from ringing to picking up: an officer reaching for the radio phone."""
FIRST_PHONE = 1001
"""Officer phones are seat1001...: distinct from the call-takers' seat1..."""
PER_PROCESS = 3
STEP_S = 2.0
"""Officers move and report this often."""
POLL_S = 0.1
"""Answered calls are looked for this often (a dispatch follows the answer closely)."""
CLEAR_AFTER_S = 3.0
"""An officer is available again this long after its call ended (or after unreachable)."""
PATROL_SPEED = (5.0, 12.0)
"""m/s on patrol."""
RESPONSE_SPEED = 14.0
"""m/s on the way to an incident."""
_DISPATCHED = OfficerStatus.DISPATCHED
_UNREACHABLE = OfficerStatus.UNREACHABLE


def phones_needed(city: City) -> int:
    """One phone per officer, plus the units' shared duty phone."""
    return len(city.officers) + 1


def officer_farm(city: City, *, sip_port_base: int, rtp_port_base: int, workdir: Path) -> SeatFarm:
    """The officers' phones (not started)."""
    return SeatFarm(
        seats=phones_needed(city),
        first=FIRST_PHONE,
        per_process=PER_PROCESS,
        sip_port_base=sip_port_base,
        rtp_port_base=rtp_port_base,
        workdir=workdir,
        answer_delay=ANSWER_DELAY,
        tone_hz=OFFICER_HZ,
    )


def city_on_farm(city: City, farm: SeatFarm) -> City:
    """The city with each officer's phone, and every unit's duty phone, on the farm."""
    phones = [farm.contact(seat_id) for seat_id in farm.seat_ids()]
    if len(phones) < phones_needed(city):
        raise ValueError(f"the farm has {len(phones)} phones, the city needs {phones_needed(city)}")
    officers = [dataclasses.replace(o, phone=phones[i]) for i, o in enumerate(city.officers)]
    duty = phones[len(city.officers)]
    units = [dataclasses.replace(u, duty_phone=duty) for u in city.units]
    return dataclasses.replace(city, officers=officers, units=units)


@dataclass(slots=True)
class _Walker:
    lat: float
    lon: float
    heading: float
    """Radians clockwise from north."""
    speed: float
    """m/s of the last step (0 when standing at the incident)."""


class Patrol:
    """Moves the officers, dispatches a share of the answered calls, clears officers after."""

    def __init__(
        self,
        engine: Engine,
        *,
        dispatch_share: float,
        seed: int = 110,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not 0.0 <= dispatch_share <= 1.0:
            raise ValueError("dispatch_share must be in 0..1")
        self.engine = engine
        self.dispatcher = engine.dispatcher
        self.areas = engine.dispatcher.areas
        self.share = dispatch_share
        self.clock = clock
        self.wall = wall
        # two streams: which calls are dispatched, and where, does not hang on movement timing
        self._choose = random.Random(seed)
        self._move = random.Random(seed + 1)
        self._cells = self.areas.cells()
        self._south, self._west, self._north, self._east = self.areas.extent()
        self._grid_of = {o.id: o.grid for o in engine.dispatcher.city.officers}
        self._walkers: dict[str, _Walker] = {}
        self._seen: set[str] = set()

    async def run(self) -> None:
        """Until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._every(STEP_S, self.move))
            tasks.create_task(self._every(POLL_S, self.tick))

    async def _every(self, period: float, step: Callable[[], None]) -> None:
        while True:
            try:
                step()
            except Exception:  # one bad step must not stop the city
                log.exception("patrol step %s failed", step.__name__)
            await asyncio.sleep(period)

    def tick(self) -> None:
        self.dispatch_new()
        self.clear()

    # -- officers on the move ---------------------------------------------------------------

    def move(self) -> None:
        """One step for every on-duty officer, reported as a position."""
        wall = self.wall()
        for view in self.dispatcher.force.officers(wall):
            if not view.on_duty:
                continue
            walker = self._walkers.get(view.id)
            if walker is None:
                lat, lon = self.areas.random_point(self._grid_of[view.id], self._move)
                walker = self._walkers[view.id] = _Walker(
                    lat, lon, self._move.uniform(0, 2 * math.pi), self._patrol_speed()
                )
            else:
                target = self._incident(view.id) if view.status is _DISPATCHED else None
                if target is None:
                    self._patrol(walker)
                else:
                    self._head_for(walker, *target)
            try:
                self.dispatcher.position(
                    view.id, walker.lat, walker.lon, wall, walker.speed, source="demo"
                )
            except DispatchError as exc:
                log.warning("position of %s refused: %s", view.id, exc)

    def _patrol_speed(self) -> float:
        return self._move.uniform(*PATROL_SPEED)

    def _patrol(self, walker: _Walker) -> None:
        walker.heading += self._move.uniform(-math.pi / 4, math.pi / 4)
        walker.speed = self._patrol_speed()
        lat, lon = _step(walker.lat, walker.lon, walker.heading, walker.speed * STEP_S)
        if not (self._south <= lat <= self._north and self._west <= lon <= self._east):
            walker.heading += math.pi  # the city's edge: turn back, go on next step
            return
        walker.lat, walker.lon = lat, lon

    def _head_for(self, walker: _Walker, lat: float, lon: float) -> None:
        north = math.radians(lat - walker.lat) * EARTH_RADIUS_M
        east = math.radians(lon - walker.lon) * EARTH_RADIUS_M * math.cos(math.radians(lat))
        left = math.hypot(north, east)
        if left <= RESPONSE_SPEED * STEP_S:
            walker.lat, walker.lon, walker.speed = lat, lon, 0.0
            return
        walker.heading = math.atan2(east, north)
        walker.speed = RESPONSE_SPEED
        walker.lat, walker.lon = _step(
            walker.lat, walker.lon, walker.heading, RESPONSE_SPEED * STEP_S
        )

    def _incident(self, officer_id: str) -> tuple[float, float] | None:
        call_id = self.dispatcher.assigned.get(officer_id)
        record = self.engine.router.find(call_id) if call_id else None
        where = record.dispatch.location if record and record.dispatch else None
        return (float(where["lat"]), float(where["lon"])) if where else None

    # -- the call-taker's side ----------------------------------------------------------------

    def dispatch_new(self) -> None:
        """Dispatch a share of the calls answered since the last look."""
        calls = self.engine.router.calls
        for call_id, record in list(calls.items()):
            if record.answered_at is None or call_id in self._seen:
                continue
            self._seen.add(call_id)
            if record.dispatch is not None or self._choose.random() >= self.share:
                continue
            # where the caller said they are (the INVITE's PIDF-LO), else somewhere in the city
            where = record.location or {}
            lat, lon = where.get("lat"), where.get("lon")
            if not isinstance(lat, float) or not isinstance(lon, float):
                lat, lon = self.areas.random_point(self._choose.choice(self._cells), self._choose)
            try:
                self.dispatcher.dispatch(call_id, lat=lat, lon=lon)
            except DispatchError as exc:
                log.warning(
                    "[call %s] demo dispatch to %.5f,%.5f refused: %s", call_id, lat, lon, exc
                )
        self._seen.intersection_update(calls)

    def clear(self) -> None:
        """Officers whose call ended (or who were unreachable) a while ago are available."""
        now, wall = self.clock(), self.wall()
        calls = self.engine.router.calls
        for officer_id, call_id in list(self.dispatcher.assigned.items()):
            if call_id in calls:
                continue
            record = self.engine.router.find(call_id)
            ended = record.ended_at if record is not None else None
            if ended is None or now - ended >= CLEAR_AFTER_S:
                self._available(officer_id)
        for view in self.dispatcher.force.officers(wall):
            if view.status is _UNREACHABLE and wall - view.status_since >= CLEAR_AFTER_S:
                self._available(view.id)

    def _available(self, officer_id: str) -> None:
        try:
            self.dispatcher.officer_status(officer_id, OfficerStatus.AVAILABLE.value)
        except DispatchError as exc:
            log.warning("officer %s cannot be made available: %s", officer_id, exc)


def _step(lat: float, lon: float, heading: float, metres: float) -> tuple[float, float]:
    """The point `metres` away along `heading` (flat-earth: steps are tens of metres)."""
    north, east = metres * math.cos(heading), metres * math.sin(heading)
    dlat = math.degrees(north / EARTH_RADIUS_M)
    dlon = math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon
