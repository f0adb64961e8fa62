"""The text desk core: citizens' text conversations, queued and offered to call-taker seats.

Theory of operation. A citizen's first text (an SMS, a report from the 110 web page) opens a
conversation, filed under an incident of its own by the shell before it gets here. The
conversation WAITS in one first-in-first-out line. Whenever something changes (a text, an
accept, a seat becoming ready, an offer running out) the desk offers the oldest waiting
conversations, one to a seat, to the seats that are READY in the ACD (a signed-in call-taker
not on a call, not wrapping up, not paused) and that hold fewer than `per_seat` taken
conversations, fewest first, then the one offered longest ago. A text is written and read at
the citizen's pace, so a call-taker can hold a few at once, but a voice call always comes
first: a seat on a call is never offered a text.

An OFFERED conversation is TAKEN when that seat accepts. Not accepted within `offer_timeout`
(or the seat went on a call, or its call-taker signed out), the offer is withdrawn and the
conversation waits again at the head of the line (it keeps its place): the next offer goes to
another seat; a seat that let it pass is tried again only when every other has too. No seat
available: it waits, and `waiting()` says how many and since when (console and metrics). A
taken conversation whose call-taker signs out goes back to the head of the line.

The states and the requests that move them are a table (`TRANSITIONS`). A request the table
does not take (accepting a closed conversation, replying to one not yet taken) is refused
with a TextError carrying the HTTP status, and the conversation is left as it was: these
requests come from people and the network, so a wrong one must not break the conversation.

Who acts is the shell's to check (the call-taker's seat, from the session); the core checks
that the seat is the one the conversation is offered to or taken by. Seat '' is a supervisor.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from intake import events as ev

MAX_TEXT = 4000
"""Characters in one message: as many as a web report (engine.http_intake.MAX_TEXT)."""
KEEP_CLOSED = 3600.0
"""Seconds a closed conversation stays readable (the citizen's page shows the last reply)."""


class TextError(Exception):
    """A request the desk refuses; `status_hint` is the HTTP status to answer."""

    def __init__(self, message: str, status_hint: int) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class TextState(enum.Enum):
    WAITING = "waiting"
    OFFERED = "offered"
    TAKEN = "taken"
    CLOSED = "closed"


W, OF, T, C = TextState.WAITING, TextState.OFFERED, TextState.TAKEN, TextState.CLOSED
TRANSITIONS: dict[tuple[TextState, str], TextState] = {
    (W, "offer"): OF,
    (W, "citizen"): W,
    (W, "accept"): T,
    (W, "close"): C,
    (OF, "accept"): T,
    (OF, "expire"): W,
    (OF, "citizen"): OF,
    (OF, "close"): C,
    (T, "citizen"): T,
    (T, "reply"): T,
    (T, "requeue"): W,
    (T, "close"): C,
}
"""(state, request) -> next state. Every other pair is refused (409) and changes nothing."""
REQUESTS = ("offer", "accept", "expire", "citizen", "reply", "requeue", "close")


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    sender: str
    """'citizen' or 'call-taker'."""
    text: str
    wall: float
    """Unix time (s)."""
    actor: str = ""


@dataclass(slots=True)
class Conversation:
    id: str
    channel: str
    address: str
    incident: str
    token_sha256: str
    opened_at: float
    """Monotonic time of the first message: time to accept counts from here."""
    state: TextState = TextState.WAITING
    seat: str = ""
    """The seat it is offered to or taken by ('' while waiting or closed)."""
    deadline: float | None = None
    """When the current offer runs out."""
    messages: list[Message] = field(default_factory=list)
    passed: set[str] = field(default_factory=set)
    """Seats that let an offer of it run out (tried again only after every other seat)."""
    closed_at: float | None = None

    def move(self, request: str) -> None:
        nxt = TRANSITIONS.get((self.state, request))
        if nxt is None:
            raise TextError(f"conversation {self.id} is {self.state.value}: cannot {request}", 409)
        self.state = nxt


def check_text(text: str) -> str:
    """The message as filed: stripped, not empty, at most MAX_TEXT characters; TextError 400."""
    if not isinstance(text, str) or not text.strip():
        raise TextError("the message is empty", 400)
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise TextError(f"the message is longer than {MAX_TEXT} characters", 400)
    return text


class TextDesk:
    """Conversations, their line and their offers. `handle(event, now)` -> actions."""

    def __init__(self, *, offer_timeout: float = 20.0, per_seat: int = 3) -> None:
        self.offer_timeout = offer_timeout
        self.per_seat = per_seat
        self.conversations: dict[str, Conversation] = {}
        self._seats: dict[str, bool] = {}
        """Seats with a signed-in call-taker -> READY."""
        self._last_offer: dict[str, float] = {}

    # -- queries -----------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise TextError(f"no conversation {conversation_id!r}", 404)
        return conversation

    def waiting(self) -> list[Conversation]:
        """Conversations no seat holds (waiting or offered), oldest first."""
        line = [c for c in self.conversations.values() if c.state in (W, OF)]
        return sorted(line, key=lambda c: c.opened_at)

    def at_seat(self, seat_id: str) -> list[Conversation]:
        """Conversations offered to or taken by this seat."""
        return [c for c in self.conversations.values() if c.seat == seat_id and c.state in (OF, T)]

    def open_for(self, channel: str, address: str) -> Conversation | None:
        """The newest conversation on this channel and address that is not closed."""
        found = [
            c
            for c in self.conversations.values()
            if c.channel == channel and c.address == address and c.state is not C
        ]
        return max(found, key=lambda c: c.opened_at) if found else None

    def next_deadline(self) -> float | None:
        deadlines = [c.deadline for c in self.conversations.values() if c.deadline is not None]
        return min(deadlines, default=None)

    # -- input ---------------------------------------------------------------------------------

    def handle(self, event: ev.IntakeEvent, now: float) -> list[ev.IntakeAction]:
        """Apply one event; TextError (nothing changed) when it is refused."""
        actions: list[ev.IntakeAction] = []
        if isinstance(event, ev.TextOpened):
            actions += self._opened(event)
        elif isinstance(event, ev.CitizenWrote):
            conversation = self.get(event.conversation_id)
            text = check_text(event.text)
            conversation.move("citizen")
            actions.append(self._add(conversation, "citizen", text, event.wall, "citizen"))
        elif isinstance(event, ev.CallTakerWrote):
            conversation = self.get(event.conversation_id)
            self._own(conversation, event.seat_id, "reply in")
            text = check_text(event.text)
            conversation.move("reply")
            said = self._add(conversation, "call-taker", text, event.wall, event.actor)
            actions.append(said)
            actions.append(
                ev.DeliverReply(
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                    address=conversation.address,
                    seq=said.seq,
                    text=text,
                )
            )
        elif isinstance(event, ev.TextAccepted):
            conversation = self.get(event.conversation_id)
            if not event.seat_id:
                raise TextError("a conversation is taken at a seat: log in at one", 403)
            if conversation.state is OF and conversation.seat != event.seat_id:
                raise TextError(f"conversation {conversation.id} is offered to another seat", 403)
            conversation.move("accept")
            conversation.seat, conversation.deadline = event.seat_id, None
            waited = max(0.0, event.at - conversation.opened_at)
            actions.append(
                ev.AnnounceTaken(conversation_id=conversation.id, seat_id=event.seat_id,
                                 waited=waited)
            )  # fmt: skip
        elif isinstance(event, ev.TextClosed):
            conversation = self.get(event.conversation_id)
            self._own(conversation, event.seat_id, "close", offered_ok=True)
            was, seat = conversation.state, conversation.seat
            conversation.move("close")
            conversation.seat, conversation.deadline, conversation.closed_at = "", None, now
            if was is OF:
                actions.append(ev.WithdrawOffer(conversation_id=conversation.id, seat_id=seat,
                                                reason="closed"))  # fmt: skip
            actions.append(ev.AnnounceClosed(conversation_id=conversation.id, actor=event.actor))
        elif isinstance(event, ev.SeatsSeen):
            actions += self._seats_seen(event.seats)
        else:
            raise TypeError(f"not a text desk event: {event!r}")
        self._forget(now)
        return actions + self._assign(now)

    def on_deadline(self, now: float) -> list[ev.IntakeAction]:
        """Offers that ran out go back to the line (and on to another seat)."""
        actions: list[ev.IntakeAction] = []
        for conversation in self.conversations.values():
            if conversation.deadline is not None and conversation.deadline <= now:
                actions.append(self._withdraw(conversation, "timeout"))
        self._forget(now)
        return actions + self._assign(now)

    # -- the steps -----------------------------------------------------------------------------

    def _opened(self, event: ev.TextOpened) -> list[ev.IntakeAction]:
        if event.conversation_id in self.conversations:
            raise TextError(f"conversation {event.conversation_id} exists already", 409)
        text = check_text(event.text)
        conversation = Conversation(
            id=event.conversation_id,
            channel=event.channel,
            address=event.address,
            incident=event.incident,
            token_sha256=event.token_sha256,
            opened_at=event.at,
        )
        self.conversations[conversation.id] = conversation
        return [self._add(conversation, "citizen", text, event.wall, "citizen")]

    def _add(
        self, conversation: Conversation, sender: str, text: str, wall: float, actor: str
    ) -> ev.AnnounceMessage:
        seq = len(conversation.messages) + 1
        conversation.messages.append(Message(seq, sender, text, wall, actor))
        return ev.AnnounceMessage(
            conversation_id=conversation.id, seq=seq, sender=sender, text=text, wall=wall
        )

    def _own(
        self, conversation: Conversation, seat_id: str, what: str, *, offered_ok: bool = False
    ) -> None:
        """A call-taker acts only on a conversation their seat has taken (or, to close it, is
        offered); a supervisor (seat '') on any."""
        if not seat_id:
            return
        if conversation.seat != seat_id:
            raise TextError(f"conversation {conversation.id} is not your seat's to {what}", 403)
        if conversation.state is OF and not offered_ok:
            raise TextError(f"accept conversation {conversation.id} first", 409)

    def _withdraw(self, conversation: Conversation, reason: str) -> ev.IntakeAction:
        seat = conversation.seat
        conversation.move("expire")
        conversation.seat, conversation.deadline = "", None
        if reason == "timeout":
            conversation.passed.add(seat)
        return ev.WithdrawOffer(conversation_id=conversation.id, seat_id=seat, reason=reason)

    def _seats_seen(self, seats: Iterable[ev.SeatSeen]) -> list[ev.IntakeAction]:
        self._seats = {seat.seat_id: seat.ready for seat in seats}
        actions: list[ev.IntakeAction] = []
        for conversation in self.conversations.values():
            if conversation.state is OF and not self._seats.get(conversation.seat, False):
                actions.append(self._withdraw(conversation, "seat-gone"))  # on a call, or out
            elif conversation.state is T and conversation.seat not in self._seats:
                seat = conversation.seat
                conversation.move("requeue")
                conversation.seat = ""
                actions.append(ev.RequeueText(conversation_id=conversation.id, seat_id=seat))
        return actions

    def _assign(self, now: float) -> list[ev.IntakeAction]:
        """Offer the oldest waiting conversations to the free ready seats, one each."""
        held: dict[str, int] = {}
        busy: set[str] = set()
        for conversation in self.conversations.values():
            if conversation.state is T:
                held[conversation.seat] = held.get(conversation.seat, 0) + 1
            elif conversation.state is OF:
                busy.add(conversation.seat)
        free = [
            seat
            for seat, ready in sorted(self._seats.items())
            if ready and seat not in busy and held.get(seat, 0) < self.per_seat
        ]
        actions: list[ev.IntakeAction] = []
        for conversation in self.waiting():
            if not free:
                break
            if conversation.state is not W:
                continue
            fresh = [seat for seat in free if seat not in conversation.passed]
            if not fresh:  # every free seat has let it pass: start the round again
                conversation.passed.clear()
                fresh = free
            seat = min(fresh, key=lambda s: (held.get(s, 0), self._last_offer.get(s, -1.0), s))
            free.remove(seat)
            conversation.move("offer")
            conversation.seat, conversation.deadline = seat, now + self.offer_timeout
            self._last_offer[seat] = now
            actions.append(
                ev.OfferText(conversation_id=conversation.id, seat_id=seat,
                             deadline=conversation.deadline)
            )  # fmt: skip
        return actions

    def _forget(self, now: float) -> None:
        """Closed conversations stay readable for KEEP_CLOSED s (their incident keeps all)."""
        for key in [
            c.id
            for c in self.conversations.values()
            if c.closed_at is not None and now - c.closed_at > KEEP_CLOSED
        ]:
            del self.conversations[key]
