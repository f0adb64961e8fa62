"""What the operations dashboard reads (R2, R6, R14): the service levels live and today, the
queue, seats by state, the health of the pool, the Kamailio front and the trunks; and the city
(grid cells and station areas) for its map."""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING

from aiohttp import web

from engine.calls import ANSWER_TARGET

if TYPE_CHECKING:
    from engine.app import Engine

LIVE_MINUTES = 15


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/dashboard", dashboard)
    app.router.add_get("/api/city", city)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def _midnight(engine: Engine, now: float) -> float:
    """The start of the city's day (its time zone, as the incident numbers use)."""
    tz = engine.dispatcher.city.roster.tz
    local = datetime.datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


async def dashboard(request: web.Request) -> web.Response:
    from engine.http import _json

    engine = _engine(request)
    now = time.time()
    live_from, today_from = now - LIVE_MINUTES * 60, _midnight(engine, now)
    answers, bridges = engine.router.answer_sla, engine.dispatcher.bridge_sla
    waiting = engine.acd.waiting()
    mono = time.monotonic()
    seats = engine.acd.counts_by_state()
    front = engine.front
    counts = await engine.incidents.store.counts(today_from)
    by_grid: dict[str, int] = {}
    for grid, _, n in counts:
        if grid is not None:
            by_grid[grid] = by_grid.get(grid, 0) + n
    return _json(
        {
            "answer_sla": {
                "target_s": ANSWER_TARGET,
                "live_minutes": LIVE_MINUTES,
                "live": answers.since(live_from),
                "today": answers.since(today_from),
            },
            "bridge_sla": {
                "target_s": engine.settings.dispatch.bridge_target,
                "live": bridges.since(live_from),
                "today": bridges.since(today_from),
            },
            "queue": {
                "waiting": len(waiting),
                "oldest_wait_s": round(max((mono - w.arrived_at for w in waiting), default=0.0), 1),
            },
            "seats": {state.value: n for state, n in seats.items()},
            "incidents_today": {
                "total": sum(n for _, _, n in counts),
                "open": sum(
                    n for _, status, n in counts if status not in ("closed", "transferred")
                ),
                "by_grid": by_grid,
            },
            "calls_active": len(engine.router.calls),
            "pool": engine.health(),
            "front": {
                "up": front.up,
                "restarts": getattr(front, "restarts", 0),
                "address": f"{engine.settings.trunk.address}:{engine.settings.trunk.port}",
            },
            "trunks": [
                {"name": name, **figures} for name, figures in sorted(engine.router.trunks.items())
            ],
            "alerts": [
                {"kind": a.get("kind"), "message": a.get("message"), "at": a.get("at")}
                for a in engine.alerts.recent()[-20:]
            ],
        }
    )


async def city(request: web.Request) -> web.Response:
    from engine.http import _json

    areas = _engine(request).dispatcher.areas
    south, west, north, east = areas.extent()
    return _json({**areas.geojson(), "extent": [west, south, east, north]})
