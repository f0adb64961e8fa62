"""Text conversations over HTTP: the call-takers' routes and the citizen's page (issue 7).

Staff (a session or a service token, engine.http_access): GET /api/texts (the line and the
seat's own), GET /api/texts/{conversation_id}, POST .../accept, .../messages {text} and
.../close. A call-taker acts only at their own seat, on a conversation offered to or taken by
it (403 otherwise, from the core); a supervisor may reply in and close any, but accepts only
at a seat. Every step is filed under `user:<name>` before it is answered.

The citizen (no account): GET /api/intake/conversations/{conversation_id}?since=<seq> and POST
.../messages {text}, each with the conversation's secret in `X-Citizen-Token` (given once,
in the 201 of POST /api/intake/reports; compared in constant time). Posting is rate-limited
per conversation and address (429 with Retry-After), like reports.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.clientaddr import client_address
from engine.http_access import actor, principal_of
from intake.texts import Conversation, TextState

if TYPE_CHECKING:
    from engine.app import Engine

TOKEN_HEADER = "X-Citizen-Token"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/texts", texts)
    app.router.add_get("/api/texts/{conversation_id}", text)
    app.router.add_post("/api/texts/{conversation_id}/accept", text_accept)
    app.router.add_post("/api/texts/{conversation_id}/messages", text_reply)
    app.router.add_post("/api/texts/{conversation_id}/close", text_close)
    app.router.add_get("/api/intake/conversations/{conversation_id}", citizen_conversation)
    app.router.add_post("/api/intake/conversations/{conversation_id}/messages", citizen_message)


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def view(conversation: Conversation, now: float, *, since: int = 0) -> dict[str, Any]:
    """A conversation as staff see it: everything, actors included."""
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "address": conversation.address if conversation.channel != "web-app" else None,
        "incident": conversation.incident,
        "state": conversation.state.value,
        "seat": conversation.seat or None,
        "waiting_s": round(max(0.0, now - conversation.opened_at), 1),
        "offer_left_s": None
        if conversation.deadline is None
        else round(max(0.0, conversation.deadline - now), 1),
        "messages": [
            {"seq": m.seq, "from": m.sender, "text": m.text, "at": m.wall, "actor": m.actor}
            for m in conversation.messages
            if m.seq > since
        ],
    }


def _seat(request: web.Request) -> str:
    """The acting seat: a call-taker's own; '' for a supervisor or a service."""
    who = principal_of(request)
    return "" if who.service or who.at_least("supervisor") else who.seat


async def texts(request: web.Request) -> web.Response:
    """The line (waiting and offered, oldest first) and the conversations at the caller's seat
    (a supervisor's 'mine' is every conversation a seat holds)."""
    engine = _engine(request)
    now = time.monotonic()
    seat = _seat(request)
    desk = engine.texts.desk
    held = (
        desk.at_seat(seat)
        if seat
        else [c for c in desk.conversations.values() if c.state is TextState.TAKEN]
    )
    return web.json_response({
        "seat": seat or None,
        "waiting": [view(c, now) for c in desk.waiting()],
        "mine": [view(c, now) for c in sorted(held, key=lambda c: c.opened_at)],
    })  # fmt: skip


async def text(request: web.Request) -> web.Response:
    engine = _engine(request)
    since = _since(request)
    conversation = engine.texts.desk.get(request.match_info["conversation_id"])
    return web.json_response(view(conversation, time.monotonic(), since=since))


async def text_accept(request: web.Request) -> web.Response:
    engine = _engine(request)
    conversation = await engine.texts.accept(
        request.match_info["conversation_id"], _seat(request), actor(request)
    )
    return web.json_response(view(conversation, time.monotonic()))


async def text_reply(request: web.Request) -> web.Response:
    """The call-taker's reply: filed, then sent through the conversation's channel; 201 with
    what the channel said (a reply not delivered is still filed, and says why)."""
    from engine.http import _body

    engine = _engine(request)
    body = await _body(request)
    seq, delivery = await engine.texts.reply(
        request.match_info["conversation_id"], _seat(request), actor(request), _words(body)
    )
    return web.json_response(
        {"seq": seq, "delivery": {"ok": delivery.ok, "detail": delivery.detail}}, status=201
    )


async def text_close(request: web.Request) -> web.Response:
    engine = _engine(request)
    conversation = await engine.texts.close(
        request.match_info["conversation_id"], _seat(request), actor(request)
    )
    return web.json_response(view(conversation, time.monotonic()))


# -- the citizen's page ------------------------------------------------------------------------


async def citizen_conversation(request: web.Request) -> web.Response:
    """What the citizen's page shows: the messages after `since`, and who holds it (no names)."""
    engine = _engine(request)
    since = _since(request)
    conversation = engine.texts.check_token(
        request.match_info["conversation_id"], request.headers.get(TOKEN_HEADER, "")
    )
    return web.json_response({
        "id": conversation.id,
        "incident": conversation.incident,
        "state": conversation.state.value,
        "seat": conversation.seat or None,
        "messages": [
            {"seq": m.seq, "from": m.sender, "text": m.text, "at": m.wall}
            for m in conversation.messages if m.seq > since
        ],
    }, headers={"Cache-Control": "no-store"})  # fmt: skip


async def citizen_message(request: web.Request) -> web.Response:
    from engine.http import _body

    engine = _engine(request)
    cid = request.match_info["conversation_id"]
    engine.texts.check_token(cid, request.headers.get(TOKEN_HEADER, ""))
    limits = engine.texts.rate or engine.intake
    wait = limits.admit(f"conversation {cid} {client_address(request)}", time.monotonic())
    if wait:
        return web.json_response(
            {"error": "too many messages: wait a moment, or call 110"}, status=429,
            headers={"Retry-After": str(math.ceil(wait))},
        )  # fmt: skip
    body = await _body(request)
    received = await engine.texts.citizen_wrote(cid, _words(body))
    return web.json_response({"seq": received.seq}, status=201)


def _words(body: dict[str, Any]) -> str:
    value = body.get("text")
    if not isinstance(value, str):
        raise web.HTTPBadRequest(reason="'text' is required (a string)")
    return value  # the core checks it is not empty and not too long


def _since(request: web.Request) -> int:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(reason="since must be an integer (a message's seq)") from None
    if since < 0:
        raise web.HTTPBadRequest(reason="since must not be negative")
    return since
