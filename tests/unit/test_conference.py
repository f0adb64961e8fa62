"""conference.bridge with guests: the three-way conference with an officer, an agency's desk
(anti-fraud centre, 12345 hotline) beside or instead of the officer, leave/rejoin, mute, hold,
recording routes, and guest legs that fail."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from conference import actions as act
from conference.actions import HOLD, RECORDER, Route
from conference.bridge import CALLER, MAX_LEGS, Bridge
from sip import messages as msg

SEAT, OFFICER, DESK = "seat:7", "officer:o1", "agency:anti-fraud"


def notices(actions: list[act.BridgeAction]) -> list[msg.Message]:
    return [a.message for a in actions if isinstance(a, act.Notify)]


def routes_on(actions: list[act.BridgeAction]) -> set[tuple[str, str]]:
    return {(a.src, a.dst) for a in actions if isinstance(a, Route) and a.on}


def routes_off(actions: list[act.BridgeAction]) -> set[tuple[str, str]]:
    return {(a.src, a.dst) for a in actions if isinstance(a, Route) and not a.on}


def mesh(*parties: str) -> set[tuple[str, str]]:
    return {(a, b) for a in parties for b in parties if a != b}


def talking(record: bool = False) -> Bridge:
    """Caller and seat 7 connected, both with media."""
    b = Bridge("42", record=record)
    b.ring("7", "sip:seat7@h", 1.0)
    b.leg_connected(SEAT, 1.5)
    b.connect("7", 1.5)
    b.leg_media_ready(SEAT, 1.5)
    b.leg_connected(CALLER, 1.51)
    b.leg_media_ready(CALLER, 1.51)
    return b


def three_way(record: bool = False) -> Bridge:
    b = talking(record)
    b.dial_officer("o1", "sip:officer1@h", 5.0)
    b.leg_ringing(OFFICER, 5.1)
    b.leg_connected(OFFICER, 8.0)
    b.leg_media_ready(OFFICER, 8.01)
    return b


def test_the_officer_joins_one_conference_where_everyone_hears_everyone() -> None:
    b = talking()
    assert b.dial_officer("o1", "sip:officer1@h", 5.0) == [
        act.DialLeg(leg=OFFICER, uri="sip:officer1@h")
    ]
    assert notices(b.leg_ringing(OFFICER, 5.1)) == [
        msg.OfficerRinging(call_id="42", target="o1", at=5.1)
    ]
    answered = b.leg_connected(OFFICER, 8.0)
    assert notices(answered) == [msg.OfficerAnswered(call_id="42", target="o1", at=8.0)]
    assert routes_on(answered) == set()  # no conference port before media
    linked = b.leg_media_ready(OFFICER, 8.01)
    assert routes_on(linked) == {
        (OFFICER, CALLER),
        (CALLER, OFFICER),
        (OFFICER, SEAT),
        (SEAT, OFFICER),
    }
    assert notices(linked) == [msg.OfficerBridged(call_id="42", target="o1", at=8.01)]
    assert b.routes == mesh(CALLER, SEAT, OFFICER)
    assert b.bridged_officer == OFFICER


def test_the_recording_hears_every_party_from_the_answer_on() -> None:
    b = Bridge("42", record=True)
    b.announce(1.0)
    started = b.leg_media_ready(CALLER, 1.1)
    assert routes_on(started) == {(act.ANNOUNCEMENT, CALLER), (CALLER, RECORDER)}
    b = three_way(record=True)
    assert {(p, RECORDER) for p in (CALLER, SEAT, OFFICER)} <= b.routes
    # a muted call-taker and a held caller are still recorded: the recording is evidence
    b.mute_seat(True, 9.0)
    b.hold(True, 9.1)
    assert {(p, RECORDER) for p in (CALLER, SEAT, OFFICER)} <= b.routes


def test_a_muted_call_taker_hears_but_is_not_heard() -> None:
    b = three_way()
    actions = b.mute_seat(True, 9.0)
    assert routes_off(actions) == {(SEAT, CALLER), (SEAT, OFFICER)}
    assert (CALLER, SEAT) in b.routes and (OFFICER, SEAT) in b.routes
    assert routes_on(b.mute_seat(False, 10.0)) == {(SEAT, CALLER), (SEAT, OFFICER)}


def test_a_held_caller_hears_the_hold_announcement_while_seat_and_officer_talk() -> None:
    b = three_way()
    actions = b.hold(True, 9.0)
    assert routes_off(actions) == {
        (CALLER, SEAT),
        (SEAT, CALLER),
        (CALLER, OFFICER),
        (OFFICER, CALLER),
    }
    assert routes_on(actions) == {(HOLD, CALLER)}
    assert b.routes == mesh(SEAT, OFFICER) | {(HOLD, CALLER)}
    back = b.hold(False, 12.0)
    assert routes_off(back) == {(HOLD, CALLER)}
    assert b.routes == mesh(CALLER, SEAT, OFFICER)


def test_the_call_taker_leaves_and_caller_and_officer_stay_then_the_officer_ends_it() -> None:
    b = three_way()
    actions = b.leave_seat(20.0)
    assert act.EndLeg(leg=SEAT) in actions
    assert notices(actions) == [
        msg.SeatLeft(
            call_id="42",
            seat_id="7",
            status=200,
            reason="left the conference",
            at=20.0,
            call_goes_on=True,
        )
    ]
    assert b.routes == mesh(CALLER, OFFICER)
    assert b.leg_ended(SEAT, 200, "", 20.1) == []  # expected: no news
    assert not b.finished and b.connected_seat is None
    ended = b.leg_ended(OFFICER, 200, "Normal call clearing", 60.0)
    assert notices(ended) == [
        msg.OfficerLeft(
            call_id="42", target="o1", status=200, reason="Normal call clearing", at=60.0
        )
    ]
    assert act.EndLeg(leg=CALLER) in ended
    final = notices(b.leg_ended(CALLER, 200, "", 60.1))
    assert final == [
        msg.CallEnded(
            call_id="42", at=60.1, ended_by="officer", status=200, reason="Normal call clearing"
        )
    ]


def test_the_call_taker_hanging_up_with_an_officer_bridged_is_leaving() -> None:
    b = three_way()
    actions = b.leg_ended(SEAT, 200, "bye", 20.0)
    (left,) = notices(actions)
    assert isinstance(left, msg.SeatLeft) and left.call_goes_on
    assert act.EndLeg(leg=CALLER) not in actions
    assert b.routes == mesh(CALLER, OFFICER)


def test_a_call_taker_who_left_can_rejoin() -> None:
    b = three_way()
    b.leave_seat(20.0)
    b.leg_ended(SEAT, 200, "", 20.1)
    assert b.rejoin_seat("7", "sip:seat7@h", 30.0) == [act.DialLeg(leg=SEAT, uri="sip:seat7@h")]
    assert b.leg_ringing(SEAT, 30.1) == []  # not a new offer for the ACD
    back = b.leg_connected(SEAT, 31.0)
    assert notices(back) == [msg.SeatRejoined(call_id="42", seat_id="7", at=31.0)]
    b.leg_media_ready(SEAT, 31.01)
    assert b.routes == mesh(CALLER, SEAT, OFFICER)
    # a second rejoin while the seat is there is refused, not dialled
    (refused,) = notices(b.rejoin_seat("8", "sip:seat8@h", 32.0))
    assert isinstance(refused, msg.SeatRejoinFailed) and refused.seat_id == "8"


def test_a_rejoin_that_is_not_answered_is_reported() -> None:
    b = three_way()
    b.leave_seat(20.0)
    b.leg_ended(SEAT, 200, "", 20.1)
    b.rejoin_seat("7", "sip:seat7@h", 30.0)
    assert notices(b.leg_ended(SEAT, 486, "Busy Here", 30.5)) == [
        msg.SeatRejoinFailed(call_id="42", seat_id="7", status=486, reason="Busy Here", at=30.5)
    ]
    assert b.routes == mesh(CALLER, OFFICER)


def test_leave_needs_a_bridged_officer() -> None:
    b = talking()
    (fault,) = notices(b.leave_seat(5.0))
    assert isinstance(fault, msg.MemberFault)
    assert b.connected_seat == SEAT


def test_officer_legs_that_fail_or_are_withdrawn() -> None:
    b = talking()
    b.dial_officer("o1", "sip:officer1@h", 5.0)
    assert notices(b.leg_ended(OFFICER, 603, "Decline", 6.0)) == [
        msg.OfficerFailed(call_id="42", target="o1", status=603, reason="Decline", at=6.0)
    ]
    b.dial_officer("o2", "sip:officer2@h", 6.1)
    assert b.cancel_officer("o2", 16.1) == [act.EndLeg(leg="officer:o2")]
    assert b.leg_ended("officer:o2", 487, "Request Terminated", 16.2) == []  # the engine knows
    # a CANCEL that crosses the officer's 200: the late answer is hung up, not bridged
    b.dial_officer("o3", "sip:officer3@h", 16.3)
    b.cancel_officer("o3", 26.3)
    assert b.leg_connected("officer:o3", 26.31) == [act.EndLeg(leg="officer:o3")]
    assert b.bridged_officer is None
    assert b.routes == mesh(CALLER, SEAT)


def test_dial_officer_is_refused_before_the_caller_is_answered_and_when_one_is_bridged() -> None:
    b = Bridge("42")
    (refused,) = notices(b.dial_officer("o1", "sip:o@h", 1.0))
    assert isinstance(refused, msg.OfficerFailed) and "not answered" in refused.reason
    c = three_way()
    (again,) = notices(c.dial_officer("o2", "sip:o2@h", 9.0))
    assert isinstance(again, msg.OfficerFailed) and "already bridged" in again.reason


def test_the_caller_hanging_up_ends_seat_and_officer() -> None:
    b = three_way()
    actions = b.leg_ended(CALLER, 200, "", 40.0)
    assert set(actions) == {act.EndLeg(leg=SEAT), act.EndLeg(leg=OFFICER)}
    b.leg_ended(SEAT, 200, "", 40.1)
    (ended,) = notices(b.leg_ended(OFFICER, 200, "", 40.2))
    assert isinstance(ended, msg.CallEnded) and ended.ended_by == "caller"
    assert b.finished


def test_a_lost_seat_leaves_caller_and_officer_talking_without_the_announcement() -> None:
    b = three_way()
    actions = b.seat_lost("7", "no RTP", 30.0)
    assert (act.ANNOUNCEMENT, CALLER) not in routes_on(actions)
    assert b.routes == mesh(CALLER, OFFICER)


def with_desk(b: Bridge, at: float = 12.0) -> Bridge:
    b.dial_agency("anti-fraud", "sip:desk@h", at)
    b.leg_connected(DESK, at + 1)
    b.leg_media_ready(DESK, at + 1.01)
    return b


def agency(state: str, at: float, status: int = 0, reason: str = "") -> msg.AgencyLeg:
    return msg.AgencyLeg(
        call_id="42", agency="anti-fraud", state=state, status=status, reason=reason, at=at
    )


def test_an_agency_desk_joins_beside_the_officer_and_everyone_hears_everyone() -> None:
    b = three_way()
    assert b.dial_agency("anti-fraud", "sip:desk@h", 12.0) == [
        act.DialLeg(leg=DESK, uri="sip:desk@h")
    ]
    assert notices(b.leg_ringing(DESK, 12.1)) == [agency("ringing", 12.1)]
    assert notices(b.leg_connected(DESK, 13.0)) == [agency("answered", 13.0)]
    linked = b.leg_media_ready(DESK, 13.01)
    assert notices(linked) == [agency("bridged", 13.01)]
    assert routes_on(linked) == mesh(CALLER, SEAT, OFFICER, DESK) - mesh(CALLER, SEAT, OFFICER)
    assert b.routes == mesh(CALLER, SEAT, OFFICER, DESK)
    assert b.bridged_agency == DESK and b.bridged_officer == OFFICER
    # four legs is all pjsua2 allows: a fifth party is refused, not dialled
    (refused,) = notices(b.dial_agency("12345", "sip:12345@h", 14.0))
    assert refused == msg.AgencyLeg(
        call_id="42",
        agency="12345",
        state="failed",
        reason=f"no free leg for agency:12345 (pjsua2 allows {MAX_LEGS})",
        at=14.0,
    )


def test_the_call_taker_hands_the_caller_over_to_an_agency_that_then_ends_the_call() -> None:
    b = with_desk(talking(record=True))
    assert b.routes == mesh(CALLER, SEAT, DESK) | {(p, RECORDER) for p in (CALLER, SEAT, DESK)}
    left = b.leave_seat(20.0)
    assert act.EndLeg(leg=SEAT) in left
    assert b.leg_ended(SEAT, 200, "", 20.1) == []  # ours: the engine already knows
    assert b.routes == mesh(CALLER, DESK) | {(CALLER, RECORDER), (DESK, RECORDER)}
    done = b.leg_ended(DESK, 200, "Normal call clearing", 50.0)
    assert notices(done) == [agency("left", 50.0, 200, "Normal call clearing")]
    assert act.EndLeg(leg=CALLER) in done
    (ended,) = notices(b.leg_ended(CALLER, 200, "", 50.1))
    assert isinstance(ended, msg.CallEnded) and ended.ended_by == "agency"


def test_a_desk_hanging_up_while_the_officer_talks_on_does_not_end_the_call() -> None:
    b = with_desk(three_way())
    b.leave_seat(20.0)
    b.leg_ended(SEAT, 200, "", 20.1)
    gone = b.leg_ended(DESK, 200, "", 30.0)
    assert notices(gone) == [agency("left", 30.0, 200)]
    assert act.EndLeg(leg=CALLER) not in gone
    assert b.routes == mesh(CALLER, OFFICER)
    # the officer is the last one there: their hang-up closes the call
    assert act.EndLeg(leg=CALLER) in b.leg_ended(OFFICER, 200, "", 40.0)


def test_the_call_taker_hanging_up_with_a_desk_bridged_is_leaving() -> None:
    b = with_desk(talking())
    (left,) = notices(b.leg_ended(SEAT, 200, "bye", 20.0))
    assert isinstance(left, msg.SeatLeft) and left.call_goes_on
    assert b.routes == mesh(CALLER, DESK)


def test_agency_legs_that_fail_are_reported_and_withdrawn_ones_are_not() -> None:
    (early,) = notices(Bridge("42").dial_agency("anti-fraud", "sip:desk@h", 1.0))
    assert early == agency("failed", 1.0, 0, "the caller is not answered yet")
    b = talking()
    b.dial_agency("anti-fraud", "sip:desk@h", 5.0)
    assert notices(b.leg_ended(DESK, 486, "Busy Here", 6.0)) == [
        agency("failed", 6.0, 486, "Busy Here")
    ]
    b.dial_agency("anti-fraud", "sip:desk@h", 7.0)
    assert b.cancel_agency("anti-fraud", 37.0) == [act.EndLeg(leg=DESK)]
    assert b.leg_ended(DESK, 487, "Request Terminated", 37.1) == []
    # a CANCEL crossing the desk's 200: the late answer is hung up, not bridged
    b.dial_agency("anti-fraud", "sip:desk@h", 40.0)
    b.cancel_agency("anti-fraud", 41.0)
    assert b.leg_connected(DESK, 41.01) == [act.EndLeg(leg=DESK)]
    assert b.leg_ended(DESK, 200, "", 41.1) == []
    assert b.bridged_agency is None and b.routes == mesh(CALLER, SEAT)
    with_desk(b, 50.0)
    (again,) = notices(b.dial_agency("12345", "sip:12345@h", 60.0))
    assert isinstance(again, msg.AgencyLeg) and again.reason == "an agency is already bridged"


def test_the_next_officer_waits_for_the_slot_of_the_cancelled_one_when_a_desk_is_there() -> None:
    b = with_desk(talking())
    b.dial_officer("o1", "sip:o1@h", 20.0)
    b.leg_ringing("officer:o1", 20.1)
    # the ladder: no answer from o1, CANCEL it and call o2 at once; o1 still holds the 4th leg
    assert b.cancel_officer("o1", 40.0) == [act.EndLeg(leg="officer:o1")]
    assert b.dial_officer("o2", "sip:o2@h", 40.0) == []
    assert b.leg_ended("officer:o1", 487, "Request Terminated", 40.05) == [
        act.DialLeg(leg="officer:o2", uri="sip:o2@h")
    ]
    b.leg_connected("officer:o2", 42.0)
    (bridged,) = notices(b.leg_media_ready("officer:o2", 42.01))
    assert bridged == msg.OfficerBridged(call_id="42", target="o2", at=42.01)
    assert b.routes == mesh(CALLER, SEAT, DESK, "officer:o2")


def test_a_waiting_leg_withdrawn_or_outlived_by_the_call_is_never_placed() -> None:
    b = with_desk(talking())
    b.dial_officer("o1", "sip:o1@h", 20.0)
    b.cancel_officer("o1", 40.0)
    b.dial_officer("o2", "sip:o2@h", 40.0)
    assert b.cancel_officer("o2", 41.0) == []  # never placed: nothing to CANCEL
    assert b.leg_ended("officer:o1", 487, "", 41.1) == []
    b.dial_officer("o3", "sip:o3@h", 50.0)
    b.cancel_officer("o3", 60.0)
    b.dial_officer("o4", "sip:o4@h", 60.0)
    ending = b.leg_ended(CALLER, 200, "", 61.0)
    assert act.DialLeg(leg="officer:o4", uri="sip:o4@h") not in ending
    assert act.EndLeg(leg="officer:o4") not in ending
    b.leg_ended(SEAT, 200, "", 61.1)
    b.leg_ended(DESK, 200, "", 61.2)
    (ended,) = notices(b.leg_ended("officer:o3", 487, "", 61.3))
    assert isinstance(ended, msg.CallEnded) and b.finished


_STEPS = st.lists(
    st.sampled_from(
        [
            "dial",
            "ring",
            "answer",
            "media",
            "officer_ends",
            "cancel",
            "leave",
            "seat_ends",
            "rejoin",
            "seat_answers",
            "seat_media",
            "mute",
            "unmute",
            "hold",
            "unhold",
            "seat_lost",
            "desk_dial",
            "desk_answer",
            "desk_media",
            "desk_ends",
            "desk_cancel",
            "escalate",
            "ending_legs_end",
        ]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps=_STEPS, record=st.booleans())
def test_routes_only_join_present_parties_and_a_held_caller_is_never_heard(
    steps: list[str], record: bool
) -> None:
    b = three_way(record) if steps[:1] == ["dial"] else talking(record)
    now = 10.0
    for step in steps:
        now += 1.0
        officer = b.bridged_officer or OFFICER
        if step == "dial":
            b.dial_officer("o9", "sip:o9@h", now)
        elif step in ("ring", "answer", "media"):
            leg = "officer:o9"
            if leg in b.legs:
                {"ring": b.leg_ringing, "answer": b.leg_connected, "media": b.leg_media_ready}[
                    step
                ](leg, now)
        elif step == "officer_ends":
            b.leg_ended(officer, 200, "", now)
        elif step == "cancel":
            b.cancel_officer(officer.split(":", 1)[1], now)
        elif step == "leave":
            b.leave_seat(now)
        elif step == "seat_ends":
            b.leg_ended(SEAT, 200, "", now)
        elif step == "rejoin":
            b.rejoin_seat("7", "sip:seat7@h", now)
        elif step in ("seat_answers", "seat_media"):
            (b.leg_connected if step == "seat_answers" else b.leg_media_ready)(SEAT, now)
        elif step in ("mute", "unmute"):
            b.mute_seat(step == "mute", now)
        elif step in ("hold", "unhold"):
            b.hold(step == "hold", now)
        elif step == "seat_lost":
            b.seat_lost("7", "no RTP", now)
        elif step == "desk_dial":
            b.dial_agency("anti-fraud", "sip:desk@h", now)
        elif step in ("desk_answer", "desk_media") and DESK in b.legs:
            (b.leg_connected if step == "desk_answer" else b.leg_media_ready)(DESK, now)
        elif step == "desk_ends" and DESK in b.legs:
            b.leg_ended(DESK, 200, "", now)
        elif step == "desk_cancel":
            b.cancel_agency("anti-fraud", now)
        elif step == "escalate":  # the ladder: CANCEL the officer ringing, call the next at once
            ringing = [
                name
                for name, leg in b.legs.items()
                if name.startswith("officer:") and leg.state.value in ("dialing", "ringing")
            ]
            for name in ringing:
                b.cancel_officer(name.split(":", 1)[1], now)
            b.dial_officer(f"o{int(now)}", "sip:next@h", now)
        elif step == "ending_legs_end":  # the 487s / 200s to our CANCELs and BYEs
            for name, item in list(b.legs.items()):
                if item.ours and not item.waiting and item.state.value != "ended":
                    b.leg_ended(name, 487, "", now)
        live = [x for x in b.legs.values() if x.state.value != "ended"]
        assert sum(1 for x in live if not x.waiting) <= MAX_LEGS
        if b.legs[CALLER].state.value == "ended":
            assert not any(x.waiting for x in live)
        present = {
            name
            for name, leg in b.legs.items()
            if leg.state.value != "ended"
            and leg.media
            and name in (CALLER, b.connected_seat, b.bridged_officer, b.bridged_agency)
        }
        for src, dst in b.routes:
            assert src != dst
            assert src in present or src in act.PSEUDO_PORTS, (src, dst, steps)
            assert dst in present or dst in act.PSEUDO_PORTS, (src, dst, steps)
            if dst != RECORDER:
                assert src != CALLER or (CALLER, HOLD) not in b.routes
        if (HOLD, CALLER) in b.routes:
            assert not any(src == CALLER and dst != RECORDER for src, dst in b.routes)
        if b.finished:
            assert not b.routes
