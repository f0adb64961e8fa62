"""Incident events as JSON messages shaped after NENA's EIDO, and the MQTT topics they go to (pure).

Theory of operation. The store appends every incident event together with an outbox row whose
payload is ``{"incident": <snapshot after the event>, "event": <the event>}``. `message` turns
one such row into the JSON object other agencies read; `topics` says where it is published.
Nothing here does I/O or reads a clock: the same row always gives the same message and topics.

The message is *shaped after* NENA's Emergency Incident Data Object (EIDO, NENA-STA-021, the
i3 JSON incident object): it has incident, location, agent, agency, dispatch and call parts
and reuses EIDO field names where one fits (``incidentTrackingIdentifier``,
``incidentTypeCommonRegistryText``, ``agentIdentification``, ``organizationIdentification``,
``lastUpdateTimeStamp`` ...). It is not an EIDO document and claims no conformance: EIDO
components are lists of objects with ``$id``/``$ref`` links and NIEM types, while this is
one flat event notification with our own envelope (``schema``, ``eventId``, ``eventType``,
``sequence``). ``schema`` carries `SCHEMA_VERSION`; a consumer checks it before reading on.

Delivery is at least once: a consumer keeps the highest ``sequence`` per ``incident.incidentNumber``
(or the set of ``eventId`` values) and drops what it has already seen.

Topics: ``<prefix>/<city>/<county>/<station>/incidents/<number>/<event kind>``, with
``unknown`` for a county or station that could not be resolved, plus
``<prefix>/<city>/command/incidents/<number>/<event kind>`` for a major or sensitive incident
(severity >= ``major_severity``, or the event's data says ``"major": true`` or
``"sensitive": true``). Every segment is sanitised: MQTT wildcards ``+`` and ``#``, the level
separator ``/`` and NUL become ``_``; an empty segment becomes ``unknown``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

SCHEMA_VERSION = "hotline110.incident-event/1"
UNKNOWN = "unknown"
MAJOR_SEVERITY = 4
"""Default: severity at or above this also goes to the city command topic."""

_DISPATCH_KINDS = ("dispatch-", "officer-")
_AGENT_ROLES = {
    "seat": "Call Taking",
    "officer": "Responder",
    "dispatcher": "Dispatching",
    "station": "Station",
    "system": "System",
}


class Row(Protocol):
    """What `message` and `topics` read of an outbox row (incidents.store.OutboxRow has it)."""

    @property
    def number(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def payload(self) -> dict[str, Any]: ...


def message(row: Row, *, city: str = "") -> dict[str, Any]:
    """The JSON object published for one outbox row (see the module docstring)."""
    incident = _part(row.payload, "incident")
    event = _part(row.payload, "event")
    data = _part(event, "data")
    actor = str(event.get("actor") or "system")
    return {
        "schema": SCHEMA_VERSION,
        "eventId": f"{row.number}:{row.seq}",
        "eventType": row.kind,
        "sequence": row.seq,
        "at": row.at,
        "lastUpdateTimeStamp": timestamp(row.at),
        "incident": _incident(row, incident),
        "location": _location(incident),
        "agent": {
            "agentIdentification": actor,
            "agentRoleRegistryText": _AGENT_ROLES.get(actor.split(":", 1)[0], "Other"),
        },
        "agency": _agency(incident, city),
        "dispatch": _dispatch(row.kind, data, incident),
        "call": _call(incident),
        "recordings": [_recording(r) for r in _list(incident.get("recordings"))],
        "data": data,
    }


def topics(prefix: str, city: str, row: Row, *, major_severity: int = MAJOR_SEVERITY) -> list[str]:
    """The topics one row is published to: its station's, and the command topic if major."""
    incident = _part(row.payload, "incident")
    number, kind = segment(row.number), segment(row.kind)
    county, station = segment(incident.get("county")), segment(incident.get("station"))
    found = [f"{prefix}/{segment(city)}/{county}/{station}/incidents/{number}/{kind}"]
    if is_major(row, major_severity=major_severity):
        found.append(f"{prefix}/{segment(city)}/command/incidents/{number}/{kind}")
    extra = _part(_part(row.payload, "event"), "data").get("push_topic")
    if isinstance(extra, str) and extra and not set(extra) & {"+", "#", "\0"}:
        found.append(extra)  # an agency's own intake topic (the anti-fraud centre's)
    return found


def is_major(row: Row, *, major_severity: int = MAJOR_SEVERITY) -> bool:
    """Severity at or above `major_severity`, or an event that flags itself major/sensitive."""
    incident = _part(row.payload, "incident")
    data = _part(_part(row.payload, "event"), "data")
    if data.get("major") is True or data.get("sensitive") is True:
        return True
    severity = _int(incident.get("severity"))
    return severity is not None and severity >= major_severity


