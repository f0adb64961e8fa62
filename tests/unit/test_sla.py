"""engine.sla: service levels counted per minute, asked for since a time."""

from __future__ import annotations

from engine.sla import SlaWindow


def test_shares_since_a_time_are_minute_exact_and_old_minutes_fall_out() -> None:
    sla = SlaWindow(keep_minutes=3)
    assert sla.since(0) == {"met": 0, "total": 0, "share": None}
    for wall, met in ((60.0, True), (61.0, False), (125.0, True), (179.9, True), (185.0, False)):
        sla.count(wall, met)
    assert sla.since(0) == {"met": 3, "total": 5, "share": 0.6}
    assert sla.since(120.0) == {"met": 2, "total": 3, "share": 0.6667}
    assert sla.since(150.0) == sla.since(120.0)  # the minute of 150 s holds 125 and 179.9
    sla.count(240.0, True)  # a fourth minute: the first (60-119 s) is forgotten
    assert sla.since(0) == {"met": 3, "total": 4, "share": 0.75}


def test_a_late_count_for_a_recent_minute_lands_in_it() -> None:
    sla = SlaWindow()
    sla.count(600.0, True)
    sla.count(660.0, True)
    sla.count(650.0, False)  # a clock that stepped back a little
    assert sla.since(600.0)["total"] == 3 and sla.since(660.0)["total"] == 1
