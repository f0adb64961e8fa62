"""Alerts and events: what supervisors must see now, and every step of a call as it happens.

`Events` is the engine's in-process event bus (the embedded default): every dispatch attempt,
bridge, recording and alert is published as a plain dict under a topic, kept in a bounded
ring for the REST API and handed to subscribers (the MQTT push of the incident store
subscribes here). `Alerts` are events too, logged at ERROR and counted by kind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
KEEP = 2000


class Events:
    """A bounded, ordered in-process event bus."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._clock = clock
        self._seq = itertools.count(1)
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []

    def publish(self, topic: str, **data: Any) -> dict[str, Any]:
        if "seq" in data:
            # the bus's own sequence orders the live stream and its replay: a publisher's
            # 'seq' overriding it made streams drop the event as already sent
            raise ValueError(f"{topic}: 'seq' belongs to the event bus")
        event = {"seq": next(self._seq), "topic": topic, "at": self._clock(), **data}
        self.recent.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)  # unbounded: a slow subscriber must not lose events
        return event

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def since(self, seq: int, topic_prefix: str = "") -> list[dict[str, Any]]:
        return [e for e in self.recent if e["seq"] > seq and e["topic"].startswith(topic_prefix)]


class Alerts:
    """Raise an alert: an ERROR log line, a counted metric, and an 'alert/<kind>' event."""

    def __init__(self, events: Events, count: Callable[[str], None]) -> None:
        self.events = events
        self._count = count

    def raise_(self, kind: str, message: str, **data: Any) -> None:
        call = data.get("call_id")
        log.error("ALERT %s%s: %s", kind, f" [call {call}]" if call else "", message)
        self._count(kind)
        self.events.publish(f"alert/{kind}", kind=kind, message=message, **data)

    def recent(self) -> list[dict[str, Any]]:
        return [e for e in self.events.recent if e["topic"].startswith("alert/")]
