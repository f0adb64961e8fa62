"""incidents.eido: the message shape, the topics (command topic, sanitising, unknown places)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from incidents import eido
from incidents.relay import encode

UID = "urn:emergency:uid:incidentid:4f2a:hotline110.example"
CALL_UID = "urn:emergency:uid:callid:9c1e:hotline110.example"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    number: str = "BJ-20250301-000042"
    seq: int = 3
    kind: str = "classified"
    at: float = 1740800000.25
    payload: dict[str, Any] = field(default_factory=dict)


def snapshot(**changes: Any) -> dict[str, Any]:
    incident = {
        "number": "BJ-20250301-000042",
        "ng911_incident_uid": UID,
        "source": "phone",
        "channel": "sip-trunk:carrier",
        "caller": "13800000001",
        "call_id": "c-17",
        "ng911_call_uid": CALL_UID,
        "opened_at": 1740799990.0,
        "status": "classified",
        "location": {
            "lat": 39.9042,
            "lon": 116.4074,
            "radius_m": 30.0,
            "method": "GPS",
            "source": "pidf-lo",
            "civic": "CN Beijing Dongcheng 1",
            "grid": "g-12-7",
            "station": "dongcheng-3",
            "county": "dongcheng",
        },
        "location_error": "",
        "grid": "g-12-7",
        "station": "dongcheng-3",
        "county": "dongcheng",
        "category": "police",
        "type": "robbery",
        "severity": 3,
        "summary": "bag snatched",
        "updated_at": 1740800000.25,
        "recordings": [
            {"path": "/rec/c-17.wav", "sha256": "ab", "size": 10, "seconds": 1.5, "call_id": "c-17"}
        ],
    }
    incident.update(changes)
    return incident


def row(
    incident: dict[str, Any] | None = None,
    *,
    kind: str = "classified",
    actor: str = "seat:seat7",
    data: dict[str, Any] | None = None,
    seq: int = 3,
) -> Row:
    event = {
        "number": "BJ-20250301-000042",
        "seq": seq,
        "kind": kind,
        "actor": actor,
        "at": 1740800000.25,
        "data": data if data is not None else {"category": "police"},
    }
    return Row(seq=seq, kind=kind, payload={"incident": incident or snapshot(), "event": event})


def test_message_has_the_whole_shape() -> None:
    body = eido.message(row(), city="BJ")
    assert body == {
        "schema": "hotline110.incident-event/1",
        "eventId": "BJ-20250301-000042:3",
        "eventType": "classified",
        "sequence": 3,
        "at": 1740800000.25,
        "lastUpdateTimeStamp": "2025-03-01T03:33:20.250Z",
        "incident": {
            "incidentTrackingIdentifier": UID,
            "incidentNumber": "BJ-20250301-000042",
            "incidentStatusInternalText": "classified",
            "incidentTypeCommonRegistryText": "police",
            "incidentTypeInternalText": "robbery",
            "incidentCommonPriorityNumber": 3,
            "summary": "bag snatched",
            "source": "phone",
            "channel": "sip-trunk:carrier",
            "createdAt": "2025-03-01T03:33:10.000Z",
            "openedAt": 1740799990.0,
            "lastUpdateTimeStamp": "2025-03-01T03:33:20.250Z",
        },
        "location": {
            "known": True,
            "locationTypeDescriptionRegistryText": "Caller",
            "grid": "g-12-7",
            "station": "dongcheng-3",
            "county": "dongcheng",
            "lat": 39.9042,
            "lon": 116.4074,
            "radiusMeters": 30.0,
            "civicAddressText": "CN Beijing Dongcheng 1",
            "method": "GPS",
            "source": "pidf-lo",
        },
        "agent": {"agentIdentification": "seat:seat7", "agentRoleRegistryText": "Call Taking"},
        "agency": {
            "organizationIdentification": "BJ",
            "agencyType": "police",
            "county": "dongcheng",
            "station": "dongcheng-3",
            "incidentOwningAgencyIdentifier": "BJ/dongcheng/dongcheng-3",
        },
        "dispatch": {},
        "call": {
            "callIdentifier": CALL_UID,
            "callId": "c-17",
            "caller": "13800000001",
            "channel": "sip-trunk:carrier",
        },
        "recordings": [
            {"path": "/rec/c-17.wav", "sha256": "ab", "size": 10, "seconds": 1.5, "call_id": "c-17"}
        ],
        "data": {"category": "police"},
    }
    assert json.loads(encode(body)) == body


def test_dispatch_part_only_for_dispatch_events() -> None:
    data = {"step": 2, "target": "O07", "kind": "officer", "outcome": "answered"}
    body = eido.message(row(kind="dispatch-attempt", actor="system", data=data), city="BJ")
    assert body["dispatch"] == {
        "dispatchEvent": "dispatch-attempt",
        "organizationIdentification": "dongcheng-3",
        "attempt": 2,
        "target": "O07",
        "targetKind": "officer",
        "outcome": "answered",
    }
    assert body["agent"] == {"agentIdentification": "system", "agentRoleRegistryText": "System"}
    bridged = eido.message(row(kind="dispatch-bridged", data={"target": "O07", "seconds": 4.2}))
    assert bridged["dispatch"]["bridgedSeconds"] == 4.2
    assert eido.message(row(kind="note", data={"text": "x"}))["dispatch"] == {}


def test_unknown_location_is_said_so() -> None:
    incident = snapshot(
        location=None, grid=None, station=None, county=None, location_error="bad PIDF-LO"
    )
    body = eido.message(row(incident), city="BJ")
    assert body["location"] == {
        "known": False,
        "locationTypeDescriptionRegistryText": "unknown",
        "grid": "unknown",
        "station": "unknown",
        "county": "unknown",
        "error": "bad PIDF-LO",
    }
    assert body["agency"]["incidentOwningAgencyIdentifier"] == "BJ"
    assert eido.topics("hotline110", "BJ", row(incident)) == [
        "hotline110/BJ/unknown/unknown/incidents/BJ-20250301-000042/classified"
    ]


def test_civic_only_location_is_known_without_coordinates() -> None:
    incident = snapshot(location={"civic": "Main St 1", "source": "call-taker"})
    location = eido.message(row(incident))["location"]
    assert location["known"] is True
    assert "lat" not in location
    assert location["civicAddressText"] == "Main St 1"


def test_malformed_snapshot_still_gives_a_message() -> None:
    bad = Row(payload={"incident": "not a dict", "event": None})
    body = eido.message(bad)
    assert body["eventId"] == "BJ-20250301-000042:3"
    assert body["incident"]["incidentCommonPriorityNumber"] == 0
    assert body["location"]["known"] is False
    assert body["agent"]["agentIdentification"] == "system"
    assert eido.topics("p", "BJ", bad) == [
        "p/BJ/unknown/unknown/incidents/BJ-20250301-000042/classified"
    ]


def test_station_topic_for_an_ordinary_incident() -> None:
    assert eido.topics("hotline110", "BJ", row()) == [
        "hotline110/BJ/dongcheng/dongcheng-3/incidents/BJ-20250301-000042/classified"
    ]


@pytest.mark.parametrize(
    ("severity", "data", "major"),
    [
        (3, {}, False),
        (4, {}, True),
        (5, {}, True),
        ("4", {}, True),  # a string from a hand-made payload still counts
        (None, {}, False),
        (1, {"major": True}, True),
        (1, {"sensitive": True}, True),
        (1, {"major": "yes"}, False),  # only a JSON true flags it
    ],
)
def test_command_topic_for_major_or_sensitive(
    severity: Any, data: dict[str, Any], major: bool
) -> None:
    found = eido.topics("hotline110", "BJ", row(snapshot(severity=severity), data=data))
    command = "hotline110/BJ/command/incidents/BJ-20250301-000042/classified"
    assert (command in found) is major
    assert found[0].startswith("hotline110/BJ/dongcheng/dongcheng-3/")


def test_major_severity_is_a_parameter() -> None:
    r = row(snapshot(severity=3))
    assert len(eido.topics("p", "BJ", r, major_severity=3)) == 2
    assert len(eido.topics("p", "BJ", r, major_severity=4)) == 1


def test_segments_are_sanitised() -> None:
    incident = snapshot(county="a/b", station="st+#1", severity=9)
    found = eido.topics("p", "B/J", Row(kind="dispatch/x+", payload={"incident": incident}))
    assert found == [
        "p/B_J/a_b/st__1/incidents/BJ-20250301-000042/dispatch_x_",
        "p/B_J/command/incidents/BJ-20250301-000042/dispatch_x_",
    ]
    for topic in found:
        assert "+" not in topic and "#" not in topic
    assert [len(topic.split("/")) for topic in found] == [7, 6]
    assert eido.segment("") == "unknown"
    assert eido.segment(None) == "unknown"
    assert eido.segment("a\x00b") == "a_b"


def test_timestamp() -> None:
    assert eido.timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert eido.timestamp(1.9999) == "1970-01-01T00:00:01.999Z"
    assert eido.timestamp("x") == ""
    assert eido.timestamp(float("nan")) == ""


def test_encode_turns_nan_into_null_and_refuses_objects() -> None:
    assert json.loads(encode({"a": float("nan"), "b": [float("inf"), 1.0]})) == {
        "a": None,
        "b": [None, 1.0],
    }
    with pytest.raises(TypeError):
        encode({"a": object()})


def test_an_agency_push_topic_is_added_and_never_a_wildcard() -> None:
    data = {"push_topic": "hotline110/anti-fraud/cases", "major": True, "accounts": ["6222"]}
    assert eido.topics(
        "hotline110", "BJ", row(snapshot(severity=1), kind="anti-fraud-push", data=data)
    ) == [
        "hotline110/BJ/dongcheng/dongcheng-3/incidents/BJ-20250301-000042/anti-fraud-push",
        "hotline110/BJ/command/incidents/BJ-20250301-000042/anti-fraud-push",
        "hotline110/anti-fraud/cases",
    ]
    bad = {"push_topic": "hotline110/#"}
    assert eido.topics("hotline110", "BJ", row(snapshot(severity=1), data=bad)) == [
        "hotline110/BJ/dongcheng/dongcheng-3/incidents/BJ-20250301-000042/classified"
    ]
