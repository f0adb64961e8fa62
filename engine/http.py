"""HTTP: the REST API for agents and operators, and /metrics for Prometheus (aiohttp).

Handlers only translate: JSON in, an ACD event or a query out. Agent requests the ACD refuses
come back as 404/409 with the ACD's reason; malformed bodies get 400; bodies over 64 KiB 413.

Supervisor controls (/api/supervisor/...) force a seat not-ready or logged out: a seat that is
only ringing is withdrawn at once and its caller offered to another seat; a call in progress is
never cut, the change waits for its end. (Who may call them is issue 6: roles and sessions.)
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from acd import events as acd
from acd.errors import AcdError
from dispatch.errors import DispatchError
from dispatch.roster import Shift
from engine import (
    http_access,
    http_agencies,
    http_dashboard,
    http_incidents,
    http_intake,
    http_stream,
    http_texts,
    http_ui,
    http_webcalls,
    openapi,
)
from incidents.store import StoreError
from intake.texts import TextError

if TYPE_CHECKING:
    from engine.app import Engine

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
ENGINE_KEY = web.AppKey("engine", object)


def build_app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, http_access.guard])
    app[ENGINE_KEY] = engine
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)
    app.router.add_get("/api/openapi.json", openapi.serve)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/seats", seats)
    app.router.add_get("/api/seats/{seat_id}", seat)
    app.router.add_post("/api/seats/{seat_id}/login", login)
    app.router.add_post("/api/seats/{seat_id}/logout", logout)
    app.router.add_post("/api/seats/{seat_id}/ready", ready)
    app.router.add_post("/api/seats/{seat_id}/not-ready", not_ready)
    app.router.add_post("/api/supervisor/seats/{seat_id}/not-ready", force_not_ready)
    app.router.add_post("/api/supervisor/seats/{seat_id}/logout", force_logout)
    app.router.add_put("/api/seats/{seat_id}/skills", set_skills)
    app.router.add_get("/api/queue", queue)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/calls/{call_id}", call)
    app.router.add_get("/api/pool", pool)
    app.router.add_post("/api/calls/{call_id}/dispatch", dispatch)
    app.router.add_post("/api/calls/{call_id}/leave", leave)
    app.router.add_post("/api/calls/{call_id}/rejoin", rejoin)
    app.router.add_post("/api/calls/{call_id}/hold", hold)
    app.router.add_post("/api/calls/{call_id}/unhold", unhold)
    app.router.add_post("/api/calls/{call_id}/mute", mute)
    app.router.add_post("/api/calls/{call_id}/unmute", unmute)
    app.router.add_get("/api/dispatch/nearest", nearest)
    app.router.add_get("/api/officers", officers)
    app.router.add_get("/api/officers/{officer_id}", officer)
    app.router.add_post("/api/officers/{officer_id}/status", officer_status)
    app.router.add_post("/api/officers/{officer_id}/sign-off", sign_off)
    app.router.add_put("/api/officers/{officer_id}/position", position)
    app.router.add_get("/api/officers/{officer_id}/roster", roster)
    app.router.add_put("/api/officers/{officer_id}/roster", set_roster)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_get("/api/events", events)
    http_incidents.add_routes(app)
    http_agencies.add_routes(app)
    http_access.add_routes(app)
    http_stream.add_routes(app)
    http_dashboard.add_routes(app)
    http_intake.add_routes(app)
    http_texts.add_routes(app)
    http_webcalls.add_routes(app)
    http_ui.add_routes(app)
    return app


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except AcdError as exc:
        return _json({"error": str(exc)}, status=exc.status_hint)
    except (DispatchError, StoreError, TextError) as exc:
        return _json({"error": str(exc)}, status=exc.status_hint)
    except web.HTTPRequestEntityTooLarge:
        return _json({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _json({"error": exc.reason}, status=exc.status)
        raise


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise web.HTTPBadRequest(reason=f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, *, required: bool) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > 200:
        raise web.HTTPBadRequest(reason=f"'{key}' must be a string of at most 200 characters")
    if required and not value.strip():
        raise web.HTTPBadRequest(reason=f"'{key}' is required")
    return value.strip()


async def metrics(request: web.Request) -> web.Response:
    engine = _engine(request)
    await engine.refresh_metrics()
    return web.Response(
        body=engine.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )


async def health(request: web.Request) -> web.Response:
    engine = _engine(request)
    report = engine.health()
    return _json(report, status=200 if report["status"] == "ok" else 503)


async def status(request: web.Request) -> web.Response:
    return _json(_engine(request).summary())


def seat_view(view: Any) -> dict[str, Any]:
    return {
        "seat_id": view.seat_id,
        "contact": view.contact,
        "agent_id": view.agent_id,
        "state": view.state.value,
        "reason": view.reason,
        "since": view.since,
        "in_state_s": round(time.monotonic() - view.since, 1),
        "call_id": view.call_id,
        "pending": view.pending,
        "queues": list(view.queues),
        "skills": view.skills,
        "answered": view.answered,
        "missed": view.missed,
        "consecutive_misses": view.consecutive_misses,
        "handle_time_seconds": None if view.handle_time is None else round(view.handle_time, 1),
        "seconds_in_state": {state.value: round(t, 1) for state, t in view.time_in.items()},
    }


async def seats(request: web.Request) -> web.Response:
    return _json([seat_view(view) for view in _engine(request).acd.seats(time.monotonic())])


async def seat(request: web.Request) -> web.Response:
    view = _engine(request).acd.seat(request.match_info["seat_id"], time.monotonic())
    data = seat_view(view)
    data["history"] = [
        {"at": at, "from": old.value, "to": new.value, "reason": reason}
        for at, old, new, reason in view.history
    ]
    return _json(data)


async def _agent(request: web.Request, event: acd.AcdEvent) -> web.Response:
    engine = _engine(request)
    engine.router.agent(event)
    return _json(seat_view(engine.acd.seat(request.match_info["seat_id"], time.monotonic())))


async def login(request: web.Request) -> web.Response:
    body = await _body(request)
    agent = _text(body, "agent", required=True)
    seat_id = request.match_info["seat_id"]
    return await _agent(
        request, acd.AgentLoggedIn(at=time.monotonic(), seat_id=seat_id, agent_id=agent)
    )


async def logout(request: web.Request) -> web.Response:
    seat_id = request.match_info["seat_id"]
    return await _agent(request, acd.AgentLoggedOut(at=time.monotonic(), seat_id=seat_id))


async def ready(request: web.Request) -> web.Response:
    seat_id = request.match_info["seat_id"]
    return await _agent(request, acd.AgentWentReady(at=time.monotonic(), seat_id=seat_id))


async def not_ready(request: web.Request) -> web.Response:
    body = await _body(request)
    reason = _text(body, "reason", required=False) or "break"
    seat_id = request.match_info["seat_id"]
    return await _agent(
        request, acd.AgentWentNotReady(at=time.monotonic(), seat_id=seat_id, reason=reason)
    )


async def force_not_ready(request: web.Request) -> web.Response:
    body = await _body(request)
    reason = _text(body, "reason", required=False) or "supervisor"
    seat_id = request.match_info["seat_id"]
    event = acd.AgentWentNotReady(at=time.monotonic(), seat_id=seat_id, reason=reason, forced=True)
    return await _agent(request, event)


async def force_logout(request: web.Request) -> web.Response:
    seat_id = request.match_info["seat_id"]
    return await _agent(
        request, acd.AgentLoggedOut(at=time.monotonic(), seat_id=seat_id, forced=True)
    )


async def set_skills(request: web.Request) -> web.Response:
    body = await _body(request)
    skills = body.get("skills")
    if skills is not None and not (
        isinstance(skills, dict)
        and len(skills) <= 50
        and all(
            isinstance(name, str)
            and 0 < len(name) <= 64
            and type(level) is int
            and 0 <= level <= 100
            for name, level in skills.items()
        )
    ):
        raise web.HTTPBadRequest(reason="'skills' must map skill names to levels 0..100")
    queues = body.get("queues")
    if queues is not None and not (
        isinstance(queues, list) and queues and all(isinstance(q, str) for q in queues)
    ):
        raise web.HTTPBadRequest(reason="'queues' must be a non-empty list of queue names")
    if skills is None and queues is None:
        raise web.HTTPBadRequest(reason="give 'skills' and/or 'queues'")
    event = acd.SeatSkillsChanged(
        at=time.monotonic(),
        seat_id=request.match_info["seat_id"],
        skills=skills,
        queues=None if queues is None else tuple(queues),
    )
    return await _agent(request, event)


async def queue(request: web.Request) -> web.Response:
    return _json(queue_view(_engine(request)))


def queue_view(engine: Engine) -> list[dict[str, Any]]:
    """The waiting calls, oldest first (GET /api/queue, the live stream's snapshot)."""
    now = time.monotonic()
    return [
        {
            "call_id": view.call_id,
            "caller": view.caller,
            "queue": view.queue,
            "priority": view.priority,
            "priority_reason": view.priority_reason,
            "skills": list(view.skills),
            "wait_seconds": round(now - view.arrived_at, 3),
            "announced": view.announced,
            "ringing": list(view.ringing),
            "ringing_seat": view.ringing_seat,
            "overflow_ringing": view.overflow_ringing or None,
        }
        for view in engine.acd.waiting()
    ]


async def queues(request: web.Request) -> web.Response:
    now = time.monotonic()
    return _json(
        [
            {
                "queue": view.name,
                "strategy": view.strategy,
                "waiting": view.waiting,
                "oldest_wait_seconds": (
                    None if view.oldest_arrival is None else round(now - view.oldest_arrival, 3)
                ),
                "staffed": view.staffed,
                "ready": view.ready,
                "expected_wait_seconds": (
                    None if math.isinf(view.expected_wait) else round(view.expected_wait, 1)
                ),
            }
            for view in _engine(request).acd.queues()
        ]
    )


async def calls(request: web.Request) -> web.Response:
    router = _engine(request).router
    which = request.query.get("state", "active")
    if which not in ("active", "finished"):
        raise web.HTTPBadRequest(reason="state must be 'active' or 'finished'")
    records = router.calls.values() if which == "active" else reversed(router.finished)
    return _json([record.view() for record in records])


async def call(request: web.Request) -> web.Response:
    router = _engine(request).router
    call_id = request.match_info["call_id"]
    record = router.calls.get(call_id) or next(
        (r for r in router.finished if r.call_id == call_id), None
    )
    if record is None:
        raise web.HTTPNotFound(reason=f"no call {call_id!r}")
    return _json(_call_view(_engine(request), call_id))


async def pool(request: web.Request) -> web.Response:
    return _json(_engine(request).pool.snapshot())


# -- dispatch and the conference ------------------------------------------------------------


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise web.HTTPBadRequest(reason=f"'{key}' must be a number")
    if not low <= value <= high:
        raise web.HTTPBadRequest(reason=f"'{key}' must be within {low:g}..{high:g}")
    return float(value)


def _call_view(engine: Engine, call_id: str) -> dict[str, Any]:
    record = engine.router.find(call_id)
    if record is None:
        return {}
    view = record.view()
    incidents = getattr(engine, "incidents", None)  # absent in shells that test calls alone
    view["incident"] = None if incidents is None else incidents.by_call.get(call_id)
    return view


async def dispatch(request: web.Request) -> web.Response:
    """Dispatch the nearest available officer to the incident (or the officer given)."""
    engine = _engine(request)
    body = await _body(request)
    lat = _number(body, "lat", -90, 90)
    lon = _number(body, "lon", -180, 180)
    if (lat is None) != (lon is None):
        raise web.HTTPBadRequest(reason="give both 'lat' and 'lon', or neither")
    chosen = _text(body, "officer", required=False) or None
    category = _text(body, "category", required=False) or "police"
    call_id = request.match_info["call_id"]
    record = engine.dispatcher.dispatch(
        call_id, lat=lat, lon=lon, officer_id=chosen, category=category
    )
    data = {"how": record.how, "officer": chosen, "location": record.location}
    await _file(request, call_id, "dispatch-requested", data)
    return _json(_call_view(engine, call_id), status=202)


async def _file(request: web.Request, call_id: str, kind: str, data: dict[str, Any]) -> None:
    """A person's action on a call, in the call's incident under their name (R20)."""
    incidents = getattr(_engine(request), "incidents", None)  # absent in call-only shells
    if incidents is not None:
        await incidents.act(call_id, kind, http_access.actor(request), data)


async def _control(request: web.Request, what: str) -> web.Response:
    engine = _engine(request)
    call_id = request.match_info["call_id"]
    controls = engine.controls
    if what == "leave":
        controls.leave(call_id)
    elif what == "rejoin":
        body = await _body(request)
        seat = _text(body, "seat", required=False)
        who = http_access.principal_of(request)
        if seat and who.seat and seat != who.seat and not who.at_least("supervisor"):
            raise web.HTTPForbidden(reason=f"a call-taker rejoins at their own seat ({who.seat})")
        controls.rejoin(call_id, seat or who.seat)
    elif what in ("hold", "unhold"):
        controls.hold(call_id, what == "hold")
    else:
        controls.mute(call_id, what == "mute")
    await _file(request, call_id, what, {})
    return _json(_call_view(engine, call_id), status=202)


async def leave(request: web.Request) -> web.Response:
    return await _control(request, "leave")


async def rejoin(request: web.Request) -> web.Response:
    return await _control(request, "rejoin")


async def hold(request: web.Request) -> web.Response:
    return await _control(request, "hold")


async def unhold(request: web.Request) -> web.Response:
    return await _control(request, "unhold")


async def mute(request: web.Request) -> web.Response:
    return await _control(request, "mute")


async def unmute(request: web.Request) -> web.Response:
    return await _control(request, "unmute")


async def nearest(request: web.Request) -> web.Response:
    query = dict(request.query)
    try:
        body: dict[str, Any] = {key: float(query[key]) for key in ("lat", "lon") if key in query}
        limit = int(query.get("limit", "10"))
    except ValueError:
        raise web.HTTPBadRequest(reason="lat, lon and limit must be numbers") from None
    lat, lon = _number(body, "lat", -90, 90), _number(body, "lon", -180, 180)
    if lat is None or lon is None or not 1 <= limit <= 100:
        raise web.HTTPBadRequest(reason="give lat, lon (and limit 1..100)")
    return _json(_engine(request).dispatcher.nearest(lat, lon, limit))


def _officer_view(view: Any) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "unit": view.unit,
        "grid": view.grid,
        "phone": view.phone,
        "status": view.status.value,
        "on_duty": view.on_duty,
        "lat": view.lat,
        "lon": view.lon,
        "position_ts": view.position_ts,
        "speed": view.speed,
        "stale": view.stale,
    }


