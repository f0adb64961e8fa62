"""REST for WebRTC calls (engine.webcalls): the citizen's side, open and token-guarded, and the
console's side (live video, snapshot for the officer), for staff.

Citizen: POST /api/intake/calls {type: "offer", sdp, phone?, lat?, lon?, accuracy?} -> 201
{call, token, type: "answer", sdp}; then, with header X-Citizen-Token: GET
/api/intake/calls/{call} (state, incident, officer distance and ETA), POST
/api/intake/calls/{call}/location (a new position), DELETE /api/intake/calls/{call} (hang up).
Console: POST /api/calls/{call_id}/video {type: "offer", sdp} -> {type: "answer", sdp};
POST /api/calls/{call_id}/snapshot -> the stored picture, filed and pushed to the officer.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.clientaddr import client_address
from engine.http_access import actor
from engine.webcalls import WebCallError
from sip.webrtc_offer import MAX_SDP, OfferError, check_offer

if TYPE_CHECKING:
    from engine.app import Engine

TOKEN_HEADER = "X-Citizen-Token"


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/intake/calls", start_call)
    app.router.add_get("/api/intake/calls/{call}", call_status)
    app.router.add_delete("/api/intake/calls/{call}", hang_up)
    app.router.add_post("/api/intake/calls/{call}/location", update_location)
    app.router.add_post("/api/calls/{call_id}/video", watch_video)
    app.router.add_post("/api/calls/{call_id}/snapshot", take_snapshot)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def _error(exc: WebCallError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return web.json_response({"error": str(exc)}, status=exc.status, headers=headers)


async def _json_body(request: web.Request, limit: int = MAX_SDP + 2048) -> dict[str, Any]:
    from engine.http import _body

    if request.content_length is not None and request.content_length > limit:
        raise WebCallError(413, f"the body is larger than {limit} bytes")
    return await _body(request)


def _offer(body: dict[str, Any], ours: tuple[str, ...], *, video: bool = False) -> str:
    sdp = body.get("sdp")
    if body.get("type") != "offer" or not isinstance(sdp, str):
        raise WebCallError(400, "send {type: 'offer', sdp: '...'}")
    try:
        return check_offer(sdp, ours, video=video)
    except OfferError as exc:
        raise WebCallError(400, str(exc)) from None


def _position(body: dict[str, Any], *, required: bool) -> dict[str, Any] | None:
    lat, lon = body.get("lat"), body.get("lon")
    if lat is None and lon is None and not required:
        return None
    try:
        y, x = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise WebCallError(400, "lat and lon must be numbers") from None
    if not (math.isfinite(y) and math.isfinite(x) and -90 <= y <= 90 and -180 <= x <= 180):
        raise WebCallError(400, "lat/lon out of range")
    place: dict[str, Any] = {"lat": y, "lon": x, "method": "app"}
    accuracy = body.get("accuracy")
    if isinstance(accuracy, int | float) and math.isfinite(accuracy) and accuracy >= 0:
        place["radius_m"] = round(float(accuracy), 1)
    return place


def _citizen(request: web.Request) -> Any:
    engine = _engine(request)
    return engine.webcalls.session(
        request.match_info["call"], request.headers.get(TOKEN_HEADER, "")
    )


async def start_call(request: web.Request) -> web.Response:
    """A citizen's video (or audio) call from the 110 web app."""
    engine = _engine(request)
    source = f"call:{client_address(request)}"
    try:
        limit = engine.settings.webrtc.calls_per_minute
        wait = engine.intake.admit(source, time.monotonic(), limit)
        if wait > 0:
            raise WebCallError(429, "too many calls from this address", math.ceil(wait))
        body = await _json_body(request)
        sdp = _offer(body, engine.settings.webrtc.addresses)
        phone = body.get("phone") or ""
        if not isinstance(phone, str) or len(phone) > 32:
            raise WebCallError(400, "phone must be a string of at most 32 characters")
        location = _position(body, required=False)
        web_call, token, answer = await engine.webcalls.offer(sdp, phone.strip(), location)
    except WebCallError as exc:
        if exc.status == 503:
            engine.intake.refund(source)  # the page retries a full centre: not the citizen's fault
        return _error(exc)
    return web.json_response(
        {"call": web_call.call_id, "token": token, "type": "answer", "sdp": answer},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def call_status(request: web.Request) -> web.Response:
    engine = _engine(request)
    try:
        view = engine.webcalls.status(_citizen(request))
    except WebCallError as exc:
        return _error(exc)
    return web.json_response(view, headers={"Cache-Control": "no-store"})


async def hang_up(request: web.Request) -> web.Response:
    engine = _engine(request)
    try:
        engine.webcalls.hang_up(_citizen(request))
    except WebCallError as exc:
        return _error(exc)
    return web.Response(status=204)


async def update_location(request: web.Request) -> web.Response:
    """The page's newer position: filed in the call's incident (as the caller's, method app)."""
    engine = _engine(request)
    try:
        web_call = _citizen(request)
        place = _position(await _json_body(request, 4096), required=True)
        number = engine.incidents.by_call.get(web_call.call_id)
        if number is None:
            raise WebCallError(409, "the call has no incident yet")
        assert place is not None
        event = await engine.incidents.locate(number, "citizen:web-app", place)
    except WebCallError as exc:
        return _error(exc)
    return web.json_response({"incident": number, "location": event.data.get("location")})


async def watch_video(request: web.Request) -> web.Response:
    """The caller's live video for the console (its own peer connection, video only)."""
    engine = _engine(request)
    try:
        sdp = _offer(await _json_body(request), engine.settings.webrtc.addresses, video=True)
        viewer = actor(request)
        answer = await engine.webcalls.watch(request.match_info["call_id"], sdp, viewer)
    except WebCallError as exc:
        return _error(exc)
    return web.json_response({"type": "answer", "sdp": answer})


async def take_snapshot(request: web.Request) -> web.Response:
    """The caller's latest video frame: filed in the incident, pushed to the officer."""
    engine = _engine(request)
    try:
        shot = await engine.webcalls.snapshot(request.match_info["call_id"], actor(request))
    except WebCallError as exc:
        return _error(exc)
    return web.json_response(shot, status=201)
