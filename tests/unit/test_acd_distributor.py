"""acd.distributor: the ACD core driven by events with explicit times; no sockets, no sleeps."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from acd import events as ev
from acd.distributor import AcdConfig, Distributor, SeatConfig
from acd.errors import AcdError
from acd.seats import SeatState

CONFIG = AcdConfig(
    ring_timeout=8.0,
    announce_after=2.0,
    wrap_up=3.0,
    max_waiting=3,
    retry_after=10,
    parallel_after=0.0,
    check_interval=0.0,
    busy_delay=0.0,
    reject_delay=0.0,
    default_handle_time=1.0,
)


def core(seats: int = 2, config: AcdConfig = CONFIG, ready: bool = True) -> Distributor:
    """Seats s1..sN logged in (and ready) at t=0, in that order."""
    acd = Distributor(
        config, [SeatConfig(seat_id=f"s{n}", contact=f"sip:s{n}@h") for n in range(1, seats + 1)]
    )
    for n in range(1, seats + 1):
        acd.handle(ev.AgentLoggedIn(at=0.0, seat_id=f"s{n}", agent_id=f"a{n}"))
        if ready:
            acd.handle(ev.AgentWentReady(at=0.0, seat_id=f"s{n}"))
    return acd


def drive(acd: Distributor, events: Iterable[ev.AcdEvent]) -> list[ev.AcdAction]:
    actions: list[ev.AcdAction] = []
    for event in events:
        actions += acd.handle(event)
    return actions


def act(acd: Distributor, event: ev.AcdEvent) -> list[ev.AcdAction]:
    """The actions of one event, without the CallDequeued notices (tested on their own)."""
    return [a for a in acd.handle(event) if not isinstance(a, ev.CallDequeued)]


def tick(acd: Distributor, now: float) -> list[ev.AcdAction]:
    return [a for a in acd.on_deadline(now) if not isinstance(a, ev.CallDequeued)]


def arrive(call: str, at: float, priority: int = 0) -> ev.CallArrived:
    return ev.CallArrived(at=at, call_id=call, caller=f"caller-{call}", priority=priority)


def ring(call: str, seat: str) -> ev.RingSeat:
    return ev.RingSeat(call_id=call, seat_id=seat, contact=f"sip:{seat}@h")


def state(acd: Distributor, seat: str) -> SeatState:
    return acd.seat(seat).state


def test_a_call_rings_the_longest_idle_seat_and_connects_when_it_answers() -> None:
    acd = core()
    acd.handle(ev.AgentWentNotReady(at=1.0, seat_id="s1", reason="coffee"))
    acd.handle(ev.AgentWentReady(at=2.0, seat_id="s1"))  # s1 is now the most recently idle
    assert act(acd, arrive("c1", 100.0)) == [ring("c1", "s2")]
    assert state(acd, "s2") is SeatState.RESERVED
    assert acd.next_deadline() == 102.0  # the announcement guard comes before the ring timeout
    assert act(acd, ev.SeatAnswered(at=100.8, call_id="c1", seat_id="s2")) == [
        ev.ConnectSeat(call_id="c1", seat_id="s2")
    ]
    assert state(acd, "s2") is SeatState.TALKING
    assert acd.waiting() == []
    assert acd.next_deadline() is None
    assert acd.call("c1") is not None and acd.call("c1").state == "connected"  # type: ignore[union-attr]


def test_ties_go_to_the_seat_listed_first() -> None:
    assert core(3).handle(arrive("c1", 5.0)) == [ring("c1", "s1")]


def test_no_seat_ready_announces_at_once_and_the_first_ready_seat_gets_the_oldest_call() -> None:
    acd = core(2, ready=False)
    assert drive(acd, [arrive("c1", 100.0), arrive("c2", 101.0)]) == [
        ev.Announce(call_id="c1"),
        ev.Announce(call_id="c2"),
    ]
    assert [w.call_id for w in acd.waiting()] == ["c1", "c2"]
    assert acd.next_deadline() is None  # both announced; nothing rings
    assert act(acd, ev.AgentWentReady(at=110.0, seat_id="s2")) == [ring("c1", "s2")]
    assert act(acd, ev.AgentWentReady(at=111.0, seat_id="s1")) == [ring("c2", "s1")]


def test_announcement_guard_answers_a_caller_whose_seat_is_still_ringing() -> None:
    acd = core(1)
    acd.handle(arrive("c1", 100.0))
    assert tick(acd, 101.999) == []
    assert tick(acd, 102.0) == [ev.Announce(call_id="c1")]
    assert tick(acd, 103.0) == []  # once only
    assert act(acd, ev.SeatAnswered(at=104.0, call_id="c1", seat_id="s1")) == [
        ev.ConnectSeat(call_id="c1", seat_id="s1")
    ]


def test_ring_no_answer_moves_on_and_pauses_a_seat_that_keeps_missing() -> None:
    acd = core(2)
    assert act(acd, arrive("c1", 100.0)) == [ring("c1", "s1")]
    acd.on_deadline(102.0)  # announced
    assert tick(acd, 108.0) == [
        ev.CancelRing(call_id="c1", seat_id="s1"),
        ring("c1", "s2"),
    ]
    assert state(acd, "s1") is SeatState.READY and acd.seat("s1").consecutive_misses == 1
    # s2 misses too: the call goes back to s1, who misses a second time in a row
    assert tick(acd, 116.0) == [ev.CancelRing(call_id="c1", seat_id="s2"), ring("c1", "s1")]
    assert tick(acd, 124.0) == [ev.CancelRing(call_id="c1", seat_id="s1"), ring("c1", "s2")]
    assert state(acd, "s1") is SeatState.NOT_READY
    assert acd.seat("s1").reason == "no-answer"
    assert acd.seat("s1").missed == 2


def test_busy_or_declined_seat_is_a_miss_and_an_unreachable_one_is_paused() -> None:
    acd = core(3)
    acd.handle(arrive("c1", 100.0))
    assert act(acd, ev.SeatRingFailed(at=100.1, call_id="c1", seat_id="s1", status=486)) == [
        ring("c1", "s2")
    ]
    assert state(acd, "s1") is SeatState.READY and acd.seat("s1").missed == 1
    assert act(acd, ev.SeatRingFailed(at=100.2, call_id="c1", seat_id="s2", status=408)) == [
        ring("c1", "s3")
    ]
    assert (state(acd, "s2"), acd.seat("s2").reason) == (SeatState.NOT_READY, "unreachable")


def test_stale_answer_is_dropped() -> None:
    acd = core(2)
    acd.handle(arrive("c1", 100.0))
    acd.on_deadline(108.0)  # s1 timed out, s2 rings
    assert act(acd, ev.SeatAnswered(at=108.01, call_id="c1", seat_id="s1")) == [
        ev.CancelRing(call_id="c1", seat_id="s1")
    ]
    assert act(acd, ev.SeatAnswered(at=108.5, call_id="nope", seat_id="s2")) == [
        ev.CancelRing(call_id="nope", seat_id="s2")
    ]
    assert state(acd, "s2") is SeatState.RESERVED


def test_wrap_up_then_ready_and_the_next_call_waits_for_it() -> None:
    acd = core(1)
    drive(acd, [arrive("c1", 100.0), ev.SeatAnswered(at=100.5, call_id="c1", seat_id="s1")])
    assert act(acd, arrive("c2", 105.0)) == [ev.Announce(call_id="c2")]
    assert act(acd, ev.CallEnded(at=110.0, call_id="c1")) == []
    assert state(acd, "s1") is SeatState.WRAP_UP
    assert acd.next_deadline() == 113.0
    assert tick(acd, 112.9) == []
    assert tick(acd, 113.0) == [ring("c2", "s1")]


def test_agent_ends_wrap_up_early() -> None:
    acd = core(1)
    drive(acd, [arrive("c1", 100.0), ev.SeatAnswered(at=100.5, call_id="c1", seat_id="s1")])
    drive(acd, [ev.CallEnded(at=110.0, call_id="c1"), ev.AgentWentReady(at=111.0, seat_id="s1")])
    assert state(acd, "s1") is SeatState.READY


def test_pause_and_logout_during_a_call_wait_for_its_end() -> None:
    acd = core(2, config=AcdConfig(wrap_up=0.0))
    drive(acd, [arrive("c1", 100.0), ev.SeatAnswered(at=100.5, call_id="c1", seat_id="s1")])
    drive(acd, [arrive("c2", 101.0), ev.SeatAnswered(at=101.5, call_id="c2", seat_id="s2")])
    acd.handle(ev.AgentWentNotReady(at=102.0, seat_id="s1", reason="meal"))
    acd.handle(ev.AgentLoggedOut(at=102.0, seat_id="s2"))
    assert state(acd, "s1") is SeatState.TALKING and acd.seat("s1").pending == "pause"
    drive(acd, [ev.CallEnded(at=120.0, call_id="c1"), ev.CallEnded(at=121.0, call_id="c2")])
    assert (state(acd, "s1"), acd.seat("s1").reason) == (SeatState.NOT_READY, "meal")
    assert state(acd, "s2") is SeatState.LOGGED_OUT and acd.seat("s2").agent_id == ""


def test_caller_leaving_while_a_seat_rings_frees_the_seat() -> None:
    acd = core(1)
    acd.handle(arrive("c1", 100.0))
    assert act(acd, ev.CallAbandoned(at=101.0, call_id="c1")) == [
        ev.CancelRing(call_id="c1", seat_id="s1")
    ]
    assert state(acd, "s1") is SeatState.READY and acd.seat("s1").missed == 0
    assert acd.next_deadline() is None


def test_failed_connected_call_frees_its_seat() -> None:
    acd = core(1)
    drive(acd, [arrive("c1", 100.0), ev.SeatAnswered(at=100.5, call_id="c1", seat_id="s1")])
    assert act(acd, ev.CallFailed(at=103.0, call_id="c1", reason="member died")) == []
    assert state(acd, "s1") is SeatState.WRAP_UP


def test_full_queue_refuses_with_retry_after() -> None:
    acd = core(1, ready=False)
    drive(acd, [arrive("c1", 1.0), arrive("c2", 2.0), arrive("c3", 3.0)])
    assert act(acd, arrive("c4", 4.0)) == [
        ev.RejectCall(call_id="c4", status=503, reason="queue-full", retry_after=10)
    ]
    assert len(acd.waiting()) == 3


def test_priority_then_arrival() -> None:
    acd = core(1, ready=False)
    drive(acd, [arrive("low", 1.0), arrive("high", 2.0, priority=5), arrive("low2", 3.0)])
    assert [w.call_id for w in acd.waiting()] == ["high", "low", "low2"]
    assert act(acd, ev.AgentWentReady(at=4.0, seat_id="s1")) == [ring("high", "s1")]


def test_agent_requests_are_checked() -> None:
    acd = core(1, ready=False)
    with pytest.raises(AcdError) as missing:
        acd.handle(ev.AgentWentReady(at=1.0, seat_id="zz"))
    assert missing.value.status_hint == 404
    with pytest.raises(AcdError) as twice:
        acd.handle(ev.AgentLoggedIn(at=1.0, seat_id="s1", agent_id="b"))
    assert twice.value.status_hint == 409
    acd.handle(ev.AgentLoggedOut(at=2.0, seat_id="s1"))
    with pytest.raises(AcdError):
        acd.handle(ev.AgentWentReady(at=3.0, seat_id="s1"))
    assert state(acd, "s1") is SeatState.LOGGED_OUT


def test_history_is_timestamped_and_bounded() -> None:
    acd = core(1)
    for n in range(40):
        acd.handle(ev.AgentWentNotReady(at=10.0 + n, seat_id="s1", reason="x"))
        acd.handle(ev.AgentWentReady(at=10.5 + n, seat_id="s1"))
    history = acd.seat("s1").history
    assert len(history) == 50
    assert history[-1] == (49.5, SeatState.NOT_READY, SeatState.READY, "")


def test_sip_facts_about_unknown_calls_are_ignored() -> None:
    acd = core(1)
    assert (
        drive(
            acd,
            [
                ev.SeatRingFailed(at=1.0, call_id="x", seat_id="s1", status=486),
                ev.CallEnded(at=1.0, call_id="x"),
                ev.CallAbandoned(at=1.0, call_id="x"),
                ev.CallFailed(at=1.0, call_id="x", reason=""),
            ],
        )
        == []
    )
    assert state(acd, "s1") is SeatState.READY
