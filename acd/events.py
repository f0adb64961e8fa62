"""What goes into the ACD core (events, past tense) and what comes out (actions, imperative).

Every event carries `at`, a monotonic time in seconds taken where the fact happened (the pool
member's clock for SIP facts, the HTTP handler's for agent requests). The core never reads a
clock: the same sequence of events with the same times always gives the same actions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdEvent:
    """Base of every input to the distributor."""

    at: float
    """Monotonic time (s) at which the fact happened."""


# -- agents (requests from the REST API, already authenticated) ---------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedIn(AcdEvent):
    """An agent signed in at a seat; the seat becomes not-ready("logged-in")."""

    seat_id: str
    """The seat (a configured position with a SIP contact)."""
    agent_id: str
    """The person now working at the seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedOut(AcdEvent):
    """The agent signed out; deferred until the seat's current call and wrap-up end."""

    seat_id: str
    """The seat being signed out."""
    forced: bool = False
    """By a supervisor: a seat that is only ringing is withdrawn at once (its call goes to
    another seat); a call in progress is never cut, the logout waits for its end."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentWentReady(AcdEvent):
    """The agent is ready for calls (also ends wrap-up early)."""

    seat_id: str
    """The seat going ready."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentWentNotReady(AcdEvent):
    """The agent paused; deferred until the seat's current call and wrap-up end."""

    seat_id: str
    """The seat pausing."""
    reason: str
    """Why (shown to supervisors and kept in the seat's history)."""
    forced: bool = False
    """By a supervisor (see AgentLoggedOut.forced)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatSkillsChanged(AcdEvent):
    """A supervisor changed what a seat can do or which queues it serves."""

    seat_id: str
    """The seat."""
    skills: dict[str, int] | None = None
    """New skill levels (None = unchanged)."""
    queues: tuple[str, ...] | None = None
    """New queues (None = unchanged)."""


# -- calls (facts reported by the pool member that owns the call) -------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived(AcdEvent):
    """A trunk call needs a call-taker. `at` is when the trunk received the INVITE."""

    call_id: str
    """Engine-wide unique id of the call."""
    caller: str = ""
    """Calling number, for display only."""
    priority: int = 0
    """Base priority from the trunk; the ACD adds its own (repeat caller, callback)."""
    queue: str = ""
    """Queue the routing chose ('' = the first queue)."""
    skills: frozenset[str] = frozenset()
    """Skills the call asks for (e.g. 'lang:yue', 'video')."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(AcdEvent):
    """The caller hung up before a seat was connected."""

    call_id: str
    """The call that ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatAnswered(AcdEvent):
    """The seat leg of a call was answered (200 OK from the seat's phone)."""

    call_id: str
    """The call whose seat leg answered."""
    seat_id: str
    """The seat that answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatRingFailed(AcdEvent):
    """The seat leg ended before it was answered (busy, rejected, unreachable, error)."""

    call_id: str
    """The call that was being offered."""
    seat_id: str
    """The seat that could not take it."""
    status: int
    """Final SIP status of the seat leg (486 busy, 603 decline, 404/408/480 unreachable,
    0 when no response came at all)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(AcdEvent):
    """A connected call ended normally (either side hung up)."""

    call_id: str
    """The call that ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFailed(AcdEvent):
    """A call was lost in any state (its pool member died, a leg failed after connect)."""

    call_id: str
    """The call that was lost."""
    reason: str
    """What went wrong, for the log and the record."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatLost(AcdEvent):
    """A connected seat leg broke (no media, a SIP error) while the caller is still on."""

    call_id: str
    """The call whose call-taker was lost."""
    seat_id: str
    """The seat whose leg broke."""
    reason: str
    """What broke."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatPhoneBack(AcdEvent):
    """The seat's phone registered again after the ACD paused the seat because the phone was
    lost or unreachable: the agent is still logged in, so the seat is READY again."""

    seat_id: str
    """The seat whose phone is back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatLegChecked(AcdEvent):
    """The pool member's answer to CheckSeatLeg."""

    call_id: str
    """The call checked."""
    seat_id: str
    """The seat checked."""
    alive: bool
    """True when the member holds a connected leg to that seat."""


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdAction:
    """Base of every output of the distributor."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RingSeat(AcdAction):
    """Offer the call to a seat: ring its phone (the caller hears ringing)."""

    call_id: str
    """The call to offer."""
    seat_id: str
    """The seat reserved for it."""
    contact: str
    """SIP URI to send the seat's INVITE to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRing(AcdAction):
    """Stop ringing a seat (ring-no-answer, the caller left, or a late answer to drop)."""

    call_id: str
    """The call being withdrawn."""
    seat_id: str
    """The seat whose leg must be cancelled or hung up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectSeat(AcdAction):
    """Answer the caller if not yet answered and bridge caller and seat audio both ways."""

    call_id: str
    """The call to connect."""
    seat_id: str
    """The seat that answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce(AcdAction):
    """Answer the caller now and play the queue announcement until a seat connects."""

    call_id: str
    """The waiting call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectCall(AcdAction):
    """Refuse the call before answering (overload): a final response with Retry-After."""

    call_id: str
    """The refused call."""
    status: int
    """SIP status to answer with (503)."""
    reason: str
    """Why, as a short machine-readable word for metrics and logs (e.g. "queue-full")."""
    retry_after: int
    """Seconds for the Retry-After header."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSeatLeg(AcdAction):
    """Ask the call's pool member whether its leg to the seat is still connected."""

    call_id: str
    """The call."""
    seat_id: str
    """The seat the ACD believes is talking on it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DropCall(AcdAction):
    """The call's pool member no longer answers: end the call (its record is kept)."""

    call_id: str
    """The call to drop."""
    reason: str
    """Why, for the record."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDequeued(AcdAction):
    """A call left the queue (a notice for records and metrics; nothing to carry out)."""

    call_id: str
    """The call."""
    queue: str
    """The queue it left."""
    outcome: str
    """answered | overflowed | abandoned | failed."""
    waited: float
    """Seconds from arrival to leaving the queue."""
    seat_id: str | None
    """Who took it (the overflow pseudo seat for 'overflowed')."""
    rung_at_once: int
    """Seats ringing for it when it was answered (>1: the parallel ring won)."""
    priority: int
    """Its priority in the queue."""
