"""The legs of one call's conference (`conference.bridge`): their names, kinds and states.

A leg is named by its kind and party: 'caller', 'seat:<seat id>', and the guests the engine dials
in, 'officer:<target>' and 'agency:<agency>'. pjsua2 allows MAX_LEGS of them at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

CALLER = "caller"
MAX_LEGS = 4
"""The installable pjsua2 allows 4 call legs per process (sip.pjendpoint.MAX_LEGS)."""


def seat_leg(seat_id: str) -> str:
    """Leg name of a seat."""
    return f"seat:{seat_id}"


def officer_leg(target: str) -> str:
    """Leg name of an officer (or duty phone) attempt."""
    return f"officer:{target}"


def agency_leg(agency: str) -> str:
    """Leg name of an agency's desk (the anti-fraud centre, the 12345 hotline)."""
    return f"agency:{agency}"


OFFICER, AGENCY = "officer", "agency"
GUESTS = (OFFICER, AGENCY)
"""Kinds of guest leg: one of each may be in the conference (with caller and seat: 4 legs)."""


def guest_kind(leg_name: str) -> str | None:
    """'officer' or 'agency' for a guest's leg, None for the caller and seats."""
    kind = leg_name.split(":", 1)[0]
    return kind if kind in GUESTS else None


class LegState(enum.Enum):
    OFFERED = "offered"  # incoming, not yet answered
    DIALING = "dialing"  # outgoing, no provisional response yet
    RINGING = "ringing"  # outgoing, 180/183 received
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(slots=True)
class Leg:
    """What the bridge knows of one leg."""

    state: LegState
    media: bool = False
    ours: bool = False  # we asked for this leg to end: its end is expected, not news
    rejoin: bool = False  # a seat leg placed to bring a call-taker back into the conference
    waiting: bool = False  # a guest leg to place as soon as an ending leg frees its slot
    uri: str = ""


def seat_id_of(leg_name: str) -> str:
    """The party part of a seat or guest leg's name (inverse of seat_leg, officer_leg,
    agency_leg)."""
    return leg_name.split(":", 1)[1]
