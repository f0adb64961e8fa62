"""intake.texts: the text desk core, driven with times as numbers (no sockets, no sleeps).

Whole action lists are asserted; the transition table is checked pair by pair, and random
sequences (Hypothesis) keep the invariants a call-taker relies on: one offer per seat at a
time, never an offer to a seat that is not READY, never more taken than `per_seat`, every
conversation either closed or visible in the line or at a seat.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from intake import events as ev
from intake.texts import (
    CLOSED_FOR_CITIZEN,
    MAX_TEXT,
    REQUESTS,
    TRANSITIONS,
    Conversation,
    TextDesk,
    TextError,
    TextState,
)


def opened(cid: str, at: float, text: str = "help", channel: str = "sms") -> ev.TextOpened:
    return ev.TextOpened(
        at=at, conversation_id=cid, channel=channel, address=f"+86139{cid[-1]}",
        incident=f"HZ-20260101-00000{cid[-1]}", text=text, wall=1.7e9 + at,
    )  # fmt: skip


def seats(*ready: str, busy: tuple[str, ...] = (), unwatched: tuple[str, ...] = ()) -> ev.SeatsSeen:
    """Signed-in seats: READY ones, busy ones (on a call, paused), and READY ones whose console
    has no live stream open (`unwatched`)."""
    return ev.SeatsSeen(
        at=0.0,
        seats=tuple(ev.SeatSeen(seat_id=s, ready=True, console=True) for s in ready)
        + tuple(ev.SeatSeen(seat_id=s, ready=False, console=True) for s in busy)
        + tuple(ev.SeatSeen(seat_id=s, ready=True, console=False) for s in unwatched),
    )


def test_a_text_waits_first_in_line_and_goes_to_the_ready_seat_that_holds_fewest() -> None:
    desk = TextDesk(offer_timeout=20.0)
    assert desk.handle(opened("c1", 1.0), 1.0) == [
        ev.AnnounceMessage(conversation_id="c1", seq=1, sender="citizen", text="help",
                           wall=1.7e9 + 1.0)
    ]  # fmt: skip
    assert [c.id for c in desk.waiting()] == ["c1"]  # nobody signed in: it waits
    desk.handle(opened("c2", 2.0), 2.0)
    actions = desk.handle(seats("s2", busy=("s1",)), 3.0)
    assert actions == [ev.OfferText(conversation_id="c1", seat_id="s2", deadline=23.0)]
    assert desk.handle(ev.TextAccepted(at=4.0, conversation_id="c1", seat_id="s2"), 4.0) == [
        ev.AnnounceTaken(conversation_id="c1", seat_id="s2", waited=3.0),
        ev.OfferText(conversation_id="c2", seat_id="s2", deadline=24.0),  # s2 may hold 3
    ]
    # s1 comes free: it holds nothing, so the next text goes there before s2
    desk.handle(ev.TextAccepted(at=5.0, conversation_id="c2", seat_id="s2"), 5.0)
    desk.handle(seats("s1", "s2"), 6.0)
    assert desk.handle(opened("c3", 7.0), 7.0)[-1] == ev.OfferText(
        conversation_id="c3", seat_id="s1", deadline=27.0
    )


def test_an_offer_not_accepted_in_time_goes_to_another_seat_then_round_again() -> None:
    desk = TextDesk(offer_timeout=20.0)
    desk.handle(seats("s1", "s2"), 0.0)
    assert desk.handle(opened("c1", 1.0), 1.0)[-1] == ev.OfferText(
        conversation_id="c1", seat_id="s1", deadline=21.0
    )
    assert desk.next_deadline() == 21.0
    assert desk.on_deadline(20.9) == []
    assert desk.on_deadline(21.0) == [
        ev.WithdrawOffer(conversation_id="c1", seat_id="s1", reason="timeout"),
        ev.OfferText(conversation_id="c1", seat_id="s2", deadline=41.0),
    ]
    assert desk.on_deadline(41.0) == [
        ev.WithdrawOffer(conversation_id="c1", seat_id="s2", reason="timeout"),
        ev.OfferText(conversation_id="c1", seat_id="s1", deadline=61.0),  # both passed: again
    ]
    # time to accept counts from the first message, through every offer
    taken = desk.handle(ev.TextAccepted(at=50.0, conversation_id="c1", seat_id="s1"), 50.0)
    assert taken == [ev.AnnounceTaken(conversation_id="c1", seat_id="s1", waited=49.0)]


def test_a_seat_that_takes_a_call_loses_its_offer_and_a_signed_out_seat_its_texts() -> None:
    desk = TextDesk()
    desk.handle(seats("s1"), 0.0)
    desk.handle(opened("c1", 1.0), 1.0)
    desk.handle(opened("c2", 2.0), 2.0)
    desk.handle(ev.TextAccepted(at=3.0, conversation_id="c1", seat_id="s1"), 3.0)
    assert desk.get("c2").state is TextState.OFFERED
    # the seat rings for a 110 call: no longer READY, so its pending offer is withdrawn
    assert desk.handle(seats(busy=("s1",)), 4.0) == [
        ev.WithdrawOffer(conversation_id="c2", seat_id="s1", reason="seat-gone")
    ]
    assert desk.get("c1").state is TextState.TAKEN  # a taken one stays with the seat
    assert desk.handle(seats(), 5.0) == [
        ev.RequeueText(conversation_id="c1", seat_id="s1", reason="signed-out")
    ]  # signed out: back in line, first (it is the oldest)
    assert [c.id for c in desk.waiting()] == ["c1", "c2"]
    assert desk.handle(seats("s9"), 6.0) == [
        ev.OfferText(conversation_id="c1", seat_id="s9", deadline=26.0)
    ]


def test_replies_go_out_through_the_channel_and_only_from_the_seat_that_took_it() -> None:
    desk = TextDesk()
    desk.handle(seats("s1", "s2"), 0.0)
    desk.handle(opened("c1", 1.0), 1.0)
    reply = ev.CallTakerWrote(at=2.0, conversation_id="c1", seat_id="s1", text=" on our way ",
                              wall=1.7e9 + 2, actor="user:li")  # fmt: skip
    with pytest.raises(TextError) as refused:
        desk.handle(reply, 2.0)  # offered, not yet taken
    assert refused.value.status_hint == 409
    with pytest.raises(TextError) as other:
        desk.handle(ev.TextAccepted(at=2.0, conversation_id="c1", seat_id="s2"), 2.0)
    assert other.value.status_hint == 403  # offered to s1
    desk.handle(ev.TextAccepted(at=2.5, conversation_id="c1", seat_id="s1"), 2.5)
    assert desk.handle(reply, 3.0) == [
        ev.AnnounceMessage(conversation_id="c1", seq=2, sender="call-taker", text="on our way",
                           wall=1.7e9 + 2),
        ev.DeliverReply(conversation_id="c1", channel="sms", address="+861391", seq=2,
                        text="on our way"),
    ]  # fmt: skip
    with pytest.raises(TextError) as stranger:
        desk.handle(
            ev.CallTakerWrote(at=3.0, conversation_id="c1", seat_id="s2", text="x", wall=0.0,
                              actor="user:wang"), 3.0
        )  # fmt: skip
    assert stranger.value.status_hint == 403
    supervisor = ev.CallTakerWrote(at=4.0, conversation_id="c1", seat_id="", text="sup",
                                   wall=0.0, actor="user:sun")  # fmt: skip
    assert [type(a) for a in desk.handle(supervisor, 4.0)] == [ev.AnnounceMessage,
                                                                ev.DeliverReply]  # fmt: skip
    citizen = ev.CitizenWrote(at=5.0, conversation_id="c1", text="thanks", wall=0.0)
    assert desk.handle(citizen, 5.0)[0].seq == 4  # type: ignore[attr-defined]
    assert desk.handle(
        ev.TextClosed(at=6.0, conversation_id="c1", seat_id="s1", actor="user:li"), 6.0
    ) == [ev.AnnounceClosed(conversation_id="c1", actor="user:li")]
    with pytest.raises(TextError) as late:
        desk.handle(ev.CitizenWrote(at=7.0, conversation_id="c1", text="?", wall=0.0), 7.0)
    assert late.value.status_hint == 409
    assert desk.open_for("sms", "+861391") is None  # the next SMS opens a new conversation


def test_a_request_takes_effect_only_once_filed_and_a_failed_write_leaves_no_trace() -> None:
    desk = TextDesk(offer_timeout=20.0)
    desk.handle(seats("s1"), 0.0)
    step = desk.begin(opened("c1", 1.0), 1.0)
    assert (step.kind, step.data["seq"], step.data["text"]) == ("text-opened", 1, "help")
    assert desk.conversations == {} and desk.waiting() == []  # not filed yet: nobody sees it
    desk.abort(step)  # the write failed: no phantom conversation
    assert desk.conversations == {} and desk.handle(seats("s1"), 1.5) == []
    assert desk.commit(desk.begin(opened("c1", 2.0), 2.0), 2.0) == [
        ev.AnnounceMessage(conversation_id="c1", seq=1, sender="citizen", text="help",
                           wall=1.7e9 + 2.0),
        ev.OfferText(conversation_id="c1", seat_id="s1", deadline=22.0),
    ]  # fmt: skip
    more = ev.CitizenWrote(at=3.0, conversation_id="c1", text="more", wall=0.0)
    failed = desk.begin(more, 3.0)
    assert (failed.kind, failed.seq) == ("text-in", 2)
    desk.abort(failed)
    assert len(desk.get("c1").messages) == 1
    step = desk.begin(more, 4.0)
    assert step.seq == 2  # no number is skipped: the incident gets 1, 2, never 1, 3
    # while its step is being filed the conversation is held: nothing else moves it
    with pytest.raises(TextError) as busy:
        desk.begin(ev.TextAccepted(at=4.0, conversation_id="c1", seat_id="s1"), 4.0)
    assert busy.value.status_hint == 409
    assert desk.next_deadline() is None
    assert desk.on_deadline(30.0) == [] and desk.handle(seats(), 31.0) == []
    assert desk.get("c1").state is TextState.OFFERED
    assert desk.commit(step, 32.0) == [
        ev.AnnounceMessage(conversation_id="c1", seq=2, sender="citizen", text="more", wall=0.0)
    ]
    assert desk.handle(seats(), 33.0) == [
        ev.WithdrawOffer(conversation_id="c1", seat_id="s1", reason="seat-gone")
    ]


def test_an_offered_text_is_accepted_before_its_seat_may_close_it() -> None:
    desk = TextDesk()
    desk.handle(seats("s1"), 0.0)
    desk.handle(opened("c1", 1.0), 1.0)
    with pytest.raises(TextError) as unread:
        desk.handle(ev.TextClosed(at=2.0, conversation_id="c1", seat_id="s1", actor="user:li"),
                    2.0)  # fmt: skip
    assert unread.value.status_hint == 409 and "accept conversation c1 first" in str(unread.value)
    assert desk.get("c1").state is TextState.OFFERED
    # a supervisor may close it (a hoax, a duplicate): the offer is withdrawn
    assert desk.handle(
        ev.TextClosed(at=3.0, conversation_id="c1", seat_id="", actor="user:sun"), 3.0
    ) == [
        ev.WithdrawOffer(conversation_id="c1", seat_id="s1", reason="closed"),
        ev.AnnounceClosed(conversation_id="c1", actor="user:sun"),
    ]
    with pytest.raises(TextError) as late:
        desk.handle(ev.CitizenWrote(at=4.0, conversation_id="c1", text="hello?", wall=0.0), 4.0)
    assert (late.value.status_hint, str(late.value)) == (409, CLOSED_FOR_CITIZEN)
    assert str(late.value) == "This conversation was closed: send a new report or call 110."


def test_only_a_watched_seat_is_offered_texts_and_one_whose_console_is_gone_loses_them() -> None:
    desk = TextDesk(offer_timeout=20.0, console_gone=60.0)
    desk.handle(seats(unwatched=("s1",)), 0.0)  # signed in and READY, but no console open
    assert [type(a) for a in desk.handle(opened("c1", 1.0), 1.0)] == [ev.AnnounceMessage]
    assert desk.handle(seats("s1"), 2.0) == [
        ev.OfferText(conversation_id="c1", seat_id="s1", deadline=22.0)
    ]
    assert desk.handle(seats(unwatched=("s1",)), 3.0) == [
        ev.WithdrawOffer(conversation_id="c1", seat_id="s1", reason="console-gone")
    ]  # an offer goes at once: it goes to someone who is watching
    desk.handle(seats("s1"), 4.0)
    desk.handle(ev.TextAccepted(at=5.0, conversation_id="c1", seat_id="s1"), 5.0)
    # a blip (EventSource reconnects in seconds) moves nothing
    assert desk.handle(seats(unwatched=("s1",)), 10.0) == []
    assert desk.handle(seats("s1"), 12.0) == []
    assert desk.handle(seats(unwatched=("s1",)), 20.0) == []  # gone again, from 20 s
    assert desk.next_deadline() == 80.0
    assert desk.on_deadline(79.9) == []
    assert desk.on_deadline(80.0) == [
        ev.RequeueText(conversation_id="c1", seat_id="s1", reason="console-gone")
    ]
    assert desk.get("c1").state is TextState.WAITING and desk.get("c1").seat == ""
    assert desk.handle(seats("s2", unwatched=("s1",)), 81.0) == [
        ev.OfferText(conversation_id="c1", seat_id="s2", deadline=101.0)
    ]  # first in line again, to a seat someone watches


def test_a_citizen_left_without_a_reply_raises_one_alert_per_message() -> None:
    desk = TextDesk(unanswered_alert=120.0)
    desk.handle(seats("s1"), 0.0)
    desk.handle(opened("c1", 1.0), 1.0)
    desk.handle(ev.TextAccepted(at=2.0, conversation_id="c1", seat_id="s1"), 2.0)
    assert desk.next_deadline() == 121.0
    assert desk.on_deadline(120.9) == []
    assert desk.on_deadline(121.0) == [
        ev.AlertUnanswered(conversation_id="c1", seat_id="s1", seq=1, waited=120.0)
    ]
    assert desk.next_deadline() is None and desk.on_deadline(500.0) == []  # once
    reply = ev.CallTakerWrote(at=501.0, conversation_id="c1", seat_id="s1", text="on our way",
                              wall=0.0, actor="user:li")  # fmt: skip
    desk.handle(reply, 501.0)
    assert desk.next_deadline() is None  # answered
    desk.handle(ev.CitizenWrote(at=510.0, conversation_id="c1", text="hurry", wall=0.0), 510.0)
    assert desk.on_deadline(630.0) == [
        ev.AlertUnanswered(conversation_id="c1", seat_id="s1", seq=3, waited=120.0)
    ]
    # a text nobody has taken is unanswered too
    desk.handle(seats(), 699.0)
    desk.handle(opened("c2", 700.0), 700.0)
    assert desk.on_deadline(820.0) == [
        ev.AlertUnanswered(conversation_id="c2", seat_id="", seq=1, waited=120.0)
    ]


def test_bad_requests_are_refused_with_a_status_and_change_nothing() -> None:
    desk = TextDesk()
    desk.handle(opened("c1", 1.0), 1.0)
    cases: list[tuple[ev.IntakeEvent, int]] = [
        (ev.CitizenWrote(at=2.0, conversation_id="nope", text="x", wall=0.0), 404),
        (ev.CitizenWrote(at=2.0, conversation_id="c1", text="   ", wall=0.0), 400),
        (ev.CitizenWrote(at=2.0, conversation_id="c1", text="x" * (MAX_TEXT + 1), wall=0.0), 400),
        (opened("c1", 2.0), 409),
        (ev.TextAccepted(at=2.0, conversation_id="c1", seat_id=""), 403),
    ]
    for event, status in cases:
        with pytest.raises(TextError) as refused:
            desk.handle(event, 2.0)
        assert refused.value.status_hint == status, event
    conversation = desk.get("c1")
    assert (conversation.state, len(conversation.messages)) == (TextState.WAITING, 1)
    assert desk.handle(seats(), 3.0) == []  # nobody signed in: still waiting
    assert [c.id for c in desk.waiting()] == ["c1"]


@pytest.mark.parametrize("state", list(TextState))
@pytest.mark.parametrize("request_", REQUESTS)
def test_every_state_and_request_pair_moves_by_the_table_or_is_refused(
    state: TextState, request_: str
) -> None:
    conversation = Conversation(id="c", channel="sms", address="1", incident="i",
                                token_sha256="", opened_at=0.0, state=state)  # fmt: skip
    expected = TRANSITIONS.get((state, request_))
    if expected is None:
        with pytest.raises(TextError) as refused:
            conversation.move(request_)
        assert refused.value.status_hint == 409
        assert conversation.state is state
    else:
        conversation.move(request_)
        assert conversation.state is expected
    assert all(TRANSITIONS.get((TextState.CLOSED, r)) is None for r in REQUESTS)  # final


SEATS = ("s1", "s2", "s3")
step = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 5)),
    st.tuples(st.just("citizen"), st.integers(0, 5)),
    st.tuples(st.just("accept"), st.integers(0, 5), st.sampled_from(SEATS)),
    st.tuples(st.just("reply"), st.integers(0, 5), st.sampled_from((*SEATS, ""))),
    st.tuples(st.just("close"), st.integers(0, 5), st.sampled_from((*SEATS, ""))),
    st.tuples(st.just("seats"), st.frozensets(st.sampled_from(SEATS)),
              st.frozensets(st.sampled_from(SEATS)), st.frozensets(st.sampled_from(SEATS))),
    st.tuples(st.just("wait"), st.floats(0.0, 30.0)),
)  # fmt: skip


def event_for(item: tuple[Any, ...], now: float) -> ev.IntakeEvent | None:
    kind, cid = item[0], f"c{item[1]}" if isinstance(item[1], int) else ""
    if kind == "open":
        return opened(cid, now)
    if kind == "citizen":
        return ev.CitizenWrote(at=now, conversation_id=cid, text="more", wall=now)
    if kind == "accept":
        return ev.TextAccepted(at=now, conversation_id=cid, seat_id=item[2])
    if kind == "reply":
        return ev.CallTakerWrote(at=now, conversation_id=cid, seat_id=item[2], text="ok",
                                 wall=now, actor="user:x")  # fmt: skip
    if kind == "close":
        return ev.TextClosed(at=now, conversation_id=cid, seat_id=item[2], actor="user:x")
    if kind == "seats":
        ready, present, unwatched = item[1], item[2] | item[1], item[3]
        return ev.SeatsSeen(at=now, seats=tuple(
            ev.SeatSeen(seat_id=s, ready=s in ready, console=s not in unwatched)
            for s in sorted(present)))  # fmt: skip
    return None


def snapshot(desk: TextDesk) -> dict[str, Any]:
    return {c.id: (c.state, c.seat, c.deadline, len(c.messages), c.alerted)
            for c in desk.conversations.values()}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(step, st.booleans()), max_size=60))
def test_random_sequences_keep_the_desk_consistent(steps: list[tuple[Any, bool]]) -> None:
    desk = TextDesk(offer_timeout=20.0, per_seat=2)
    now, ready_seats = 0.0, set[str]()
    for item, write_fails in steps:
        if item[0] == "wait":
            now += item[1]
        while (due := desk.next_deadline()) is not None and due <= now:
            desk.on_deadline(due)
        event = event_for(item, now)
        if event is None:
            continue
        if isinstance(event, ev.SeatsSeen):
            ready_seats = {s.seat_id for s in event.seats if s.ready and s.console}
        before = snapshot(desk)
        try:
            if write_fails and not isinstance(event, ev.SeatsSeen):
                desk.abort(desk.begin(event, now))  # the store refused the write
                assert snapshot(desk) == before  # a failed write leaves no trace
            else:
                desk.handle(event, now)
        except TextError:
            assert snapshot(desk) == before  # refused: nothing changed
        offered = [c.seat for c in desk.conversations.values() if c.state is TextState.OFFERED]
        assert len(offered) == len(set(offered))  # one offer per seat at a time
        assert set(offered) <= ready_seats  # only READY, watched seats are offered texts
        for conversation in desk.conversations.values():
            held = conversation.state in (TextState.OFFERED, TextState.TAKEN)
            assert held == bool(conversation.seat)
            assert (conversation.deadline is not None) == (conversation.state is TextState.OFFERED)
            assert [m.seq for m in conversation.messages] == list(
                range(1, len(conversation.messages) + 1)
            )
        # nobody free is left idle while texts wait
        waiting = [c for c in desk.conversations.values() if c.state is TextState.WAITING]
        if waiting:
            free = ready_seats - set(offered)
            assert all(
                sum(1 for c in desk.at_seat(s) if c.state is TextState.TAKEN) >= 2 for s in free
            )
