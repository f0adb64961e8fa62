"""The incident record's types: what opens an incident, the incident as stored, one event of
its audit trail, one outbox row; and the store's error (`incidents.store` is the API)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Sql = tuple[str, tuple[Any, ...]]
Tx = Generator[Sql, Rows, T]
"""A transaction: yields statements, receives their rows, returns its result."""
Targets = Sequence[str]
MQTT: Targets = ("mqtt",)

STATUSES = frozenset({"open", "classified", "dispatched", "transferred", "closed"})
PATCHABLE = frozenset(
    {"status", "category", "type", "severity", "summary", "location", "location_error"}
    | {"grid", "station", "county"}
)


class StoreError(Exception):
    """A request the store cannot serve; `status_hint` is the HTTP status a shell answers."""

    def __init__(self, message: str, status_hint: int = 500) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True, kw_only=True)
class NewIncident:
    """What opens an incident (the 'opened' event carries all of it)."""

    source: str  # 'phone' | 'webrtc' | 'text' | 'walk-in' | 'tip'
    channel: str  # e.g. 'sip-trunk:carrier', 'rest'
    caller: str  # number, or '' when anonymous
    opened_at: float  # epoch seconds
    call_id: str = ""  # the engine's call id ('' for non-calls)
    ng911_call_uid: str = ""  # urn:emergency:uid:callid:...
    location: dict[str, Any] | None = None  # {lat, lon, radius_m, method, source, grid, ...}
    location_error: str = ""
    category: str = ""
    type: str = ""
    severity: int = 0
    summary: str = ""
    actor: str = "system"  # who opened it (the 'opened' event's actor)
    attachments: tuple[dict[str, Any], ...] = ()  # pictures sent with it (path, sha256, ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """The record as stored: its latest state."""

    number: str
    ng911_incident_uid: str
    source: str
    channel: str
    caller: str
    call_id: str
    ng911_call_uid: str
    opened_at: float
    status: str  # 'open' | 'classified' | 'dispatched' | 'transferred' | 'closed'
    location: dict[str, Any] | None
    location_error: str
    grid: str | None
    station: str | None
    county: str | None
    category: str
    type: str
    severity: int
    summary: str
    updated_at: float  # `at` of the latest event
    recordings: list[dict[str, Any]]  # {path, sha256, size, seconds, call_id}


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentEvent:
    """One entry of an incident's audit trail."""

    number: str
    seq: int  # 1.. per incident, gap-free, in append order
    kind: str  # 'opened', 'classified', 'recording', 'note', ...
    actor: str  # 'system', 'seat:seat7', 'officer:O07', a user name
    at: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One event waiting for (or done with) delivery to `target`."""

    id: int  # global append order (per incident, ids follow seq)
    number: str
    seq: int
    kind: str
    at: float
    payload: dict[str, Any]  # {"incident": snapshot after the event, "event": the event}
    attempts: int
    last_error: str
    target: str  # 'mqtt' by default
    state: str  # 'pending' | 'sent' | 'dead'
