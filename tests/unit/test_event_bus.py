"""The engine's event bus (engine.alerts.Events): its own sequence orders the live stream."""

from __future__ import annotations

import pytest

from engine.alerts import Events


def test_a_publisher_cannot_override_the_bus_sequence() -> None:
    """A text event once carried the message's number as 'seq': it replaced the bus's, the live
    stream took the event for one already sent (seq <= the last sent) and dropped it, and a
    citizen's message never reached the console."""
    bus = Events(clock=lambda: 0.0)
    first = bus.publish("text/taken", conversation="t1")
    with pytest.raises(ValueError, match="belongs to the event bus"):
        bus.publish("text/message", conversation="t1", seq=2)
    second = bus.publish("text/message", conversation="t1", message_seq=2)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert [e["seq"] for e in bus.since(0)] == [1, 2]
