"""Incident numbers and NG911 identifiers (pure).

An incident number is `<city code>-<YYYYMMDD>-<6-digit sequence>`: the day is the city's local
date (a call at 00:30 local time belongs to that local day, not to yesterday in UTC), and the
sequence restarts every day. The store allocates the sequence atomically (`incidents.store`),
so numbers never repeat across restarts or many writers; this module only says what a number
looks like.

NG911 (NENA i3) identifiers link the record with SIP traces: a call carries
`urn:emergency:uid:callid:<unique>:<domain>` and an incident
`urn:emergency:uid:incidentid:<unique>:<domain>`, as they appear in a Call-Info header
(`purpose=emergency-CallId` / `purpose=emergency-IncidentId`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from zoneinfo import ZoneInfo

NUMBER = re.compile(r"^(?P<city>[A-Z0-9]{1,8})-(?P<day>\d{8})-(?P<seq>\d{6,})$")
_CITY = re.compile(r"^[A-Z0-9]{1,8}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def check_city(code: str) -> str:
    """A city code: 1-8 capital letters or digits (it starts every incident number)."""
    if not _CITY.match(code):
        raise ValueError(f"city code {code!r}: 1-8 capital letters or digits")
    return code


def local_day(when: float, tz: ZoneInfo) -> str:
    """YYYYMMDD of an epoch instant in the city's time zone."""
    return datetime.fromtimestamp(when, tz).strftime("%Y%m%d")


def incident_number(city: str, day: str, seq: int) -> str:
    if seq < 1:
        raise ValueError("sequences start at 1")
    return f"{city}-{day}-{seq:06d}"


def parse_number(number: str) -> tuple[str, str, int]:
    """(city, day, sequence) of a well-formed number; ValueError otherwise."""
    match = NUMBER.match(number)
    if match is None:
        raise ValueError(f"{number!r} is not an incident number (CITY-YYYYMMDD-NNNNNN)")
    return match["city"], match["day"], int(match["seq"])


def call_uid(sip_call_id: str, call_id: str, domain: str) -> str:
    """The NG911 call identifier of a call: stable for one SIP call (derived from its Call-ID
    and the engine's call id), so records and traces can be joined without a lookup table."""
    token = hashlib.sha256(f"{sip_call_id}\n{call_id}".encode()).hexdigest()[:32]
    return f"urn:emergency:uid:callid:{token}:{check_domain(domain)}"


def incident_uid(token: str, domain: str) -> str:
    return f"urn:emergency:uid:incidentid:{token}:{check_domain(domain)}"


def check_domain(domain: str) -> str:
    if not _DOMAIN.match(domain):
        raise ValueError(f"{domain!r} is not a domain name")
    return domain
