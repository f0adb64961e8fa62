"""Building blocks and component schemas of the OpenAPI description (`engine.openapi`):
small helpers for JSON schemas and operations, the error responses, and the shapes of seats,
calls, officers and incidents as the handlers return them."""

from __future__ import annotations

import importlib.metadata
from typing import Any

MAX_BODY = 64 * 1024  # engine.http.MAX_BODY (not imported: http.py imports this module)
TEXT = 200  # engine.http._text and http_incidents._string: the default string limit
LONG_TEXT = 4000  # http_incidents.MAX_TEXT: summaries and notes


def _version() -> str:
    try:
        return importlib.metadata.version("hotline110")
    except importlib.metadata.PackageNotFoundError:  # running from a tree never installed
        return "0+unknown"


# -- small builders (each returns a plain dict fragment of the document) -------------------


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; `required` names the fields always present (or required in a body)."""
    schema: dict[str, Any] = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _null(kind: str | list[str], **extra: Any) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else kind
    return {"type": [*kinds, "null"], **extra}


def _text(limit: int = TEXT, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, **extra}


def _number(low: float, high: float, **extra: Any) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high, **extra}


def _query(
    name: str, schema: dict[str, Any], what: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": what,
    }


def _path(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/parameters/{name}"}


def _op(
    operation_id: str,
    tag: str,
    summary: str,
    ok: dict[str, Any],
    *,
    status: int = 200,
    errors: tuple[int, ...] = (),
    params: tuple[dict[str, Any], ...] = (),
    body: dict[str, Any] | None = None,
    body_required: bool = False,
    content_type: str = "application/json",
    also: dict[int, tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One operation; `errors` name entries of components.responses (413 comes with a body),
    `also` other statuses with their own description and schema."""
    responses: dict[str, Any] = {
        str(status): {"description": summary, "content": {content_type: {"schema": ok}}}
    }
    for code in (*errors, *((413,) if body is not None else ())):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    for code, (what, schema) in (also or {}).items():
        responses[str(code)] = {
            "description": what,
            "content": {"application/json": {"schema": schema}},
        }
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    }
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return op


ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "malformed body or query: not a JSON object, a wrong type, out of range"),
    404: ("NotFound", "no such seat, call, officer, incident or dead letter"),
    409: ("Conflict", "the current state refuses the request (the reason is in 'error')"),
    401: ("Unauthorized", "no session cookie (POST /api/session) or service token"),
    403: ("Forbidden", "the role, or the seat, may not do this (the reason is in 'error')"),
    413: ("TooLarge", f"the body is larger than {MAX_BODY} bytes"),
    429: ("Locked", "too many failed log-ins for this name: wait a minute"),
    503: ("Unavailable", "the incident store is not available"),
}

# -- schemas ---------------------------------------------------------------------------------

