"""One emergency call's conference, as the pool member that owns the call sees it.

Theory of operation
-------------------
A pool member owns exactly one call: the caller leg (the trunk INVITE), the legs it places
to seats, and the guests the engine dials in: the officer leg of a dispatch and an agency's desk
(the anti-fraud centre's, or the 12345 hotline's for a transfer). `Bridge` is the pure model of
that call. Two kinds of input drive it, and each returns the list of actions
(`conference.actions`) to carry out:

* leg facts from pjsua2, delivered by the member's shell: `leg_ringing`, `leg_connected`,
  `leg_media_ready`, `leg_ended`;
* the engine's commands: `ring`, `cancel`, `announce`, `connect`, `hang_up`, and for the
  dispatch `dial_officer`, `cancel_officer`, `dial_agency`, `cancel_agency`, `leave_seat`,
  `rejoin_seat`, `mute_seat`, `hold`.

Audio is one conference: every party present (connected, with media) hears every other one
directly, with no relay; a muted call-taker is not heard, a held caller hears the hold
announcement and is not heard. The wanted set of (source, destination) routes is computed from
the state after every input, and only its difference with what is already routed becomes
`Route` actions, so a route is never started twice nor left behind. The recording hears every
party from the moment the caller is answered.

What the bridge decides on its own, because it must happen even when the engine is slow: the
caller hanging up ends every leg; the call-taker hanging up ends the call unless a guest (an
officer, an agency) is bridged (then it is the call-taker leaving: caller and guests stay); the
last guest hanging up after the call-taker left ends the call; audio is linked only once
legs have active media (pjsua2 has no conference port before that); a caller with nobody to
talk to hears the announcement; the call is over when every leg has ended, and then `finished`
is set and the member exits.
"""

from __future__ import annotations

from conference.actions import (
    ANNOUNCEMENT,
    HOLD,
    RECORDER,
    AnswerCaller,
    BridgeAction,
    DialLeg,
    EndLeg,
    Notify,
    RefuseCaller,
    Route,
    SendRinging,
)
from conference.legs import (
    AGENCY,
    CALLER as CALLER,
    GUESTS,
    MAX_LEGS as MAX_LEGS,
    OFFICER,
    Leg,
    LegState as LegState,
    agency_leg,
    guest_kind,
    officer_leg,
    seat_id_of as seat_id_of,
    seat_leg,
)
from sip import messages as msg