async def officers(request: web.Request) -> web.Response:
    engine = _engine(request)
    views = engine.dispatcher.force.officers(time.time())
    return _json([_officer_view(view) for view in views])


async def officer(request: web.Request) -> web.Response:
    engine = _engine(request)
    officer_id = request.match_info["officer_id"]
    data = _officer_view(engine.dispatcher.force.officer(officer_id, time.time()))
    data["assigned_call"] = engine.dispatcher.assigned.get(officer_id)
    return _json(data)


async def officer_status(request: web.Request) -> web.Response:
    body = await _body(request)
    status = _text(body, "status", required=True)
    engine = _engine(request)
    engine.dispatcher.officer_status(request.match_info["officer_id"], status)
    return await officer(request)


async def sign_off(request: web.Request) -> web.Response:
    engine = _engine(request)
    call_id = engine.dispatcher.sign_off(request.match_info["officer_id"])
    return _json(_call_view(engine, call_id))


async def position(request: web.Request) -> web.Response:
    body = await _body(request)
    lat = _number(body, "lat", -90, 90)
    lon = _number(body, "lon", -180, 180)
    if lat is None or lon is None:
        raise web.HTTPBadRequest(reason="'lat' and 'lon' are required")
    ts = _number(body, "ts", 0, 1e11)
    speed = _number(body, "speed", 0, 1000) or 0.0
    engine = _engine(request)
    officer_id = request.match_info["officer_id"]
    applied = engine.dispatcher.position(
        officer_id, lat, lon, time.time() if ts is None else ts, speed, "rest"
    )
    data = _officer_view(engine.dispatcher.force.officer(officer_id, time.time()))
    data["applied"] = applied
    return _json(data)