_SEAT_STATES = ["logged-out", "ready", "reserved", "talking", "wrap-up", "not-ready"]
_OFFICER_STATUSES = ["off-duty", "available", "dispatched", "on-scene", "unreachable"]
_EVENT = _obj(
    {"seq": {"type": "integer"}, "topic": {"type": "string"}, "at": {"type": "number"}},
    required=["seq", "topic", "at"],
    additionalProperties=True,
    description="an engine event: seq, topic, epoch time and the topic's own fields",
)
_INCIDENT_EVENT = _obj(
    {
        "number": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1},
        "kind": {"type": "string", "description": "'opened', 'classified', 'note', ..."},
        "actor": {"type": "string"},
        "at": {"type": "number"},
        "data": {"type": "object"},
    },
    required=["number", "seq", "kind", "actor", "at", "data"],
)
_INCIDENT = _obj(
    {
        "number": {"type": "string", "description": "CITY-YYYYMMDD-NNNNNN"},
        "ng911_incident_uid": {"type": "string"},
        "source": {"type": "string"},
        "channel": {"type": "string"},
        "caller": {"type": "string"},
        "call_id": {"type": "string"},
        "ng911_call_uid": {"type": "string"},
        "opened_at": {"type": "number"},
        "status": {"enum": ["open", "classified", "dispatched", "transferred", "closed"]},
        "location": {
            "oneOf": [{"type": "object"}, {"const": "unknown"}],
            "description": "{lat, lon, radius_m, method, source, grid, ...} or 'unknown'",
        },
        "location_error": {"type": "string"},
        "grid": _null("string"),
        "station": _null("string"),
        "county": _null("string"),
        "category": {"type": "string"},
        "type": {"type": "string"},
        "severity": {"type": "integer", "minimum": 0, "maximum": 5},
        "summary": {"type": "string"},
        "updated_at": {"type": "number"},
        "recordings": _array({"type": "object"}, description="{path, sha256, size, seconds}"),
    },
    required=["number", "status", "opened_at"],
)
_SEAT = _obj(
    {
        "seat_id": {"type": "string"},
        "contact": {"type": "string"},
        "agent_id": {"type": "string"},
        "state": {"enum": _SEAT_STATES},
        "reason": {"type": "string"},
        "since": {"type": "number", "description": "the engine's monotonic clock"},
        "in_state_s": {"type": "number", "description": "seconds in the current state"},
        "call_id": _null("string"),
        "pending": _null("string"),
        "queues": _array({"type": "string"}),
        "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
        "answered": {"type": "integer"},
        "missed": {"type": "integer"},
        "consecutive_misses": {"type": "integer"},
        "handle_time_seconds": _null("number"),
        "seconds_in_state": {"type": "object", "additionalProperties": {"type": "number"}},
    },
    required=["seat_id", "state"],
)
_CALL = _obj(
    {
        "call_id": {"type": "string"},
        "caller": {"type": "string"},
        "trunk": {"type": "string"},
        "sip_call_id": {"type": "string"},
        "location": _null("object"),
        "location_error": {"type": "string"},
        "offered_at": {"type": "number"},
        "announced": {"type": "boolean"},
        "answer_seconds": _null("number"),
        "seat_id": _null("string"),
        "ended": {"type": "boolean"},
        "outcome": _null("string"),
        "reason": {"type": "string"},
        "queue": {"type": "string"},
        "skills": _array({"type": "string"}),
        "priority": {"type": "integer"},
        "rings": _array({"type": "object"}),
        "seats_lost": _array({"type": "object"}),
        "sip_legs": {"type": "object"},
        "category": _null("string"),
        "timestamps": {
            "type": "object",
            "additionalProperties": _null("number"),
            "description": "seconds after the trunk INVITE: answered, officer_bridged, ...",
        },
        "offered_wall": {"type": "number"},
        "dispatch": _null("object", description="how, outcome, ranked, attempts, times"),
        "agencies": _array(
            _obj(
                {
                    "agency": {"enum": ["anti-fraud", "12345"]},
                    "uri": {"type": "string"},
                    "purpose": {"enum": ["bridge", "transfer"]},
                    "actor": {"type": "string"},
                    "started": _null("number"),
                    "ringing": _null("number"),
                    "bridged": _null("number"),
                    "ended": _null("number"),
                    "outcome": _null("string"),
                    "status": _null("integer"),
                    "reason": {"type": "string"},
                },
                description="times in seconds after the trunk INVITE",
            ),
            description="agency desks dialled into the call, in order",
        ),
        "recording": _null("object", description="path, sha256, size, seconds"),
        "recording_errors": _array({"type": "string"}),
        "alerts": _array({"type": "object"}),
        "conference": {"type": "object"},
        "incident": _null("string", description="the incident number (GET one call, dispatch)"),
    },
    description="a call's view; {} when the call is no longer known",
)
_OFFICER = _obj(
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "grid": _null("string"),
        "phone": {"type": "string"},
        "status": {"enum": _OFFICER_STATUSES},
        "on_duty": {"type": "boolean"},
        "lat": _null("number"),
        "lon": _null("number"),
        "position_ts": _null("number"),
        "speed": _null("number"),
        "stale": {"type": "boolean"},
        "assigned_call": _null("string", description="GET one officer and status changes"),
        "applied": {"type": "boolean", "description": "PUT position: false when older than held"},
    },
    required=["id", "status"],
)
_SHIFT = {
    "oneOf": [
        _obj(
            {"daily": {"type": "string", "pattern": r"^\s*\d+:\d\d\s*-\s*\d+:\d\d\s*$"}},
            required=["daily"],
            additionalProperties=False,
        ),
        _obj(
            {"start": {"type": "number"}, "end": {"type": "number"}},
            required=["start", "end"],
            additionalProperties=False,
            description="epoch seconds",
        ),
    ]
}
_ROSTER = _obj(
    {
        "officer_id": {"type": "string"},
        "on_duty": {"type": "boolean"},
        "shifts": _array(_ref("Shift")),
    },
    required=["officer_id", "on_duty", "shifts"],
)
_STATUS_COUNTS = [
    *("offered", "answered", "within_3s", "overflowed", "abandoned", "failed", "refused"),
    *("queued", "active", "p50_answer_ms", "p99_answer_ms", "seats_ready", "seats_talking"),
    *("pool_warm", "pool_busy", "dispatched", "bridged", "within_30s", "p99_bridge_ms"),
]
SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": {"type": "string"}}, ["error"]),
    "Health": _obj(
        {
            "status": {"enum": ["ok", "degraded"]},
            "front_up": {"type": "boolean"},
            "pool_warm": {"type": "integer"},
            "pool_busy": {"type": "integer"},
            "uptime_seconds": {"type": "number"},
        },
        required=["status"],
    ),
    "Status": _obj(
        {key: {"type": "integer"} for key in _STATUS_COUNTS}
        | {"answer_target_s": {"type": "number"}, "bridge_target_s": {"type": "number"}}
    ),
    "Seat": _SEAT,
    "SeatDetail": {
        "allOf": [
            _ref("Seat"),
            _obj(
                {
                    "history": _array(
                        _obj(
                            {
                                "at": {"type": "number"},
                                "from": {"enum": _SEAT_STATES},
                                "to": {"enum": _SEAT_STATES},
                                "reason": {"type": "string"},
                            }
                        )
                    )
                }
            ),
        ]
    },
    "WaitingCall": _obj(
        {
            "call_id": {"type": "string"},
            "caller": {"type": "string"},
            "queue": {"type": "string"},
            "priority": {"type": "integer"},
            "priority_reason": {"type": "string"},
            "skills": _array({"type": "string"}),
            "wait_seconds": {"type": "number"},
            "announced": {"type": "boolean"},
            "ringing": _array({"type": "string"}),
            "ringing_seat": _null("string"),
            "overflow_ringing": _null("string"),
        },
        required=["call_id"],
    ),
    "Queue": _obj(
        {
            "queue": {"type": "string"},
            "strategy": {"type": "string"},
            "waiting": {"type": "integer"},
            "oldest_wait_seconds": _null("number"),
            "staffed": {"type": "integer"},
            "ready": {"type": "integer"},
            "expected_wait_seconds": _null("number"),
        },
        required=["queue"],
    ),
    "Call": _CALL,
    "Principal": _obj(
        {
            "user": {"type": "string"},
            "role": {"enum": ["call-taker", "supervisor", "admin"]},
            "seat": _null("string"),
            "service": {"type": "boolean"},
        },
        ["user", "role", "seat", "service"],
    ),
    "PoolSlot": _obj(
        {
            "slot": {"type": "integer"},
            "state": {"enum": ["cold", "starting", "warm", "busy", "draining", "dead"]},
            "member_id": _null("string"),
            "pid": _null("integer"),
            "call_id": _null("string"),
            "since": {"type": "number"},
        },
        required=["slot", "state"],
    ),
    "Candidate": _obj(
        {
            "officer_id": {"type": "string"},
            "name": {"type": "string"},
            "unit": {"type": "string"},
            "grid": _null("string"),
            "distance_m": {"type": "number"},
            "eta_s": {"type": "number"},
            "stale": {"type": "boolean"},
            "same_grid": {"type": "boolean"},
            "position_age_s": {"type": "number"},
        },
        required=["officer_id"],
    ),
    "Officer": _OFFICER,
    "Shift": _SHIFT,
    "Roster": _ROSTER,
    "Event": _EVENT,
    "Incident": _INCIDENT,
    "IncidentDetail": {
        "allOf": [_ref("Incident"), _obj({"events": _array(_ref("IncidentEvent"))}, ["events"])]
    },
    "IncidentPage": _obj(
        {
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "items": _array(_ref("Incident")),
        },
        required=["total", "limit", "offset", "items"],
    ),
    "IncidentEvent": _INCIDENT_EVENT,
    "Classification": _obj(
        {
            "event": _ref("IncidentEvent"),
            "sent": _array(_ref("IncidentEvent"), description="what the decision sent out"),
            "decision": _obj(
                {
                    "route": {"enum": ["dispatch", "anti-fraud", "12345", "local-station"]},
                    "station": {"type": "string"},
                    "targets": _array({"type": "string"}),
                    "rule": {"type": "string"},
                    "explanation": {"type": "string"},
                    "also": _array({"type": "string"}),
                    "push_topic": _null("string"),
                    "bridge_uri": _null("string"),
                    "transfer_uri": _null("string"),
                    "webhook_url": _null("string"),
                },
                required=["route", "rule", "explanation"],
            ),
            "dispatch": {
                "oneOf": [
                    {"type": "null"},
                    _obj({"started": {"const": True}, "how": {"type": "string"}}, ["started"]),
                    _obj({"started": {"const": False}, "error": {"type": "string"}}, ["started"]),
                ],
                "description": "set when the route is dispatch and the caller is on a live call",
            },
            "agency": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "started": {"type": "boolean"},
                            "agency": {"enum": ["anti-fraud", "12345"]},
                            "purpose": {"enum": ["bridge", "transfer"]},
                            "error": {"type": "string"},
                        },
                        ["started", "agency"],
                    ),
                ],
                "description": "the anti-fraud desk bridged or the 12345 transfer started, "
                "when the decision names one and the caller is on a live call",
            },
        },
        required=["event", "sent", "decision", "dispatch", "agency"],
    ),
    "OutboxRow": _obj(
        {
            "id": {"type": "integer"},
            "number": {"type": "string"},
            "seq": {"type": "integer"},
            "kind": {"type": "string"},
            "at": {"type": "number"},
            "payload": {"type": "object"},
            "attempts": {"type": "integer"},
            "last_error": {"type": "string"},
            "target": {"type": "string"},
            "state": {"enum": ["pending", "sent", "dead"]},
        },
        required=["id", "number", "state"],
    ),
}

# -- request bodies --------------------------------------------------------------------------

_LAT, _LON = _number(-90, 90), _number(-180, 180)