class Bridge:
    """The pure model of one call inside its pool member (see the module docstring)."""

    def __init__(self, call_id: str, *, record: bool = False) -> None:
        self.call_id = call_id
        self.legs: dict[str, Leg] = {CALLER: Leg(LegState.OFFERED)}
        self.finished = False
        self.record = record
        self._caller_answered = False
        self._ringing_sent = False
        self._want_announcement = False
        self._seat: str | None = None  # the seat leg in the conference
        self._guests: dict[str, str | None] = dict.fromkeys(GUESTS)  # kind -> leg in conference
        self._bridged: set[str] = set()  # guest legs whose audio reached the caller
        self._muted = False
        self._held = False
        self._routes: set[tuple[str, str]] = set()
        self._ended_by = ""
        self._final_status = 200
        self._final_reason = ""

    # -- engine commands: the call-taker ---------------------------------------------------

    def ring(self, seat_id: str, uri: str, now: float) -> list[BridgeAction]:
        """Place a seat leg; the caller hears 180 Ringing."""
        leg = seat_leg(seat_id)
        refusal = self._cannot_dial(leg)
        if refusal:
            return [self._seat_failed(seat_id, 0, refusal, now)]
        self.legs[leg] = Leg(LegState.DIALING)
        actions: list[BridgeAction] = [DialLeg(leg=leg, uri=uri)]
        if not self._caller_answered and not self._ringing_sent:
            self._ringing_sent = True
            actions.append(SendRinging())
        return actions

    def cancel(self, seat_id: str, now: float) -> list[BridgeAction]:
        """Withdraw a seat leg (ring-no-answer, stale answer)."""
        return self._withdraw(seat_leg(seat_id))

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
        """The connected seat's leg is dead (no media): drop it, keep the caller, who talks on
        with a bridged officer or hears the announcement until the engine connects a seat."""
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
        return actions + self._settle_media(now)

    def connect(self, seat_id: str, now: float) -> list[BridgeAction]:
        """Answer the caller (if needed) and join the seat to the conference."""
        leg_name = seat_leg(seat_id)
        leg = self.legs.get(leg_name)
        if self._caller_gone() or leg is None or leg.state is not LegState.CONNECTED:
            return [Notify(message=msg.MemberFault(message=f"connect: {leg_name} not connected"))]
        self._seat = leg_name
        actions = self._answer_caller(now, announcement=False)
        return actions + self._settle_media(now)

    def leave_seat(self, now: float) -> list[BridgeAction]:
        """The call-taker leaves: their leg ends; caller and the bridged guests talk on."""
        if self._seat is None or not self._any_guest() or self._caller_gone():
            why = "leave: needs a call-taker and a bridged officer or agency in the conference"
            return [Notify(message=msg.MemberFault(message=why))]
        name, self._seat = self._seat, None
        self.legs[name].ours = True
        self._muted = False
        left = msg.SeatLeft(
            call_id=self.call_id,
            seat_id=seat_id_of(name),
            status=200,
            reason="left the conference",
            at=now,
            call_goes_on=True,
        )
        return [EndLeg(leg=name), Notify(message=left), *self._settle_media(now)]

    def rejoin_seat(self, seat_id: str, uri: str, now: float) -> list[BridgeAction]:
        """Call a call-taker who left back into the conference."""
        name = seat_leg(seat_id)
        refusal = self._cannot_dial(name)
        if not refusal and self._seat is not None:
            refusal = "a call-taker is already in the conference"
        if not refusal and not self._caller_answered:
            refusal = "the caller is not answered yet"
        if refusal:
            event = msg.SeatRejoinFailed(
                call_id=self.call_id, seat_id=seat_id, status=0, reason=refusal, at=now
            )
            return [Notify(message=event)]
        self.legs[name] = Leg(LegState.DIALING, rejoin=True)
        return [DialLeg(leg=name, uri=uri)]

    def mute_seat(self, muted: bool, now: float) -> list[BridgeAction]:
        """The call-taker is (not) heard by the others; they still hear everyone."""
        self._muted = muted
        return self._settle_media(now)

    def hold(self, held: bool, now: float) -> list[BridgeAction]:
        """The caller hears the hold announcement and is not heard, or is back."""
        if held and not self._caller_answered:
            return [Notify(message=msg.MemberFault(message="hold: the caller is not answered"))]
        self._held = held
        return self._settle_media(now)

    # -- engine commands: the officer ------------------------------------------------------

    def dial_officer(self, target: str, uri: str, now: float) -> list[BridgeAction]:
        """Call an officer (or duty phone); they join the conference when they answer."""
        return self._dial_guest(officer_leg(target), uri, now)

    def cancel_officer(self, target: str, now: float) -> list[BridgeAction]:
        """Stop ringing an officer (no answer in time), or take a bridged officer out."""
        return self._withdraw(officer_leg(target))

    # -- engine commands: an agency's desk -------------------------------------------------

    def dial_agency(self, agency: str, uri: str, now: float) -> list[BridgeAction]:
        """Call an agency's desk; it joins the conference when it answers."""
        return self._dial_guest(agency_leg(agency), uri, now)

    def cancel_agency(self, agency: str, now: float) -> list[BridgeAction]:
        """Stop ringing an agency's desk, or take it out of the conference."""
        return self._withdraw(agency_leg(agency))

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
        actions += self._end_others()
        return actions

    # -- leg facts -----------------------------------------------------------------------

    def leg_ringing(self, leg_name: str, now: float) -> list[BridgeAction]:
        """An outgoing leg got 180/183."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is not LegState.DIALING:
            return []
        leg.state = LegState.RINGING
        if leg.ours or leg.rejoin:
            return []
        if guest_kind(leg_name):
            return [self._guest_event(leg_name, "ringing", now)]
        event = msg.SeatRinging(call_id=self.call_id, seat_id=seat_id_of(leg_name), at=now)
        return [Notify(message=event)]

    def leg_connected(self, leg_name: str, now: float) -> list[BridgeAction]:
        """A leg reached CONFIRMED (a seat or officer answered, or the caller ACKed our 200)."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        leg.state = LegState.CONNECTED
        if leg_name == CALLER:
            return self._settle_media(now)
        party = seat_id_of(leg_name)
        if leg.ours or self._caller_gone():
            # a CANCEL crossed the 200 OK, or the caller left: BYE the late answer
            leg.ours = True
            return [EndLeg(leg=leg_name)]
        kind = guest_kind(leg_name)
        if kind:
            if self._guests[kind] is not None:  # the engine dials one at a time; a stale race
                leg.ours = True
                why = f"another {kind} is already bridged"
                failed = self._guest_event(leg_name, "failed", now, 0, why)
                return [EndLeg(leg=leg_name), failed]
            self._guests[kind] = leg_name
            return [self._guest_event(leg_name, "answered", now), *self._settle_media(now)]
        if leg.rejoin:
            if self._seat is not None:
                leg.ours = True
                return [EndLeg(leg=leg_name)]
            self._seat = leg_name
            back = msg.SeatRejoined(call_id=self.call_id, seat_id=party, at=now)
            return [Notify(message=back), *self._settle_media(now)]
        return [Notify(message=msg.SeatAnswered(call_id=self.call_id, seat_id=party, at=now))]

    def leg_media_ready(self, leg_name: str, now: float) -> list[BridgeAction]:
        """A leg's audio has a conference port."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        leg.media = True
        return self._settle_media(now)

    def leg_ended(self, leg_name: str, status: int, reason: str, now: float) -> list[BridgeAction]:
        """A leg is DISCONNECTED (for any reason)."""
        leg = self.legs.get(leg_name)
        if leg is None or leg.state is LegState.ENDED:
            return []
        was = leg.state
        leg.state = LegState.ENDED
        leg.media = False
        # pjsua removed the leg's conference port with every route through it
        self._routes = {route for route in self._routes if leg_name not in route}
        actions: list[BridgeAction] = []
        if leg_name == CALLER:
            if not self._ended_by:
                self._ended_by = "caller"
                self._final_status = 200 if self._caller_answered else (status or 487)
                self._final_reason = reason
            actions += self._end_others()
        elif guest_kind(leg_name):
            actions += self._guest_ended(leg_name, leg, was, status, reason, now)
        elif leg.ours:
            pass
        elif leg_name == self._seat and status >= 400 and not self._ended_by:
            # the leg failed (a timeout, an error to our BYE or re-INVITE): the call-taker
            # did not hang up, their phone or its path broke; the caller stays
            actions += self._lose_seat(seat_id_of(leg_name), f"{status} {reason}".strip(), now)
        elif leg_name == self._seat:
            actions += self._seat_hung_up(leg_name, status, reason, now)
        elif leg.rejoin:
            event = msg.SeatRejoinFailed(
                call_id=self.call_id,
                seat_id=seat_id_of(leg_name),
                status=status,
                reason=reason or "ended before it was answered",
                at=now,
            )
            actions.append(Notify(message=event))
        else:
            if was is LegState.CONNECTED:
                reason = reason or "seat leg ended before it was connected"
            actions.append(self._seat_failed(seat_id_of(leg_name), status, reason, now))
        actions += self._settle_media(now) + self._check_finished(now)
        return actions + self._place_waiting()

    # -- views ---------------------------------------------------------------------------

    @property
    def connected_seat(self) -> str | None:
        """Leg name of the seat in the conference, if any."""
        return self._seat

    @property
    def bridged_officer(self) -> str | None:
        """Leg name of the officer in the conference, if any."""
        return self._guests[OFFICER]

    @property
    def bridged_agency(self) -> str | None:
        """Leg name of the agency's desk in the conference, if any."""
        return self._guests[AGENCY]

    @property
    def routes(self) -> frozenset[tuple[str, str]]:
        """The audio routes currently wanted and started: (source, destination)."""
        return frozenset(self._routes)

    # -- internals -----------------------------------------------------------------------

    def _caller_gone(self) -> bool:
        return self.legs[CALLER].state is LegState.ENDED

    def _any_guest(self) -> bool:
        return any(self._guests.values())

    def _dial_guest(self, name: str, uri: str, now: float) -> list[BridgeAction]:
        kind = guest_kind(name)
        refusal = self._cannot_dial(name, may_wait=True)
        if not refusal and not self._caller_answered:
            refusal = "the caller is not answered yet"
        if not refusal and kind and self._guests[kind] is not None:
            refusal = f"{'an agency' if kind == AGENCY else 'an officer'} is already bridged"
        if refusal:
            return [self._guest_event(name, "failed", now, 0, refusal)]
        full = self._live() >= MAX_LEGS
        leg = self.legs[name] = Leg(LegState.DIALING, uri=uri)
        if full:
            # the escalation ladder CANCELs one officer and calls the next at once; with a
            # desk in the call the CANCELled leg still holds the 4th slot until its 487
            leg.waiting = True
            return []
        return [DialLeg(leg=name, uri=uri)]

    def _live(self) -> int:
        """Legs that hold one of pjsua2's MAX_LEGS slots."""
        return sum(
            1 for leg in self.legs.values() if leg.state is not LegState.ENDED and not leg.waiting
        )

    def _place_waiting(self) -> list[BridgeAction]:
        actions: list[BridgeAction] = []
        for name, leg in self.legs.items():
            if leg.waiting and leg.state is not LegState.ENDED and self._live() < MAX_LEGS:
                leg.waiting = False
                actions.append(DialLeg(leg=name, uri=leg.uri))
        return actions

    def _cannot_dial(self, name: str, *, may_wait: bool = False) -> str:
        """Why a leg cannot be placed now ('' = it can). With `may_wait`, a leg that will
        have a slot once the legs being ended are gone can (it waits for the slot)."""
        if self._caller_gone() or self._ended_by:
            return "call is ending"
        existing = self.legs.get(name)
        if existing is not None and existing.state is not LegState.ENDED:
            return f"{name} already has a leg"
        taken = sum(1 for leg in self.legs.values() if leg.state is not LegState.ENDED)
        if may_wait:
            taken -= sum(
                1
                for leg in self.legs.values()
                if leg.state is not LegState.ENDED and leg.ours and not leg.waiting
            )
        if taken >= MAX_LEGS:
            return f"no free leg for {name} (pjsua2 allows {MAX_LEGS})"
        return ""

    def _withdraw(self, name: str) -> list[BridgeAction]:
        leg = self.legs.get(name)
        if leg is None or leg.state is LegState.ENDED or leg.ours:
            return []
        if leg.waiting:  # never placed: nothing to CANCEL
            leg.state = LegState.ENDED
            return []
        leg.ours = True
        return [EndLeg(leg=name)]

    def _answer_caller(self, now: float, *, announcement: bool) -> list[BridgeAction]:
        if self._caller_answered:
            return []
        self._caller_answered = True
        event = msg.CallerAnswered(call_id=self.call_id, at=now, announcement=announcement)
        return [AnswerCaller(), Notify(message=event)]

    def _present(self, name: str) -> bool:
        # the caller has media from our 200 on, before its ACK; seat and officer legs are
        # only named in the conference once they answered
        leg = self.legs[name]
        return leg.state is not LegState.ENDED and leg.media

    def _wanted_routes(self) -> set[tuple[str, str]]:
        parties = [
            name
            for name in (CALLER, self._seat, *self._guests.values())
            if name is not None and self._present(name)
        ]
        heard = [p for p in parties if not (p == CALLER and self._held)]
        routes = {
            (a, b) for a in heard for b in heard if a != b and not (a == self._seat and self._muted)
        }
        if CALLER in parties:
            if self._held:
                routes.add((HOLD, CALLER))
            elif self._want_announcement and self._seat is None and not self._any_guest():
                routes.add((ANNOUNCEMENT, CALLER))
            if self.record and self._caller_answered:
                routes.update((p, RECORDER) for p in parties)
        return routes

    def _settle_media(self, now: float) -> list[BridgeAction]:
        """Bring the started routes in line with the wanted ones (stops first, then starts)."""
        wanted = self._wanted_routes()
        actions: list[BridgeAction] = [
            Route(src=src, dst=dst, on=False) for src, dst in sorted(self._routes - wanted)
        ]
        actions += [Route(src=src, dst=dst, on=True) for src, dst in sorted(wanted - self._routes)]
        self._routes = wanted
        for guest in self._guests.values():
            if guest is not None and guest not in self._bridged and (guest, CALLER) in wanted:
                self._bridged.add(guest)
                actions.append(self._guest_event(guest, "bridged", now))
        return actions

    def _lose_seat(self, seat_id: str, reason: str, now: float) -> list[BridgeAction]:
        self._seat = None
        self._muted = False
        self._want_announcement = True
        event = msg.SeatLost(call_id=self.call_id, seat_id=seat_id, reason=reason, at=now)
        return [Notify(message=event), *self._settle_media(now)]

    def _seat_hung_up(
        self, leg_name: str, status: int, reason: str, now: float
    ) -> list[BridgeAction]:
        """The call-taker hung up: with a guest bridged that is leaving the conference;
        otherwise it ends the call."""
        self._seat = None
        self._muted = False
        goes_on = self._any_guest() and not self._ended_by and not self._caller_gone()
        left = msg.SeatLeft(
            call_id=self.call_id,
            seat_id=seat_id_of(leg_name),
            status=status,
            reason=reason,
            at=now,
            call_goes_on=goes_on,
        )
        actions: list[BridgeAction] = [Notify(message=left)]
        if goes_on:
            return actions
        if not self._ended_by:
            self._ended_by = "seat"
            self._final_reason = reason or "the call-taker hung up"
        if self.legs[CALLER].state is not LegState.ENDED:
            actions.append(EndLeg(leg=CALLER))
        return actions + self._end_others()

    def _guest_ended(
        self, leg_name: str, leg: Leg, was: LegState, status: int, reason: str, now: float
    ) -> list[BridgeAction]:
        kind = guest_kind(leg_name) or OFFICER
        if leg_name != self._guests[kind]:
            if leg.ours or was is LegState.CONNECTED:
                return []  # withdrawn by the engine, or a race loser we ended
            return [self._guest_event(leg_name, "failed", now, status, reason)]
        self._guests[kind] = None
        if leg.ours:
            return []  # taken out by the engine, or ended with the call: nothing new
        actions: list[BridgeAction] = [self._guest_event(leg_name, "left", now, status, reason)]
        if (
            self._seat is None
            and not self._any_guest()
            and not self._ended_by
            and not self._caller_gone()
        ):
            # the call-taker had left: nobody is left to talk to the caller. The last guest
            # hanging up closes the call, as the call-taker's hang-up would have.
            self._ended_by = kind
            self._final_reason = reason or f"the {kind} hung up"
            actions.append(EndLeg(leg=CALLER))
            actions += self._end_others()
        return actions

    def _end_others(self) -> list[BridgeAction]:
        actions: list[BridgeAction] = []
        for name, leg in self.legs.items():
            if name != CALLER and leg.state is not LegState.ENDED and not leg.ours:
                if leg.waiting:  # never placed
                    leg.state = LegState.ENDED
                    continue
                leg.ours = True
                actions.append(EndLeg(leg=name))
        return actions

    def _seat_failed(self, seat_id: str, status: int, reason: str, now: float) -> Notify:
        event = msg.SeatFailed(
            call_id=self.call_id, seat_id=seat_id, status=status, reason=reason, at=now
        )
        return Notify(message=event)

    def _guest_event(
        self, leg_name: str, what: str, now: float, status: int = 0, reason: str = ""
    ) -> Notify:
        """The engine's event for a guest leg: Officer* for officers, AgencyLeg for agencies."""
        party, call = seat_id_of(leg_name), self.call_id
        if guest_kind(leg_name) == AGENCY:
            event: msg.Message = msg.AgencyLeg(
                call_id=call, agency=party, state=what, status=status, reason=reason, at=now
            )
        elif what == "failed":
            event = msg.OfficerFailed(
                call_id=call, target=party, status=status, reason=reason, at=now
            )
        elif what == "left":
            event = msg.OfficerLeft(
                call_id=call, target=party, status=status, reason=reason, at=now
            )
        else:
            kinds = {"ringing": msg.OfficerRinging, "answered": msg.OfficerAnswered}
            event = kinds.get(what, msg.OfficerBridged)(call_id=call, target=party, at=now)
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
