"""One emergency call's bridge, as the pool member that owns the call sees it.

Theory of operation
-------------------
A pool member owns exactly one call: the caller leg (the trunk INVITE) and the legs it places
to seats (later: the officer). `Bridge` is the pure model of that call. Two kinds of input
drive it, and each returns the list of actions to carry out:

* leg facts from pjsua2, delivered by the member's shell: `leg_ringing`, `leg_connected`,
  `leg_media_ready`, `leg_ended`;
* the engine's commands: `ring`, `cancel`, `announce`, `connect`, `hang_up`.

Actions are of two kinds: media/signalling work for the shell (`DialLeg`, `AnswerCaller`,
`LinkAudio`, ...) and notices for the engine, which are `sip.messages` events as they are sent.

What the bridge decides on its own, because it must happen even when the engine is slow:
whichever side of a connected call hangs up, every other leg is ended; audio is linked only
once both legs have active media (pjsua2 has no conference port before that); the announcement
stops the moment a seat is linked; the call is over when every leg has ended, and then
`finished` is set and the member exits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sip import messages as msg

CALLER = "caller"
MAX_LEGS = 4
"""The installable pjsua2 allows 4 call legs per process (sip.pjendpoint.MAX_LEGS)."""


def seat_leg(seat_id: str) -> str:
    """Leg name of a seat."""
    return f"seat:{seat_id}"


class LegState(enum.Enum):
    OFFERED = "offered"  # incoming, not yet answered
    DIALING = "dialing"  # outgoing, no provisional response yet
    RINGING = "ringing"  # outgoing, 180/183 received
    CONNECTED = "connected"
    ENDED = "ended"


# -- actions for the member's shell --------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeAction:
    """Base of the shell's work items."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRinging(BridgeAction):
    """Send 180 Ringing to the caller."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerCaller(BridgeAction):
    """Send 200 OK to the caller."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefuseCaller(BridgeAction):
    """Send a final error response to the unanswered caller."""

    status: int
    """SIP status code."""
    reason: str
    """Reason phrase ('' for the default)."""
    retry_after: int
    """Retry-After seconds (0 = no header)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialLeg(BridgeAction):
    """Place an outgoing call."""

    leg: str
    """Leg name."""
    uri: str
    """Where to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndLeg(BridgeAction):
    """CANCEL, BYE (or for the caller, BYE) a leg."""

    leg: str
    """Leg name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkAudio(BridgeAction):
    """Connect two legs' audio both ways in the conference bridge."""

    a: str
    """One leg."""
    b: str
    """The other leg."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartAnnouncement(BridgeAction):
    """Play the queue announcement (looping) to a leg."""

    leg: str
    """Who hears it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StopAnnouncement(BridgeAction):
    """Stop the announcement to a leg."""

    leg: str
    """Who stops hearing it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify(BridgeAction):
    """Send an event to the engine."""

    message: msg.Message
    """The event."""


@dataclass(slots=True)
class _Leg:
    state: LegState
    media: bool = False
    ours: bool = False  # we asked for this leg to end: its end is expected, not news


class Bridge:
    """The pure model of one call inside its pool member (see the module docstring)."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.legs: dict[str, _Leg] = {CALLER: _Leg(LegState.OFFERED)}
        self.finished = False
        self._caller_answered = False
        self._ringing_sent = False
        self._want_announcement = False
        self._announcing = False
        self._seat: str | None = None  # the connected seat leg
        self._linked: set[frozenset[str]] = set()
        self._ended_by = ""
        self._final_status = 200
        self._final_reason = ""

    # -- engine commands ---------------------------------------------------------------

    def ring(self, seat_id: str, uri: str, now: float) -> list[BridgeAction]:
        """Place a seat leg; the caller hears 180 Ringing."""
        leg = seat_leg(seat_id)
        if self._caller_gone() or self._ended_by:
            return [self._seat_failed(seat_id, 0, "call is ending", now)]
        live = sum(1 for item in self.legs.values() if item.state is not LegState.ENDED)
        existing = self.legs.get(leg)
        if (existing and existing.state is not LegState.ENDED) or live >= MAX_LEGS:
            return [self._seat_failed(seat_id, 0, "no free leg for this seat", now)]
        self.legs[leg] = _Leg(LegState.DIALING)
        actions: list[BridgeAction] = [DialLeg(leg=leg, uri=uri)]
        if not self._caller_answered and not self._ringing_sent:
            self._ringing_sent = True
            actions.append(SendRinging())
        return actions

    def cancel(self, seat_id: str, now: float) -> list[BridgeAction]:
        """Withdraw a seat leg (ring-no-answer, stale answer)."""
        leg = self.legs.get(seat_leg(seat_id))
        if leg is None or leg.state is LegState.ENDED:
            return []
        leg.ours = True
        return [EndLeg(leg=seat_leg(seat_id))]

    def check(self, seat_id: str, now: float) -> list[BridgeAction]:
        """Tell the engine whether the seat it believes is talking really is connected."""
        name = seat_leg(seat_id)
        leg = self.legs.get(name)
        alive = (
            leg is not None
            and leg.state is LegState.CONNECTED
            and self._seat == name
            and not self._caller_gone()
        )
        event = msg.SeatChecked(call_id=self.call_id, seat_id=seat_id, alive=alive, at=now)
        return [Notify(message=event)]

    def seat_lost(self, seat_id: str, reason: str, now: float) -> list[BridgeAction]:
        """The connected seat's leg is dead (no media): drop it, keep the caller, who hears
        the announcement again until the engine connects another seat."""
        name = seat_leg(seat_id)
        if self._seat != name or self._caller_gone() or self._ended_by:
            return []
        leg = self.legs[name]
        actions: list[BridgeAction] = []
        if leg.state is not LegState.ENDED:
            leg.ours = True
            actions.append(EndLeg(leg=name))
        return actions + self._lose_seat(seat_id, reason, now)

    def announce(self, now: float) -> list[BridgeAction]:
        """Answer the caller (if needed) and play the announcement until a seat is linked."""
        if self._caller_gone() or self._seat is not None:
            return []
        actions = self._answer_caller(now, announcement=True)
        self._want_announcement = True
        return actions + self._settle_media()

    def connect(self, seat_id: str, now: float) -> list[BridgeAction]:
        """Answer the caller (if needed) and link caller and seat audio."""
        leg_name = seat_leg(seat_id)
        leg = self.legs.get(leg_name)
        if self._caller_gone() or leg is None or leg.state is not LegState.CONNECTED:
            return [Notify(message=msg.MemberFault(message=f"connect: {leg_name} not connected"))]
        self._seat = leg_name
        actions = self._answer_caller(now, announcement=False)
        return actions + self._settle_media()

    def hang_up(self, status: int, reason: str, retry_after: int, now: float) -> list[BridgeAction]:
        """End the call: refuse an unanswered caller, else BYE every leg."""
        if not self._ended_by:
            self._ended_by = "engine"
            self._final_status = status if not self._caller_answered else 200
            self._final_reason = reason or "ended by the engine"
        actions: list[BridgeAction] = []
        caller = self.legs[CALLER]
        if caller.state is LegState.OFFERED and not self._caller_answered:
            actions.append(RefuseCaller(status=status, reason=reason, retry_after=retry_after))
        elif caller.state is not LegState.ENDED:
            actions.append(EndLeg(leg=CALLER))
        actions += self._end_seats()
        return actions

    # -- leg facts -----------------------------------------------------------------------

    def leg_ringing(self, leg_name: str, now: float) -> list[BridgeAction]:
        """An outgoing leg got 180/183."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is not LegState.DIALING:
            return []
        leg.state = LegState.RINGING
        if leg.ours:
            return []
        return [
            Notify(
                message=msg.SeatRinging(call_id=self.call_id, seat_id=seat_id_of(leg_name), at=now)
            )
        ]

    def leg_connected(self, leg_name: str, now: float) -> list[BridgeAction]:
        """A leg reached CONFIRMED (seat answered, or the caller ACKed our 200)."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        leg.state = LegState.CONNECTED
        if leg_name == CALLER:
            return self._settle_media()
        if leg.ours or self._caller_gone():
            # a CANCEL crossed the 200 OK, or the caller left: BYE the late answer
            leg.ours = True
            return [EndLeg(leg=leg_name)]
        seat_id = seat_id_of(leg_name)
        return [Notify(message=msg.SeatAnswered(call_id=self.call_id, seat_id=seat_id, at=now))]

    def leg_media_ready(self, leg_name: str, now: float) -> list[BridgeAction]:
        """A leg's audio has a conference port."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        leg.media = True
        return self._settle_media()

    def leg_ended(self, leg_name: str, status: int, reason: str, now: float) -> list[BridgeAction]:
        """A leg is DISCONNECTED (for any reason)."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        was = leg.state
        leg.state = LegState.ENDED
        leg.media = False
        actions: list[BridgeAction] = []
        if leg_name == CALLER:
            if self._announcing:
                self._announcing = False
            if not self._ended_by:
                self._ended_by = "caller"
                self._final_status = 200 if self._caller_answered else (status or 487)
                self._final_reason = reason
            actions += self._end_seats()
        elif leg.ours:
            pass
        elif leg_name == self._seat and status >= 400 and not self._ended_by:
            # the leg failed (a timeout, an error to our BYE or re-INVITE): the call-taker
            # did not hang up, their phone or its path broke; the caller stays
            actions += self._lose_seat(seat_id_of(leg_name), f"{status} {reason}".strip(), now)
        elif leg_name == self._seat:
            actions.append(
                Notify(
                    message=msg.SeatLeft(
                        call_id=self.call_id,
                        seat_id=seat_id_of(leg_name),
                        status=status,
                        reason=reason,
                        at=now,
                    )
                )
            )
            if not self._ended_by:
                self._ended_by = "seat"
                self._final_reason = reason or "the call-taker hung up"
            if self.legs[CALLER].state is not LegState.ENDED:
                actions.append(EndLeg(leg=CALLER))
            actions += self._end_seats()
        else:
            if was is LegState.CONNECTED:
                reason = reason or "seat leg ended before it was connected"
            actions.append(self._seat_failed(seat_id_of(leg_name), status, reason, now))
        return actions + self._check_finished(now)

    # -- internals -----------------------------------------------------------------------

    def _caller_gone(self) -> bool:
        return self.legs[CALLER].state is LegState.ENDED

    def _answer_caller(self, now: float, *, announcement: bool) -> list[BridgeAction]:
        if self._caller_answered:
            return []
        self._caller_answered = True
        event = msg.CallerAnswered(call_id=self.call_id, at=now, announcement=announcement)
        return [AnswerCaller(), Notify(message=event)]

    def _settle_media(self) -> list[BridgeAction]:
        """Bring audio links and the announcement in line with what is wanted and possible."""
        actions: list[BridgeAction] = []
        caller = self.legs[CALLER]
        if self._seat is not None:
            if self._announcing:
                self._announcing = False
                actions.append(StopAnnouncement(leg=CALLER))
            seat = self.legs[self._seat]
            pair = frozenset((CALLER, self._seat))
            if caller.media and seat.media and pair not in self._linked:
                self._linked.add(pair)
                actions.append(LinkAudio(a=CALLER, b=self._seat))
        elif self._want_announcement and caller.media and not self._announcing:
            self._announcing = True
            actions.append(StartAnnouncement(leg=CALLER))
        return actions

    def _lose_seat(self, seat_id: str, reason: str, now: float) -> list[BridgeAction]:
        name = seat_leg(seat_id)
        self._seat = None
        self._linked.discard(frozenset((CALLER, name)))
        self._want_announcement = True
        event = msg.SeatLost(call_id=self.call_id, seat_id=seat_id, reason=reason, at=now)
        return [Notify(message=event), *self._settle_media()]

    @property
    def connected_seat(self) -> str | None:
        """Leg name of the seat linked with the caller, if any."""
        return self._seat

    def _end_seats(self) -> list[BridgeAction]:
        actions: list[BridgeAction] = []
        for name, leg in self.legs.items():
            if name != CALLER and leg.state is not LegState.ENDED and not leg.ours:
                leg.ours = True
                actions.append(EndLeg(leg=name))
        return actions

    def _seat_failed(self, seat_id: str, status: int, reason: str, now: float) -> Notify:
        event = msg.SeatFailed(
            call_id=self.call_id, seat_id=seat_id, status=status, reason=reason, at=now
        )
        return Notify(message=event)

    def _check_finished(self, now: float) -> list[BridgeAction]:
        if self.finished or any(leg.state is not LegState.ENDED for leg in self.legs.values()):
            return []
        self.finished = True
        event = msg.CallEnded(
            call_id=self.call_id,
            at=now,
            ended_by=self._ended_by or "caller",
            status=self._final_status,
            reason=self._final_reason,
        )
        return [Notify(message=event)]


def seat_id_of(leg_name: str) -> str:
    """Seat id of a seat leg's name (inverse of seat_leg)."""
    return leg_name.split(":", 1)[1]
