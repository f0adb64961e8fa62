"""The REST API's door (R14, R20): log in and out, and the guard in front of every route.

Open to anyone: /healthz, /metrics (Prometheus scrapes them), /api/openapi.json, log-in, and the
pages of the console and the dashboard (they ask for a log-in themselves). Everything else under
/api/ needs a session cookie or a service token, reads included: incidents hold callers'
numbers and locations. On top of that:

* supervisor or admin: the supervisor's routes, seat skills, rosters, the outbox's dead letters;
* a service token or a supervisor: officers' positions (their terminals report them);
* a call-taker acts only on their own seat and on calls (and the incidents of calls) their seat
  has taken; supervisors act on any.

Handlers name who acted with `actor(request, body)`: the logged-in person, never what a body
claims; a service token may name the person or station it acts for.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from acd import events as acd
from engine.access import AccessError, Principal

if TYPE_CHECKING:
    from engine.app import Engine

COOKIE = "hotline110_session"
PRINCIPAL = web.RequestKey("principal", object)
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/session"),
    ("POST", "/api/intake/reports"),  # citizens have no account: rate-limited instead
}
CITIZEN_PREFIX = "/api/intake/"
"""The 110 web app's routes: citizens have no account. Each is rate-limited per source, and
what follows a report or a call is guarded by that report's or call's own secret token."""
SUPERVISOR_ONLY = (
    ("*", "/api/supervisor/"),
    ("PUT", "/api/seats/{seat_id}/skills"),
    ("PUT", "/api/officers/{officer_id}/roster"),
    ("*", "/api/outbox/"),
)
MACHINES_OR_SUPERVISOR = (("PUT", "/api/officers/{officer_id}/position"),)
"""Positions come from the officers' terminals (service tokens); a person does not type them."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/session", log_in)
    app.router.add_get("/api/session", whoami)
    app.router.add_delete("/api/session", log_out)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):  # a public route: nobody is logged in
        raise web.HTTPUnauthorized(reason="log in first (POST /api/session)")
    return principal


def actor(request: web.Request, claimed: str = "") -> str:
    """Who acted, for the audit trail: the person logged in; a service may name whom it acts
    for ('station S-nw')."""
    who = principal_of(request)
    if who.service and claimed:
        return claimed
    return who.actor


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    citizen = request.path.startswith(CITIZEN_PREFIX)
    if not request.path.startswith("/api/") or (request.method, request.path) in PUBLIC or citizen:
        if request.path.startswith("/api/"):
            request[PRINCIPAL] = None
        return await handler(request)
    engine = _engine(request)
    who = _identify(engine, request)
    if who is None:
        return web.json_response({"error": "log in first (POST /api/session)"}, status=401)
    request[PRINCIPAL] = who
    try:
        await _allowed(engine, request, who)
    except AccessError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status_hint)
    return await handler(request)


def _identify(engine: Engine, request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return engine.access.service(header.removeprefix("Bearer ").strip())
    cookie = request.cookies.get(COOKIE)
    return engine.access.session(cookie) if cookie else None


async def _allowed(engine: Engine, request: web.Request, who: Principal) -> None:
    if who.at_least("supervisor"):
        return
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else request.path
    for method, prefix in SUPERVISOR_ONLY:
        if method in ("*", request.method) and canonical.startswith(prefix):
            raise AccessError(f"{who.name} is a {who.role}: this needs a supervisor")
    for method, path in MACHINES_OR_SUPERVISOR:
        if method == request.method and canonical == path and not who.service:
            raise AccessError("this comes from an officer's terminal (a service token)")
    if request.method == "GET" or who.service:
        return
    info = request.match_info
    if "seat_id" in info and canonical.startswith("/api/seats/") and info["seat_id"] != who.seat:
        raise AccessError(f"seat {info['seat_id']} is not yours (you are at {who.seat or '-'})")
    call_id = info.get("call_id")
    if call_id is None and "number" in info:
        incident = await engine.incidents.store.get(info["number"])
        call_id = incident.call_id if incident is not None else None
    if call_id:
        record = engine.router.find(call_id)
        if record is not None and who.seat not in (record.seat_id, record.rejoined_seat):
            raise AccessError(f"call {call_id} is not your seat's call")


async def log_in(request: web.Request) -> web.Response:
    """A person logs in; a call-taker at a seat, which signs them in there (not ready)."""
    from engine.http import _body, _text

    engine = _engine(request)
    body = await _body(request)
    name = _text(body, "user", required=True)
    password = body.get("password")
    if not isinstance(password, str) or not password or len(password) > 200:
        raise web.HTTPBadRequest(reason="'password' is required")
    seat = _text(body, "seat", required=False)
    if seat:
        engine.acd.seat(seat, time.monotonic())  # AcdError 404 for a seat that does not exist
    try:
        token, who = engine.access.log_in(name, password, seat)
    except AccessError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status_hint)
    if seat:
        try:  # a seat someone else is signed in at is refused (AcdError 409)
            engine.router.agent(acd.AgentLoggedIn(at=time.monotonic(), seat_id=seat, agent_id=name))
        except Exception:
            engine.access.log_out(token)
            raise
    response = web.json_response(_view(who))
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=int(engine.access.idle)
    )
    return response


async def whoami(request: web.Request) -> web.Response:
    return web.json_response(_view(principal_of(request)))


async def log_out(request: web.Request) -> web.Response:
    """End the session; a call-taker's seat is signed out (a call in progress goes on)."""
    engine = _engine(request)
    token = request.cookies.get(COOKIE, "")
    who = engine.access.log_out(token) if token else None
    if who is not None and who.seat:
        engine.router.agent(acd.AgentLoggedOut(at=time.monotonic(), seat_id=who.seat))
    response = web.json_response({"logged_out": who is not None})
    response.del_cookie(COOKIE, path="/")
    return response


def _view(who: Principal) -> dict[str, Any]:
    return {"user": who.name, "role": who.role, "seat": who.seat or None, "service": who.service}
