"""OpenAPI paths of the text conversations (engine.http_texts); `engine.openapi` merges them.

Staff routes need a session or a service token; the citizen's two routes are open, guarded by
the conversation's secret in X-Citizen-Token (from the 201 of POST /api/intake/reports).
"""

from __future__ import annotations

from typing import Any

from engine.openapi_schemas import _array, _null, _obj, _op, _query, _ref, _text

MESSAGE_TEXT = 4000  # intake.texts.MAX_TEXT
_ID = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SINCE = _query("since", {"type": "integer", "minimum": 0, "default": 0},
                "only messages with a greater seq")  # fmt: skip
_TOKEN = {
    "name": "X-Citizen-Token",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "the token POST /api/intake/reports answered (missing: 401; wrong: 404)",
}
_STATE = {"enum": ["waiting", "offered", "taken", "closed"]}
_MESSAGE = _obj(
    {"seq": {"type": "integer", "minimum": 1}, "from": {"enum": ["citizen", "call-taker"]},
     "text": {"type": "string"}, "at": {"type": "number", "description": "Unix time, s"}},
    ["seq", "from", "text", "at"],
)  # fmt: skip
_STAFF_MESSAGE = _obj({**_MESSAGE["properties"], "actor": {"type": "string"}},
                      ["seq", "from", "text", "at", "actor"])  # fmt: skip
CONVERSATION = _obj(
    {"id": {"type": "string"}, "channel": {"type": "string"},
     "address": _null("string", description="the citizen's number (SMS); null on the web app"),
     "incident": {"type": "string"}, "state": _STATE, "seat": _null("string"),
     "waiting_s": {"type": "number", "description": "since the first message"},
     "offer_left_s": _null("number", description="until the offer goes to another seat"),
     "messages": _array(_STAFF_MESSAGE)},
    ["id", "channel", "incident", "state", "seat", "messages"],
)  # fmt: skip
_CITIZEN_VIEW = _obj(
    {"id": {"type": "string"}, "incident": {"type": "string"}, "state": _STATE,
     "seat": _null("string"), "messages": _array(_MESSAGE)},
    ["id", "incident", "state", "seat", "messages"],
)  # fmt: skip
_TEXT_BODY = _obj({"text": _text(MESSAGE_TEXT, minLength=1)}, ["text"])
_SEQ = _obj({"seq": {"type": "integer", "minimum": 1}}, ["seq"])
_TOO_MANY = {429: ("too many messages to this conversation (Retry-After)", _ref("Error"))}

PATHS: dict[str, Any] = {
    "/api/texts": {
        "get": _op(
            "texts", "texts",
            "text conversations: the line (waiting and offered, oldest first) and those the "
            "caller's seat holds (a supervisor's: every taken one)",
            _obj({"seat": _null("string"), "waiting": _array(CONVERSATION),
                  "mine": _array(CONVERSATION)}, ["seat", "waiting", "mine"]),
        ),
    },
    "/api/texts/{conversation_id}": {
        "get": _op("text", "texts", "one conversation, every message", CONVERSATION,
                   errors=(400, 404), params=(_ID, _SINCE)),
    },
    "/api/texts/{conversation_id}/accept": {
        "post": _op(
            "text_accept", "texts",
            "take the conversation at the caller's seat (offered to it, or waiting); filed "
            "before the answer", CONVERSATION, errors=(404, 409), params=(_ID,),
        ),
    },
    "/api/texts/{conversation_id}/messages": {
        "post": _op(
            "text_reply", "texts",
            "reply (the seat must hold the conversation): filed, then sent through its channel "
            "(an SMS to the citizen's number at the gateway); 'delivery' says what became of it",
            _obj({"seq": {"type": "integer"},
                  "delivery": _obj({"ok": {"type": "boolean"}, "detail": {"type": "string"}},
                                   ["ok", "detail"])}, ["seq", "delivery"]),
            status=201, errors=(400, 404, 409), params=(_ID,), body=_TEXT_BODY,
            body_required=True,
        ),
    },
    "/api/texts/{conversation_id}/close": {
        "post": _op("text_close", "texts", "close the conversation (its incident stays open); "
                    "a call-taker accepts an offered one first (409)",
                    CONVERSATION, errors=(403, 404, 409), params=(_ID,)),
    },
    "/api/intake/conversations/{conversation_id}": {
        "get": _op(
            "citizen_conversation", "intake",
            "the citizen's page: the conversation's messages after 'since' and its state",
            _CITIZEN_VIEW, errors=(400, 401, 404), params=(_ID, _SINCE, _TOKEN),
        ),
    },
    "/api/intake/conversations/{conversation_id}/messages": {
        "post": _op(
            "citizen_message", "intake",
            "the citizen writes in the conversation: filed before the 201",
            _SEQ, status=201, errors=(400, 401, 404, 409), params=(_ID, _TOKEN),
            body=_TEXT_BODY, body_required=True, also=_TOO_MANY,
        ),
    },
}  # fmt: skip
OPEN = {
    ("/api/intake/conversations/{conversation_id}", "get"),
    ("/api/intake/conversations/{conversation_id}/messages", "post"),
}
