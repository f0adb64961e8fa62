"""OpenAPI paths of the WebRTC calls (engine.http_webcalls); `engine.openapi` merges them."""

from __future__ import annotations

from typing import Any

from engine.openapi_schemas import _null, _number, _obj, _op, _path, _ref

_CALL_PARAM = {"name": "call", "in": "path", "required": True, "schema": {"type": "string"}}
_TOKEN = {
    "name": "X-Citizen-Token",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "the token POST /api/intake/calls answered (a wrong one reads as 404)",
}
_SDP_OFFER = _obj(
    {"type": {"const": "offer"}, "sdp": {"type": "string", "maxLength": 16384}}, ["type", "sdp"]
)
_SDP_ANSWER = _obj({"type": {"const": "answer"}, "sdp": {"type": "string"}}, ["type", "sdp"])
_POSITION = {
    "lat": _number(-90, 90),
    "lon": _number(-180, 180),
    "accuracy": _number(0, 1e7, description="metres (the browser's coords.accuracy)"),
}
_OFFICER = _null(
    "object",
    description="null until an officer is dispatched and after the call: {status: calling | "
    "dispatched | on-scene, distance_m (to 100 m), eta_s (to 10 s)} from the officer's latest "
    "position; never the officer's name or position",
)
_STATUS = _obj(
    {
        "call": {"type": "string"},
        "state": {"enum": ["queued", "ringing", "answered", "ended"]},
        "outcome": _null(
            "string",
            description="once ended: answered, abandoned, failed (cut "
            "off by a failure in the centre), ...",
        ),
        "incident": _null("string"),
        "video": {"type": "boolean"},
        "officer": _OFFICER,
    },
    ["call", "state", "incident", "officer"],
)
_BUSY = ("every idle line is taken (Retry-After): the page retries", _ref("Error"))
_RATE = ("too many calls from this address (Retry-After)", _ref("Error"))

PATHS: dict[str, Any] = {
    "/api/intake/calls": {
        "post": _op(
            "start_call", "intake",
            "a citizen's WebRTC call (non-trickle offer): offered to the ACD like a trunk call; "
            "open to anyone, rate-limited per address",
            _obj({"call": {"type": "string"}, "token": {"type": "string"},
                  "type": {"const": "answer"}, "sdp": {"type": "string"}},
                 ["call", "token", "type", "sdp"]),
            status=201, errors=(400,),
            body=_obj({**_SDP_OFFER["properties"], "phone": {"type": "string", "maxLength": 32},
                       **_POSITION}, ["type", "sdp"]),
            body_required=True,
            also={429: _RATE, 503: _BUSY},
        ),
    },
    "/api/intake/calls/{call}": {
        "get": _op(
            "call_status", "intake",
            "the citizen's call: its state, incident and the dispatched officer's ETA",
            _STATUS, errors=(404,), params=(_CALL_PARAM, _TOKEN),
        ),
        "delete": _op(
            "hang_up", "intake", "the citizen hangs up", {"type": "null"}, status=204,
            errors=(404,), params=(_CALL_PARAM, _TOKEN),
        ),
    },
    "/api/intake/calls/{call}/location": {
        "post": _op(
            "update_location", "intake",
            "the page's newer position, filed in the call's incident",
            _obj({"incident": {"type": "string"}, "location": _null("object")}),
            errors=(400, 404, 409), params=(_CALL_PARAM, _TOKEN),
            body=_obj(_POSITION, ["lat", "lon"]), body_required=True,
        ),
    },
    "/api/calls/{call_id}/video": {
        "post": _op(
            "watch_video", "calls",
            "the WebRTC caller's live video for the console (a recvonly video offer)",
            _SDP_ANSWER, errors=(400, 404, 409), params=(_path("CallId"),),
            body=_SDP_OFFER, body_required=True,
            also={504: ("the call's member did not answer in time", _ref("Error"))},
        ),
    },
    "/api/calls/{call_id}/snapshot": {
        "post": _op(
            "take_snapshot", "calls",
            "the caller's latest video frame as a JPEG: stored, filed in the incident and "
            "pushed on the dispatched officer's topic",
            _obj({"sha256": {"type": "string"}, "size": {"type": "integer"},
                  "width": {"type": "integer"}, "height": {"type": "integer"},
                  "incident": _null("string"), "officer": _null("string"),
                  "filed": {"type": "boolean"}, "url": _null("string")},
                 ["sha256", "size", "filed"]),
            status=201, errors=(404, 409), params=(_path("CallId"),),
            also={504: ("the call's member did not answer in time", _ref("Error"))},
        ),
    },
}  # fmt: skip
OPEN = {(path, method) for path, item in PATHS.items() for method in item if "intake" in path}
