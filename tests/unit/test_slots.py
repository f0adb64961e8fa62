"""sip.slots: the pool's warm reserve, recycling and crash handling, without processes."""

from __future__ import annotations

from sip import slots as sl
from sip.slots import Slots, SlotState


def started(actions: list[sl.SlotAction]) -> list[int]:
    return [a.slot for a in actions if isinstance(a, sl.StartMember)]


def warm_pool(size: int = 6, warm: int = 3) -> Slots:
    core = Slots(size, warm, backoff=1.0)
    for action in core.plan(0.0):
        assert isinstance(action, sl.StartMember)
        core.member_ready(action.member_id, 0.1)
    return core


def test_plan_starts_the_warm_reserve_and_activates_members_when_ready() -> None:
    core = Slots(6, 3, backoff=1.0)
    actions = core.plan(0.0)
    assert actions == [
        sl.StartMember(slot=0, member_id=1),
        sl.StartMember(slot=1, member_id=2),
        sl.StartMember(slot=2, member_id=3),
    ]
    assert core.plan(0.0) == []  # starting members count toward the reserve
    assert core.member_ready(2, 0.05) == [sl.SetFrontState(slot=1, active=True)]
    assert core.count(SlotState.WARM) == 1


def test_a_call_deactivates_the_member_and_tops_up_the_reserve() -> None:
    core = warm_pool()
    actions = core.call_taken(1, "1", 1.0)
    assert actions == [sl.SetFrontState(slot=0, active=False), sl.StartMember(slot=3, member_id=4)]
    assert core.slots[0].state is SlotState.BUSY


def test_member_recycled_after_its_call_frees_the_slot() -> None:
    core = warm_pool()
    core.call_taken(1, "1", 1.0)
    core.member_ready(4, 1.1)
    assert core.call_finished(1, 5.0) == []
    slot = core.slots[0]
    assert slot.state is SlotState.DRAINING
    assert core.member_exited(1, 0, 0, 5.1) == []  # reserve is full: slot stays cold
    assert core.count(SlotState.COLD) == 3 and core.by_member(1) is None
    assert core.restarts == 0


def test_member_killed_mid_call_loses_only_its_call_and_is_replaced() -> None:
    core = warm_pool()
    core.call_taken(1, "1", 1.0)
    core.call_taken(2, "2", 1.0)
    actions = core.member_exited(1, 0, 9, 2.0)
    assert actions[0] == sl.CallLost(
        slot=0, member_id=1, call_id="1", reason="pool member killed by signal 9"
    )
    assert core.slots[1].state is SlotState.BUSY  # the other call goes on
    assert core.restarts == 1
    # the dead slot is refilled at once when the reserve needs it
    core.on_deadline(2.0)
    assert core.slots[0].state in (SlotState.COLD, SlotState.STARTING)


def test_crash_loop_backs_off() -> None:
    core = Slots(1, 1, backoff=1.0)
    (start,) = core.plan(0.0)
    assert isinstance(start, sl.StartMember)
    (again,) = core.member_exited(start.member_id, 1, 0, 0.1)  # first failure: retry at once
    assert again == sl.StartMember(slot=0, member_id=2)
    core.member_exited(again.member_id, 1, 0, 0.2)  # second failure: wait 1 s
    assert core.slots[0].state is SlotState.DEAD
    assert core.slots[0].retry_at == 1.2
    assert core.on_deadline(1.0) == []
    assert started(core.on_deadline(1.2)) == [0]


def test_member_that_never_gets_ready_is_killed() -> None:
    core = Slots(1, 1, backoff=1.0)
    (start,) = core.plan(0.0)
    assert core.next_deadline() == sl.START_TIMEOUT
    assert core.on_deadline(sl.START_TIMEOUT) == [
        sl.StopMember(slot=0, member_id=start.member_id, kill=True)  # type: ignore[attr-defined]
    ]


def test_surplus_idle_members_are_stopped() -> None:
    core = Slots(10, 2, backoff=1.0)
    for action in core.plan(0.0):
        core.member_ready(action.member_id, 0.1)  # type: ignore[attr-defined]
    core.warm = 2
    # five more become warm (e.g. the reserve was lowered): the surplus beyond 2+2 is stopped
    for slot in core.slots[2:7]:
        slot.state, slot.member_id = SlotState.WARM, 100 + slot.index
    actions = core.plan(1.0)
    stops = [a for a in actions if isinstance(a, sl.StopMember)]
    assert len(stops) == 3


def test_front_restart_reactivates_only_warm_members() -> None:
    core = warm_pool()
    core.call_taken(1, "1", 1.0)
    assert core.front_restarted() == [
        sl.SetFrontState(slot=1, active=True),
        sl.SetFrontState(slot=2, active=True),
    ]


def test_stop_all_stops_everyone_and_starts_nothing() -> None:
    core = warm_pool()
    core.call_taken(1, "1", 1.0)
    actions = core.stop_all()
    assert sl.StopMember(slot=0, member_id=1) in actions
    assert core.plan(2.0) == []


def test_drain_stops_idle_members_and_leaves_calls_alone() -> None:
    core = warm_pool()
    core.call_taken(1, "1", 1.0)
    core.member_ready(4, 1.1)
    actions = core.drain()
    assert sl.StopMember(slot=0, member_id=1) not in actions  # its call goes on
    assert sl.SetFrontState(slot=1, active=False) in actions
    assert {a.slot for a in actions if isinstance(a, sl.StopMember)} == {1, 2, 3}
    assert core.front_restarted() == []
    assert core.plan(2.0) == []
    assert core.member_exited(2, 0, 0, 2.1) == []  # no replacement while draining
