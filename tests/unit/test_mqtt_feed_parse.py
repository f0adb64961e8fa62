"""parse_position: what is a valid officer fix, and the reason given when it is not."""

from __future__ import annotations

import json

import pytest

from dispatch.mqtt_feed import MAX_PAYLOAD, FeedError, Position, PositionFeed, parse_position

PREFIX = "city/110"
TOPIC = f"{PREFIX}/officers/O-17/position"


def fix(**fields: object) -> bytes:
    return json.dumps({"lat": 52.52, "lon": 13.405, "ts": 1718000000.5, **fields}).encode()


def test_valid_fix_with_speed() -> None:
    assert parse_position(TOPIC, fix(speed=8.25), PREFIX) == Position(
        officer_id="O-17", lat=52.52, lon=13.405, ts=1718000000.5, speed=8.25
    )


def test_speed_defaults_to_zero_and_integers_and_extra_keys_are_fine() -> None:
    payload = json.dumps({"lat": 0, "lon": -180, "ts": 1718000000, "heading": 90}).encode()
    assert parse_position(TOPIC, payload, PREFIX) == Position(
        officer_id="O-17", lat=0.0, lon=-180.0, ts=1718000000.0, speed=0.0
    )


def test_range_edges_are_accepted() -> None:
    for lat, lon in [(90, 180), (-90, -180)]:
        position = parse_position(TOPIC, fix(lat=lat, lon=lon), PREFIX)
        assert (position.lat, position.lon) == (lat, lon)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"", "not JSON"),
        (b"[52.5, 13.4]", "not a JSON object but a list"),
        (b"null", "not a JSON object"),
        (fix(lat=200), "lat 200.0 is out of range -90..90"),
        (fix(lat=-90.01), "lat -90.01 is out of range"),
        (fix(lon=180.5), "lon 180.5 is out of range -180..180"),
        (json.dumps({"lat": 1, "lon": 2}).encode(), "ts is missing"),
        (json.dumps({"lon": 2, "ts": 3}).encode(), "lat is missing"),
        (json.dumps({"lat": 1, "ts": 3}).encode(), "lon is missing"),
        (fix(lat=True), "lat is not a number: true"),
        (fix(lon=False), "lon is not a number: false"),
        (fix(ts="1718000000"), 'ts is not a number: "1718000000"'),
        (fix(lat=None), "lat is not a number: null"),
        (fix(lat=[1, 2]), "lat is not a number"),
        (fix(speed=True), "speed is not a number"),
        (fix(speed=None), "speed is not a number"),
        (fix(speed=-0.5), "speed -0.5 is negative"),
        (b'{"lat": NaN, "lon": 1, "ts": 2}', "lat is not finite: nan"),
        (b'{"lat": 1, "lon": 1, "ts": Infinity}', "ts is not finite: inf"),
        (b'{"lat": 1, "lon": -Infinity, "ts": 2}', "lon is not finite"),
        (b'{"lat": 1, "lon": 1, "ts": 1e999}', "ts is not finite"),
        (b'{"lat": 1, "lon": 1, "ts": 1' + b"0" * 400 + b"}", "ts is too large"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_position(TOPIC, payload, PREFIX)
    assert reason in str(caught.value)


def test_feed_error_is_a_value_error() -> None:
    assert issubclass(FeedError, ValueError)


def test_payload_size_limit() -> None:
    padded = fix(note="x" * (MAX_PAYLOAD - len(fix(note=""))))
    assert len(padded) == MAX_PAYLOAD
    assert parse_position(TOPIC, padded, PREFIX).officer_id == "O-17"
    with pytest.raises(FeedError, match="4097 bytes is over the 4096 byte limit"):
        parse_position(TOPIC, padded + b" ", PREFIX)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/officers/O-17/position", "does not match city/110/officers/<officer_id>/position"),
        (f"{PREFIX}/officers/O-17/status", "does not match"),
        (f"{PREFIX}/officers/position", "does not match"),
        (f"{PREFIX}/vehicles/O-17/position", "does not match"),
        (f"{PREFIX}/officers/O-17/position/extra", "does not match"),
        (f"{PREFIX}/officers//position", "officer id in the topic is empty"),
        (f"{PREFIX}/officers/{'a' * 65}/position", "officer id is 65 chars, over 64"),
        (f"{PREFIX}/officers/a/b/position", "contains / + or #"),
        (f"{PREFIX}/officers/+/position", "contains / + or #"),
    ],
)
def test_bad_topics_are_refused_with_the_reason(topic: str, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_position(topic, fix(), PREFIX)
    assert reason in str(caught.value)


def test_officer_id_of_64_chars_is_accepted() -> None:
    officer = "b" * 64
    assert (
        parse_position(f"{PREFIX}/officers/{officer}/position", fix(), PREFIX).officer_id == officer
    )


def test_topic_is_checked_before_the_payload() -> None:
    # A stray message on a foreign topic is reported as such, whatever its payload.
    with pytest.raises(FeedError, match="does not match"):
        parse_position("elsewhere", b"garbage", PREFIX)


@pytest.mark.parametrize(
    ("prefix", "reconnect"),
    [("", (0.5, 10)), ("a/#", (0.5, 10)), ("a/", (0.5, 10)), ("a", (0, 1)), ("a", (2, 1))],
)
def test_feed_refuses_a_bad_prefix_or_backoff(prefix: str, reconnect: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        PositionFeed(
            host="127.0.0.1",
            port=1,
            prefix=prefix,
            on_position=lambda position: None,
            on_rejected=lambda topic, reason: None,
            reconnect_min=reconnect[0],
            reconnect_max=reconnect[1],
        )
    assert (
        PositionFeed(
            host="127.0.0.1", port=1, prefix="city/110", on_position=print, on_rejected=print
        ).topic
        == "city/110/officers/+/position"
    )
