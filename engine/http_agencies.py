"""REST for agency desks in a call: bring the anti-fraud centre's desk in, hand the caller over
to the 12345 hotline, or take the desk out (engine.agencies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from engine.http_access import actor

if TYPE_CHECKING:
    from engine.app import Engine


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/calls/{call_id}/agencies/{agency}", link_agency)
    app.router.add_delete("/api/calls/{call_id}/agencies/{agency}", unlink_agency)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


async def link_agency(request: web.Request) -> web.Response:
    """Dial the agency's configured desk into the call: 'bridge' keeps the call-taker in the
    call, 'transfer' hands the caller over (the call-taker leaves once the desk is bridged)."""
    from engine.http import _body, _call_view, _file, _json, _text

    engine = _engine(request)
    body = await _body(request)
    call_id = request.match_info["call_id"]
    link = engine.agencies.link(
        call_id,
        request.match_info["agency"],
        purpose=_text(body, "purpose", required=False),
        actor=actor(request, _text(body, "actor", required=False)),
    )
    await _file(
        request, call_id, "agency-requested", {"agency": link.agency, "purpose": link.purpose}
    )
    return _json(_call_view(engine, call_id), status=202)


async def unlink_agency(request: web.Request) -> web.Response:
    """Stop ringing the desk, or take it out of the conference."""
    from engine.http import _call_view, _file, _json

    engine = _engine(request)
    call_id = request.match_info["call_id"]
    who = actor(request, request.query.get("actor", "")[:200])
    link = engine.agencies.unlink(call_id, request.match_info["agency"], who)
    await _file(request, call_id, "agency-withdrawn", {"agency": link.agency})
    return _json(_call_view(engine, call_id), status=202)
