"""GET /api/stream: the live feed of the console and the dashboard, as server-sent events.

Every engine event (a call offered, ringing at a seat, answered, ended; an incident opened and
each event stored in it; every dispatch, agency and alert step) goes out as it is published,
`id: <seq>`, `event: <topic>`, `data: <json>`; call events carry their incident's number, and
every alert comes as the event `alert` (its topic, `alert/<kind>`, in the data), since a
browser's EventSource can only listen to names it knows. Once
a second a `snapshot` carries the status figures, every seat and the queue, so a screen that
missed something is right again within a second. `?since=<seq>` (or the browser's own
Last-Event-ID on reconnect) replays what the engine still holds after that event.

A browser that stops reading must not make the engine hold events for ever: past MAX_BACKLOG
unsent events its stream is closed, and EventSource reconnects with Last-Event-ID.

An open stream is also the sign that someone watches a seat's console: while a call-taker's
stream is open, engine.access counts the seat as watched (the text desk offers texts only to
watched seats, and takes them back from a seat whose console has been gone a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.access import Principal
from engine.http_access import PRINCIPAL

if TYPE_CHECKING:
    from engine.app import Engine

log = logging.getLogger(__name__)
SNAPSHOT_EVERY = 1.0
MAX_BACKLOG = 5000


CLOSING = web.AppKey("stream-closing", asyncio.Event)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/stream", stream)
    app.on_startup.append(_open)
    app.on_shutdown.append(_close)


async def _open(app: web.Application) -> None:
    app[CLOSING] = asyncio.Event()


async def _close(app: web.Application) -> None:
    """At shutdown the streams end (the browsers reconnect to the next engine), or the HTTP
    server's graceful shutdown would wait on them."""
    if CLOSING in app:
        app[CLOSING].set()


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


def snapshot(engine: Engine) -> dict[str, Any]:
    from engine.http import queue_view, seat_view

    return {
        "status": engine.summary(),
        "seats": [seat_view(view) for view in engine.acd.seats(time.monotonic())],
        "queue": queue_view(engine),
    }


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every engine event as it happens, and a snapshot each second."""
    engine = _engine(request)
    raw = request.query.get("since") or request.headers.get("Last-Event-ID") or "0"
    try:
        since = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason="since must be an integer (an event's seq)") from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    bus = engine.events.subscribe()  # before the replay: nothing falls between the two
    seat = _seat(request)
    engine.access.console_opened(seat)  # someone watches this seat's screen (engine.texts)
    try:
        sent = since
        for event in engine.events.since(since) if since else ():
            await _send(response, engine, event)
            sent = event["seq"]
        await _send(response, engine, {"seq": sent, "topic": "snapshot", **snapshot(engine)})
        next_snapshot = time.monotonic() + SNAPSHOT_EVERY
        closing = request.app.get(CLOSING) or asyncio.Event()
        while not closing.is_set():
            if bus.qsize() > MAX_BACKLOG:
                log.warning("live stream closed: the client is %d events behind", bus.qsize())
                break
            try:
                wait = max(0.0, next_snapshot - time.monotonic())
                event = await asyncio.wait_for(bus.get(), wait)
            except TimeoutError:
                await _send(
                    response, engine, {"seq": sent, "topic": "snapshot", **snapshot(engine)}
                )
                next_snapshot = time.monotonic() + SNAPSHOT_EVERY
                continue
            if event["seq"] <= sent:
                continue  # already replayed
            await _send(response, engine, event)
            sent = event["seq"]
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        engine.access.console_closed(seat)
        engine.events.unsubscribe(bus)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


def _seat(request: web.Request) -> str:
    """The seat whose console this is: a call-taker's session's seat ('' for anyone else)."""
    who = request.get(PRINCIPAL)
    return who.seat if isinstance(who, Principal) and not who.service else ""


async def _send(response: web.StreamResponse, engine: Engine, event: dict[str, Any]) -> None:
    topic = str(event.get("topic", "message"))
    if topic.startswith("call/") and "incident" not in event:
        incidents = getattr(engine, "incidents", None)
        number = None if incidents is None else incidents.by_call.get(event.get("call_id", ""))
        event = {**event, "incident": number}
    data = json.dumps(event, default=str, separators=(",", ":"))
    name = "alert" if topic.startswith("alert/") else topic  # one name: no kind goes unheard
    await response.write(f"id: {event.get('seq', 0)}\nevent: {name}\ndata: {data}\n\n".encode())
