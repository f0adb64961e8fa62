"""conference.bridge: the pure model of one call inside its pool member."""

from __future__ import annotations

from conference import actions as br
from conference.actions import ANNOUNCEMENT, Route
from conference.bridge import CALLER, Bridge
from sip import messages as msg

SEAT = "seat:7"


def on(src: str, dst: str) -> Route:
    return Route(src=src, dst=dst, on=True)


def off(src: str, dst: str) -> Route:
    return Route(src=src, dst=dst, on=False)


def link(a: str, b: str) -> list[Route]:
    """Both directions, in the bridge's (sorted) order."""
    return sorted([on(a, b), on(b, a)], key=lambda r: (r.src, r.dst))


def notices(actions: list[br.BridgeAction]) -> list[msg.Message]:
    return [a.message for a in actions if isinstance(a, br.Notify)]


def work(actions: list[br.BridgeAction]) -> list[br.BridgeAction]:
    return [a for a in actions if not isinstance(a, br.Notify)]


def connected_call() -> Bridge:
    """Caller offered, seat 7 rung, answered, connected, both media up."""
    b = Bridge("42")
    b.ring("7", "sip:seat7@127.0.0.1:5000", 1.0)
    b.leg_ringing(SEAT, 1.1)
    b.leg_connected(SEAT, 1.5)
    b.connect("7", 1.5)
    b.leg_media_ready(SEAT, 1.5)
    b.leg_connected(CALLER, 1.51)
    b.leg_media_ready(CALLER, 1.51)
    return b


def test_ring_sends_one_180_and_dials_the_seat() -> None:
    b = Bridge("42")
    assert b.ring("7", "sip:seat7@h", 1.0) == [
        br.DialLeg(leg=SEAT, uri="sip:seat7@h"),
        br.SendRinging(),
    ]
    assert b.leg_ringing(SEAT, 1.1) == [
        br.Notify(message=msg.SeatRinging(call_id="42", seat_id="7", at=1.1))
    ]
    # a second seat (e.g. after a ring-no-answer) does not send another 180
    b.cancel("7", 2.0)
    assert b.ring("8", "sip:seat8@h", 2.1) == [br.DialLeg(leg="seat:8", uri="sip:seat8@h")]


def test_seat_answer_then_connect_answers_caller_and_links_audio_when_media_is_up() -> None:
    b = Bridge("42")
    b.ring("7", "sip:seat7@h", 1.0)
    assert notices(b.leg_connected(SEAT, 1.4)) == [
        msg.SeatAnswered(call_id="42", seat_id="7", at=1.4)
    ]
    assert b.leg_media_ready(SEAT, 1.4) == []
    actions = b.connect("7", 1.41)
    assert work(actions) == [br.AnswerCaller()]
    assert notices(actions) == [msg.CallerAnswered(call_id="42", at=1.41, announcement=False)]
    assert b.leg_connected(CALLER, 1.42) == []
    assert b.leg_media_ready(CALLER, 1.42) == link(CALLER, SEAT)
    assert b.leg_media_ready(CALLER, 1.43) == []  # linked once


def test_announcement_plays_until_a_seat_is_linked() -> None:
    b = Bridge("42")
    actions = b.announce(1.0)
    assert work(actions) == [br.AnswerCaller()]
    assert notices(actions) == [msg.CallerAnswered(call_id="42", at=1.0, announcement=True)]
    assert b.leg_media_ready(CALLER, 1.1) == [on(ANNOUNCEMENT, CALLER)]
    b.ring("7", "sip:seat7@h", 5.0)  # no 180 after a 200
    b.leg_connected(SEAT, 5.5)
    b.leg_media_ready(SEAT, 5.5)
    assert b.connect("7", 5.6) == [off(ANNOUNCEMENT, CALLER), *link(CALLER, SEAT)]
    assert b.announce(6.0) == []  # never again once a seat is connected


def test_caller_hangup_ends_the_seat_and_then_the_call() -> None:
    b = connected_call()
    assert b.leg_ended(CALLER, 200, "Normal call clearing", 9.0) == [br.EndLeg(leg=SEAT)]
    assert not b.finished
    actions = b.leg_ended(SEAT, 200, "", 9.1)
    assert notices(actions) == [
        msg.CallEnded(
            call_id="42", at=9.1, ended_by="caller", status=200, reason="Normal call clearing"
        )
    ]
    assert b.finished


def test_seat_hangup_ends_the_caller() -> None:
    b = connected_call()
    actions = b.leg_ended(SEAT, 200, "bye", 9.0)
    assert actions == [
        br.Notify(
            message=msg.SeatLeft(call_id="42", seat_id="7", status=200, reason="bye", at=9.0)
        ),
        br.EndLeg(leg=CALLER),
    ]
    ended = notices(b.leg_ended(CALLER, 200, "", 9.1))
    assert [type(m) for m in ended] == [msg.CallEnded]
    assert ended[0].ended_by == "seat"  # type: ignore[attr-defined]


def test_seat_that_fails_before_answer_is_reported_and_the_call_goes_on() -> None:
    b = Bridge("42")
    b.ring("7", "sip:seat7@h", 1.0)
    actions = b.leg_ended(SEAT, 486, "Busy Here", 1.2)
    assert notices(actions) == [
        msg.SeatFailed(call_id="42", seat_id="7", status=486, reason="Busy Here", at=1.2)
    ]
    assert not b.finished
    assert b.ring("7", "sip:seat7@h", 1.3)[0] == br.DialLeg(leg=SEAT, uri="sip:seat7@h")


