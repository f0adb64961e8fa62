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


# -- calls (facts reported by the pool member that owns the call) -------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived(AcdEvent):
    """A trunk call needs a call-taker. `at` is when the trunk received the INVITE."""

    call_id: str
    """Engine-wide unique id of the call."""
    caller: str = ""
    """Calling number, for display only."""
    priority: int = 0
    """Higher is served first; ties are served in order of arrival."""


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
