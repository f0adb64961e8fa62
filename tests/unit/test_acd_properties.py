"""acd.distributor under random event sequences (Hypothesis): the invariants a supervisor relies on.

Time moves as the engine moves it: before each event every deadline that has come due is
handled in order (the shell's timer does exactly that), then the event is applied. After every
step the invariants are checked; at the end every call still in the centre is ended and every
call must have left the queue answered, overflowed, abandoned or failed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from acd import events as ev
from acd.config import MAX_OUTGOING, overflow_seat_id
from acd.distributor import AcdConfig, Distributor, QueueConfig, SeatConfig, SeatView, WaitingView
from acd.errors import AcdError
from acd.seats import SeatState

SEATS = {
    "s1": SeatConfig(seat_id="s1", contact="sip:s1@h", queues=("main", "text")),
    "s2": SeatConfig(
        seat_id="s2", contact="sip:s2@h", queues=("main", "video"), skills={"video": 5}
    ),
    "s3": SeatConfig(
        seat_id="s3", contact="sip:s3@h", queues=("main", "text"), skills={"lang:yue": 9}
    ),
    "s4": SeatConfig(
        seat_id="s4", contact="sip:s4@h", queues=("video",), skills={"video": 2}, wrap_up=0.0
    ),
}
CONFIG = AcdConfig(
    ring_timeout=8.0,
    announce_after=2.0,
    wrap_up=3.0,
    max_waiting=5,
    max_no_answer=2,
    busy_delay=5.0,
    reject_delay=7.0,
    parallel_after=1.5,
    parallel_max=2,
    check_interval=15.0,
    check_grace=5.0,
    default_handle_time=20.0,
    queues=(
        QueueConfig(name="main", max_wait=20.0, overflow="sip:110@neighbour", overflow_retry=9.0),
        QueueConfig(
            name="video", strategy="skills", relax_skills_after=2.5, max_wait=10.0,
            overflow="queue:main", max_expected_wait=60.0,
        ),
        QueueConfig(name="text", strategy="round-robin", max_expected_wait=30.0),
    ),
)  # fmt: skip
TRANSIENT = {SeatState.RESERVED, SeatState.TALKING, SeatState.WRAP_UP}
LONGEST_STAY = max(CONFIG.ring_timeout, CONFIG.wrap_up, CONFIG.check_interval, 10.0)
OVERFLOW = overflow_seat_id("main")

seat_ids = st.sampled_from([*SEATS, "ghost"])
call_refs = st.integers(0, 7)
steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=6.0),  # time passing before the step
        st.one_of(
            st.tuples(
                st.just("arrive"),
                st.integers(0, 1),  # priority
                st.sampled_from(["", "main", "video", "text"]),
                st.sampled_from([(), ("video",), ("lang:yue",), ("video", "lang:yue")]),
                st.sampled_from(["", "+861", "+862"]),
            ),
            *[st.tuples(st.just("answer"), call_refs, seat_ids)] * 3,
            st.tuples(st.just("ring-failed"), call_refs, seat_ids, st.sampled_from([0, 404, 486, 603])),
            st.tuples(st.sampled_from(["abandon", "end", "fail"]), call_refs),
            st.tuples(st.just("lost"), call_refs),
            st.tuples(st.just("checked"), call_refs, st.booleans()),
            st.tuples(st.sampled_from(["overflow-answer", "overflow-fail"]), call_refs),
            st.tuples(
                st.sampled_from(["login", "logout", "ready", "pause", "force-pause", "force-out"]),
                seat_ids,
            ),
            st.tuples(st.just("phone-back"), seat_ids),
            st.tuples(st.just("skills"), seat_ids, st.sampled_from([{}, {"video": 3}, {"lang:yue": 1}])),
            st.tuples(st.just("tick")),
        ),
    ),
    min_size=25,
    max_size=80,
)  # fmt: skip


def to_event(acd: Distributor, step: tuple[Any, ...], at: float, serial: int, known: list[str]) -> ev.AcdEvent | None:  # fmt: skip
    kind = step[0]
    if kind == "arrive":
        _, priority, queue, skills, caller = step
        return ev.CallArrived(
            at=at, call_id=f"c{serial}", caller=caller, priority=priority, queue=queue,
            skills=frozenset(skills),
        )  # fmt: skip
    if kind in ("login", "logout", "ready", "pause", "force-pause", "force-out"):
        seat = step[1]
        if kind == "login":
            return ev.AgentLoggedIn(at=at, seat_id=seat, agent_id="agent")
        if kind in ("logout", "force-out"):
            return ev.AgentLoggedOut(at=at, seat_id=seat, forced=kind == "force-out")
        if kind == "ready":
            return ev.AgentWentReady(at=at, seat_id=seat)
        return ev.AgentWentNotReady(at=at, seat_id=seat, reason="break", forced=kind == "force-pause")  # fmt: skip
    if kind == "skills":
        return ev.SeatSkillsChanged(at=at, seat_id=step[1], skills=step[2])
    if kind == "phone-back":
        return ev.SeatPhoneBack(at=at, seat_id=step[1])
    if kind == "tick" or not known:
        return None
    # point call facts at calls that exist, and usually at the seat that really rings
    pick = known
    if kind in ("answer", "ring-failed", "overflow-answer", "overflow-fail"):
        pick = [w.call_id for w in acd.waiting() if w.ringing or w.overflow_ringing] or known
    elif kind in ("lost", "checked"):
        pick = [
            s.call_id for s in acd.seats() if s.state is SeatState.TALKING and s.call_id
        ] or known
    call_id = pick[step[1] % len(pick)]
    view = acd.call(call_id)
    waiting = next((w for w in acd.waiting() if w.call_id == call_id), None)
    if kind in ("answer", "ring-failed"):
        seat = step[2]
        if waiting is not None and waiting.ringing and seat != "ghost":
            seat = waiting.ringing[serial % len(waiting.ringing)]
        if kind == "answer":
            return ev.SeatAnswered(at=at, call_id=call_id, seat_id=seat)
        return ev.SeatRingFailed(at=at, call_id=call_id, seat_id=seat, status=step[3])
    if kind in ("overflow-answer", "overflow-fail"):
        if kind == "overflow-answer":
            return ev.SeatAnswered(at=at, call_id=call_id, seat_id=OVERFLOW)
        return ev.SeatRingFailed(at=at, call_id=call_id, seat_id=OVERFLOW, status=480)
    if kind == "abandon":
        return ev.CallAbandoned(at=at, call_id=call_id)
    if kind == "end":
        return ev.CallEnded(at=at, call_id=call_id)
    if kind == "fail":
        return ev.CallFailed(at=at, call_id=call_id, reason="test")
    seat_id = view.seat_id if view is not None and view.seat_id else "s1"
    if kind == "lost":
        return ev.SeatLost(at=at, call_id=call_id, seat_id=seat_id, reason="test")
    return ev.SeatLegChecked(at=at, call_id=call_id, seat_id=seat_id, alive=step[2])


def eligible(seat: SeatView, call: WaitingView, now: float) -> bool:
    """Whether `seat` could take `call` now, by the rules in the queue configuration."""
    if call.queue not in seat.queues:
        return False
    queue = next(q for q in CONFIG.queues if q.name == call.queue)
    # a call's skills may have been relaxed (time) or the call re-offered; only strictness
    # that certainly still holds is checked
    strict = call.skills and now < call.arrived_at + queue.relax_skills_after
    return not strict or all(seat.skills.get(skill, 0) > 0 for skill in call.skills)


def check(acd: Distributor, actions: list[ev.AcdAction], now: float, before: dict[str, tuple[str, ...]]) -> None:  # fmt: skip
    seats = acd.seats()
    waiting = acd.waiting()
    by_seat = {s.seat_id: s for s in seats}
    # no call on two seats: each RESERVED seat rings for exactly the call that lists it,
    # each TALKING seat holds a connected call no other seat holds
    ringing = {seat: w.call_id for w in waiting for seat in w.ringing}
    talking = [s.call_id for s in seats if s.state is SeatState.TALKING]
    assert len(talking) == len(set(talking)), "a call on two seats"
    for seat in seats:
        if seat.state is SeatState.RESERVED:
            assert ringing.get(seat.seat_id) == seat.call_id, seat
        if seat.state is SeatState.TALKING:
            view = acd.call(seat.call_id or "")
            assert view is not None and view.state == "connected" and view.seat_id == seat.seat_id
            assert seat.call_id not in ringing.values()
    assert set(ringing) <= {s.seat_id for s in seats if s.state is SeatState.RESERVED}
    for w in waiting:
        assert len(w.ringing) + bool(w.overflow_ringing) <= MAX_OUTGOING
        assert len(w.ringing) <= max(1, CONFIG.parallel_max)
    # no READY seat idles while a call it could take waits with nothing ringing for it
    idle = [s for s in seats if s.state is SeatState.READY]
    for w in waiting:
        if not w.ringing:
            assert not any(eligible(s, w, now) for s in idle), ("idle seat", w, idle)
            assert w.announced, "a waiting caller was left unanswered"
    # FIFO within a priority: a call first rung now had no unserved call of its queue ahead
    order = [w.call_id for w in waiting]
    for action in actions:
        if isinstance(action, ev.RingSeat) and action.call_id in order and not before.get(action.call_id):  # fmt: skip
            me = waiting[order.index(action.call_id)]
            rung = by_seat.get(action.seat_id)
            for ahead in waiting[: order.index(action.call_id)]:
                if rung is not None and ahead.queue == me.queue and not ahead.skills and eligible(rung, ahead, now):  # fmt: skip
                    assert ahead.ringing, ("FIFO within priority broken", ahead, me)
    keys = [(-w.priority, w.arrived_at) for w in waiting]
    assert keys == sorted(keys)
    # every transient state has a deadline, and no deadline is left in the past
    for seat in seats:
        if seat.state in TRANSIENT or (seat.state is SeatState.NOT_READY and seat.reason in ("busy", "declined")):  # fmt: skip
            assert seat.deadline is not None and seat.deadline > now - 1e-9, seat
            assert seat.deadline <= now + LONGEST_STAY
    deadline = acd.next_deadline()
    assert deadline is None or deadline > now, "a deadline in the past was not handled"


def advance(acd: Distributor, now: float, outcomes: dict[str, str], before: dict[str, tuple[str, ...]]) -> None:  # fmt: skip
    """Handle every deadline due by `now`, each at its own time (as the shell's timer does)."""
    for _ in range(200):
        deadline = acd.next_deadline()
        if deadline is None or deadline > now:
            return
        actions = acd.on_deadline(deadline)
        record(actions, outcomes)
        check(acd, actions, deadline, before)
        before.clear()
        before.update({w.call_id: w.ringing for w in acd.waiting()})
    raise AssertionError("deadlines keep firing")


def record(actions: list[ev.AcdAction], outcomes: dict[str, str]) -> None:
    for action in actions:
        if isinstance(action, ev.CallDequeued):
            outcomes[action.call_id] = action.outcome


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["out", "paused", "ready", "ready"]), min_size=4, max_size=4), steps
)
def test_invariants_hold_for_any_sequence(start: list[str], sequence: list[tuple[float, tuple[Any, ...]]]) -> None:  # fmt: skip
    acd = Distributor(CONFIG, SEATS.values())
    for seat, how in zip(SEATS, start, strict=True):
        if how != "out":
            acd.handle(ev.AgentLoggedIn(at=0.0, seat_id=seat, agent_id="agent"))
        if how == "ready":
            acd.handle(ev.AgentWentReady(at=0.0, seat_id=seat))
    now = 0.0
    known: list[str] = []
    outcomes: dict[str, str] = {}
    refused: set[str] = set()
    before: dict[str, tuple[str, ...]] = {}
    for serial, (gap, raw) in enumerate(sequence):
        now += gap
        advance(acd, now, outcomes, before)
        event = to_event(acd, raw, now, serial, known)
        if event is None:
            continue
        before = {w.call_id: w.ringing for w in acd.waiting()}
        try:
            actions = acd.handle(event)
        except AcdError as error:
            assert error.status_hint in (404, 409)
            assert isinstance(event, ev.AgentLoggedIn | ev.AgentLoggedOut | ev.AgentWentReady | ev.AgentWentNotReady | ev.SeatSkillsChanged | ev.SeatPhoneBack)  # fmt: skip
            continue
        record(actions, outcomes)
        if isinstance(event, ev.CallArrived):
            if any(isinstance(a, ev.RejectCall) and a.call_id == event.call_id for a in actions):
                refused.add(event.call_id)
            else:
                known.append(event.call_id)
        check(acd, actions, now, before)
    # with no more input, every transient state ends by its deadline (talking seats are
    # checked, and a member that never answers the check frees its seat)
    advance(acd, now + 4 * LONGEST_STAY, outcomes, {})
    states = acd.counts_by_state()
    assert states[SeatState.RESERVED] == 0 and states[SeatState.WRAP_UP] == 0
    assert states[SeatState.TALKING] == 0
    assert not [s for s in acd.seats() if s.reason in ("busy", "declined")], (
        "a busy delay never ended"
    )
    # the callers still waiting leave; every call ended one of the four ways
    now += 4 * LONGEST_STAY
    for waiting in acd.waiting():
        record(acd.handle(ev.CallAbandoned(at=now, call_id=waiting.call_id)), outcomes)
    assert acd.waiting() == []
    for call_id in known:
        assert outcomes.get(call_id) in ("answered", "overflowed", "abandoned", "failed"), call_id
    assert not refused & set(outcomes)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_agent_request_in_every_state_is_answered_or_refused_cleanly(data: st.DataObject) -> None:  # fmt: skip
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
    request = data.draw(st.sampled_from(["login", "logout", "ready", "pause", "force-pause", "force-out"]))  # fmt: skip
    event = to_event(acd, (request, "s1"), now + 1.0, 0, [])
    assert event is not None
    try:
        acd.handle(event)
    except AcdError as error:
        assert error.status_hint in (404, 409)
        after = acd.seat("s1")
        assert (after.state, after.call_id) == (before.state, before.call_id)
