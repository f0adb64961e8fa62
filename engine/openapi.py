"""The OpenAPI 3.1 description of the REST API, served at GET /api/openapi.json.

A declarative table written by hand from the handlers in `engine.http` and
`engine.http_incidents`: every route `build_app` registers, the bodies and queries each handler
reads with the limits it enforces, and the statuses it can answer. The test
`tests/shells/test_openapi.py` walks the router both ways (registered <-> documented, with
the handler's name as operationId), so a route added without a line here fails it.

Errors are always `{"error": "..."}`: 400 a malformed body or query, 404 an unknown seat, call,
officer or incident, 409 a request the current state refuses, 413 a body over 64 KiB, 503 the
incident store unavailable. Bodies are optional JSON objects unless `requestBody.required`; an
empty body reads as `{}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine import openapi_texts, openapi_webcalls
from engine.openapi_schemas import (
    _LAT,
    _LON,
    _OFFICER_STATUSES,
    ERRORS,
    LONG_TEXT,
    SCHEMAS,
    _array,
    _null,
    _number,
    _obj,
    _op,
    _path,
    _query,
    _ref,
    _text,
    _version,
)

_BOTH = {"lat": ["lon"], "lon": ["lat"]}  # given together or not at all
_SHORT_LIST = _array({"type": "string", "minLength": 1, "maxLength": 64}, maxItems=50)
_REASON = _obj({"reason": _text(description="defaults to 'break' ('supervisor' when forced)")})

# -- parameters ------------------------------------------------------------------------------

PARAMETERS: dict[str, Any] = {
    name: {"name": key, "in": "path", "required": True, "schema": schema}
    for name, key, schema in (
        ("SeatId", "seat_id", {"type": "string"}),
        ("CallId", "call_id", {"type": "string"}),
        ("OfficerId", "officer_id", {"type": "string"}),
        ("Number", "number", {"type": "string"}),
        ("OutboxId", "id", {"type": "integer"}),
        ("Agency", "agency", {"enum": ["anti-fraud", "12345"]}),
        ("Sha256", "sha256", {"type": "string", "pattern": "^[0-9a-f]{64}$"}),
    )
}
_SEAT_ID, _CALL_ID, _OFFICER_ID = _path("SeatId"), _path("CallId"), _path("OfficerId")
_SINCE = _query("since", {"type": "integer", "default": 0}, "only events with a greater seq")


def _control(name: str, what: str) -> dict[str, Any]:
    """A conference control of /api/calls/{call_id}/...: no body, 202 with the call's view."""
    return {
        "post": _op(
            name,
            "conference",
            what,
            _ref("Call"),
            status=202,
            errors=(404, 409),
            params=(_CALL_ID,),
        )
    }


# -- the table: path -> method -> operation --------------------------------------------------

