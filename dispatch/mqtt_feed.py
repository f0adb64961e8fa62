"""Officer positions over MQTT: a pure parser and a subscriber that heals itself.

Topic layout: ``<prefix>/officers/<officer_id>/position``, one topic per officer. Payload: JSON
``{"lat": 52.52, "lon": 13.40, "ts": 1718000000.0, "speed": 8.3}`` (speed in m/s, optional).

Theory of operation: `parse_position` is pure and alone decides what a valid fix is.
`PositionFeed.run` is the only I/O: connect, subscribe to ``<prefix>/officers/+/position`` at
QoS 1, hand each fix to ``on_position`` and each refusal to ``on_rejected``. When the broker is
down or the connection drops, it backs off exponentially and connects again, until cancelled.

Session choice: a clean session (under a fixed client id if one is given). Positions are a
stream where only the latest fix matters: a fix missed during an outage is superseded by the
next one seconds later. A persistent session would make the broker hoard stale fixes for us
and replay them in a burst on reconnect, ahead of the fresh ones. QoS 1 still covers the
connected case; its rare duplicates are harmless because a fix is idempotent (same officer,
same ts). Publishers that set ``retain`` give a (re)connecting feed each officer's last fix.
Two feeds must not share a fixed client id: the broker would keep kicking one out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

_log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
"""Bytes; a fix is ~80. Anything larger is a misbehaving device, refused before parsing."""
MAX_OFFICER_ID = 64


class FeedError(ValueError):
    """A message on a position topic that is not a valid fix (a remote error: skip, go on)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One position fix of one officer, as reported by the officer's device."""

    officer_id: str
    """From the topic, not the payload, so broker ACLs on topics decide who speaks for whom."""
    lat: float
    """WGS84 latitude in degrees, -90..90."""
    lon: float
    """WGS84 longitude in degrees, -180..180."""
    ts: float
    """When the device took the fix, epoch seconds by the device's clock."""
    speed: float
    """Ground speed in m/s, >= 0 (0 when the device did not say)."""


def parse_position(topic: str, payload: bytes, prefix: str) -> Position:
    """Turn one MQTT message into a `Position`, or raise `FeedError` saying why not."""
    officer_id = _officer_of(topic, prefix)
    if len(payload) > MAX_PAYLOAD:
        raise FeedError(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD} byte limit")
    try:
        data = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise FeedError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FeedError(f"payload is not a JSON object but a {type(data).__name__}")
    lat, lon, ts = _number(data, "lat"), _number(data, "lon"), _number(data, "ts")
    speed = _number(data, "speed") if "speed" in data else 0.0
    if not -90.0 <= lat <= 90.0:
        raise FeedError(f"lat {lat} is out of range -90..90")
    if not -180.0 <= lon <= 180.0:
        raise FeedError(f"lon {lon} is out of range -180..180")
    if speed < 0.0:
        raise FeedError(f"speed {speed} is negative")
    return Position(officer_id=officer_id, lat=lat, lon=lon, ts=ts, speed=speed)


def _officer_of(topic: str, prefix: str) -> str:
    head, tail = f"{prefix}/officers/", "/position"
    # The length test stops "p/officers/position" matching both ends with one shared "/".
    if not (
        topic.startswith(head) and topic.endswith(tail) and len(topic) >= len(head) + len(tail)
    ):
        raise FeedError(f"topic {topic!r} does not match {head}<officer_id>{tail}")
    officer_id = topic[len(head) : len(topic) - len(tail)]
    if not officer_id:
        raise FeedError("officer id in the topic is empty")
    if len(officer_id) > MAX_OFFICER_ID:
        raise FeedError(f"officer id is {len(officer_id)} chars, over {MAX_OFFICER_ID}")
    if any(char in officer_id for char in "/+#"):
        raise FeedError(f"officer id {officer_id[:MAX_OFFICER_ID]!r} contains / + or #")
    return officer_id


def _number(data: dict[str, Any], key: str) -> float:
    if key not in data:
        raise FeedError(f"{key} is missing")
    value = data[key]
    # bool is an int subclass in Python, but `true` is no latitude.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedError(f"{key} is not a number: {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        raise FeedError(f"{key} is too large") from None
    if not math.isfinite(number):  # Python's json accepts NaN and Infinity literals
        raise FeedError(f"{key} is not finite: {number}")
    return number


