"""The outbox relay: stored incident events out to MQTT, in order, nothing lost.

Theory of operation. The store writes every incident event and its outbox row in one
transaction, so the outbox is the complete, ordered list of what must go out. `OutboxRelay`
is the only reader of the rows whose target is ``mqtt``: connect, read the pending rows in id
order (global append order; per incident that is seq order), publish each row's message
(`incidents.eido.message`) at QoS 1 to each of its topics (`incidents.eido.topics`), and
mark a row sent only when the broker has acknowledged every one of its publishes (aiomqtt's
``publish`` at QoS 1 returns when paho's ``on_publish`` fires, which paho calls on the PUBACK).
Rows of other targets (the 12345 and anti-fraud webhooks) belong to another relay.

When the broker goes away (an `aiomqtt.MqttError` while publishing, or the connection's
message iterator ending), the relay stops, backs off exponentially and reconnects; it then
reads the pending rows again, which start with the first row that was not acknowledged. A
failed row is never skipped to send later ones, so delivery resumes in order per incident
(and across incidents). With ``max_attempts`` > 0 a row that failed that many publishes is
dead-lettered instead, which trades that order for progress; 0 (the default) retries forever.

A row that cannot be turned into a message at all (its payload holds something JSON cannot
encode, or paho refuses it) would block every later row forever: it goes to the dead letters
(`outbox_failed(dead=True)`, visible through the API) and the relay goes on. Non-finite numbers
(NaN) are sent as ``null`` rather than dead-lettered.

Delivery is at least once. If a PUBACK is lost with the connection (or marking rows sent
fails), those rows are published again after the reconnect: consumers dedupe by ``eventId``
(``<number>:<seq>``) or keep the highest ``sequence`` per incident. Up to ``inflight``
publishes are outstanding at once; paho writes them in call order on one connection and the
broker forwards them in that order, so pipelining keeps the order.

Run exactly one relay per outbox (one engine of a pool, or a leader): two relays would both
send every row. Two relays with the same fixed ``client_id`` would also keep kicking each
other off the broker, which at least makes the mistake visible in the broker log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiomqtt

from incidents import eido

_log = logging.getLogger(__name__)
TARGET = "mqtt"


class OutboxRowLike(eido.Row, Protocol):
    """An outbox row as the relay reads it (incidents.store.OutboxRow)."""

    @property
    def id(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def target(self) -> str: ...


class OutboxStore(Protocol):
    """The part of the incident store the relay uses."""

    async def outbox_pending(
        self, limit: int = 100, *, target: str | None = None
    ) -> Sequence[OutboxRowLike]: ...
    async def outbox_mark_sent(self, ids: list[int], at: float) -> None: ...
    async def outbox_failed(self, id: int, error: str, at: float, *, dead: bool) -> None: ...


class Unpublishable(Exception):
    """A row that can never be published as it is (a local error: dead-letter it, go on)."""


def encode(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities become null (strict JSON has no such numbers)."""
    try:
        text = json.dumps(body, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:  # only non-finite floats: replace them and try once more
        text = json.dumps(_finite(body), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class OutboxRelay:
    """Publishes the store's ``mqtt`` outbox rows to a broker; see the module docstring.

    `run()` returns only by cancellation. `wake()` (the engine calls it after each append)
    makes delivery immediate; otherwise the outbox is polled every ``idle_poll`` s. Counters
    for health checks and metrics: `connected` (a broker connection is up), `sent` (rows
    acknowledged and marked sent), `published` (messages acknowledged, command topics
    included), `failed` (publish failures), `dead` (rows dead-lettered), `reconnects`
    (connections after the first) and `lag_seconds` (wall now minus the ``at`` of the oldest
    pending row; 0 when nothing is pending).
    """

    def __init__(
        self,
        store: OutboxStore,
        *,
        host: str,
        port: int,
        prefix: str,
        city: str,
        major_severity: int = eido.MAJOR_SEVERITY,
        client_id: str = "",
        batch: int = 100,
        idle_poll: float = 0.2,
        reconnect_min: float = 0.5,
        reconnect_max: float = 10.0,
        max_attempts: int = 0,
        inflight: int = 20,
        publish_timeout: float = 10.0,
        keepalive: int = 15,
        username: str | None = None,
        password: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not prefix or prefix.endswith("/") or any(char in prefix for char in "+#\x00"):
            raise ValueError(f"MQTT prefix {prefix!r}: needs no + or #, no trailing /, not empty")
        if not 0.0 < reconnect_min <= reconnect_max:
            raise ValueError("need 0 < reconnect_min <= reconnect_max")
        if batch < 1 or inflight < 1 or idle_poll <= 0.0 or max_attempts < 0:
            raise ValueError("need batch >= 1, inflight >= 1, idle_poll > 0, max_attempts >= 0")
        self.store = store
        self.host, self.port, self.prefix, self.city = host, port, prefix, city
        self.major_severity = major_severity
        self._client_id = client_id
        self._batch, self._idle_poll, self._inflight = batch, idle_poll, inflight
        self._reconnect_min, self._reconnect_max = reconnect_min, reconnect_max
        self._max_attempts = max_attempts
        self._publish_timeout, self._keepalive = publish_timeout, keepalive
        self._username, self._password = username, password
        self._wall = wall
        self._wake = asyncio.Event()
        self._oldest_at: float | None = None  # `at` of the oldest pending row last seen
        self._name = f"[outbox mqtt {host}:{port}]"
        self.connected = False
        self.sent = 0
        self.published = 0
        self.failed = 0
        self.dead = 0
        self.reconnects = 0

    @property
    def lag_seconds(self) -> float:
        """How long the oldest pending row has been waiting (0 when none is)."""
        if self._oldest_at is None:
            return 0.0
        return max(0.0, self._wall() - self._oldest_at)

    def wake(self) -> None:
        """Something was appended: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Connect and relay forever; after an outage back off, reconnect and resume in order."""
        delay = self._reconnect_min
        ever_connected = False
        outage_since: float | None = None
        try:
            while True:
                try:
                    async with self._client() as client:
                        client.pending_calls_threshold = self._inflight  # no warning below it
                        self.connected = True
                        if ever_connected:
                            self.reconnects += 1
                        ever_connected, delay = True, self._reconnect_min
                        if outage_since is not None:
                            _log.info("%s broker back after %.1f s", self._name,
                                      time.monotonic() - outage_since)  # fmt: skip
                        outage_since = None
                        async with asyncio.TaskGroup() as group:
                            group.create_task(self._watch(client))
                            group.create_task(self._pump(client))
                except* aiomqtt.MqttError as errors:
                    self._outage(errors.exceptions[0], first=outage_since is None)
                except* Exception:  # a bug, not an outage: say it loudly, then recover anyway
                    _log.exception("%s relay failed; reconnecting", self._name)
                outage_since = time.monotonic() if outage_since is None else outage_since
                self.connected = False
                await self._peek()
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self._reconnect_max)
        finally:
            self.connected = False

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=self._client_id or None,
            # Nothing to keep on the broker for us: a row is done only once acknowledged, and
            # an unacknowledged one is simply published again from the outbox.
            clean_session=True,
            username=self._username,
            password=self._password,
            keepalive=self._keepalive,
            timeout=self._publish_timeout,
            max_inflight_messages=self._inflight,
        )

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Raise MqttError as soon as the connection drops, even while the pump is idle or
        waiting for a PUBACK (which would otherwise wait out the publish timeout)."""
        async for _ in client.messages:  # we subscribe to nothing; this only ends in MqttError
            pass
        raise aiomqtt.MqttError("message iterator ended")

    async def _pump(self, client: aiomqtt.Client) -> None:
        store_down = False
        while True:
            self._wake.clear()  # before reading, so an append during the read is not missed
            try:
                rows = [r for r in await self._pending(self._batch) if r.target == TARGET]
            except Exception as exc:
                # The store's own shell alerts on it; we wait and read again, still connected.
                _log.log(logging.DEBUG if store_down else logging.ERROR,
                         "%s reading the outbox failed: %r", self._name, exc)  # fmt: skip
                store_down = True
                await asyncio.sleep(min(self._reconnect_max, max(self._idle_poll, 1.0)))
                continue
            store_down = False
            self._oldest_at = rows[0].at if rows else None
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll)
                continue
            await self._send(client, rows)

    async def _pending(self, limit: int) -> Sequence[OutboxRowLike]:
        return await self.store.outbox_pending(limit, target=TARGET)

    async def _send(self, client: aiomqtt.Client, rows: list[OutboxRowLike]) -> None:
        """Publish `rows` in order, `inflight` messages at a time; mark acknowledged rows sent."""
        ready: list[tuple[OutboxRowLike, bytes, list[str]]] = []
        for row in rows:
            try:
                body = encode(eido.message(row, city=self.city))
                where = eido.topics(self.prefix, self.city, row, major_severity=self.major_severity)
            except Exception as exc:  # would block every later row forever
                await self._dead_letter(row, f"cannot build the message: {exc!r}")
                continue
            ready.append((row, body, where))
        window: list[tuple[OutboxRowLike, bytes, list[str]]] = []
        for item in ready:  # at most `inflight` messages outstanding (a row may have two)
            if window and sum(len(w[2]) for w in window) + len(item[2]) > self._inflight:
                await self._send_window(client, window)
                window = []
            window.append(item)
        if window:
            await self._send_window(client, window)

    async def _send_window(
        self, client: aiomqtt.Client, window: list[tuple[OutboxRowLike, bytes, list[str]]]
    ) -> None:
        # Tasks start in creation order, so paho queues the publishes in row order.
        tasks = [
            [asyncio.ensure_future(client.publish(topic, body, qos=1)) for topic in where]
            for _, body, where in window
        ]
        try:
            await asyncio.gather(*(t for row_tasks in tasks for t in row_tasks),
                                 return_exceptions=True)  # fmt: skip
        finally:
            for row_tasks in tasks:
                for task in row_tasks:
                    task.cancel()
        done: list[int] = []
        for (row, _, _), row_tasks in zip(window, tasks, strict=True):
            errors = [t.exception() for t in row_tasks if not t.cancelled() and t.exception()]
            if any(t.cancelled() for t in row_tasks):
                errors.append(aiomqtt.MqttError("publish cancelled"))
            if not errors:
                done.append(row.id)
                self.published += len(row_tasks)
                continue
            await self._mark_sent(done)
            done = []
            error = errors[0]
            self.failed += 1
            if not isinstance(error, aiomqtt.MqttError):  # paho refused it: it never will take it
                await self._dead_letter(row, f"broker client refused it: {error!r}")
                continue
            dead = self._max_attempts > 0 and row.attempts + 1 >= self._max_attempts
            await self._failed(row, f"publish failed: {error}", dead=dead)
            raise error  # reconnect, then resume from this row
        await self._mark_sent(done)

    async def _mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        try:
            await self.store.outbox_mark_sent(list(ids), self._wall())
        except Exception as exc:  # they will be published again: duplicates, never losses
            _log.error("%s marking %d rows sent failed: %r", self._name, len(ids), exc)
        else:
            self.sent += len(ids)

    async def _dead_letter(self, row: OutboxRowLike, error: str) -> None:
        _log.error("%s row %d (%s:%d %s) dead-lettered: %s", self._name, row.id, row.number,
                   row.seq, row.kind, error)  # fmt: skip
        self.dead += 1
        await self._failed(row, error, dead=True)

    async def _failed(self, row: OutboxRowLike, error: str, *, dead: bool) -> None:
        try:
            await self.store.outbox_failed(row.id, error[:500], self._wall(), dead=dead)
        except Exception as exc:
            _log.error("%s recording the failure of row %d failed: %r", self._name, row.id, exc)
            if dead:  # it stays pending and would block the rest: give up on this connection
                raise

    async def _peek(self) -> None:
        """During an outage keep `lag_seconds` true: the oldest pending row, if any."""
        try:
            rows = await self._pending(1)
        except Exception:
            return  # the store is down too; keep the last known value
        self._oldest_at = rows[0].at if rows else None

    def _outage(self, exc: BaseException, *, first: bool) -> None:
        # One warning per outage; a broker down for an hour must not write a line per retry.
        level = logging.WARNING if first else logging.DEBUG
        _log.log(level, "%s broker unavailable (%s); reconnecting", self._name, exc)