def segment(value: object) -> str:
    """One topic level: no wildcard, separator or NUL; `unknown` when empty or None."""
    text = "" if value is None else str(value)
    for char in "+#/\x00":
        text = text.replace(char, "_")
    return text or UNKNOWN


def timestamp(epoch: object) -> str:
    """ISO 8601 UTC with milliseconds, as EIDO writes its time stamps ('...T18:40:04.337Z')."""
    try:
        when = datetime.fromtimestamp(float(epoch), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# ---- the parts -----------------------------------------------------------------------------


def _incident(row: Row, incident: Mapping[str, Any]) -> dict[str, Any]:
    opened_at = incident.get("opened_at")
    updated_at = incident.get("updated_at", row.at)
    return {
        "incidentTrackingIdentifier": incident.get("ng911_incident_uid") or "",
        "incidentNumber": row.number,
        "incidentStatusInternalText": incident.get("status") or "",
        "incidentTypeCommonRegistryText": incident.get("category") or "",
        "incidentTypeInternalText": incident.get("type") or "",
        "incidentCommonPriorityNumber": _int(incident.get("severity")) or 0,
        "summary": incident.get("summary") or "",
        "source": incident.get("source") or "",
        "channel": incident.get("channel") or "",
        "createdAt": timestamp(opened_at) if _number(opened_at) else "",
        "openedAt": opened_at,
        "lastUpdateTimeStamp": timestamp(updated_at) if _number(updated_at) else "",
    }


def _location(incident: Mapping[str, Any]) -> dict[str, Any]:
    raw = incident.get("location")
    where = raw if isinstance(raw, Mapping) else {}
    lat, lon = where.get("lat"), where.get("lon")
    known = _number(lat) and _number(lon)
    part: dict[str, Any] = {
        "known": bool(known or where.get("civic")),
        "locationTypeDescriptionRegistryText": "Caller" if known else UNKNOWN,
        "grid": incident.get("grid") or UNKNOWN,
        "station": incident.get("station") or UNKNOWN,
        "county": incident.get("county") or UNKNOWN,
    }
    if known:
        part.update(lat=lat, lon=lon)
        if _number(where.get("radius_m")):
            part["radiusMeters"] = where["radius_m"]
    for key, name in (("civic", "civicAddressText"), ("method", "method"), ("source", "source")):
        if where.get(key):
            part[name] = where[key]
    if incident.get("location_error"):
        part["error"] = incident["location_error"]
    return part


def _agency(incident: Mapping[str, Any], city: str) -> dict[str, Any]:
    station, county = incident.get("station"), incident.get("county")
    return {
        "organizationIdentification": city or UNKNOWN,
        "agencyType": "police",
        "county": county or UNKNOWN,
        "station": station or UNKNOWN,
        # The station of the location owns the incident; without one, the city centre does.
        "incidentOwningAgencyIdentifier": f"{city}/{county}/{station}"
        if station and county
        else (city or UNKNOWN),
    }


def _dispatch(kind: str, data: Mapping[str, Any], incident: Mapping[str, Any]) -> dict[str, Any]:
    """Who was asked to go and how it went: only for dispatch and officer events."""
    if not kind.startswith(_DISPATCH_KINDS):
        return {}
    part: dict[str, Any] = {
        "dispatchEvent": kind,
        "organizationIdentification": incident.get("station") or UNKNOWN,
    }
    for key, name in (
        ("how", "how"),
        ("targets", "targets"),
        ("step", "attempt"),
        ("target", "target"),
        ("kind", "targetKind"),
        ("outcome", "outcome"),
        ("status", "status"),
        ("reason", "reason"),
        ("officer_id", "officer"),
        ("seconds", "bridgedSeconds"),
    ):
        if key in data:
            part[name] = data[key]
    return part


def _call(incident: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "callIdentifier": incident.get("ng911_call_uid") or "",
        "callId": incident.get("call_id") or "",
        "caller": incident.get("caller") or "",
        "channel": incident.get("channel") or "",
    }


def _recording(recording: object) -> dict[str, Any]:
    if not isinstance(recording, Mapping):
        return {"path": str(recording)}
    keys = ("path", "sha256", "size", "seconds", "call_id")
    return {key: recording[key] for key in keys if key in recording}


# ---- tolerant readers: a malformed snapshot still gives a message ---------------------------


def _part(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError, OverflowError):
        return None
