"""dispatch.ladder: the escalation ladder, with time as a value."""

from __future__ import annotations

from dispatch import ladder as ld
from dispatch.ladder import Kind, Ladder, Target


def officer(n: int) -> Target:
    return Target(kind=Kind.OFFICER, ident=f"o{n}", name=f"Officer {n}", uri=f"sip:o{n}@h")


def duty(unit: str, kind: Kind = Kind.DUTY_PHONE) -> Target:
    return Target(kind=kind, ident=unit, name=f"{unit} duty phone", uri=f"sip:duty-{unit}@h")


def dialled(actions: list[ld.LadderAction]) -> list[str]:
    return [a.attempt.target.key for a in actions if isinstance(a, ld.Dial)]


def closed(actions: list[ld.LadderAction]) -> list[tuple[str, str, Kind | None]]:
    return [
        (a.attempt.target.key, a.attempt.outcome, a.escalates_to)
        for a in actions
        if isinstance(a, ld.AttemptClosed)
    ]


def test_no_answer_then_rejected_then_answered() -> None:
    lad = Ladder(
        targets=[officer(1), officer(2), officer(3)], ring_timeout=10.0, bridge_deadline=32.0
    )
    assert dialled(lad.start(2.0)) == ["o1"]
    assert lad.handle(ld.TargetRinging(key="o1"), 2.3) == []
    assert lad.next_deadline() == 12.0
    assert lad.on_deadline(11.9) == []
    timed_out = lad.on_deadline(12.0)
    assert ld.HangUpTarget(key="o1") in timed_out
    assert closed(timed_out) == [("o1", "no-answer", Kind.OFFICER)]
    assert dialled(timed_out) == ["o2"]
    rejected = lad.handle(ld.TargetFailed(key="o2", status=603, reason="Decline"), 13.0)
    assert closed(rejected) == [("o2", "rejected", Kind.OFFICER)]
    assert dialled(rejected) == ["o3"]
    lad.handle(ld.TargetRinging(key="o3"), 13.2)
    reached = lad.handle(ld.TargetAnswered(key="o3"), 15.0)
    assert [type(a) for a in reached] == [ld.Reached]
    assert lad.done and lad.reached is not None and lad.reached.target.key == "o3"
    assert [(a.step, a.target.key, a.outcome, a.started_at, a.ended_at) for a in lad.attempts] == [
        (1, "o1", "no-answer", 2.0, 12.0),
        (2, "o2", "rejected", 12.0, 13.0),
        (3, "o3", "answered", 13.0, 15.0),
    ]
    assert lad.attempts[0].ringing_at == 2.3
    assert lad.next_deadline() is None  # reached before the 30 s mark: no alert is due


def test_officers_then_the_unit_then_its_superiors_then_an_alert() -> None:
    lad = Ladder(
        targets=[officer(1), duty("U1"), duty("C1", Kind.SUPERIOR)],
        ring_timeout=10.0,
        bridge_deadline=100.0,
    )
    lad.start(0.0)
    busy = lad.handle(ld.TargetFailed(key="o1", status=486, reason="Busy Here"), 1.0)
    assert closed(busy) == [("o1", "busy", Kind.DUTY_PHONE)]
    assert dialled(busy) == ["unit:U1"]
    gone = lad.handle(ld.TargetFailed(key="unit:U1", status=480, reason="Unavailable"), 2.0)
    assert closed(gone) == [("unit:U1", "unreachable", Kind.SUPERIOR)]
    last = lad.on_deadline(12.0)
    assert closed(last) == [("unit:C1", "no-answer", None)]
    (alert,) = [a for a in last if isinstance(a, ld.Alert)]
    assert alert.kind == "ladder-exhausted" and "Officer 1 (busy)" in alert.message
    assert lad.done and dialled(last) == []


def test_the_30_second_alert_comes_once_whatever_the_ladder_is_doing() -> None:
    lad = Ladder(targets=[officer(n) for n in range(1, 6)], ring_timeout=10.0, bridge_deadline=30.0)
    lad.start(5.0)
    alerts = []
    now = 5.0
    while (deadline := lad.next_deadline()) is not None and deadline <= 60.0:
        now = deadline
        alerts += [a for a in lad.on_deadline(now) if isinstance(a, ld.Alert)]
    assert [a.kind for a in alerts] == ["bridge-late", "ladder-exhausted"]


def test_nobody_to_call_is_an_alert_at_once() -> None:
    lad = Ladder(targets=[], ring_timeout=10.0, bridge_deadline=30.0)
    (alert,) = lad.start(1.0)
    assert isinstance(alert, ld.Alert) and alert.kind == "ladder-exhausted"


def test_withdrawn_hangs_up_the_ringing_rung_and_late_news_is_ignored() -> None:
    lad = Ladder(targets=[officer(1), officer(2)], ring_timeout=10.0, bridge_deadline=30.0)
    lad.start(0.0)
    actions = lad.handle(ld.Withdrawn(reason="caller hung up"), 3.0)
    assert actions[0] == ld.HangUpTarget(key="o1")
    assert closed(actions) == [("o1", "cancelled", None)]
    assert lad.handle(ld.TargetAnswered(key="o1"), 3.1) == []
    assert lad.next_deadline() is None


def test_status_codes_map_to_outcomes() -> None:
    assert [ld.outcome_of(s) for s in (486, 600, 603, 403, 480, 408, 0, 503, 500)] == [
        "busy",
        "busy",
        "rejected",
        "rejected",
        "unreachable",
        "unreachable",
        "unreachable",
        "unreachable",
        "failed",
    ]
