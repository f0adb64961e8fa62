"""The incident push without a broker (the embedded default): the outbox relayed onto the
engine's in-process event bus, with the same EIDO-shaped messages and topics the MQTT relay
(`incidents.relay`) publishes, so subscribers inside the engine see exactly what city, county
and station would receive, and the outbox does not grow for ever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from engine.alerts import Events
from incidents import eido
from incidents.store import Store

log = logging.getLogger(__name__)
BATCH = 200


class InProcessRelay:
    """Outbox rows -> `Events.publish("push", topic=..., message=...)`, in outbox order."""

    def __init__(
        self, store: Store, events: Events, *, prefix: str, city: str, major_severity: int
    ) -> None:
        self.store = store
        self.events = events
        self.prefix = prefix
        self.city = city
        self.major_severity = major_severity
        self.sent = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                rows = await self.store.outbox_pending(BATCH, target="mqtt")
                for row in rows:
                    message = eido.message(row, city=self.city)
                    for topic in eido.topics(
                        self.prefix, self.city, row, major_severity=self.major_severity
                    ):
                        self.events.publish("push", mqtt_topic=topic, message=message)
                if rows:
                    await self.store.outbox_mark_sent([row.id for row in rows], time.time())
                    self.sent += len(rows)
                    continue
            except Exception:  # the store is failing: the incident writer alerts; try again
                log.exception("in-process push failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