async def alerts(request: web.Request) -> web.Response:
    return _json(_engine(request).alerts.recent())


async def events(request: web.Request) -> web.Response:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(reason="since must be an integer") from None
    topic = request.query.get("topic", "")
    return _json(_engine(request).events.since(since, topic))


def _shift_view(shift: Shift) -> dict[str, Any]:
    if shift.daily is not None:
        first, last = shift.daily
        return {"daily": f"{first // 60:02d}:{first % 60:02d}-{last // 60:02d}:{last % 60:02d}"}
    return {"start": shift.start, "end": shift.end}


def _shift(officer_id: str, entry: Any, index: int) -> Shift:
    where = f"shifts[{index}]"
    if not isinstance(entry, dict):
        raise web.HTTPBadRequest(reason=f"{where} must be an object")
    try:
        if "daily" in entry and set(entry) == {"daily"}:
            text = entry["daily"]
            first, last = (part.strip() for part in str(text).split("-", 1))
            return Shift.every_day(officer_id, _minute(first), _minute(last))
        if set(entry) == {"start", "end"}:
            start, end = entry["start"], entry["end"]
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (start, end)):
                raise ValueError("start and end must be epoch seconds")
            return Shift.dated(officer_id, float(start), float(end))
        raise ValueError('give {"daily": "HH:MM-HH:MM"} or {"start": epoch, "end": epoch}')
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"{where}: {exc}") from None


def _minute(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


async def roster(request: web.Request) -> web.Response:
    engine = _engine(request)
    officer_id = request.match_info["officer_id"]
    view = engine.dispatcher.force.officer(officer_id, time.time())  # 404 when unknown
    shifts = engine.dispatcher.force.roster.shifts(officer_id)
    return _json(
        {
            "officer_id": officer_id,
            "on_duty": view.on_duty,
            "shifts": [_shift_view(s) for s in shifts],
        }
    )


async def set_roster(request: web.Request) -> web.Response:
    """Replace an officer's shifts (the duty roster changed by a supervisor)."""
    engine = _engine(request)
    officer_id = request.match_info["officer_id"]
    engine.dispatcher.force.officer(officer_id, time.time())  # 404 when unknown
    body = await _body(request)
    entries = body.get("shifts")
    if not isinstance(entries, list) or len(entries) > 100:
        raise web.HTTPBadRequest(reason="'shifts' must be a list of at most 100 shifts")
    shifts = [_shift(officer_id, entry, index) for index, entry in enumerate(entries)]
    engine.dispatcher.force.roster.set_shifts(officer_id, shifts)
    engine.events.publish("officer/roster", officer_id=officer_id, shifts=len(shifts))
    return await roster(request)
