"""WebRTC calls' REST (engine.http_webcalls, engine.webcalls) with a scripted pool: an idle
member is taken, the offer handed over, its answer returned; a member that took a trunk call
first sends the caller on to the next; none idle is 503 with Retry-After; a bad offer is 400
and its member leaves. The citizen's token guards the call; the console's video and snapshot
need staff. The SQLite store, router, dispatcher and aiohttp app are real; the members are not
(tests/peers/test_webrtc_live.py has the real ones)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import webcalls
from engine.http import build_app
from engine.settings import Settings
from engine.webcalls import WebCalls
from sip import messages as msg
from tests.shells.test_incidents_shell import FakeEngine, running

OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
SCAN = "".join(
    f"a=candidate:{n} 1 udp 2122260223 10.0.{n}.1 {1000 + n} typ host\r\n" for n in range(40)
)
Reply = Callable[[int, msg.WebOffer], msg.Message | None]


class ScriptedPool:
    """Idle members, and what each says to a WebOffer (None: nothing, a hung member)."""

    def __init__(self, engine: WebEngine) -> None:
        self.engine = engine
        self.idle: list[int] = []
        self.replies: list[Reply] = []
        self.sent: list[tuple[str, msg.Message]] = []
        self.released: list[int] = []

    def take_for_web(self) -> int | None:
        return self.idle.pop(0) if self.idle else None

    def release_web(self, member_id: int, session: str) -> None:
        self.released.append(member_id)

    def send(self, call_id: str, command: msg.Message) -> bool:
        self.sent.append((call_id, command))
        if isinstance(command, msg.WebOffer):
            reply = self.replies.pop(0)(int(call_id), command)
            if reply is not None:
                asyncio.get_running_loop().call_soon(self.engine.feed, reply)
        return True


def answered(video: bool = True) -> Reply:
    def reply(member: int, offer: msg.WebOffer) -> msg.Message:
        return msg.WebAnswered(
            member_id=member, session=offer.session, call_id=str(member), answer="v=0 answer",
            video=video,
        )  # fmt: skip

    return reply


def refused(busy: bool, retry: bool = False) -> Reply:
    def reply(member: int, offer: msg.WebOffer) -> msg.Message:
        why = "took a trunk call" if busy else "cannot answer the offer: no DTLS"
        return msg.WebRefused(
            member_id=member, session=offer.session, reason=why, busy=busy, retry=retry or busy
        )

    return reply


class WebEngine(FakeEngine):
    def __init__(self, db: Path) -> None:
        super().__init__(db)
        self.settings = Settings()
        self.pool = ScriptedPool(self)
        self.webcalls = WebCalls(self)  # type: ignore[arg-type]

    def feed(self, event: msg.Message) -> None:
        super().feed(event)
        self.webcalls.on_member_event(event)


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[tuple[WebEngine, Any, Any]]:
    async with running(WebEngine(tmp_path / "incidents.db")) as (engine, staff):
        citizen = TestClient(TestServer(build_app(engine)))  # type: ignore[arg-type]
        await citizen.start_server()
        try:
            yield engine, citizen, staff  # type: ignore[misc]
        finally:
            await citizen.close()


def offered(call_id: str, offer: msg.WebOffer) -> msg.CallOffered:
    now = time.monotonic()
    return msg.CallOffered(
        call_id=call_id, at=now, received_at=now, caller=offer.caller, caller_name="",
        called="110", pai="", sip_call_id=offer.session, trunk="web-app",
        location=offer.location, channel="webrtc",
    )  # fmt: skip


async def test_a_call_is_answered_through_an_idle_member_and_followed_with_its_token(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, staff = centre
    engine.pool.idle = [7]
    engine.pool.replies = [answered()]
    body = {"type": "offer", "sdp": OFFER, "phone": "13800000009", "lat": 30.27, "lon": 120.15}
    reply = await citizen.post("/api/intake/calls", json={**body, "accuracy": 20})
    assert reply.status == 201, await reply.text()
    data = await reply.json()
    assert (data["call"], data["type"], data["sdp"]) == ("7", "answer", "v=0 answer")
    (_, offer), *_ = engine.pool.sent
    assert isinstance(offer, msg.WebOffer) and offer.caller == "13800000009"
    assert offer.location == {"lat": 30.27, "lon": 120.15, "method": "app", "radius_m": 20.0}
    engine.feed(offered("7", offer))  # what the member says next

    token = {"X-Citizen-Token": data["token"]}
    view = await (await citizen.get("/api/intake/calls/7", headers=token)).json()
    assert view["state"] == "queued" and view["video"] is True and view["officer"] is None
    for wrong in ({}, {"X-Citizen-Token": "guess"}):
        assert (await citizen.get("/api/intake/calls/7", headers=wrong)).status == 404
        assert (await citizen.delete("/api/intake/calls/7", headers=wrong)).status == 404
    assert (await citizen.get("/api/intake/calls/8", headers=token)).status == 404

    # a newer position is filed in the call's incident
    number = await _incident(engine, "7")
    moved = await citizen.post(
        "/api/intake/calls/7/location", json={"lat": 30.28, "lon": 120.16}, headers=token
    )
    assert moved.status == 200, await moved.text()
    incident = await (await staff.get(f"/api/incidents/{number}")).json()
    assert (incident["source"], incident["channel"]) == ("webrtc", "web-app:webrtc")
    assert incident["location"]["lat"] == 30.28 and incident["location"]["method"] == "app"
    assert incident["events"][-1]["actor"] == "citizen:web-app"

    assert (await citizen.delete("/api/intake/calls/7", headers=token)).status == 204
    assert isinstance(engine.pool.sent[-1][1], msg.WebHangUp)
    view = await (await citizen.get("/api/intake/calls/7", headers=token)).json()
    assert view["state"] == "ended"


async def _incident(engine: WebEngine, call_id: str) -> str:
    for _ in range(100):
        number = engine.incidents.by_call.get(call_id)
        if number:
            return number
        await asyncio.sleep(0.01)
    raise AssertionError("no incident")


async def test_a_member_that_took_a_trunk_call_first_sends_the_caller_to_the_next(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, _ = centre
    engine.pool.idle = [3, 4]
    engine.pool.replies = [refused(busy=True), answered(video=False)]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 201 and (await reply.json())["call"] == "4"
    assert engine.pool.released == []  # the first has its trunk call: nothing to release
    assert engine.metrics.web_calls.labels("answered")._value.get() == 1


async def test_no_idle_member_is_503_with_retry_after_and_a_bad_offer_is_400(
    centre: tuple[WebEngine, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, citizen, _ = centre
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 503 and reply.headers["Retry-After"] == "2"

    engine.pool.idle = [5]
    engine.pool.replies = [refused(busy=False)]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 400 and "DTLS" in (await reply.json())["error"]
    assert engine.pool.released == [5]  # it exits; its slot is refilled

    # a member that failed inside (not the offer's fault): released, and the next one tried
    engine.pool.idle = [8, 9]
    engine.pool.replies = [refused(busy=False, retry=True), answered()]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 201 and (await reply.json())["call"] == "9"
    assert engine.pool.released == [5, 8]

    monkeypatch.setattr(webcalls, "ANSWER_WAIT_S", 0.1)
    engine.pool.idle = [6]
    engine.pool.replies = [lambda member, offer: None]  # a member that never answers
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 503 and engine.pool.released == [5, 8, 6]


async def test_malformed_offers_are_refused_before_any_member_is_taken(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, _ = centre
    engine.intake.per_minute = 100  # junk counts against the address too; not the point here
    engine.pool.idle = [1]
    for body, status in (
        ({"type": "answer", "sdp": OFFER}, 400),
        ({"type": "offer"}, 400),
        ({"type": "offer", "sdp": "v=0\r\nm=video 9 RTP/AVP 96\r\n"}, 400),  # no audio
        ({"type": "offer", "sdp": "hello"}, 400),
        ({"type": "offer", "sdp": OFFER, "lat": 91, "lon": 0}, 400),
        ({"type": "offer", "sdp": OFFER, "phone": 12345}, 400),
        ({"type": "offer", "sdp": OFFER + SCAN}, 400),  # 40 candidates: a port scan
    ):
        reply = await citizen.post("/api/intake/calls", json=body)
        assert reply.status == status, (body, await reply.text())
    reply = await citizen.post("/api/intake/calls", data="x" * 20_000)
    assert reply.status == 413
    assert engine.pool.idle == [1] and engine.pool.sent == []


async def test_a_source_calling_too_often_is_told_to_wait(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, _ = centre
    engine.settings = dataclasses.replace(
        engine.settings, webrtc=dataclasses.replace(engine.settings.webrtc, calls_per_minute=4)
    )
    statuses = []
    for _ in range(5):  # webrtc.calls_per_minute: 4 a minute per address
        engine.pool.idle = [9]
        engine.pool.replies = [refused(busy=False)]
        reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
        statuses.append(reply.status)
    assert statuses == [400, 400, 400, 400, 429]
    assert int(reply.headers["Retry-After"]) > 0


async def test_retrying_a_full_centre_is_not_held_against_the_citizen(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, _ = centre
    for _ in range(10):  # the page retries every 2 s while every line is busy
        reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
        assert reply.status == 503
    engine.pool.idle = [4]
    engine.pool.replies = [answered()]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 201


async def test_the_console_video_and_snapshot_are_for_staff_and_web_calls_only(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, staff = centre
    video = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"}
    assert (await citizen.post("/api/calls/1/video", json=video)).status == 401
    assert (await citizen.post("/api/calls/1/snapshot")).status == 401
    assert (await staff.post("/api/calls/1/video", json=video)).status == 404  # no such call
    engine.pool.idle = [2]
    engine.pool.replies = [answered(video=False)]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    engine.feed(offered("2", engine.pool.sent[-1][1]))  # type: ignore[arg-type]
    assert reply.status == 201
    refused_video = await staff.post("/api/calls/2/video", json=video)
    assert refused_video.status == 409, await refused_video.text()  # an audio-only caller
    bad = await staff.post("/api/calls/2/video", json={"type": "offer", "sdp": OFFER})
    assert bad.status == 400  # no video in the console's offer


async def test_the_centre_takes_at_most_max_calls_and_video_from_the_first_max_video(
    centre: tuple[WebEngine, Any, Any],
) -> None:
    engine, citizen, _ = centre
    engine.settings = dataclasses.replace(
        engine.settings,
        webrtc=dataclasses.replace(engine.settings.webrtc, max_calls=3, max_video=2),
    )
    engine.intake.per_minute = 100
    offers = []
    for member in (1, 2, 3):
        engine.pool.idle = [member]
        engine.pool.replies = [answered()]
        reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
        assert reply.status == 201
        offer = engine.pool.sent[-1][1]
        assert isinstance(offer, msg.WebOffer)
        offers.append(offer.video)
        engine.feed(offered(str(member), offer))
    assert offers == [True, True, False]  # the third caller is taken with audio only
    engine.pool.idle = [4]
    reply = await citizen.post("/api/intake/calls", json={"type": "offer", "sdp": OFFER})
    assert reply.status == 503 and reply.headers["Retry-After"] == "5"
    assert "call 110" in (await reply.json())["error"]
    assert engine.pool.idle == [4]  # no member taken for it
