"""The caller leg of a WebRTC call, as the member's pj thread sees it.

For a trunk call the caller leg is a pjsua2 Call; for a caller from the 110 web app it is a
`WebPort` in the conference, fed by the member's aiortc session (`sip.webcaller`). The pure
`conference.bridge.Bridge` does not know the difference: the agent turns the bridge's actions
on the caller into what they mean here (answering = the leg is connected with media at once;
ending it = hanging up the peer connection) and feeds back the same facts a Call would.

`WebCallerArrived` and `WebCallerGone` go from the member's asyncio side to the agent's command
queue; they never cross the engine's socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conference import actions as act, bridge as br
from incidents.numbering import call_uid
from sip import messages as msg
from sip.message_base import Message
from sip.webmessages import WebOffer
from sip.webport import WebPort

WEB_GC_S = 2.0
"""Members run with the collector off (pj objects must die on the pj thread); aiortc makes
reference cycles all call long, so with a WebRTC caller the pj thread collects this often."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebCallerArrived(Message):
    """aiortc answered the offer: take the call (or refuse it if a trunk call came first)."""

    caller: Any
    """The `sip.webcaller.WebCaller` (its rings only are used on the pj side)."""
    offer: WebOffer
    answer: str
    video: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WebCallerGone(Message):
    """The peer connection failed or closed, or the citizen hung up on the page."""

    reason: str


CONNECT_S = 10.0
"""A caller whose browser never completes ICE and DTLS within this (or the member's
`seat_media_timeout`, the same judgement for a seat's phone) is gone: a firewall, a tab closed
while the offer was answered."""


class WebLeg:
    """The conference port of the caller; created and dropped on the pj thread only."""

    def __init__(self, arrived: WebCallerArrived, clock_rate: int, name: str, now: float) -> None:
        self.arrived = arrived
        self.caller = arrived.caller
        self.port: WebPort | None = WebPort(self.caller.to_conference, self.caller.to_browser)
        self.port.open(name, clock_rate)
        self.ended = False
        self.since = now
        self.answer_pending = False
        """The bridge answered the caller before the browser's media was up: done on connect."""
        self.frames = -1
        self.frames_since = now

    @property
    def audio(self) -> Any:
        return self.port

    def release(self) -> None:
        """The caller is gone: the port falls silent (it is destroyed at shutdown)."""
        if self.port is not None:
            self.port.live = False

    def destroy(self) -> None:
        """At shutdown, with the conference clock stopped: drop the port (it must not outlive
        libDestroy, and must not die on the clock thread)."""
        self.port = None

    def silent_for(self, now: float) -> float:
        """Seconds since the browser's audio last advanced (it is read, never written, here)."""
        frames = int(self.caller.audio_frames)
        if frames != self.frames:
            self.frames, self.frames_since = frames, now
        return now - self.frames_since


