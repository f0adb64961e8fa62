"""WebRTC callers from the 110 web app: a call like any other, offered through an idle member.

A trunk INVITE reaches a member through Kamailio; a browser's call reaches the engine over
HTTPS with its SDP offer. `WebCalls.offer` takes an idle (WARM) member from the pool the way
Kamailio would (it is marked busy and leaves the front's dispatcher), hands it the offer
(`WebOffer`), and waits for aiortc's answer (`WebAnswered`). The member then reports
`CallOffered` with channel "webrtc", so the call enters the same ACD queue, with the same 3 s
answer target, the same incident, recording and conference (the browser's audio is a port of
that member's pjsua2 conference: the call-taker's softphone hears it and a dispatched officer
joins the same bridge). If a trunk INVITE reached the member first it refuses (busy) and the
next idle member is tried; with none idle the citizen gets 503 with Retry-After.

The citizen's page follows the call with a secret token of its own: the state, the incident
number and, once an officer is dispatched, the officer's distance and ETA, recomputed from the
officer's latest position each time it is asked. The console asks the same member for the
caller's live video (`WatchVideo`) and for a snapshot (`TakeSnapshot`), which is filed in the
incident and pushed on the dispatched officer's topic.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import math
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatch.geo import distance_m
from intake.pictures import PictureError, check_picture
from sip import messages as msg

if TYPE_CHECKING:
    from engine.app import Engine

log = logging.getLogger(__name__)
ANSWER_WAIT_S = 12.0
"""aiortc answers in well under a second; a member silent this long is given up."""
MEMBER_TRIES = 3
KEEP_SESSIONS = 2000


class WebCallError(Exception):
    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(slots=True)
class WebSession:
    session: str
    call_id: str
    token_sha256: str
    video: bool
    started: float
    hung_up: bool = False


@dataclass(slots=True)
class _Waits:
    answers: dict[str, asyncio.Future[msg.Message]] = field(default_factory=dict)
    videos: dict[str, asyncio.Future[msg.Message]] = field(default_factory=dict)
    snapshots: dict[str, asyncio.Future[msg.Message]] = field(default_factory=dict)


class WebCalls:
    """See the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: dict[str, WebSession] = {}  # by call id
        self._waits = _Waits()
        self._ids = itertools.count(1)
        self._placing = 0  # offers being answered right now (they count against the limits)

    # -- the citizen ---------------------------------------------------------------------------

    async def offer(
        self, sdp: str, caller: str, location: dict[str, Any] | None
    ) -> tuple[WebSession, str, str]:
        """Place the browser's call; (session, token, answer SDP)."""
        session = f"webrtc-{uuid.uuid4()}"
        limits = self.engine.settings.webrtc
        live = [web for web in self.sessions.values() if self._live_now(web)]
        if len(live) + self._placing >= limits.max_calls:
            self.engine.metrics.web_calls.labels("full").inc()
            raise WebCallError(503, "every video line of the centre is busy: please call 110", 5)
        video = sum(1 for web in live if web.video) + self._placing < limits.max_video
        self._placing += 1
        try:
            return await self._place(session, sdp, caller, location, video)
        finally:
            self._placing -= 1

    async def _place(
        self, session: str, sdp: str, caller: str, location: dict[str, Any] | None, video: bool
    ) -> tuple[WebSession, str, str]:
        pool = self.engine.pool
        for _ in range(MEMBER_TRIES):
            member_id = pool.take_for_web()
            if member_id is None:
                raise WebCallError(503, "every line of the centre is busy: retrying", 2)
            waiting = asyncio.get_running_loop().create_future()
            self._waits.answers[session] = waiting
            offer = msg.WebOffer(
                offer=sdp, caller=caller, session=session, location=location, video=video
            )
            try:
                if not pool.send(str(member_id), offer):
                    continue  # its connection is closing: the member is going away anyway
                reply = await asyncio.wait_for(waiting, ANSWER_WAIT_S)
            except TimeoutError:
                pool.release_web(member_id, session)
                raise WebCallError(503, "the centre could not answer in time", 2) from None
            finally:
                self._waits.answers.pop(session, None)
            if isinstance(reply, msg.WebAnswered):
                token = secrets.token_urlsafe(24)
                web = WebSession(
                    session=session,
                    call_id=reply.call_id,
                    token_sha256=_digest(token),
                    video=reply.video,
                    started=time.monotonic(),
                )
                self._keep(web)
                self.engine.metrics.web_calls.labels("answered").inc()
                return web, token, reply.answer
            assert isinstance(reply, msg.WebRefused)
            if not reply.busy:  # it holds no call: it exits, its slot is refilled
                pool.release_web(member_id, session)
            if not (reply.busy or reply.retry):
                self.engine.metrics.web_calls.labels("refused").inc()
                raise WebCallError(400, reply.reason)
            log.warning("web offer %s not taken by member %d: %s", session, member_id, reply.reason)
        self.engine.metrics.web_calls.labels("busy").inc()
        raise WebCallError(503, "every line of the centre is busy: retrying", 2)

    def _live_now(self, web: WebSession) -> bool:
        record = self.engine.router.find(web.call_id)
        return record is not None and record.ended_at is None and not web.hung_up

    def session(self, call_id: str, token: str) -> WebSession:
        web = self.sessions.get(call_id)
        if web is None or not token or not hmac.compare_digest(web.token_sha256, _digest(token)):
            raise WebCallError(404, "no such call")  # the same answer for a wrong token
        return web

    def status(self, web: WebSession) -> dict[str, Any]:
        """What the citizen's page shows: the call's state, its incident, the officer coming."""
        engine = self.engine
        record = engine.router.find(web.call_id)
        state = "queued"
        if record is None or record.ended_at is not None or web.hung_up:
            state = "ended"
        elif record.answered_at is not None:
            state = "answered"
        elif record.rings:
            state = "ringing"
        number = engine.incidents.by_call.get(web.call_id)
        return {
            "call": web.call_id,
            "state": state,
            "outcome": None if record is None or state != "ended" else record.outcome or None,
            "incident": number,
            "video": web.video,
            "officer": None if state == "ended" else self._officer(record),
        }

    def _officer(self, record: Any) -> dict[str, Any] | None:
        """How far the officer is, coarsely: never who, nor where (a token holder is anyone
        who called, and an officer's live position must not be tracked through it)."""
        dispatch = None if record is None else record.dispatch
        if dispatch is None or dispatch.outcome in ("withdrawn", "exhausted"):
            return None
        if dispatch.on_scene_at is not None:
            return {"status": "on-scene"}
        target = dispatch.bridged
        if target is None:
            return {"status": "calling"}
        view: dict[str, Any] = {"status": "dispatched"}
        place = dispatch.location or {}
        force = self.engine.dispatcher.force
        try:
            officer = force.officer(target.ident, time.time())
        except (KeyError, LookupError, ValueError):
            return view  # a duty phone, not an officer with a position
        if officer.lat is None or officer.lon is None or "lat" not in place:
            return view
        metres = distance_m(officer.lat, officer.lon, float(place["lat"]), float(place["lon"]))
        speed = max(officer.speed or 0.0, force.config.min_speed)
        eta = metres * force.config.road_factor / speed
        view["distance_m"] = max(100, round(metres, -2))
        view["eta_s"] = max(10, math.ceil(eta / 10) * 10)
        return view

    def hang_up(self, web: WebSession) -> None:
        web.hung_up = True
        self.engine.pool.send(web.call_id, msg.WebHangUp())

    # -- the console -------------------------------------------------------------------------

    async def watch(self, call_id: str, offer: str, viewer: str = "") -> str:
        """Answer a console's offer with the caller's live video (`viewer`'s earlier view of
        this call, if any, is replaced)."""
        web = self._live(call_id)
        if not web.video:
            raise WebCallError(409, "this caller sends no video")
        watch_id = f"w{next(self._ids)}"
        reply = await self._ask(
            self._waits.videos,
            watch_id,
            web,
            msg.WatchVideo(watch_id=watch_id, offer=offer, viewer=viewer),
        )
        if isinstance(reply, msg.VideoRefused):
            raise WebCallError(409, reply.reason)
        assert isinstance(reply, msg.VideoAnswered)
        return reply.answer

    async def snapshot(self, call_id: str, actor: str) -> dict[str, Any]:
        """The caller's latest frame: stored, filed in the incident, pushed to the officer."""
        engine = self.engine
        web = self._live(call_id)
        request_id = f"s{next(self._ids)}"
        scratch = engine.intake.media.root / "incoming" / f"{call_id}-{request_id}.jpg"
        reply = await self._ask(
            self._waits.snapshots,
            request_id,
            web,
            msg.TakeSnapshot(request_id=request_id, path=str(scratch)),
        )
        assert isinstance(reply, msg.SnapshotTaken)
        if reply.error:
            raise WebCallError(409, reply.error)
        path = Path(reply.path)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        finally:
            path.unlink(missing_ok=True)
        try:
            picture = check_picture(
                data, name="snapshot", max_bytes=engine.intake.max_picture_bytes
            )
        except PictureError as exc:  # the member wrote something that is not a whole JPEG
            raise WebCallError(422, str(exc)) from None
        record, _created = await asyncio.to_thread(engine.intake.media.put, picture, time.time())
        record["kind"] = "snapshot"
        officer = self._dispatched_officer(call_id)
        number = engine.incidents.by_call.get(call_id)
        data_out: dict[str, Any] = {"attachments": [record], "officer": officer}
        if officer and number:
            prefix = engine.settings.dispatch.mqtt_prefix
            data_out["push_topic"] = f"{prefix}/officers/{officer}/snapshot"
            data_out["url"] = f"/api/incidents/{number}/pictures/{record['sha256']}"
        event = await engine.incidents.act(call_id, "snapshot", actor, data_out)
        if officer:
            engine.events.publish(
                "officer/snapshot",
                call_id=call_id,
                officer_id=officer,
                incident=number,
                sha256=record["sha256"],
                url=data_out.get("url"),
            )
        return {
            "sha256": record["sha256"],
            "size": record["size"],
            "width": reply.width,
            "height": reply.height,
            "incident": number,
            "officer": officer,
            "filed": event is not None,
            "url": data_out.get("url"),
        }

    def _dispatched_officer(self, call_id: str) -> str | None:
        record = self.engine.router.find(call_id)
        dispatch = None if record is None else record.dispatch
        if dispatch is None or dispatch.bridged is None:
            return None
        return str(dispatch.bridged.ident)

    def _live(self, call_id: str) -> WebSession:
        web = self.sessions.get(call_id)
        record = self.engine.router.find(call_id)
        if web is None:
            raise WebCallError(404, f"call {call_id} is not a WebRTC call")
        if record is None or record.ended_at is not None:
            raise WebCallError(409, f"call {call_id} has ended")
        return web

    async def _ask(
        self,
        waits: dict[str, asyncio.Future[msg.Message]],
        key: str,
        web: WebSession,
        command: msg.Message,
    ) -> msg.Message:
        waiting = asyncio.get_running_loop().create_future()
        waits[key] = waiting
        try:
            if not self.engine.pool.send(web.call_id, command):
                raise WebCallError(409, "the call's member is gone")
            return await asyncio.wait_for(waiting, ANSWER_WAIT_S)
        except TimeoutError:
            raise WebCallError(504, "the call's member did not answer in time") from None
        finally:
            waits.pop(key, None)

    # -- member events ---------------------------------------------------------------------------

    def on_member_event(self, event: msg.Message) -> None:
        if isinstance(event, msg.WebAnswered | msg.WebRefused):
            _resolve(self._waits.answers, event.session, event)
        elif isinstance(event, msg.VideoAnswered | msg.VideoRefused):
            _resolve(self._waits.videos, event.watch_id, event)
        elif isinstance(event, msg.SnapshotTaken):
            _resolve(self._waits.snapshots, event.request_id, event)

    def _keep(self, web: WebSession) -> None:
        self.sessions[web.call_id] = web
        while len(self.sessions) > KEEP_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))


def _resolve(waits: dict[str, asyncio.Future[msg.Message]], key: str, event: msg.Message) -> None:
    waiting = waits.get(key)
    if waiting is not None and not waiting.done():
        waiting.set_result(event)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
