"""What goes into the text desk core (events, past tense) and what comes out (actions,
imperative). See `intake.texts` for the theory of operation.

Every event carries `at`, a monotonic time in seconds taken where the fact happened (the HTTP
handler, the SMS shell); messages also carry `wall`, the Unix time shown to people and filed
with the incident. The core never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeEvent:
    """Base of every input to the text desk."""

    at: float
    """Monotonic time (s) at which the fact happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextOpened(IntakeEvent):
    """A citizen's first text opened a conversation (its incident is already filed)."""

    conversation_id: str
    """The new conversation's id (opaque, unguessable)."""
    channel: str
    """The adapter it came through ('sms', 'web-app', ...)."""
    address: str
    """Where replies go on that channel (a phone number for SMS)."""
    incident: str
    """The incident number the conversation is filed under."""
    text: str
    """The citizen's first message."""
    wall: float
    """Unix time (s) of the message."""
    token_sha256: str = ""
    """SHA-256 (hex) of the citizen's secret for the web page ('' for channels without one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CitizenWrote(IntakeEvent):
    """The citizen sent another message in an open conversation."""

    conversation_id: str
    """The conversation."""
    text: str
    """What they wrote."""
    wall: float
    """Unix time (s) of the message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTakerWrote(IntakeEvent):
    """A call-taker replied in a conversation their seat has taken."""

    conversation_id: str
    """The conversation."""
    seat_id: str
    """The writer's seat; '' for a supervisor, who may write in any taken conversation."""
    text: str
    """The reply."""
    wall: float
    """Unix time (s) of the message."""
    actor: str
    """Who wrote it, as the audit trail names them ('user:li')."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextAccepted(IntakeEvent):
    """A call-taker accepted the conversation offered to their seat."""

    conversation_id: str
    """The conversation."""
    seat_id: str
    """The accepting seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextClosed(IntakeEvent):
    """The conversation was closed by its call-taker (or a supervisor)."""

    conversation_id: str
    """The conversation."""
    seat_id: str
    """The closing seat; '' for a supervisor, who may close any conversation."""
    actor: str
    """Who closed it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatSeen:
    """One seat where a call-taker is signed in with the console, as the shell sees it now."""

    seat_id: str
    """The seat."""
    ready: bool
    """The ACD has it READY: signed in, not on a call, not in wrap-up, not paused."""
    console: bool
    """A console of this seat has the live stream open now (someone is watching the screen):
    only such a seat is offered texts, and one whose console is gone loses them after a while."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatsSeen(IntakeEvent):
    """The seats that could answer texts now (every seat with a signed-in call-taker); `at` is
    when they were looked at (a console seen gone is counted gone from the first such look)."""

    seats: tuple[SeatSeen, ...]
    """All of them; a seat missing here has no call-taker signed in."""


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeAction:
    """Base of every output of the text desk."""

    conversation_id: str
    """The conversation the action is about."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferText(IntakeAction):
    """Show the conversation to this seat's call-taker, to accept before `deadline`."""

    seat_id: str
    """The seat offered."""
    deadline: float
    """Monotonic time (s) after which it goes to another seat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawOffer(IntakeAction):
    """Take the offer back from the seat ('timeout', 'seat-gone', 'closed')."""

    seat_id: str
    """The seat that had the offer."""
    reason: str
    """Why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequeueText(IntakeAction):
    """The conversation waits again, first in line: file it, tell the supervisors."""

    seat_id: str
    """The seat that had taken it."""
    reason: str
    """'signed-out' (its call-taker logged out) or 'console-gone' (no console of the seat has
    had the live stream open for `console_gone` s: a crashed browser, a closed tab)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceTaken(IntakeAction):
    """Tell everyone the seat took the conversation."""

    seat_id: str
    """The seat that took it."""
    waited: float
    """Seconds from the first message to the accept (the time-to-accept metric)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceMessage(IntakeAction):
    """A message joined the conversation: show it (and file it, before anyone is told)."""

    seq: int
    """Its number in the conversation, from 1."""
    sender: str
    """'citizen' or 'call-taker'."""
    text: str
    """The message."""
    wall: float
    """Unix time (s)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverReply(IntakeAction):
    """Send the call-taker's reply back through the conversation's channel."""

    channel: str
    """The adapter's name."""
    address: str
    """Where on that channel."""
    seq: int
    """The reply's number in the conversation."""
    text: str
    """The reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertUnanswered(IntakeAction):
    """Raise an alert: a citizen's message has waited `unanswered_alert` s with no reply."""

    seat_id: str
    """The seat holding the conversation ('' while it waits in the line)."""
    seq: int
    """The unanswered message (the citizen's latest)."""
    waited: float
    """Seconds since it came in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceClosed(IntakeAction):
    """Tell everyone the conversation is closed."""

    actor: str
    """Who closed it."""