class WebCallerAgent:
    """The part of `sip.useragent.UserAgent` that serves a WebRTC caller (pj thread only).

    A caller counts as answered (connected, with media) only once the browser's peer connection
    is up: a seat that answers earlier waits for it, silent. The caller's leg ends when the
    connection never comes up (CONNECT_S), when the browser's audio stops for
    `seat_media_timeout` s (the browser or its network died without closing), when the page
    hangs up, or when the connection fails or closes."""

    spec: Any
    bridge: br.Bridge | None
    ep: Any
    call_id: str
    _web: WebLeg | None
    _end_web: Callable[[Any], None] | None
    """Schedules the close of the caller's session on the member's asyncio thread."""
    _stopping: bool
    _sip_call_id: str
    _call_info: list[str]
    _cancelled: set[str]

    if TYPE_CHECKING:  # provided by UserAgent, the class this part belongs to

        def emit(self, event: msg.Message) -> None: ...

        def _execute(self, actions: list[act.BridgeAction]) -> None: ...

    @property
    def web_caller(self) -> Any:
        """The WebRTC caller's session this agent took (None for a trunk call)."""
        return None if self._web is None else self._web.caller

    def _web_arrived(self, arrived: WebCallerArrived) -> None:
        offer = arrived.offer
        if self.bridge is not None or self._stopping or offer.session in self._cancelled:
            busy = self.bridge is not None
            why = "the member took another call first" if busy else "the offer was cancelled"
            refused = msg.WebRefused(
                member_id=self.spec.member_id,
                session=offer.session,
                reason=why,
                busy=busy,
                retry=True,
            )
            self.emit(refused)
            if self._end_web is not None:
                self._end_web(arrived.caller)
            return
        now = time.monotonic()
        self.bridge = br.Bridge(self.call_id, record=bool(self.spec.recordings_dir))
        self._sip_call_id = offer.session
        if self.spec.ng911_domain:
            uid = call_uid(offer.session, self.call_id, self.spec.ng911_domain)
            self._call_info = [f"<{uid}>;purpose=emergency-CallId"]
        self.ep.audDevManager().setNullDev()  # the conference clock drives the port
        self._web = WebLeg(arrived, self.spec.clock_rate, "webrtc-caller", now)
        self.emit(
            msg.WebAnswered(
                member_id=self.spec.member_id,
                session=offer.session,
                call_id=self.call_id,
                answer=arrived.answer,
                video=arrived.video,
            )
        )
        self.emit(
            msg.CallOffered(
                call_id=self.call_id,
                at=now,
                received_at=now,
                caller=offer.caller,
                caller_name="",
                called="110",
                pai="",
                sip_call_id=offer.session,
                trunk=self.spec.web_trunk,
                location=offer.location,
                skills=[],  # every console is a browser: any seat shows the video
                channel="webrtc",
            )
        )

    def _web_cancel(self, cancel: msg.WebCancel) -> None:
        """The engine gave up on an offer (see `WebCancel`)."""
        self._cancelled.add(cancel.session)
        web = self._web
        if self.bridge is None and not self._stopping:
            self.emit(msg.WebReleased(member_id=self.spec.member_id, session=cancel.session))
            self._stopping = True  # a member serves one call, or none: it exits
        elif web is not None and web.arrived.offer.session == cancel.session:
            self._end_web_leg(487, "the centre gave up on the call's offer")
        # else: a trunk call came first; it goes on

    def _web_action(self, action: act.BridgeAction) -> None:
        """The bridge's word to the caller, for a browser: no SIP answer to send."""
        web = self._web
        if self.bridge is None or web is None:
            return
        if isinstance(action, act.AnswerCaller):
            web.answer_pending = True
            self._watch_web()  # at once when the browser is already connected
        elif isinstance(action, act.RefuseCaller):
            self._end_web_leg(action.status, action.reason)
        # SendRinging: the page shows the call's state from the engine

    def _watch_web(self) -> None:
        """Each poll: answer on connect, or end a caller whose media never came or stopped."""
        web = self._web
        if web is None or web.ended or self.bridge is None:
            return
        now = time.monotonic()
        timeout = float(self.spec.seat_media_timeout)
        if not web.caller.connected:
            limit = timeout if timeout > 0 else CONNECT_S
            if now - web.since >= limit:
                self._end_web_leg(408, f"the browser's media did not connect in {limit:g} s")
            return
        if web.answer_pending:
            web.answer_pending = False
            self._execute(self.bridge.leg_connected(br.CALLER, now))
            self._execute(self.bridge.leg_media_ready(br.CALLER, now))
        if timeout > 0 and web.silent_for(now) >= timeout:
            self._end_web_leg(408, f"no audio from the browser for {timeout:g} s")

    def _web_gone(self, reason: str, now: float) -> None:
        web = self._web
        if web is None or web.ended or self.bridge is None:
            return
        web.ended = True
        web.release()
        self._execute(self.bridge.leg_ended(br.CALLER, 200, reason, now))

    def _end_web_leg(self, status: int, reason: str) -> None:
        web = self._web
        if web is None or web.ended or self.bridge is None:
            return
        web.ended = True
        web.release()
        if self._end_web is not None:
            self._end_web(web.caller)
        self._execute(self.bridge.leg_ended(br.CALLER, status, reason, time.monotonic()))
