"""acd.distributor under random event sequences (Hypothesis): the invariants a supervisor relies on."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd import events as ev
from acd.distributor import AcdConfig, Distributor, SeatConfig
from acd.errors import AcdError
from acd.seats import SeatState

SEATS = ["s1", "s2", "s3"]
CALLS = [f"c{n}" for n in range(6)]
CONFIG = AcdConfig(
    ring_timeout=8.0, announce_after=2.0, wrap_up=3.0, max_waiting=4, max_no_answer=2
)

seat_ids = st.sampled_from([*SEATS, "ghost"])
call_ids = st.sampled_from(CALLS)
steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=6.0),  # time passing before the step
        st.one_of(
            st.tuples(st.just("arrive"), call_ids, st.integers(0, 2)),
            st.tuples(st.just("answer"), call_ids, seat_ids),
            st.tuples(
                st.just("ring-failed"), call_ids, seat_ids, st.sampled_from([0, 404, 486, 603])
            ),
            st.tuples(st.sampled_from(["abandon", "end", "fail"]), call_ids),
            st.tuples(st.sampled_from(["login", "logout", "ready", "pause"]), seat_ids),
            st.tuples(st.just("tick")),
        ),
    ),
    max_size=60,
)


def to_event(step: tuple[Any, ...], at: float, serial: int) -> ev.AcdEvent | None:
    kind = step[0]
    if kind == "arrive":
        return ev.CallArrived(at=at, call_id=f"{step[1]}-{serial}", caller="x", priority=step[2])
    if kind == "answer":
        return ev.SeatAnswered(at=at, call_id=step[1], seat_id=step[2])
    if kind == "ring-failed":
        return ev.SeatRingFailed(at=at, call_id=step[1], seat_id=step[2], status=step[3])
    if kind in ("abandon", "end", "fail"):
        cls = {"abandon": ev.CallAbandoned, "end": ev.CallEnded}.get(kind)
        if cls is None:
            return ev.CallFailed(at=at, call_id=step[1], reason="test")
        return cls(at=at, call_id=step[1])
    if kind == "login":
        return ev.AgentLoggedIn(at=at, seat_id=step[1], agent_id="agent")
    if kind == "logout":
        return ev.AgentLoggedOut(at=at, seat_id=step[1])
    if kind == "ready":
        return ev.AgentWentReady(at=at, seat_id=step[1])
    if kind == "pause":
        return ev.AgentWentNotReady(at=at, seat_id=step[1], reason="break")
    return None


def resolve_call(acd: Distributor, step: tuple[Any, ...], known: list[str]) -> tuple[Any, ...]:
    """Point call facts at calls that exist (most of the time), so the sequences go deep."""
    if step[0] in ("answer", "ring-failed", "abandon", "end", "fail") and known:
        index = int(step[1][1:]) % len(known)
        call_id = known[index]
        if step[0] in ("answer", "ring-failed"):
            view = acd.call(call_id)
            seat = step[2]
            if view is not None and view.seat_id is not None and seat != "ghost":
                seat = view.seat_id  # usually the seat that really rings
            return (step[0], call_id, seat, *step[3:])
        return (step[0], call_id)
    return step


def check(acd: Distributor, actions: list[ev.AcdAction], now: float) -> None:
    seats = acd.seats()
    held = [s.call_id for s in seats if s.state in (SeatState.RESERVED, SeatState.TALKING)]
    assert None not in held
    assert len(held) == len(set(held)), "a call on two seats"
    waiting = acd.waiting()
    ringing = {w.ringing_seat: w.call_id for w in waiting if w.ringing_seat}
    for seat in seats:
        if seat.state is SeatState.RESERVED:
            assert ringing.get(seat.seat_id) == seat.call_id
        if seat.state is SeatState.TALKING:
            view = acd.call(seat.call_id or "")
            assert view is not None and view.state == "connected"
    idle = [s for s in seats if s.state is SeatState.READY]
    unrung = [w for w in waiting if w.ringing_seat is None]
    assert not (idle and unrung), "a READY seat idles while a call waits"
    rung_now = [a.call_id for a in actions if isinstance(a, ev.RingSeat)]
    order = [w.call_id for w in waiting]
    for call_id in rung_now:
        if call_id in order:
            ahead = waiting[: order.index(call_id)]
            assert all(w.ringing_seat for w in ahead), "FIFO within priority broken"
    keys = [(-w.priority, w.arrived_at) for w in waiting]
    assert keys == sorted(keys)
    for w in unrung:
        assert w.announced, "a waiting caller was left unanswered"
    deadline = acd.next_deadline()
    assert deadline is None or deadline > now, "a deadline in the past was not handled"
    for seat in seats:
        if seat.state is SeatState.RESERVED:
            assert acd.next_deadline() is not None
            assert seat.since <= now


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["out", "paused", "ready"]), min_size=3, max_size=3), steps)
def test_invariants_hold_for_any_sequence(
    start: list[str], sequence: list[tuple[float, tuple[Any, ...]]]
) -> None:
    acd = Distributor(CONFIG, [SeatConfig(seat_id=s, contact=f"sip:{s}@h") for s in SEATS])
    for seat, how in zip(SEATS, start, strict=True):
        if how != "out":
            acd.handle(ev.AgentLoggedIn(at=0.0, seat_id=seat, agent_id="agent"))
        if how == "ready":
            acd.handle(ev.AgentWentReady(at=0.0, seat_id=seat))
    now = 0.0
    known: list[str] = []
    offered = refused = 0
    for serial, (gap, raw) in enumerate(sequence):
        now += gap
        actions = (
            acd.on_deadline(now) if (d := acd.next_deadline()) is not None and d <= now else []
        )
        check(acd, actions, now)
        step = resolve_call(acd, raw, known)
        event = to_event(step, now, serial)
        if event is None:
            continue
        try:
            actions = acd.handle(event)
        except AcdError:
            assert isinstance(
                event,
                ev.AgentLoggedIn | ev.AgentLoggedOut | ev.AgentWentReady | ev.AgentWentNotReady,
            )
            continue
        if isinstance(event, ev.CallArrived):
            offered += 1
            if any(isinstance(a, ev.RejectCall) for a in actions):
                refused += 1
                assert len(acd.waiting()) == CONFIG.max_waiting
            else:
                known.append(event.call_id)
        check(acd, actions, now)
    # with no more input, every transient state ends by its deadline
    for _ in range(50):
        deadline = acd.next_deadline()
        if deadline is None:
            break
        assert deadline <= now + max(CONFIG.ring_timeout, CONFIG.wrap_up, CONFIG.announce_after)
        now = max(now, deadline)
        check(acd, acd.on_deadline(now), now)
    assert acd.next_deadline() is None
    states = acd.counts_by_state()
    assert states[SeatState.RESERVED] == 0 and states[SeatState.WRAP_UP] == 0
    # calls still waiting have no READY seat to go to
    if acd.waiting():
        assert states[SeatState.READY] == 0
    assert offered >= refused


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(SeatState)), min_size=1, max_size=1), st.data())
def test_every_agent_request_in_every_state_is_answered_or_refused_cleanly(
    _: list[SeatState], data: st.DataObject
) -> None:
    """Reach a random seat state, then send every agent request: none may corrupt the seat."""
    acd = Distributor(CONFIG, [SeatConfig(seat_id="s1", contact="sip:s1@h")])
    path = data.draw(
        st.lists(st.sampled_from(["login", "ready", "call", "answer", "end"]), max_size=6)
    )
    now = 1.0
    for move in path:
        now += 1.0
        try:
            if move == "login":
                acd.handle(ev.AgentLoggedIn(at=now, seat_id="s1", agent_id="a"))
            elif move == "ready":
                acd.handle(ev.AgentWentReady(at=now, seat_id="s1"))
            elif move == "call":
                acd.handle(ev.CallArrived(at=now, call_id=f"c{now}", caller="x"))
            elif move == "answer" and acd.seat("s1").call_id:
                acd.handle(
                    ev.SeatAnswered(at=now, call_id=acd.seat("s1").call_id or "", seat_id="s1")
                )
            elif move == "end" and acd.seat("s1").call_id:
                acd.handle(ev.CallEnded(at=now, call_id=acd.seat("s1").call_id or ""))
        except AcdError:
            pass
    before = acd.seat("s1")
    request = data.draw(st.sampled_from(["login", "logout", "ready", "pause"]))
    event = to_event((request, "s1"), now + 1.0, 0)
    assert event is not None
    try:
        acd.handle(event)
    except AcdError as error:
        assert error.status_hint in (404, 409)
        after = acd.seat("s1")
        assert (after.state, after.call_id) == (before.state, before.call_id)