PATHS: dict[str, Any] = {
    "/metrics": {
        "get": _op(
            "metrics", "operations", "Prometheus text format (version 0.0.4)",
            {"type": "string"}, content_type="text/plain",
        ),
    },
    "/healthz": {
        "get": _op(
            "health", "operations", "200 when the front answers and warm members exist",
            _ref("Health"), also={503: ("degraded: the same report", _ref("Health"))},
        ),
    },
    "/api/openapi.json": {
        "get": _op("serve", "operations", "this OpenAPI 3.1 description", {"type": "object"}),
    },
    "/api/status": {
        "get": _op("status", "operations", "the figures of the status line", _ref("Status")),
    },
    "/api/seats": {
        "get": _op("seats", "seats", "seats, agents and states", _array(_ref("Seat"))),
    },
    "/api/seats/{seat_id}": {
        "get": _op(
            "seat", "seats", "one seat with its state history", _ref("SeatDetail"),
            errors=(404,), params=(_SEAT_ID,),
        ),
    },
    "/api/seats/{seat_id}/login": {
        "post": _op(
            "login", "seats", "an agent signs in (not-ready)", _ref("Seat"),
            errors=(400, 404, 409), params=(_SEAT_ID,),
            body=_obj({"agent": _text(minLength=1)}, ["agent"]), body_required=True,
        ),
    },
    "/api/seats/{seat_id}/logout": {
        "post": _op(
            "logout", "seats", "the agent signs out", _ref("Seat"),
            errors=(404, 409), params=(_SEAT_ID,),
        ),
    },
    "/api/seats/{seat_id}/ready": {
        "post": _op(
            "ready", "seats", "the agent takes calls", _ref("Seat"),
            errors=(404, 409), params=(_SEAT_ID,),
        ),
    },
    "/api/seats/{seat_id}/not-ready": {
        "post": _op(
            "not_ready", "seats", "the agent pauses", _ref("Seat"),
            errors=(400, 404, 409), params=(_SEAT_ID,), body=_REASON,
        ),
    },
    "/api/supervisor/seats/{seat_id}/not-ready": {
        "post": _op(
            "force_not_ready", "supervisor",
            "forced not-ready: a ringing seat is withdrawn at once, a call is never cut",
            _ref("Seat"), errors=(400, 404, 409), params=(_SEAT_ID,), body=_REASON,
        ),
    },
    "/api/supervisor/seats/{seat_id}/logout": {
        "post": _op(
            "force_logout", "supervisor", "forced logout (waits for a call in progress)",
            _ref("Seat"), errors=(404, 409), params=(_SEAT_ID,),
        ),
    },
    "/api/seats/{seat_id}/skills": {
        "put": _op(
            "set_skills", "seats", "change a seat's skills and/or queues", _ref("Seat"),
            errors=(400, 404, 409), params=(_SEAT_ID,), body_required=True,
            body=_obj(
                {
                    "skills": {
                        "type": "object",
                        "maxProperties": 50,
                        "propertyNames": {"minLength": 1, "maxLength": 64},
                        "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
                    },
                    "queues": _array({"type": "string"}, minItems=1),
                },
                anyOf=[{"required": ["skills"]}, {"required": ["queues"]}],
            ),
        ),
    },
    "/api/queue": {
        "get": _op(
            "queue", "calls", "waiting calls: queue, priority (and why), wait, seats ringing",
            _array(_ref("WaitingCall")),
        ),
    },
    "/api/queues": {
        "get": _op(
            "queues", "calls", "per queue: strategy, waiting, staffed, ready, expected wait",
            _array(_ref("Queue")),
        ),
    },
    "/api/calls": {
        "get": _op(
            "calls", "calls", "calls in progress, or the recent finished ones",
            _array(_ref("Call")), errors=(400,),
            params=(
                _query("state", {"enum": ["active", "finished"], "default": "active"}, "which"),
            ),
        ),
    },
    "/api/calls/{call_id}": {
        "get": _op(
            "call", "calls", "one call, active or recent, with its incident number",
            _ref("Call"), errors=(404,), params=(_CALL_ID,),
        ),
    },
    "/api/pool": {
        "get": _op(
            "pool", "operations",
            "pool slots: member, pid, state", _array(_ref("PoolSlot")),
        ),
    },
    "/api/calls/{call_id}/dispatch": {
        "post": _op(
            "dispatch", "dispatch",
            "dispatch the nearest officer to (lat, lon) or the call's location, or the one chosen",
            _ref("Call"), status=202, errors=(400, 404, 409), params=(_CALL_ID,),
            body=_obj(
                {
                    "lat": _LAT,
                    "lon": _LON,
                    "officer": _text(description="dispatch this officer instead of the nearest"),
                    "category": _text(default="police"),
                },
                dependentRequired=_BOTH,
            ),
        ),
    },
    "/api/calls/{call_id}/leave": _control(
        "leave", "the call-taker leaves (an officer or an agency's desk bridged)"
    ),
    "/api/calls/{call_id}/agencies/{agency}": {
        "post": _op(
            "link_agency", "conference",
            "dial the agency's configured desk into the call: 'bridge' (the call-taker stays; "
            "default for anti-fraud) or 'transfer' (the call-taker leaves once the desk is "
            "bridged; default for 12345)",
            _ref("Call"), status=202, errors=(400, 404, 409), params=(_CALL_ID, _path("Agency")),
            body=_obj(
                {"purpose": {"enum": ["bridge", "transfer"]}, "actor": _text(default="rest")}
            ),
        ),
        "delete": _op(
            "unlink_agency", "conference",
            "stop ringing the agency's desk, or take it out of the conference (409 when that "
            "would leave the caller alone)",
            _ref("Call"), status=202, errors=(404, 409), params=(
                _CALL_ID, _path("Agency"),
                _query("actor", _text(), "who took the desk out (audit trail)"),
            ),
        ),
    },
    "/api/calls/{call_id}/rejoin": {
        "post": _op(
            "rejoin", "conference", "a call-taker rejoins the call's conference", _ref("Call"),
            status=202, errors=(400, 404, 409), params=(_CALL_ID,),
            body=_obj({"seat": _text(description="the seat that rejoins (default: the original)")}),
        ),
    },
    "/api/calls/{call_id}/hold": _control("hold", "hold the caller"),
    "/api/calls/{call_id}/unhold": _control("unhold", "take the caller off hold"),
    "/api/calls/{call_id}/mute": _control("mute", "mute the call-taker"),
    "/api/calls/{call_id}/unmute": _control("unmute", "unmute the call-taker"),
    "/api/dispatch/nearest": {
        "get": _op(
            "nearest", "dispatch", "ranked available officers with distance and ETA",
            _array(_ref("Candidate")), errors=(400,),
            params=(
                _query("lat", _LAT, "latitude", required=True),
                _query("lon", _LON, "longitude", required=True),
                _query(
                    "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                    "how many",
                ),
            ),
        ),
    },
    "/api/officers": {
        "get": _op(
            "officers", "officers", "officers: unit, grid, status, position, staleness",
            _array(_ref("Officer")),
        ),
    },
    "/api/officers/{officer_id}": {
        "get": _op(
            "officer", "officers", "one officer and the call assigned", _ref("Officer"),
            errors=(404,), params=(_OFFICER_ID,),
        ),
    },
    "/api/officers/{officer_id}/status": {
        "post": _op(
            "officer_status", "officers", "an officer's own status (on-scene files the arrival)",
            _ref("Officer"), errors=(400, 404), params=(_OFFICER_ID,), body_required=True,
            body=_obj({"status": {"enum": _OFFICER_STATUSES}}, ["status"]),
        ),
    },
    "/api/officers/{officer_id}/sign-off": {
        "post": _op(
            "sign_off", "officers", "the officer acknowledges the dispatch; the call's view",
            _ref("Call"), errors=(404, 409), params=(_OFFICER_ID,),
        ),
    },
    "/api/officers/{officer_id}/position": {
        "put": _op(
            "position", "officers", "a position report", _ref("Officer"),
            errors=(400, 404), params=(_OFFICER_ID,), body_required=True,
            body=_obj(
                {
                    "lat": _LAT,
                    "lon": _LON,
                    "ts": _number(0, 1e11, description="epoch seconds, not in the future"),
                    "speed": _number(0, 1000, description="m/s, default 0"),
                },
                required=["lat", "lon"],
            ),
        ),
    },
    "/api/officers/{officer_id}/roster": {
        "get": _op(
            "roster", "officers", "the officer's duty roster", _ref("Roster"),
            errors=(404,), params=(_OFFICER_ID,),
        ),
        "put": _op(
            "set_roster", "officers", "replace the officer's shifts", _ref("Roster"),
            errors=(400, 404), params=(_OFFICER_ID,), body_required=True,
            body=_obj({"shifts": _array(_ref("Shift"), maxItems=100)}, ["shifts"]),
        ),
    },
    "/api/alerts": {
        "get": _op("alerts", "events", "recent alerts (alert/<kind>)", _array(_ref("Event"))),
    },
    "/api/events": {
        "get": _op(
            "events", "events", "dispatch steps, bridges, recordings and alerts as events",
            _array(_ref("Event")), errors=(400,),
            params=(_SINCE, _query("topic", {"type": "string"}, "topic prefix, e.g. dispatch/")),
        ),
    },
    "/api/incidents": {
        "get": _op(
            "list_incidents", "incidents", "incidents by area, time, type and status (paginated)",
            _ref("IncidentPage"), errors=(400, 503),
            params=(
                *(
                    _query(key, {"type": "string"}, f"only this {key}")
                    for key in ("station", "county", "grid", "type", "category", "status", "caller")
                ),
                _query("since", {"type": "number"}, "opened at or after (epoch seconds)"),
                _query("until", {"type": "number"}, "opened before (epoch seconds)"),
                _query(
                    "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    "page size",
                ),
                _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip"),
            ),
        ),
        "post": _op(
            "report", "incidents", "a walk-in report or a tip: a new incident",
            _ref("Incident"), status=201, errors=(400,), body_required=True,
            body=_obj(
                {
                    "source": {"enum": ["walk-in", "tip"]},
                    "summary": _text(LONG_TEXT, minLength=1),
                    "caller": _text(),
                    "actor": _text(default="rest"),
                    "lat": _LAT,
                    "lon": _LON,
                    "category": _text(),
                    "type": _text(),
                    "severity": {"type": "integer", "minimum": 0, "maximum": 5, "default": 0},
                },
                required=["source", "summary"],
                dependentRequired=_BOTH,
            ),
        ),
    },
    "/api/incidents/{number}": {
        "get": _op(
            "one", "incidents", "one incident with its events and recordings",
            _ref("IncidentDetail"), errors=(404, 503), params=(_path("Number"),),
        ),
    },
    "/api/incidents/{number}/notes": {
        "post": _op(
            "note", "incidents", "add a note to the incident's audit trail",
            _ref("IncidentEvent"), status=201, errors=(400, 404), params=(_path("Number"),),
            body_required=True,
            body=_obj(
                {"text": _text(LONG_TEXT, minLength=1), "actor": _text(default="rest")}, ["text"]
            ),
        ),
    },
    "/api/incidents/{number}/location": {
        "post": _op(
            "locate", "incidents",
            "the call-taker types where the caller is (resolved to grid, station, county)",
            _ref("IncidentEvent"), status=201, errors=(400, 404), params=(_path("Number"),),
            body_required=True,
            body=_obj({"lat": _LAT, "lon": _LON, "actor": _text(default="rest")}, ["lat", "lon"]),
        ),
    },
    "/api/incidents/{number}/close": {
        "post": _op(
            "close", "incidents",
            "close the incident with its disposition (409 when it is closed already)",
            _ref("IncidentEvent"), status=201, errors=(400, 404, 409, 503),
            params=(_path("Number"),), body_required=True,
            body=_obj({"disposition": _text(minLength=1), "actor": _text()}, ["disposition"]),
        ),
    },
    "/api/incidents/{number}/classify": {
        "post": _op(
            "classify", "incidents",
            "classify; the routing rules decide; on a live call the officer is dispatched, the "
            "anti-fraud desk bridged or the caller handed over to 12345",
            _ref("Classification"), errors=(400, 404, 503), params=(_path("Number"),),
            body_required=True,
            body=_obj(
                {
                    "category": _text(minLength=1),
                    "type": _text(),
                    "severity": {"type": "integer", "minimum": 0, "maximum": 5, "default": 0},
                    "summary": _text(LONG_TEXT),
                    "actor": _text(default="rest"),
                    "numbers": _SHORT_LIST,
                    "accounts": _SHORT_LIST,
                },
                required=["category"],
            ),
        ),
    },
    "/api/push": {
        "get": _op(
            "pushed", "incidents", "the incident push relayed in-process (no broker configured)",
            _array(
                {
                    "allOf": [
                        _ref("Event"),
                        _obj({"mqtt_topic": {"type": "string"}, "message": {"type": "object"}}),
                    ]
                }
            ),
            errors=(400,), params=(_SINCE,),
        ),
    },
    "/api/outbox/dead-letters": {
        "get": _op(
            "dead_letters", "outbox", "outbox rows that could not be delivered (at most 200)",
            _array(_ref("OutboxRow")), errors=(503,),
        ),
    },
    "/api/outbox/{id}/requeue": {
        "post": _op(
            "requeue", "outbox", "put a dead letter back in line",
            _obj({"requeued": {"type": "integer"}}, ["requeued"]), status=202,
            errors=(400, 404, 503), params=(_path("OutboxId"),),
        ),
    },
    "/api/stream": {
        "get": _op(
            "stream", "live",
            "server-sent events: every engine event as published (id: seq, event: topic, "
            "data: JSON; call/* carry their incident), and a 'snapshot' (status, seats, queue) "
            "each second",
            {"type": "string"}, errors=(400,), content_type="text/event-stream",
            params=(_query("since", {"type": "integer", "default": 0},
                           "replay the events still held after this seq"),),
        ),
    },
    "/api/dashboard": {
        "get": _op(
            "dashboard", "live",
            "service levels live and today (answered within 3 s, officer bridged within 30 s), "
            "queue, seats by state, pool, front, trunks, recent alerts",
            _obj({k: {"type": "object"} for k in ("answer_sla", "bridge_sla", "queue", "seats",
                                                   "pool", "front")}
                 | {"trunks": _array({"type": "object"}), "alerts": _array({"type": "object"}),
                    "calls_active": {"type": "integer"}},
                 ["answer_sla", "bridge_sla", "queue", "seats", "pool", "front", "trunks"]),
        ),
    },
    "/api/city": {
        "get": _op(
            "city", "live", "the grid cells and station areas (GeoJSON) and their extent",
            _obj({"grid": {"type": "object"}, "stations": {"type": "object"},
                  "extent": _array({"type": "number"}, minItems=4, maxItems=4,
                                   description="[west, south, east, north], degrees")},
                 ["grid", "stations", "extent"]),
        ),
    },
    "/api/intake/reports": {
        "post": _op(
            "intake_report", "intake",
            "a citizen's text with pictures: an incident of its own (open to anyone, "
            "rate-limited per address; every picture checked before anything is kept)",
            _obj({"number": {"type": "string"}, "location": _null("object"),
                  "conversation": {"type": "string", "description": "its text conversation"},
                  "token": {"type": "string", "description": "the citizen's secret for it "
                            "(X-Citizen-Token), given only here"},
                  "location_error": {"type": "string"},
                  "pictures": _array(_obj({"sha256": {"type": "string"},
                                           "size": {"type": "integer"},
                                           "content_type": {"type": "string"},
                                           "width": {"type": "integer"},
                                           "height": {"type": "integer"}}))},
                 ["number", "conversation", "token", "pictures"]),
            status=201, errors=(400, 413),
            also={
                415: ("not multipart/form-data, or a picture that is not JPEG/PNG/WebP",
                      _ref("Error")),
                422: ("a broken picture, or one that is not what it claims", _ref("Error")),
                429: ("too many reports from this address (Retry-After)", _ref("Error")),
            },
        ),
    },
    "/api/incidents/{number}/pictures/{sha256}": {
        "get": _op(
            "incident_picture", "intake", "a picture filed with the incident (its own type)",
            {"type": "string", "format": "binary"}, errors=(400, 404),
            content_type="application/octet-stream",
            params=(_path("Number"), _path("Sha256")),
        ),
    },
    "/api/session": {
        "post": _op(
            "log_in", "access",
            "log in (a call-taker at a seat, which signs them in there, not ready); the "
            "session is an HttpOnly cookie",
            _ref("Principal"), errors=(400, 401, 404, 409, 429), body_required=True,
            body=_obj(
                {"user": _text(minLength=1), "password": _text(minLength=1), "seat": _text()},
                ["user", "password"],
            ),
        ),
        "get": _op("whoami", "access", "who is logged in", _ref("Principal")),
        "delete": _op(
            "log_out", "access", "log out (a call-taker's seat is signed out)",
            _obj({"logged_out": {"type": "boolean"}}),
        ),
    },
}  # fmt: skip
_OPEN = {("/healthz", "get"), ("/metrics", "get"), ("/api/openapi.json", "get"),
         ("/api/session", "post"), ("/api/intake/reports", "post")}  # fmt: skip
PATHS.update(openapi_webcalls.PATHS)
_OPEN |= openapi_webcalls.OPEN
PATHS.update(openapi_texts.PATHS)
_OPEN |= openapi_texts.OPEN
for _path_name, _item in PATHS.items():
    for _method, _operation in _item.items():
        if (_path_name, _method) in _OPEN:
            _operation["security"] = []
        else:
            for _code in (401, 403):
                _operation["responses"].setdefault(
                    str(_code), {"$ref": f"#/components/responses/{ERRORS[_code][0]}"}
                )

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "hotline110",
        "version": _version(),
        "description": __doc__,
    },
    "paths": PATHS,
    "security": [{"session": []}, {"token": []}],
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "hotline110_session"},
            "token": {"type": "http", "scheme": "bearer", "description": "a service token"},
        },
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": {
            name: {
                "description": what,
                "content": {"application/json": {"schema": _ref("Error")}},
            }
            for name, what in ERRORS.values()
        },
    },
}


async def serve(request: web.Request) -> web.Response:
    """GET /api/openapi.json."""
    return web.json_response(DOCUMENT)
