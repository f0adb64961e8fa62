"""Engine -> pool member: the commands of the message set (see `sip.messages`, which names
every message, encodes and decodes them)."""

from __future__ import annotations

from dataclasses import dataclass

from sip.message_base import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class RingSeat(Message):
    """Call a seat's phone; the caller hears ringing (180) while it rings."""

    seat_id: str
    """The seat."""
    uri: str
    """SIP URI of the seat (sent through the front)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSeat(Message):
    """Stop ringing (CANCEL) or hang up (BYE) a seat leg."""

    seat_id: str
    """The seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSeat(Message):
    """Say whether the leg to this seat is still connected (answered with SeatChecked)."""

    seat_id: str
    """The seat the engine believes is talking on this call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce(Message):
    """Answer the caller and play the queue announcement until a seat is connected."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Message):
    """Answer the caller if needed and bridge caller and seat audio both ways."""

    seat_id: str
    """The seat that answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUp(Message):
    """End the call: refuse it with `status` if unanswered, else BYE every leg."""

    status: int = 503
    """Final status for an unanswered caller."""
    reason: str = ""
    """Reason phrase."""
    retry_after: int = 0
    """Retry-After seconds on a refusal (0 = no header)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialOfficer(Message):
    """Call an officer (or a unit's duty phone) and join them to the call's conference."""

    target: str
    """The engine's name for this attempt (e.g. 'o17', 'unit:U3'); unique within the call."""
    uri: str
    """SIP URI to call (through the front: the trunk or a gateway)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOfficer(Message):
    """Stop ringing (CANCEL) or hang up (BYE) an officer leg."""

    target: str
    """The target."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialAgency(Message):
    """Call an agency's desk and join it to the call's conference."""

    agency: str
    """The engine's name for the agency ('anti-fraud', '12345'); one leg per agency."""
    uri: str
    """SIP URI of the desk."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAgency(Message):
    """Stop ringing (CANCEL) or hang up (BYE) an agency's desk leg."""

    agency: str
    """The agency."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveSeat(Message):
    """The call-taker leaves the conference: their leg ends, caller and guests stay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejoinSeat(Message):
    """Call the seat again and join it to the conference."""

    seat_id: str
    """The seat."""
    uri: str
    """SIP URI of the seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MuteSeat(Message):
    """The call-taker's audio is (not) heard by the others (the call-taker still hears)."""

    muted: bool
    """True: mute; False: unmute."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldCaller(Message):
    """The caller hears the hold announcement and is not heard (True), or is back (False)."""

    held: bool
    """True: hold; False: unhold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened(Message):
    """The call's incident exists: legs placed from now on carry its NG911 identifier."""

    number: str
    """The incident number."""
    incident_uid: str
    """urn:emergency:uid:incidentid:... (NENA i3), sent in Call-Info."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop(Message):
    """Shut down (idle member no longer needed, or engine exit): hang up and exit."""
