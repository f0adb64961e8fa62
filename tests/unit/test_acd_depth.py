"""acd.distributor, case by case: strategies, skills, the 3 s guard, overflow, admission by
expected wait, caller priority, busy and decline delays, supervisor force, leg checks and the
re-offer of a caller whose call-taker's phone died."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from acd import events as ev
from acd.config import overflow_seat_id
from acd.distributor import AcdConfig, Distributor, QueueConfig, SeatConfig
from acd.seats import SeatState

BASE = AcdConfig(
    ring_timeout=8.0,
    announce_after=2.0,
    wrap_up=0.0,
    parallel_after=0.0,
    check_interval=0.0,
    busy_delay=0.0,
    reject_delay=0.0,
    default_handle_time=1.0,
)


def config(**changes: Any) -> AcdConfig:
    return dataclasses.replace(BASE, **changes)


def core(cfg: AcdConfig, seats: Iterable[SeatConfig | str], ready: bool = True) -> Distributor:
    items = [s if isinstance(s, SeatConfig) else SeatConfig(seat_id=s, contact=f"sip:{s}@h") for s in seats]  # fmt: skip
    acd = Distributor(cfg, items)
    for seat in items:
        acd.handle(ev.AgentLoggedIn(at=0.0, seat_id=seat.seat_id, agent_id=f"a-{seat.seat_id}"))
        if ready:
            acd.handle(ev.AgentWentReady(at=0.0, seat_id=seat.seat_id))
    return acd


def rings(actions: list[ev.AcdAction]) -> list[tuple[str, str]]:
    return [(a.call_id, a.seat_id) for a in actions if isinstance(a, ev.RingSeat)]


def of(actions: list[ev.AcdAction], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def arrive(call: str, at: float, **fields: Any) -> ev.CallArrived:
    return ev.CallArrived(at=at, call_id=call, caller=fields.pop("caller", f"+86{call}"), **fields)


def serve(acd: Distributor, call: str, seat: str, at: float, talk: float) -> None:
    """Answer `call` on `seat` at `at` and end it `talk` seconds later."""
    acd.handle(ev.SeatAnswered(at=at, call_id=call, seat_id=seat))
    acd.handle(ev.CallEnded(at=at + talk, call_id=call))


# -- strategies ------------------------------------------------------------------------------


def test_round_robin_goes_around_the_seats_in_order() -> None:
    acd = core(config(queues=(QueueConfig(name="main", strategy="round-robin"),)), ["s1", "s2", "s3"])  # fmt: skip
    picked = []
    for n in range(5):
        (ring,) = rings(acd.handle(arrive(f"c{n}", 10.0 + n)))
        picked.append(ring[1])
        serve(acd, f"c{n}", ring[1], 10.0 + n, 0.1)
    assert picked == ["s1", "s2", "s3", "s1", "s2"]


def test_fewest_calls_and_least_talk_time_prefer_the_least_loaded_seat() -> None:
    for strategy, expected in (("fewest-calls", "s1"), ("least-talk-time", "s2")):
        acd = core(config(queues=(QueueConfig(name="main", strategy=strategy),)), ["s1", "s2"])
        # s1: one long call; s2: two short ones
        acd.handle(arrive("a", 1.0))
        acd.handle(arrive("b", 1.0))
        serve(acd, "a", "s1", 1.5, 100.0)
        serve(acd, "b", "s2", 1.5, 1.0)
        (ring,) = rings(acd.handle(arrive("c", 5.0)))
        serve(acd, "c", ring[1], 5.5, 1.0)
        # now s1 has 1 call / 100 s, s2 has 2 calls / 2 s
        (ring,) = rings(acd.handle(arrive("d", 200.0)))
        assert ring[1] == expected, strategy


def test_random_is_seeded_and_uses_every_seat() -> None:
    def picks(seed: int) -> list[str]:
        acd = core(config(seed=seed, queues=(QueueConfig(name="main", strategy="random"),)), ["s1", "s2", "s3"])  # fmt: skip
        out = []
        for n in range(30):
            (ring,) = rings(acd.handle(arrive(f"c{n}", 10.0 + n)))
            out.append(ring[1])
            serve(acd, f"c{n}", ring[1], 10.0 + n, 0.1)
        return out

    assert picks(7) == picks(7)
    assert set(picks(7)) == {"s1", "s2", "s3"}


def test_skills_strategy_picks_the_best_speaker_and_relaxes_after_a_while() -> None:
    queue = QueueConfig(name="main", strategy="skills", relax_skills_after=2.0)
    seats = [
        SeatConfig(seat_id="plain", contact="sip:plain@h"),
        SeatConfig(seat_id="some", contact="sip:some@h", skills={"lang:yue": 3}),
        SeatConfig(seat_id="fluent", contact="sip:fluent@h", skills={"lang:yue": 9}),
    ]
    acd = core(config(queues=(queue,)), seats)
    assert rings(acd.handle(arrive("c1", 1.0, skills=frozenset({"lang:yue"})))) == [
        ("c1", "fluent")
    ]
    assert rings(acd.handle(arrive("c2", 1.1, skills=frozenset({"lang:yue"})))) == [("c2", "some")]
    # nobody left who speaks it: the third caller waits (announced) ... until relaxed
    actions = acd.handle(arrive("c3", 1.2, skills=frozenset({"lang:yue"})))
    assert rings(actions) == [] and of(actions, ev.Announce)
    assert acd.seat("plain").state is SeatState.READY
    assert rings(acd.on_deadline(3.2)) == [("c3", "plain")]


def test_queues_only_get_their_own_seats() -> None:
    cfg = config(queues=(QueueConfig(name="main"), QueueConfig(name="video")))
    seats = [
        SeatConfig(seat_id="m1", contact="sip:m1@h"),
        SeatConfig(seat_id="v1", contact="sip:v1@h", queues=("video",)),
    ]
    acd = core(cfg, seats)
    assert rings(acd.handle(arrive("a", 1.0, queue="video"))) == [("a", "v1")]
    actions = acd.handle(arrive("b", 1.1, queue="video"))
    assert rings(actions) == [] and acd.seat("m1").state is SeatState.READY
    assert rings(acd.handle(arrive("c", 1.2))) == [("c", "m1")]


# -- priority ----------------------------------------------------------------------------------


def test_a_caller_whose_call_was_abandoned_is_served_first_when_calling_back() -> None:
    acd = core(config(repeat_window=600.0), ["s1"], ready=False)
    acd.handle(arrive("first", 1.0, caller="+8613900000001"))
    acd.handle(ev.CallAbandoned(at=5.0, call_id="first"))
    acd.handle(arrive("other", 6.0, caller="+8613900000002"))
    acd.handle(arrive("again", 7.0, caller="+8613900000001"))
    waiting = acd.waiting()
    assert [w.call_id for w in waiting] == ["again", "other"]
    assert waiting[0].priority_reason == "callback"
    assert rings(acd.handle(ev.AgentWentReady(at=8.0, seat_id="s1"))) == [("again", "s1")]
    # after the window, and for anonymous callers, no boost
    acd.handle(arrive("late", 700.0, caller="+8613900000001"))
    acd.handle(arrive("anon", 700.0, caller="anonymous"))
    assert {w.call_id: w.priority for w in acd.waiting()}["late"] == 0


# -- the 3 s guard -------------------------------------------------------------------------------


def test_parallel_ring_when_a_call_gets_old_and_first_answer_wins() -> None:
    acd = core(config(parallel_after=1.5, parallel_max=2), ["s1", "s2", "s3"])
    assert rings(acd.handle(arrive("c1", 10.0))) == [("c1", "s1")]
    assert acd.next_deadline() == 11.5
    # at 1.5 s a spare seat rings too (only one more: parallel_max=2)
    assert rings(acd.on_deadline(11.5)) == [("c1", "s2")]
    actions = acd.handle(ev.SeatAnswered(at=12.0, call_id="c1", seat_id="s2"))
    assert of(actions, ev.CancelRing) == [ev.CancelRing(call_id="c1", seat_id="s1")]
    assert of(actions, ev.ConnectSeat) == [ev.ConnectSeat(call_id="c1", seat_id="s2")]
    (notice,) = of(actions, ev.CallDequeued)
    assert notice.rung_at_once == 2 and notice.outcome == "answered"
    assert acd.seat("s1").state is SeatState.READY and acd.seat("s1").missed == 0
    # a late answer from the cancelled seat is dropped
    late = acd.handle(ev.SeatAnswered(at=12.1, call_id="c1", seat_id="s1"))
    assert late == [ev.CancelRing(call_id="c1", seat_id="s1")]


def test_the_guard_never_takes_a_seat_another_waiting_call_needs() -> None:
    acd = core(config(parallel_after=1.5, parallel_max=3), ["s1", "s2"])
    acd.handle(arrive("c1", 10.0))
    acd.on_deadline(11.5)  # c1 now rings s1 and s2
    assert acd.seat("s2").state is SeatState.RESERVED
    actions = acd.handle(arrive("c2", 12.0))
    assert rings(actions) == []  # both seats ring for c1 already; c2 waits for one
    acd.handle(ev.SeatRingFailed(at=12.5, call_id="c1", seat_id="s2", status=480))
    acd.handle(ev.AgentWentReady(at=13.0, seat_id="s2"))
    # s2 back: it goes to c2 (nothing ringing for it), not to c1 as a second ring
    assert acd.seat("s2").call_id == "c2"


# -- ring-no-answer, busy, decline ------------------------------------------------------------


def test_busy_and_decline_delays_end_by_themselves() -> None:
    acd = core(config(busy_delay=5.0, reject_delay=10.0, max_no_answer=3), ["s1", "s2"])
    acd.handle(arrive("c1", 1.0))
    acd.handle(ev.SeatRingFailed(at=1.2, call_id="c1", seat_id="s1", status=486))
    seat = acd.seat("s1")
    assert (seat.state, seat.reason, seat.deadline) == (SeatState.NOT_READY, "busy", 6.2)
    assert acd.seat("s2").call_id == "c1"  # offered to the next seat at once
    acd.on_deadline(6.2)
    assert acd.seat("s1").state is SeatState.READY
    acd.handle(arrive("c2", 7.0))
    assert acd.seat("s1").call_id == "c2"
    acd.handle(ev.SeatRingFailed(at=7.5, call_id="c2", seat_id="s1", status=603))
    assert (acd.seat("s1").reason, acd.seat("s1").deadline) == ("declined", 17.5)


def test_ring_no_answer_moves_on_and_pauses_after_max_misses() -> None:
    acd = core(config(max_no_answer=2, ring_timeout=5.0), ["s1", "s2"])
    acd.handle(ev.AgentWentNotReady(at=0.5, seat_id="s2", reason="away"))
    acd.handle(arrive("c1", 1.0))
    assert acd.seat("s1").call_id == "c1"
    acd.on_deadline(6.0)  # first miss: READY again, rung again as the only seat
    assert acd.seat("s1").missed == 1 and acd.seat("s1").call_id == "c1"
    acd.on_deadline(11.0)  # second miss in a row: paused
    seat = acd.seat("s1")
    assert (seat.state, seat.reason) == (SeatState.NOT_READY, "no-answer")
    assert acd.waiting()[0].ringing == ()


# -- overflow and admission ----------------------------------------------------------------------


def test_max_wait_overflows_to_the_neighbour_centre_alongside_local_seats() -> None:
    queue = QueueConfig(name="main", max_wait=30.0, overflow="sip:110@neighbour", overflow_retry=20.0)  # fmt: skip
    acd = core(config(queues=(queue,)), ["s1"], ready=False)
    acd.handle(arrive("c1", 0.0))
    actions = acd.on_deadline(30.0)
    assert rings(actions) == [("c1", overflow_seat_id("main"))]
    # the neighbour is busy: try again later; the call keeps its place
    acd.handle(ev.SeatRingFailed(at=31.0, call_id="c1", seat_id=overflow_seat_id("main"), status=486))  # fmt: skip
    assert acd.next_deadline() == 51.0
    assert rings(acd.on_deadline(51.0)) == [("c1", overflow_seat_id("main"))]
    # a local seat comes free and rings too; the neighbour answers first
    assert rings(acd.handle(ev.AgentWentReady(at=52.0, seat_id="s1"))) == [("c1", "s1")]
    actions = acd.handle(ev.SeatAnswered(at=53.0, call_id="c1", seat_id=overflow_seat_id("main")))
    assert of(actions, ev.CancelRing) == [ev.CancelRing(call_id="c1", seat_id="s1")]
    (notice,) = of(actions, ev.CallDequeued)
    assert notice.outcome == "overflowed"
    assert acd.seat("s1").state is SeatState.READY


def test_overflow_to_another_seat_group() -> None:
    cfg = config(
        queues=(
            QueueConfig(name="dialect", max_wait=10.0, overflow="queue:main"),
            QueueConfig(name="main"),
        )
    )
    seats = [
        SeatConfig(seat_id="d1", contact="sip:d1@h", queues=("dialect",)),
        SeatConfig(seat_id="m1", contact="sip:m1@h", queues=("main",)),
    ]
    acd = core(cfg, seats)
    acd.handle(arrive("a", 0.0, queue="dialect"))
    acd.handle(ev.SeatAnswered(at=0.5, call_id="a", seat_id="d1"))
    acd.handle(arrive("b", 1.0, queue="dialect"))
    assert acd.seat("m1").state is SeatState.READY  # a main seat does not take dialect calls
    assert rings(acd.on_deadline(11.0)) == [("b", "m1")]
    assert acd.waiting()[-1].queue == "main"


def test_admission_refuses_by_expected_wait_not_by_count() -> None:
    queue = QueueConfig(name="main", max_expected_wait=60.0)
    acd = core(config(default_handle_time=40.0, queues=(queue,), max_waiting=100), ["s1", "s2"])
    acd.handle(arrive("c1", 0.0))
    acd.handle(arrive("c2", 0.0))  # both seats ring
    assert acd.expected_wait("main", 0) == 20.0  # next in line: 1 x 40 s / 2 seats
    for n in range(3, 6):  # expected 20, 40 and 60 s: admitted
        assert not of(acd.handle(arrive(f"c{n}", 0.0)), ev.RejectCall)
    (refusal,) = of(acd.handle(arrive("c6", 0.0)), ev.RejectCall)  # 4 x 40 / 2 = 80 s
    assert refusal == ev.RejectCall(
        call_id="c6", status=503, reason="expected-wait", retry_after=10
    )
    # short real calls bring the estimate down: the same queue admits more
    fast = core(config(default_handle_time=40.0, queues=(queue,), max_waiting=100), ["s1", "s2"])
    for n in range(4):
        fast.handle(arrive(f"w{n}", 1.0))
        serve(fast, f"w{n}", fast.waiting()[0].ringing[0], 1.0, 2.0)
    assert fast.expected_wait("main", 0) == 0.0
    for n in range(10):
        assert not of(fast.handle(arrive(f"c{n}", 10.0)), ev.RejectCall)


def test_nobody_logged_in_refuses_at_once_or_overflows() -> None:
    acd = Distributor(config(), [SeatConfig(seat_id="s1", contact="sip:s1@h")])
    (refusal,) = of(acd.handle(arrive("c1", 0.0)), ev.RejectCall)
    assert refusal.reason == "no-call-taker"
    queue = QueueConfig(name="main", overflow="sip:110@neighbour")
    acd = Distributor(config(queues=(queue,)), [SeatConfig(seat_id="s1", contact="sip:s1@h")])
    assert rings(acd.handle(arrive("c1", 0.0))) == [("c1", overflow_seat_id("main"))]


# -- supervisors ---------------------------------------------------------------------------------


def test_forced_not_ready_withdraws_a_ringing_seat_but_never_cuts_a_call() -> None:
    acd = core(config(), ["s1", "s2"])
    acd.handle(arrive("c1", 1.0))
    actions = acd.handle(ev.AgentWentNotReady(at=1.5, seat_id="s1", reason="supervisor", forced=True))  # fmt: skip
    assert ev.CancelRing(call_id="c1", seat_id="s1") in actions
    assert rings(actions) == [("c1", "s2")]
    assert acd.seat("s1").state is SeatState.NOT_READY
    acd.handle(ev.SeatAnswered(at=2.0, call_id="c1", seat_id="s2"))
    acd.handle(ev.AgentLoggedOut(at=2.5, seat_id="s2", forced=True))
    assert acd.seat("s2").state is SeatState.TALKING and acd.seat("s2").pending == "logout"
    acd.handle(ev.CallEnded(at=9.0, call_id="c1"))
    assert acd.seat("s2").state is SeatState.LOGGED_OUT


def test_skills_and_queues_change_at_run_time() -> None:
    cfg = config(queues=(QueueConfig(name="main"), QueueConfig(name="video", relax_skills_after=0)))  # fmt: skip
    acd = core(cfg, ["s1"])
    acd.handle(ev.SeatSkillsChanged(at=1.0, seat_id="s1", skills={"video": 4}, queues=("video",)))
    view = acd.seat("s1")
    assert view.skills == {"video": 4} and view.queues == ("video",)
    assert rings(acd.handle(arrive("c1", 2.0))) == []
    assert rings(acd.handle(arrive("c2", 2.0, queue="video"))) == [("c2", "s1")]


# -- seat state never drifts ---------------------------------------------------------------------


def test_a_lost_seat_leg_pauses_the_seat_and_re_offers_the_caller_first() -> None:
    acd = core(config(), ["s1", "s2"])
    acd.handle(arrive("c1", 1.0))
    acd.handle(ev.SeatAnswered(at=2.0, call_id="c1", seat_id="s1"))
    acd.handle(ev.AgentWentNotReady(at=2.1, seat_id="s2", reason="away"))
    acd.handle(arrive("c2", 3.0))  # waits: nobody free
    acd.handle(ev.SeatLost(at=20.0, call_id="c1", seat_id="s1", reason="no media"))
    seat = acd.seat("s1")
    assert (seat.state, seat.reason, seat.call_id) == (SeatState.NOT_READY, "phone-lost", None)
    waiting = acd.waiting()
    assert [w.call_id for w in waiting] == ["c1", "c2"]
    assert waiting[0].priority_reason.startswith("re-offer")
    assert rings(acd.handle(ev.AgentWentReady(at=21.0, seat_id="s2"))) == [("c1", "s2")]
    # the phone registers again: the seat is ready again and takes the next caller
    assert rings(acd.handle(ev.SeatPhoneBack(at=25.0, seat_id="s1"))) == [("c2", "s1")]
    # a seat the agent paused is not put ready by its phone
    acd.handle(ev.AgentWentNotReady(at=26.0, seat_id="s2", reason="coffee"))
    acd.handle(ev.SeatPhoneBack(at=27.0, seat_id="s2"))
    assert acd.seat("s2").pending == "pause"


def test_talking_seats_are_checked_and_freed_when_the_leg_is_gone_or_the_member_is_silent() -> None:
    acd = core(config(check_interval=15.0, check_grace=5.0, wrap_up=2.0), ["s1", "s2"])
    acd.handle(arrive("c1", 0.0))
    acd.handle(ev.SeatAnswered(at=1.0, call_id="c1", seat_id="s1"))
    assert acd.on_deadline(16.0) == [ev.CheckSeatLeg(call_id="c1", seat_id="s1")]
    acd.handle(ev.SeatLegChecked(at=16.1, call_id="c1", seat_id="s1", alive=True))
    assert acd.seat("s1").deadline == pytest.approx(31.1)
    assert acd.on_deadline(31.1) == [ev.CheckSeatLeg(call_id="c1", seat_id="s1")]
    # the member never answers: the call is dropped, the seat goes through wrap-up
    assert acd.on_deadline(36.1) == [
        ev.DropCall(call_id="c1", reason="pool member did not answer a leg check")
    ]
    assert acd.seat("s1").state is SeatState.WRAP_UP
    acd.on_deadline(38.1)
    assert acd.seat("s1").state is SeatState.READY
    # the member says the leg is gone: the caller is re-offered
    acd.handle(arrive("c2", 40.0))
    seat = acd.waiting()[0].ringing[0]
    acd.handle(ev.SeatAnswered(at=41.0, call_id="c2", seat_id=seat))
    acd.on_deadline(56.0)
    acd.handle(ev.SeatLegChecked(at=56.1, call_id="c2", seat_id=seat, alive=False))
    assert acd.seat(seat).reason == "phone-lost"
    assert [w.call_id for w in acd.waiting()] == ["c2"]


def test_time_in_each_state_adds_up() -> None:
    acd = core(config(wrap_up=5.0), ["s1"])
    acd.handle(arrive("c1", 10.0))
    acd.handle(ev.SeatAnswered(at=12.0, call_id="c1", seat_id="s1"))
    acd.handle(ev.CallEnded(at=42.0, call_id="c1"))
    acd.on_deadline(47.0)
    time_in = acd.seat("s1", now=50.0).time_in
    assert time_in[SeatState.READY] == pytest.approx(10.0 + 3.0)
    assert time_in[SeatState.RESERVED] == pytest.approx(2.0)
    assert time_in[SeatState.TALKING] == pytest.approx(30.0)
    assert time_in[SeatState.WRAP_UP] == pytest.approx(5.0)
    assert acd.seat("s1").handle_time == pytest.approx(35.0)
