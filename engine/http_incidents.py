"""REST for incidents: query by area, time, type and status; one incident with its events and
recordings; walk-in reports and tips; notes; classification with its routing decision.

Every write answers only after its event is stored (the incident service awaits the store).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dispatch.errors import DispatchError
from engine.http_access import actor
from incidents.store import Incident, IncidentEvent

if TYPE_CHECKING:
    from engine.app import Engine

MAX_TEXT = 4000
SOURCES = ("walk-in", "tip")
FILTERS = ("station", "county", "grid", "type", "category", "status", "caller")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/incidents", list_incidents)
    app.router.add_post("/api/incidents", report)
    app.router.add_get("/api/incidents/{number}", one)
    app.router.add_post("/api/incidents/{number}/notes", note)
    app.router.add_post("/api/incidents/{number}/location", locate)
    app.router.add_post("/api/incidents/{number}/classify", classify)
    app.router.add_post("/api/incidents/{number}/close", close)
    app.router.add_get("/api/push", pushed)
    app.router.add_get("/api/outbox/dead-letters", dead_letters)
    app.router.add_post("/api/outbox/{id}/requeue", requeue)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def incident_view(incident: Incident) -> dict[str, Any]:
    view = dataclasses.asdict(incident)
    if view["location"] is None:
        view["location"] = "unknown"
    return view


def event_view(event: IncidentEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


def _string(body: dict[str, Any], key: str, limit: int = 200, *, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise web.HTTPBadRequest(reason=f"'{key}' must be a string of at most {limit} characters")
    if required and not value.strip():
        raise web.HTTPBadRequest(reason=f"'{key}' is required")
    return value.strip()


def _severity(body: dict[str, Any]) -> int:
    value = body.get("severity", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
        raise web.HTTPBadRequest(reason="'severity' must be an integer 0..5")
    return value


def _location(body: dict[str, Any]) -> dict[str, Any] | None:
    lat, lon = body.get("lat"), body.get("lon")
    if lat is None and lon is None:
        return None
    for key, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > limit
        ):
            raise web.HTTPBadRequest(reason=f"'{key}' must be a number within ±{limit:g}")
    return {"lat": float(lat), "lon": float(lon), "method": "typed", "source": "rest"}  # type: ignore[arg-type]


async def list_incidents(request: web.Request) -> web.Response:
    from engine.http import _json

    query = request.query
    filters: dict[str, Any] = {key: query[key] for key in FILTERS if query.get(key)}
    try:
        for key in ("since", "until"):
            if key in query:
                filters[key] = float(query[key])
        limit = int(query.get("limit", "50"))
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise web.HTTPBadRequest(
            reason="since/until must be epoch seconds, limit/offset integers"
        ) from None
    if not (1 <= limit <= 500 and offset >= 0):
        raise web.HTTPBadRequest(reason="limit must be 1..500 and offset >= 0")
    items, total = await _engine(request).incidents.store.query(
        limit=limit, offset=offset, **filters
    )
    return _json(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [incident_view(i) for i in items],
        }
    )


async def one(request: web.Request) -> web.Response:
    from engine.http import _json

    store = _engine(request).incidents.store
    number = request.match_info["number"]
    incident = await store.get(number)
    if incident is None:
        raise web.HTTPNotFound(reason=f"no incident {number!r}")
    view = incident_view(incident)
    view["events"] = [event_view(e) for e in await store.events(number)]
    return _json(view)


async def report(request: web.Request) -> web.Response:
    from engine.http import _body, _json

    body = await _body(request)
    source = _string(body, "source", required=True)
    if source not in SOURCES:
        raise web.HTTPBadRequest(reason=f"'source' must be one of {', '.join(SOURCES)}")
    incident = await _engine(request).incidents.report(
        source=source,
        caller=_string(body, "caller"),
        summary=_string(body, "summary", MAX_TEXT, required=True),
        actor=actor(request, _string(body, "actor")),
        location=_location(body),
        category=_string(body, "category"),
        type=_string(body, "type"),
        severity=_severity(body),
    )
    return _json(incident_view(incident), status=201)


async def note(request: web.Request) -> web.Response:
    from engine.http import _body, _json

    body = await _body(request)
    text = _string(body, "text", MAX_TEXT, required=True)
    who = actor(request, _string(body, "actor"))
    event = await _engine(request).incidents.note(request.match_info["number"], who, text)
    return _json(event_view(event), status=201)


async def close(request: web.Request) -> web.Response:
    """Close an incident with its disposition (no emergency, advice given, duplicate, ...)."""
    from engine.http import _body, _json

    body = await _body(request)
    disposition = _string(body, "disposition", required=True)
    who = actor(request, _string(body, "actor"))
    event = await _engine(request).incidents.close(request.match_info["number"], who, disposition)
    return _json(event_view(event), status=201)


async def locate(request: web.Request) -> web.Response:
    """The call-taker types where the caller is."""
    from engine.http import _body, _json

    body = await _body(request)
    location = _location(body)
    if location is None:
        raise web.HTTPBadRequest(reason="'lat' and 'lon' are required")
    who = actor(request, _string(body, "actor"))
    event = await _engine(request).incidents.locate(request.match_info["number"], who, location)
    return _json(event_view(event), status=201)


async def classify(request: web.Request) -> web.Response:
    """Classify an incident; the routing rules decide where it goes, and a police matter on a
    live call is dispatched at once (the three-way bridge)."""
    from engine.http import _body, _json

    engine = _engine(request)
    body = await _body(request)
    changes: dict[str, Any] = {
        "category": _string(body, "category", required=True),
        "type": _string(body, "type"),
        "severity": _severity(body),
        "summary": _string(body, "summary", MAX_TEXT),
    }
    who = actor(request, _string(body, "actor"))
    number = request.match_info["number"]
    incident = await engine.incidents.store.get(number)
    if incident is None:
        raise web.HTTPNotFound(reason=f"no incident {number!r}")
    fraud: dict[str, Any] = {"caller": incident.caller}
    for key in ("numbers", "accounts"):
        values = body.get(key, [])
        if not (
            isinstance(values, list)
            and len(values) <= 50
            and all(isinstance(v, str) and 0 < len(v) <= 64 for v in values)
        ):
            raise web.HTTPBadRequest(reason=f"'{key}' must be a list of at most 50 short strings")
        fraud[key] = values
    decision = engine.route(incident, changes)
    events = await engine.incidents.classify(number, who, changes, decision, fraud)
    result: dict[str, Any] = {
        "event": event_view(events[0]),
        "sent": [event_view(e) for e in events[1:]],
        "decision": decision,
        "dispatch": None,
    }
    result.update(_carry_out(engine, incident, decision, changes["category"], who))
    return _json(result)


def _carry_out(
    engine: Engine, incident: Incident, decision: dict[str, Any], category: str, who: str
) -> dict[str, Any]:
    """What the decision does to a live, answered call: the nearest officer dialled in (police,
    or fraud with violence), the anti-fraud desk bridged, the caller handed over to 12345.
    A step that cannot start is reported; the classification stands and the call-taker acts by
    hand (POST /api/calls/{id}/dispatch, /agencies/{agency})."""
    done: dict[str, Any] = {"dispatch": None, "agency": None}
    call = engine.router.calls.get(incident.call_id) if incident.call_id else None
    if call is None or call.answered_at is None:
        return done
    routes = {decision.get("route"), *decision.get("also", ())}
    if "dispatch" in routes:
        # the incident's location: the INVITE's, or where the call-taker typed the caller is
        where = incident.location or {}
        lat, lon = where.get("lat"), where.get("lon")
        try:
            record = engine.dispatcher.dispatch(
                incident.call_id,
                lat=lat if isinstance(lat, int | float) else None,
                lon=lon if isinstance(lon, int | float) else None,
                category=category,
            )
            done["dispatch"] = {"started": True, "how": record.how}
        except DispatchError as exc:
            done["dispatch"] = {"started": False, "error": str(exc)}
    desk = None
    if decision.get("bridge_uri"):
        desk = ("anti-fraud", str(decision["bridge_uri"]), "bridge")
    elif decision.get("transfer_uri"):
        desk = ("12345", str(decision["transfer_uri"]), "transfer")
    if desk is not None:
        agency, uri, purpose = desk
        try:
            engine.agencies.link(incident.call_id, agency, uri, purpose=purpose, actor=who)
            done["agency"] = {"started": True, "agency": agency, "purpose": purpose}
        except DispatchError as exc:
            done["agency"] = {"started": False, "agency": agency, "error": str(exc)}
    return done


async def pushed(request: web.Request) -> web.Response:
    """The incident push as relayed in-process (no broker configured): topic and message."""
    from engine.http import _json

    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(reason="since must be an integer") from None
    return _json(_engine(request).push_bus.since(since))


async def dead_letters(request: web.Request) -> web.Response:
    """Outbox rows that could not be delivered and were set aside."""
    from engine.http import _json

    rows = await _engine(request).incidents.store.dead_letters(200)
    return _json([dataclasses.asdict(row) for row in rows])


async def requeue(request: web.Request) -> web.Response:
    """Put a dead letter back in line (after the agency's intake is fixed)."""
    from engine.http import _json

    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(reason="the outbox id is an integer") from None
    engine = _engine(request)
    store = engine.incidents.store
    if not any(row.id == row_id for row in await store.dead_letters(1000)):
        raise web.HTTPNotFound(reason=f"no dead letter {row_id}")
    await store.outbox_requeue([row_id], time.time())
    engine.webhooks.wake()
    engine.relay.wake()
    return _json({"requeued": row_id}, status=202)
