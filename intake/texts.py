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

Someone must be watching. A seat counts only while one of its consoles has the live stream
open (`SeatSeen.console`): a seat with no console is offered nothing (an offer it has is
withdrawn at once), and the conversations it has taken go back to the head of the line once
its console has been gone `console_gone` s (a crashed browser, a closed tab; a short network
blip, which EventSource reconnects in seconds, does not move them). A citizen's message left
without a reply for `unanswered_alert` s raises one alert (`AlertUnanswered`), taken or not.

A person's request (open, citizen, reply, accept, close) is filed before it takes effect, so it
goes in two steps: `begin(event, now)` checks it and changes nothing but holding the
conversation (a held one is not offered, withdrawn nor requeued), returning the `Step` to file;
the shell files it, then `commit(step, now)` applies it and returns the actions, or, if the
write failed, `abort(step)` lets go. A failed write so leaves no trace: no phantom
conversation, no message number skipped. `handle(event, now)` is both steps at once.

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
from typing import Any

from intake import events as ev

MAX_TEXT = 4000
"""Characters in one message: as many as a web report (engine.http_intake.MAX_TEXT)."""
KEEP_CLOSED = 3600.0
"""Seconds a closed conversation stays readable (the citizen's page shows the last reply)."""
CLOSED_FOR_CITIZEN = "This conversation was closed: send a new report or call 110."
"""What the citizen's page shows for a message sent after the call-taker closed it."""


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
    at: float = 0.0
    """Monotonic time (s) it came in (the unanswered alert counts from here)."""


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
    alerted: int = 0
    """The citizen's message an unanswered alert was last raised for (its seq)."""

    def check(self, request: str) -> TextState:
        """The state `request` would move to; TextError 409 when the table does not take it."""
        nxt = TRANSITIONS.get((self.state, request))
        if nxt is None:
            raise TextError(f"conversation {self.id} is {self.state.value}: cannot {request}", 409)
        return nxt

    def move(self, request: str) -> None:
        self.state = self.check(request)

    def unanswered(self) -> Message | None:
        """The citizen's latest message when nobody has answered it (nor been alerted of it)."""
        last = self.messages[-1] if self.messages else None
        if self.state is C or last is None or last.sender != "citizen" or last.seq <= self.alerted:
            return None
        return last


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A person's request the desk has checked and holds, to be filed before it takes effect."""

    event: ev.IntakeEvent
    """The request."""
    conversation_id: str
    """The conversation it is about (a new one's id for an opening)."""
    incident: str
    """Where to file it ('' for an opening whose incident the shell files with it)."""
    kind: str
    """The incident event to file: text-opened, text-in, text-out, text-taken, text-closed."""
    data: dict[str, Any]
    """The incident event's data."""
    text: str = ""
    """The message as filed (stripped), for a message."""
    seq: int = 0
    """The message's number in the conversation, for a message."""
    waited: float = 0.0
    """First message to accept (s), for an accept."""


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

    def __init__(
        self,
        *,
        offer_timeout: float = 20.0,
        per_seat: int = 3,
        console_gone: float = 60.0,
        unanswered_alert: float = 120.0,
    ) -> None:
        self.offer_timeout = offer_timeout
        self.per_seat = per_seat
        self.console_gone = console_gone
        self.unanswered_alert = unanswered_alert
        self.conversations: dict[str, Conversation] = {}
        self._seats: dict[str, ev.SeatSeen] = {}
        """Seats with a signed-in call-taker, as last seen."""
        self._gone: dict[str, float] = {}
        """Signed-in seats without a console -> when that was first seen."""
        self._held: set[str] = set()
        """Conversations with a request being filed (between `begin` and `commit`/`abort`)."""
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
        """The next time `on_deadline` has something to do: an offer running out, a seat's
        console gone long enough, a citizen's message unanswered long enough."""
        due: list[float] = []
        for conversation in self._free():
            if conversation.deadline is not None:
                due.append(conversation.deadline)
            if conversation.state is T and conversation.seat in self._gone:
                due.append(self._gone[conversation.seat] + self.console_gone)
            last = conversation.unanswered()
            if last is not None:
                due.append(last.at + self.unanswered_alert)
        return min(due, default=None)

    # -- input ---------------------------------------------------------------------------------

    def handle(self, event: ev.IntakeEvent, now: float) -> list[ev.IntakeAction]:
        """Apply one event; TextError (nothing changed) when it is refused. A person's request
        is `begin` and `commit` at once (the shell files it in between)."""
        if isinstance(event, ev.SeatsSeen):
            actions = self._seats_seen(event.seats, now)
            self._forget(now)
            return actions + self._assign(now)
        return self.commit(self.begin(event, now), now)

    def begin(self, event: ev.IntakeEvent, now: float) -> Step:
        """Check a person's request and hold its conversation; TextError (nothing changed)
        when it is refused. File the returned step, then `commit` it (or `abort`)."""
        step = self._check(event)
        if step.conversation_id in self._held:
            raise TextError(f"conversation {step.conversation_id} is busy: try again", 409)
        self._held.add(step.conversation_id)
        return step

    def commit(self, step: Step, now: float) -> list[ev.IntakeAction]:
        """The step is filed: apply it; the actions to carry out."""
        self._held.discard(step.conversation_id)
        actions = self._apply(step, now)
        self._forget(now)
        return actions + self._assign(now)

    def abort(self, step: Step) -> None:
        """The step could not be filed: let its conversation go, exactly as it was."""
        self._held.discard(step.conversation_id)

    def on_deadline(self, now: float) -> list[ev.IntakeAction]:
        """Offers that ran out go back to the line (and on to another seat); the conversations
        of a seat whose console is gone go back too; a citizen left unanswered is alerted."""
        actions: list[ev.IntakeAction] = []
        for conversation in self._free():
            if conversation.deadline is not None and conversation.deadline <= now:
                actions.append(self._withdraw(conversation, "timeout"))
        actions += self._requeue_unwatched(now)
        for conversation in self._free():
            last = conversation.unanswered()
            if last is not None and now - last.at >= self.unanswered_alert:
                conversation.alerted = last.seq
                actions.append(
                    ev.AlertUnanswered(conversation_id=conversation.id, seat_id=conversation.seat,
                                       seq=last.seq, waited=now - last.at)
                )  # fmt: skip
        self._forget(now)
        return actions + self._assign(now)

    # -- the steps -----------------------------------------------------------------------------

    def _check(self, event: ev.IntakeEvent) -> Step:
        """The request as it would be filed; TextError when refused. Changes nothing."""
        if isinstance(event, ev.TextOpened):
            cid = event.conversation_id
            if cid in self.conversations or cid in self._held:
                raise TextError(f"conversation {cid} exists already", 409)
            text = check_text(event.text)
            data = {
                "conversation": cid, "channel": event.channel, "address": event.address, "seq": 1,
                "from": "citizen", "text": text, "token_sha256": event.token_sha256,
            }  # fmt: skip
            return Step(event=event, conversation_id=cid, incident=event.incident,
                        kind="text-opened", data=data, text=text, seq=1)  # fmt: skip
        if isinstance(event, ev.CitizenWrote):
            conversation = self.get(event.conversation_id)
            if conversation.state is C:
                raise TextError(CLOSED_FOR_CITIZEN, 409)
            text = check_text(event.text)
            conversation.check("citizen")
            return self._message(event, conversation, "text-in", "citizen", text)
        if isinstance(event, ev.CallTakerWrote):
            conversation = self.get(event.conversation_id)
            self._own(conversation, event.seat_id, "reply in")
            text = check_text(event.text)
            conversation.check("reply")
            return self._message(event, conversation, "text-out", "call-taker", text)
        if isinstance(event, ev.TextAccepted):
            conversation = self.get(event.conversation_id)
            if not event.seat_id:
                raise TextError("a conversation is taken at a seat: log in at one", 403)
            if conversation.state is OF and conversation.seat != event.seat_id:
                raise TextError(f"conversation {conversation.id} is offered to another seat", 403)
            conversation.check("accept")
            waited = max(0.0, event.at - conversation.opened_at)
            data = {"conversation": conversation.id, "seat": event.seat_id,
                    "waited": round(waited, 3)}  # fmt: skip
            return Step(event=event, conversation_id=conversation.id,
                        incident=conversation.incident, kind="text-taken", data=data,
                        waited=waited)  # fmt: skip
        if isinstance(event, ev.TextClosed):
            conversation = self.get(event.conversation_id)
            self._own(conversation, event.seat_id, "close")
            conversation.check("close")
            return Step(event=event, conversation_id=conversation.id,
                        incident=conversation.incident, kind="text-closed",
                        data={"conversation": conversation.id})  # fmt: skip
        raise TypeError(f"not a text desk event: {event!r}")

    def _message(
        self,
        event: ev.CitizenWrote | ev.CallTakerWrote,
        conversation: Conversation,
        kind: str,
        sender: str,
        text: str,
    ) -> Step:
        seq = len(conversation.messages) + 1
        data = {"conversation": conversation.id, "seq": seq, "from": sender, "text": text}
        return Step(event=event, conversation_id=conversation.id, incident=conversation.incident,
                    kind=kind, data=data, text=text, seq=seq)  # fmt: skip

    def _apply(self, step: Step, now: float) -> list[ev.IntakeAction]:
        """A checked, filed step takes effect (the conversation was held meanwhile, so what was
        checked still holds)."""
        event = step.event
        if isinstance(event, ev.TextOpened):
            conversation = Conversation(
                id=step.conversation_id, channel=event.channel, address=event.address,
                incident=step.incident, token_sha256=event.token_sha256, opened_at=event.at,
            )  # fmt: skip
            self.conversations[conversation.id] = conversation
            return [self._add(conversation, step, "citizen", event.wall, "citizen")]
        conversation = self.get(step.conversation_id)
        if isinstance(event, ev.CitizenWrote):
            conversation.move("citizen")
            return [self._add(conversation, step, "citizen", event.wall, "citizen")]
        if isinstance(event, ev.CallTakerWrote):
            conversation.move("reply")
            said = self._add(conversation, step, "call-taker", event.wall, event.actor)
            deliver = ev.DeliverReply(conversation_id=conversation.id, seq=said.seq,
                                      channel=conversation.channel, text=step.text,
                                      address=conversation.address)  # fmt: skip
            return [said, deliver]
        if isinstance(event, ev.TextAccepted):
            conversation.move("accept")
            conversation.seat, conversation.deadline = event.seat_id, None
            return [ev.AnnounceTaken(conversation_id=conversation.id, seat_id=event.seat_id,
                                     waited=step.waited)]  # fmt: skip
        assert isinstance(event, ev.TextClosed)
        actions: list[ev.IntakeAction] = []
        was, seat = conversation.state, conversation.seat
        conversation.move("close")
        conversation.seat, conversation.deadline, conversation.closed_at = "", None, now
        if was is OF:  # a supervisor closed it while it was offered
            actions.append(ev.WithdrawOffer(conversation_id=conversation.id, seat_id=seat,
                                            reason="closed"))  # fmt: skip
        actions.append(ev.AnnounceClosed(conversation_id=conversation.id, actor=event.actor))
        return actions

    def _add(
        self, conversation: Conversation, step: Step, sender: str, wall: float, actor: str
    ) -> ev.AnnounceMessage:
        conversation.messages.append(
            Message(step.seq, sender, step.text, wall, actor, step.event.at)
        )
        return ev.AnnounceMessage(conversation_id=conversation.id, seq=step.seq, sender=sender,
                                  text=step.text, wall=wall)  # fmt: skip

    def _own(self, conversation: Conversation, seat_id: str, what: str) -> None:
        """A call-taker acts only on a conversation their seat has taken (an offered one is
        accepted first, even to close it: closing one nobody has read would end a citizen's
        conversation unread); a supervisor (seat '') on any."""
        if not seat_id:
            return
        if conversation.seat != seat_id:
            raise TextError(f"conversation {conversation.id} is not your seat's to {what}", 403)
        if conversation.state is OF:
            raise TextError(
                f"accept conversation {conversation.id} first: read it before you {what} it", 409
            )

    def _free(self) -> list[Conversation]:
        """Conversations no request is being filed for (those the timers may move)."""
        return [c for c in self.conversations.values() if c.id not in self._held]

    def _withdraw(self, conversation: Conversation, reason: str) -> ev.IntakeAction:
        seat = conversation.seat
        conversation.move("expire")
        conversation.seat, conversation.deadline = "", None
        if reason == "timeout":
            conversation.passed.add(seat)
        return ev.WithdrawOffer(conversation_id=conversation.id, seat_id=seat, reason=reason)

    def _requeue(self, conversation: Conversation, reason: str) -> ev.IntakeAction:
        seat = conversation.seat
        conversation.move("requeue")
        conversation.seat = ""
        return ev.RequeueText(conversation_id=conversation.id, seat_id=seat, reason=reason)

    def _seats_seen(self, seats: Iterable[ev.SeatSeen], now: float) -> list[ev.IntakeAction]:
        self._seats = {seat.seat_id: seat for seat in seats}
        self._gone = {
            seat.seat_id: self._gone.get(seat.seat_id, now)
            for seat in self._seats.values()
            if not seat.console
        }
        actions: list[ev.IntakeAction] = []
        for conversation in self._free():
            seen = self._seats.get(conversation.seat)
            if conversation.state is OF and not (seen and seen.ready and seen.console):
                reason = "console-gone" if seen and not seen.console else "seat-gone"
                actions.append(self._withdraw(conversation, reason))  # on a call, or out
            elif conversation.state is T and seen is None:
                actions.append(self._requeue(conversation, "signed-out"))
        return actions + self._requeue_unwatched(now)

    def _requeue_unwatched(self, now: float) -> list[ev.IntakeAction]:
        """Taken conversations of seats whose console has been gone `console_gone` s."""
        return [
            self._requeue(conversation, "console-gone")
            for conversation in self._free()
            if conversation.state is T
            and conversation.seat in self._gone
            and now - self._gone[conversation.seat] >= self.console_gone
        ]

    def _assign(self, now: float) -> list[ev.IntakeAction]:
        """Offer the oldest waiting conversations to the free ready watched seats, one each."""
        held: dict[str, int] = {}
        busy: set[str] = set()
        for conversation in self.conversations.values():
            if conversation.state is T:
                held[conversation.seat] = held.get(conversation.seat, 0) + 1
            elif conversation.state is OF:
                busy.add(conversation.seat)
        free = [
            seat
            for seat, seen in sorted(self._seats.items())
            if seen.ready
            and seen.console
            and seat not in busy
            and held.get(seat, 0) < self.per_seat
        ]
        actions: list[ev.IntakeAction] = []
        for conversation in self.waiting():
            if not free:
                break
            if conversation.state is not W or conversation.id in self._held:
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