def test_cancelled_seat_ends_quietly_and_a_late_answer_is_hung_up() -> None:
    b = Bridge("42")
    b.ring("7", "sip:seat7@h", 1.0)
    assert b.cancel("7", 9.0) == [br.EndLeg(leg=SEAT)]
    # the seat's 200 crossed our CANCEL: BYE it, tell nobody
    assert b.leg_connected(SEAT, 9.01) == [br.EndLeg(leg=SEAT)]
    assert b.leg_ended(SEAT, 200, "", 9.02) == []


def test_caller_abandons_while_seat_rings() -> None:
    b = Bridge("42")
    b.ring("7", "sip:seat7@h", 1.0)
    assert b.leg_ended(CALLER, 487, "Request Terminated", 2.0) == [br.EndLeg(leg=SEAT)]
    ended = notices(b.leg_ended(SEAT, 487, "", 2.1))
    assert ended == [
        msg.CallEnded(
            call_id="42", at=2.1, ended_by="caller", status=487, reason="Request Terminated"
        )
    ]


def test_engine_refusal_of_an_unanswered_caller() -> None:
    b = Bridge("42")
    assert b.hang_up(503, "Service Unavailable", 10, 1.0) == [
        br.RefuseCaller(status=503, reason="Service Unavailable", retry_after=10)
    ]
    ended = notices(b.leg_ended(CALLER, 503, "Service Unavailable", 1.01))
    assert ended == [
        msg.CallEnded(
            call_id="42", at=1.01, ended_by="engine", status=503, reason="Service Unavailable"
        )
    ]


def test_engine_hangup_of_a_connected_call_byes_everyone() -> None:
    b = connected_call()
    assert b.hang_up(503, "", 0, 5.0) == [br.EndLeg(leg=CALLER), br.EndLeg(leg=SEAT)]


def test_no_more_than_four_legs() -> None:
    b = Bridge("42")
    for n in range(3):
        assert isinstance(b.ring(str(n), f"sip:{n}@h", 1.0)[0], br.DialLeg)
    refused = notices(b.ring("9", "sip:9@h", 1.0))
    assert refused == [
        msg.SeatFailed(
            call_id="42",
            seat_id="9",
            status=0,
            reason="no free leg for seat:9 (pjsua2 allows 4)",
            at=1.0,
        )
    ]


def test_connect_to_a_seat_that_has_not_answered_is_a_fault_not_a_crash() -> None:
    b = Bridge("42")
    b.ring("7", "sip:seat7@h", 1.0)
    (notice,) = notices(b.connect("7", 1.1))
    assert isinstance(notice, msg.MemberFault)


def test_ring_after_the_caller_left_is_refused() -> None:
    b = Bridge("42")
    b.leg_ended(CALLER, 487, "", 1.0)
    assert b.finished
    (notice,) = notices(b.ring("7", "sip:seat7@h", 1.1))
    assert isinstance(notice, msg.SeatFailed)


def test_check_says_whether_the_seat_is_really_connected() -> None:
    b = connected_call()
    assert notices(b.check("7", 5.0)) == [
        msg.SeatChecked(call_id="42", seat_id="7", alive=True, at=5.0)
    ]
    assert notices(b.check("8", 5.0)) == [
        msg.SeatChecked(call_id="42", seat_id="8", alive=False, at=5.0)
    ]


def test_a_dead_seat_leg_is_dropped_and_the_caller_hears_the_announcement_again() -> None:
    b = connected_call()
    actions = b.seat_lost("7", "no RTP", 9.0)
    assert work(actions) == [
        br.EndLeg(leg=SEAT),
        off(CALLER, SEAT),
        off(SEAT, CALLER),
        on(ANNOUNCEMENT, CALLER),
    ]
    assert notices(actions) == [msg.SeatLost(call_id="42", seat_id="7", reason="no RTP", at=9.0)]
    assert b.connected_seat is None
    # the dropped leg ending is expected: no news, and the caller stays
    assert b.leg_ended(SEAT, 408, "Request Timeout", 9.5) == []
    assert not b.finished
    # another seat connects: the announcement stops and the audio is linked to it
    b.ring("8", "sip:seat8@h", 10.0)
    b.leg_connected("seat:8", 10.5)
    b.leg_media_ready("seat:8", 10.5)
    actions = b.connect("8", 10.6)
    assert work(actions) == [off(ANNOUNCEMENT, CALLER), *link(CALLER, "seat:8")]


def test_a_connected_seat_leg_failing_with_an_error_re_offers_instead_of_hanging_up() -> None:
    b = connected_call()
    actions = b.leg_ended(SEAT, 408, "Request Timeout", 9.0)
    assert notices(actions) == [
        msg.SeatLost(call_id="42", seat_id="7", reason="408 Request Timeout", at=9.0)
    ]
    assert br.EndLeg(leg=CALLER) not in actions
    # a normal BYE from the call-taker still ends the call
    c = connected_call()
    assert br.EndLeg(leg=CALLER) in c.leg_ended(SEAT, 200, "Normal call clearing", 9.0)
