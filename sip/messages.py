"""The one small, typed message set between the engine and its pool members.

Each pool member is a process that owns one emergency call. It tells the engine what happened
(events, past tense) and the engine tells it what to do (commands, imperative). Messages cross
a Unix stream socket as one JSON object per line: `{"type": "<ClassName>", ...fields}`.
Nothing pjsua2-specific crosses: only strings, numbers and plain dicts.

The events are defined here, the commands in `sip.commands`; this module names them all (the
engine and the members use `msg.<Name>` for both) and encodes and decodes them.

Times (`at`) are `time.monotonic()` readings; on Linux that clock is shared by every process of
the host, so engine and member times compare directly.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Final

from sip.commands import (
    Announce as Announce,
    CancelAgency as CancelAgency,
    CancelOfficer as CancelOfficer,
    CancelSeat as CancelSeat,
    CheckSeat as CheckSeat,
    Connect as Connect,
    DialAgency as DialAgency,
    DialOfficer as DialOfficer,
    HangUp as HangUp,
    HoldCaller as HoldCaller,
    IncidentOpened as IncidentOpened,
    LeaveSeat as LeaveSeat,
    MuteSeat as MuteSeat,
    RejoinSeat as RejoinSeat,
    RingSeat as RingSeat,
    Stop as Stop,
)
from sip.message_base import Message as Message, MessageError as MessageError
from sip.webmessages import (
    WEB_COMMANDS,
    WEB_EVENTS,
    SnapshotTaken as SnapshotTaken,
    TakeSnapshot as TakeSnapshot,
    VideoAnswered as VideoAnswered,
    VideoRecorded as VideoRecorded,
    VideoRefused as VideoRefused,
    WatchVideo as WatchVideo,
    WebAnswered as WebAnswered,
    WebCancel as WebCancel,
    WebHangUp as WebHangUp,
    WebOffer as WebOffer,
    WebRefused as WebRefused,
    WebReleased as WebReleased,
)

# -- member -> engine ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberReady(Message):
    """The member's user agent is up and idle: it may be given a call."""

    member_id: int
    """Engine-assigned id of this member process (unique for the engine's lifetime)."""
    slot: int
    """The pool slot (fixed SIP port) the member serves."""
    pid: int
    """Operating-system process id."""
    at: float
    """When the user agent became ready."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(Message):
    """A trunk INVITE reached this member (100 Trying already sent)."""

    call_id: str
    """Engine-wide call id (derived from the member id: one call per member)."""
    at: float
    """When the trunk (the front) received the INVITE; the member's receive time if unknown."""
    received_at: float
    """When the member received the INVITE."""
    caller: str
    """Calling number: user part of P-Asserted-Identity, else of From."""
    caller_name: str
    """Display name of the caller, when given."""
    called: str
    """Called number (Request-URI user), e.g. 110."""
    pai: str
    """The P-Asserted-Identity header value as received ('' when absent)."""
    sip_call_id: str
    """Call-ID of the trunk leg, to link the record with SIP traces."""
    trunk: str
    """Name of the trunk the call came in on."""
    location: dict[str, Any] | None = None
    """Caller location from Geolocation / PIDF-LO: lat, lon, radius_m, civic, method, source."""
    location_error: str = ""
    """Why a location that was announced could not be used ('' when fine or absent)."""
    skills: list[str] = dataclasses.field(default_factory=list)
    """What the call asks of its call-taker: 'video', 'lang:<tag>' (sip.wants)."""
    channel: str = ""
    """'' for a trunk call; 'webrtc' for a caller from the 110 web app."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRefused(Message):
    """The member refused a trunk INVITE itself, before offering it (e.g. media not allowed)."""

    at: float
    """When it was refused."""
    status: int
    """The final response sent (e.g. 488)."""
    reason: str
    """Why, as a short machine-readable word for metrics and logs."""
    caller: str
    """Calling number, as far as it could be read."""
    trunk: str
    """Name of the trunk."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatRinging(Message):
    """The seat's phone is ringing (180/183 on the seat leg)."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    at: float
    """When the provisional response arrived."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatAnswered(Message):
    """The seat leg was answered (200 OK)."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    at: float
    """When the 200 OK arrived."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatFailed(Message):
    """The seat leg ended before being answered, or could not be started."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    status: int
    """Final SIP status of the leg (0 if none was received)."""
    reason: str
    """Reason phrase or local error."""
    at: float
    """When it ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatLeft(Message):
    """A connected seat leg ended (the call-taker hung up, or the leg broke)."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    status: int
    """Last SIP status seen on the leg."""
    reason: str
    """Why it ended."""
    at: float
    """When it ended."""
    call_goes_on: bool = False
    """True when the caller stays connected with the officer (the call-taker left the
    conference); False when the seat's hang-up ended the call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatRejoined(Message):
    """A call-taker who had left is back in the call's conference (RejoinSeat answered)."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    at: float
    """When the seat answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatRejoinFailed(Message):
    """RejoinSeat's leg ended before it was answered (or could not be placed)."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat."""
    status: int
    """Final SIP status of the leg (0 if none)."""
    reason: str
    """Reason phrase or local error."""
    at: float
    """When it ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerRinging(Message):
    """The officer's phone is ringing (180/183 on the officer leg)."""

    call_id: str
    """The call."""
    target: str
    """The engine's name for this attempt's target (officer or unit duty phone)."""
    at: float
    """When the provisional response arrived."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerAnswered(Message):
    """The officer leg was answered (200 OK); audio is linked as soon as media is up."""

    call_id: str
    """The call."""
    target: str
    """The target that answered."""
    at: float
    """When the 200 OK arrived."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerBridged(Message):
    """The officer's audio is linked with the caller's: caller and officer talk."""

    call_id: str
    """The call."""
    target: str
    """The target bridged."""
    at: float
    """When the audio was linked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerFailed(Message):
    """The officer leg ended before it was answered (busy, rejected, unreachable), or could not
    be placed."""

    call_id: str
    """The call."""
    target: str
    """The target."""
    status: int
    """Final SIP status (0 when the leg could not be placed or no response came)."""
    reason: str
    """Reason phrase or local error."""
    at: float
    """When it ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerLeft(Message):
    """A bridged officer leg ended (the officer hung up, or the leg broke)."""

    call_id: str
    """The call."""
    target: str
    """The target."""
    status: int
    """Last SIP status seen on the leg."""
    reason: str
    """Why it ended."""
    at: float
    """When it ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgencyLeg(Message):
    """An agency's desk leg (the anti-fraud centre's, the 12345 hotline's) changed state:
    'ringing' (180/183), 'answered' (200 OK), 'bridged' (its audio is linked with the
    caller's), 'failed' (ended before it was answered, or could not be placed), 'left' (it
    ended after it was bridged: the desk hung up, or the leg broke)."""

    call_id: str
    """The call."""
    agency: str
    """The agency, as the engine named it ('anti-fraud', '12345')."""
    state: str
    """'ringing', 'answered', 'bridged', 'failed' or 'left'."""
    status: int = 0
    """Final SIP status for 'failed' and 'left' (0 when none came or the leg was not placed)."""
    reason: str = ""
    """Reason phrase or local error for 'failed' and 'left'."""
    at: float
    """When it happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingDone(Message):
    """The call's recording is closed and complete."""

    call_id: str
    """The call."""
    path: str
    """Absolute path of the WAV file."""
    sha256: str
    """Hex SHA-256 of the file as closed."""
    size: int
    """File size in bytes."""
    seconds: float
    """Audio duration in the file."""
    at: float
    """When it was closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFailed(Message):
    """The recording could not be written (fully); the call itself goes on untouched."""

    call_id: str
    """The call."""
    path: str
    """The WAV file ('' when none could be opened)."""
    reason: str
    """What went wrong (disk full, write error, ...)."""
    at: float
    """When it was noticed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatLost(Message):
    """The connected seat leg broke (no RTP from the seat phone, a SIP error); the caller is
    still on the line, hears the announcement again and waits for another seat."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat whose leg broke."""
    reason: str
    """What broke."""
    at: float
    """When it was noticed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatChecked(Message):
    """Answer to CheckSeat."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat asked about."""
    alive: bool
    """True when this member holds a connected leg to that seat."""
    at: float
    """When the member looked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerAnswered(Message):
    """The member answered the caller (200 OK sent)."""

    call_id: str
    """The call."""
    at: float
    """When the 200 OK was sent."""
    announcement: bool
    """True when answered to play the queue announcement, False when answered for a seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegDialog(Message):
    """SIP Call-ID of a leg, so the front can end its dialog if this member dies."""

    call_id: str
    """The call."""
    leg: str
    """'caller' or 'seat:<id>'."""
    sip_call_id: str
    """Call-ID of the leg (the front tracks every leg's dialog by it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegStats(Message):
    """RTP statistics of a leg, sent once when the leg ends."""

    call_id: str
    """The call."""
    leg: str
    """'caller' or 'seat:<id>'."""
    codec: str
    """Negotiated codec, e.g. 'PCMU/8000'."""
    rx_packets: int
    """RTP packets received."""
    tx_packets: int
    """RTP packets sent."""
    rx_lost: int
    """RTP packets lost on receive."""
    rx_jitter_ms: float
    """Mean receive jitter in ms."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Message):
    """Every leg of the call is gone; the member will exit and be replaced."""

    call_id: str
    """The call."""
    at: float
    """When the last leg ended."""
    ended_by: str
    """'caller', 'seat', 'officer' or 'engine'."""
    status: int
    """Final status of the caller leg (200 for a normal end, else the refusal/error code)."""
    reason: str
    """Why the call ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberFault(Message):
    """The member hit an error it survived (e.g. a command for a leg that does not exist)."""

    message: str
    """What happened."""


MEMBER_EVENTS: Final = (
    MemberReady,
    CallOffered,
    CallRefused,
    SeatRinging,
    SeatAnswered,
    SeatFailed,
    SeatLeft,
    SeatRejoined,
    SeatRejoinFailed,
    OfficerRinging,
    OfficerAnswered,
    OfficerBridged,
    OfficerFailed,
    OfficerLeft,
    AgencyLeg,
    RecordingDone,
    RecordingFailed,
    SeatLost,
    SeatChecked,
    CallerAnswered,
    LegDialog,
    LegStats,
    CallEnded,
    MemberFault,
)
ENGINE_COMMANDS: Final = (
    RingSeat,
    CancelSeat,
    CheckSeat,
    Announce,
    Connect,
    HangUp,
    DialOfficer,
    CancelOfficer,
    DialAgency,
    CancelAgency,
    LeaveSeat,
    RejoinSeat,
    MuteSeat,
    HoldCaller,
    IncidentOpened,
    Stop,
)
_BY_NAME: Final[dict[str, type[Message]]] = {
    cls.__name__: cls
    for cls in (*MEMBER_EVENTS, *ENGINE_COMMANDS, *WEB_EVENTS, *WEB_COMMANDS, WebCancel)
}
MAX_LINE: Final = 64 * 1024
"""No message is near this; a longer line means a broken peer."""


def encode(message: Message) -> bytes:
    """One message as one JSON line."""
    body: dict[str, Any] = {"type": type(message).__name__}
    body.update(dataclasses.asdict(message))
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """Parse one JSON line; raise MessageError on anything that is not a known message."""
    if len(line) > MAX_LINE:
        raise MessageError("message too long")
    try:
        body = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError("not a JSON object")
    cls = _BY_NAME.get(str(body.pop("type", "")))
    if cls is None:
        raise MessageError("unknown message type")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(body) - names:
        raise MessageError(f"unknown fields for {cls.__name__}: {sorted(set(body) - names)}")
    try:
        return cls(**body)
    except TypeError as exc:
        raise MessageError(f"bad fields for {cls.__name__}: {exc}") from None