def _refused(granted: tuple[int, ...] | list[ReasonCode]) -> bool:
    # A SUBACK grants QoS 0..2 per filter, or a code >= 0x80 for a refusal.
    return any((code.value if isinstance(code, ReasonCode) else code) >= 0x80 for code in granted)


class PositionFeed:
    """Subscribes to every officer's position topic and hands valid fixes to `on_position`.

    `run()` returns only by cancellation. The counters are for health checks and metrics:
    `connected` (subscribed right now), `received` (messages on the position topics),
    `rejected` (of those, refused by `parse_position`), `reconnects` (connections after the
    first). Callbacks run in the event loop and must not block.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        prefix: str,
        on_position: Callable[[Position], None],
        on_rejected: Callable[[str, str], None],
        client_id: str = "",
        reconnect_min: float = 0.5,
        reconnect_max: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 15,
    ) -> None:
        if not prefix or prefix.endswith("/") or any(char in prefix for char in "+#"):
            raise ValueError(f"MQTT prefix {prefix!r}: needs no + or #, no trailing /, not empty")
        if not 0.0 < reconnect_min <= reconnect_max:
            raise ValueError("need 0 < reconnect_min <= reconnect_max")
        self.host, self.port, self.prefix = host, port, prefix
        self.topic = f"{prefix}/officers/+/position"
        self._on_position, self._on_rejected = on_position, on_rejected
        self._client_id = client_id
        self._reconnect_min, self._reconnect_max = reconnect_min, reconnect_max
        self._username, self._password = username, password
        # Shorter than MQTT's usual 60 s so a silently dead link is noticed in ~20 s, not 90.
        self._keepalive = keepalive
        self.connected = False
        self.received = 0
        self.rejected = 0
        self.reconnects = 0

    async def run(self) -> None:
        """Connect, subscribe and deliver fixes forever; reconnect with backoff after outages."""
        delay = self._reconnect_min
        ever_connected = False
        outage_since: float | None = None  # loop time the current outage was first noticed
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with aiomqtt.Client(
                        self.host,
                        self.port,
                        identifier=self._client_id or None,
                        clean_session=True,
                        username=self._username,
                        password=self._password,
                        keepalive=self._keepalive,
                    ) as client:
                        granted = await client.subscribe(self.topic, qos=1)
                        if _refused(granted):  # e.g. an ACL: retrying may help once fixed
                            raise aiomqtt.MqttError(f"broker refused {self.topic}: {granted}")
                        self.connected = True
                        if ever_connected:
                            self.reconnects += 1
                        ever_connected, delay = True, self._reconnect_min
                        if outage_since is not None:
                            _log.info("[positions %s:%d] back after %.1f s", self.host,
                                      self.port, loop.time() - outage_since)  # fmt: skip
                        outage_since = None
                        async for message in client.messages:
                            self._deliver(str(message.topic), message.payload)
                except aiomqtt.MqttError as exc:
                    self._outage(exc, outage_since is None)
                except Exception:  # a bug, not an outage: say it loudly, then recover anyway
                    _log.exception("[positions %s:%d] feed failed", self.host, self.port)
                outage_since = loop.time() if outage_since is None else outage_since
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self._reconnect_max)
        finally:
            self.connected = False

    def _outage(self, exc: aiomqtt.MqttError, first: bool) -> None:
        # One warning per outage; a broker down for an hour must not write a line per retry.
        level = logging.WARNING if first else logging.DEBUG
        _log.log(level, "[positions %s:%d] broker unavailable (%s); reconnecting",
                 self.host, self.port, exc)  # fmt: skip

    def _deliver(self, topic: str, payload: object) -> None:
        self.received += 1
        # Payloads from the wire are always bytes; aiomqtt's type also covers what it sends.
        raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
        try:
            position = parse_position(topic, raw, self.prefix)
        except FeedError as exc:
            self.rejected += 1
            _log.debug("[positions] rejected %s: %s", topic, exc)
            try:
                self._on_rejected(topic, str(exc))
            except Exception:
                _log.exception("[positions] on_rejected failed for %s; feed goes on", topic)
            return
        try:
            self._on_position(position)
        except Exception:  # one bad fix or consumer bug must not stop every officer's updates
            _log.exception("[positions] on_position failed for %s; feed goes on", topic)
