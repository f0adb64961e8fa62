"""The pjsua2 side of a pool member: one Endpoint, one account, one call, one thread.

Everything in this module runs on the member's pj thread, the thread that created the
Endpoint (`threadCnt=0`, `mainThreadOnly`, RTP on the SIP ioqueue): pjsua2 is never touched
from any other thread. pjsua2 callbacks only record what happened in `self._facts`; after
`libHandleEvents` returns, the facts are fed to the pure `conference.bridge.Bridge` and its
actions are carried out here. Commands from the engine arrive on a `queue.SimpleQueue`; events
for the engine leave through `emit`, which the member wires to `loop.call_soon_threadsafe`.

Idle cost matters (a warm reserve of members waits all day), so an idle member has no
conference clock (`setNoDev`) and polls slowly; the null sound device (the bridge's clock) is
switched on when a call arrives. The member exits after its call: nothing leaks across calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj

from conference import actions as act, bridge as br
from conference.pjbridge import LegMedia
from conference.recording import Recording, recording_path
from incidents.numbering import call_uid
from sip import admission, headers, messages as msg, wants
from sip.pjendpoint import account_config, start_endpoint
from sip.seatwatch import SeatMediaWatch
from sip.webleg import WEB_GC_S, WebCallerAgent, WebCallerArrived, WebCallerGone, WebLeg

log = logging.getLogger(__name__)

IDLE_POLL_MS = 200
CALL_POLL_MS = 10
ANSWER_POLL_MS = 1
ANSWER_WINDOW_S = 0.05
"""After telling the engine something it answers with a command (a call offered, a seat
answered), poll fast for this long: a command waits in the queue until the poll returns."""
EXPECTS_COMMAND = (msg.CallOffered, msg.SeatAnswered, msg.SeatFailed)
PJSIP_MAX_PACKET = 4000
"""pjsip's receive buffer: a longer datagram arrives cut to this size."""
LINGER_S = 0.3
"""After the last leg ends, keep polling briefly so final transactions (200 to BYE) complete."""
PJ_ETOOMANY = 70010
"""pjsua_call_make_call's status when all of max_calls slots are taken."""
RETRY_DIAL_S = 2.0
"""How long a leg is retried while pjsua has no free call slot (a leg just ended holds one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberSpec:
    """Everything a member needs to know, decided by the engine's pool supervisor."""

    member_id: int
    slot: int
    sip_port: int
    rtp_port: int
    rtp_span: int
    address: str
    front_uri: str
    """Outbound proxy for seat legs, e.g. 'sip:127.0.0.1:21999;lr' ('' = send direct)."""
    announcement: str
    codecs: tuple[str, ...]
    clock_rate: int
    trunk: str
    socket_path: str
    media_allow: tuple[str, ...] = ()
    """Networks the trunk's RTP may come from / go to; () = no check."""
    pj_log_level: int = 1
    seat_media_timeout: float = 10.0
    """No RTP from the connected seat phone for this long: its leg is dead (0 = never)."""
    recordings_dir: str = ""
    """Where call recordings go ('' = calls are not recorded)."""
    hold_announcement: str = ""
    """What a caller on hold hears ('' = the queue announcement)."""
    ng911_domain: str = ""
    """Domain of the NG911 call URN sent in Call-Info on every leg placed ('' = none)."""
    webrtc_addresses: tuple[str, ...] = ()
    """Addresses a WebRTC caller's ICE candidates are offered on (() = every interface)."""
    webrtc_port: int = 0
    """First UDP port of this member's WebRTC sockets (0 = the kernel's ephemeral ports)."""
    webrtc_ports: int = 0
    web_trunk: str = "web-app"
    """The trunk name WebRTC callers are counted under."""


class _Leg(pj.Call):  # type: ignore[misc]
    """A pjsua2 call whose callbacks only record facts for the agent."""

    def __init__(self, agent: UserAgent, name: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(agent.account, call_id)
        self.agent = agent
        self.name = name
        self.media = LegMedia()
        self.last_status = 0
        self.dialog_sent = False

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.agent.leg_gone(self, info.lastStatusCode, info.lastReason)
        else:
            self.agent.fact("state", self.name, info.state, info.lastStatusCode, info.lastReason)

    def onCallMediaState(self, prm: Any) -> None:
        self.agent.fact("media", self.name)

    def onStreamDestroyed(self, prm: Any) -> None:
        self.media.capture_stats(self, prm.streamIdx)


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, agent: UserAgent) -> None:
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm: Any) -> None:
        self.agent.incoming(prm)


class UserAgent(WebCallerAgent):
    """One member's pjsua2 endpoint and its single call (see the module docstring)."""

    def __init__(
        self,
        spec: MemberSpec,
        emit: Callable[[msg.Message], None],
        end_web: Callable[[Any], None] | None = None,
    ) -> None:
        self.spec = spec
        self._emit = emit
        self._end_web = end_web
        self._web: WebLeg | None = None
        self._cancelled: set[str] = set()
        self._next_gc = 0.0
        self._fast_until = 0.0
        self.commands: queue.SimpleQueue[msg.Message] = queue.SimpleQueue()
        self.ep: Any = None
        self.account: Any = None
        self.bridge: br.Bridge | None = None
        self.call_id = f"{spec.member_id}"
        self._legs: dict[str, _Leg] = {}
        self._facts: list[tuple[Any, ...]] = []
        self._dial_later: list[tuple[float, act.DialLeg]] = []  # (give up at, dial)
        self._players: dict[str, Any] = {}
        self._recording: Recording | None = None
        self._sip_call_id = ""
        self._call_info: list[str] = []  # NG911 Call-Info values for the legs we place
        self._stopping = False
        self._finished_at: float | None = None
        self._seat_watch = SeatMediaWatch(spec.seat_media_timeout)

    # -- thread main ---------------------------------------------------------------------

    def run(self) -> None:
        """Thread target: start pjsua2, serve one call (or none), shut down in order."""
        try:
            self._start()
            self.emit(
                msg.MemberReady(
                    member_id=self.spec.member_id,
                    slot=self.spec.slot,
                    pid=os.getpid(),
                    at=time.monotonic(),
                )
            )
            while not self._done():
                self._drain_commands()
                self._apply_facts()
                self.ep.libHandleEvents(self._poll_ms())
                self._apply_facts()
                self._retry_dials()
                self._watch_seat_media()
                if self._recording is not None:
                    self._recording.watch(time.monotonic())
                self._watch_web()
                if self._web is not None and time.monotonic() >= self._next_gc:
                    self._next_gc = time.monotonic() + WEB_GC_S
                    gc.collect()
        except Exception as exc:  # the member dies with a report; the engine replaces it
            log.exception("user agent failed")
            self.emit(msg.MemberFault(message=f"user agent failed: {exc!r}"))
        finally:
            self._shutdown()

    def emit(self, event: msg.Message) -> None:
        if isinstance(event, EXPECTS_COMMAND):
            self._fast_until = time.monotonic() + ANSWER_WINDOW_S
        self._emit(event)

    def _poll_ms(self) -> int:
        if self.bridge is None:
            return IDLE_POLL_MS
        return ANSWER_POLL_MS if time.monotonic() < self._fast_until else CALL_POLL_MS

    def _done(self) -> bool:
        if self.bridge is None:
            return self._stopping
        if not self.bridge.finished:
            return False
        if self._finished_at is None:
            self._finished_at = time.monotonic()
        return time.monotonic() - self._finished_at >= LINGER_S

    def _start(self) -> None:
        spec = self.spec
        # no conference clock until a call arrives: an idle member costs almost nothing
        self.ep = start_endpoint(
            address=spec.address,
            sip_port=spec.sip_port,
            codecs=spec.codecs,
            log_level=spec.pj_log_level,
            clock_rate=spec.clock_rate,
        )
        acfg = account_config(
            f"sip:hotline110@{spec.address}:{spec.sip_port}",
            spec.address,
            spec.rtp_port,
            spec.rtp_span,
            proxy=spec.front_uri,
        )
        self.account = _Account(self)
        self.account.create(acfg)

    def _shutdown(self) -> None:
        """Hang up, drop every Call object, then destroy the library (pjsua2's required order)."""
        if self.ep is None:
            return
        try:
            if any(self._alive(leg) for leg in self._legs.values()):
                self.ep.hangupAllCalls()
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline and any(
                    self._alive(leg) for leg in self._legs.values()
                ):
                    self.ep.libHandleEvents(20)
            self._facts.clear()
            recording, self._recording = self._recording, None
            if recording is not None:  # not yet reported: header pending, or a fault
                recording.close(time.monotonic())
            self._players.clear()
            if self._web is not None:
                with contextlib.suppress(pj.Error):
                    self.ep.audDevManager().setNoDev()  # no clock callback may hold the port
                self._web.destroy()  # a port alive at libDestroy aborts the process
            # no local name may keep a Call alive past libDestroy (its destructor would assert)
            for media in [each.media for each in self._legs.values()]:
                media.release()
            self._legs.clear()
            self.account = None
            gc.collect()
            # the linger above already let final transactions complete; without this flag
            # pjsua waits about 1 s for more messages, and the slot stays unusable that long
            self.ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
            if recording is not None:
                recording.report()  # libDestroy finished every port: the header is written
        except Exception:
            log.exception("shutdown")
        self.ep = None

    @staticmethod
    def _alive(leg: _Leg) -> bool:
        try:
            return bool(leg.isActive())
        except pj.Error:
            return False

    # -- callbacks (record only) -----------------------------------------------------------

    def fact(self, *item: Any) -> None:
        self._facts.append(item)

    def leg_gone(self, leg: _Leg, status: int, reason: str) -> None:
        """onCallState(DISCONNECTED): forget the Call object now, inside the callback.

        pjsua reuses a call slot as soon as this callback returns; a Call object destroyed
        later would hang up whichever new call got its slot (pjsua2's destructor does that).
        Dropped here, it dies as this callback returns, like pjsua2's own `delete this`.
        """
        if self._legs.get(leg.name) is leg:
            del self._legs[leg.name]
        stats = leg.media.stats
        if stats is None:  # the stream may still be there: read it now or never
            leg.media.capture_stats(leg, 0)
            stats = leg.media.stats
        leg.media.release()
        self._facts.append(("ended", leg.name, status or leg.last_status, reason, stats))

    def incoming(self, prm: Any) -> None:
        """onIncomingCall: take the first call; every later INVITE gets 486 at once."""
        if self.bridge is not None or self._stopping:
            self._refuse_now(prm, 486, "Busy Here")
            return
        received = time.monotonic()
        raw = prm.rdata.wholeMsg
        info = headers.read_invite(raw)
        if len(raw.encode("utf-8", "replace")) >= PJSIP_MAX_PACKET:
            info = dataclasses.replace(info, truncated=True)
        refusal = admission.check_invite(info, self.spec.media_allow)
        if refusal is not None:
            log.warning("refusing INVITE %s: %s", info.sip_call_id, refusal.detail)
            # pjsip cuts a datagram over 4000 bytes; answering a Call built on one aborts the
            # process (pjsip_rx_data_free_cloned). With no Call object pjsua answers 500 itself
            # and the member lives on. (The front keeps such messages out: this is a backstop.)
            if refusal.reason != "truncated":
                self._refuse_now(prm, refusal.status, refusal.phrase, refusal.headers)
            self.emit(
                msg.CallRefused(
                    at=received,
                    status=refusal.status,
                    reason=refusal.reason,
                    caller=info.caller,
                    trunk=self.spec.trunk,
                )
            )
            return
        leg = _Leg(self, br.CALLER, prm.callId)
        self._legs[br.CALLER] = leg
        self.bridge = br.Bridge(self.call_id, record=bool(self.spec.recordings_dir))
        self._sip_call_id = info.sip_call_id
        if self.spec.ng911_domain:
            uid = call_uid(info.sip_call_id, self.call_id, self.spec.ng911_domain)
            self._call_info = [f"<{uid}>;purpose=emergency-CallId"]
        self.ep.audDevManager().setNullDev()  # now the conference bridge needs its clock
        at = received
        if info.front_received_wall is not None:
            at = min(received, received - (time.time() - info.front_received_wall))
        self.emit(
            msg.CallOffered(
                call_id=self.call_id,
                at=at,
                received_at=received,
                caller=info.caller,
                caller_name=info.caller_name,
                called=info.called,
                pai=info.pai,
                sip_call_id=info.sip_call_id,
                trunk=self.spec.trunk,
                location=info.location,
                location_error=info.location_error,
                skills=sorted(wants.call_skills(raw, info.sdp)),
            )
        )

    def _refuse_now(
        self, prm: Any, status: int, reason: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Answer an INVITE we will not take; its leg is dropped when it disconnects."""
        leg = _Leg(self, f"refused:{prm.callId}", prm.callId)
        self._legs[leg.name] = leg
        self._answer(leg, status, reason, extra=extra)

    def _watch_seat_media(self) -> None:
        if self.bridge is None:
            return
        now = time.monotonic()
        name = self.bridge.connected_seat
        why = self._seat_watch.dead(name, self._legs.get(name) if name else None, now)
        if why and name is not None:
            log.warning("%s: %s", name, why)
            self._execute(self.bridge.seat_lost(br.seat_id_of(name), why, now))

    # -- facts and commands -> bridge -> actions --------------------------------------------

    def _apply_facts(self) -> None:
        while self._facts:
            kind, name, *rest = self._facts.pop(0)
            if self.bridge is None or name not in self.bridge.legs:
                continue  # a refused or busy INVITE: nothing to do
            now = time.monotonic()
            if kind == "ended":
                status, reason, stats = rest
                if stats is not None:
                    self.emit(msg.LegStats(call_id=self.call_id, leg=name, **stats))
                self._execute(self.bridge.leg_ended(name, status, reason, now))
                continue
            leg = self._legs.get(name)
            if leg is None:
                continue  # it ended in the same poll; its "ended" fact follows
            if kind == "media":
                if leg.media.attach(leg):
                    self._execute(self.bridge.leg_media_ready(name, now))
                continue
            state, status, reason = rest
            leg.last_status = status or leg.last_status
            if state in (pj.PJSIP_INV_STATE_EARLY, pj.PJSIP_INV_STATE_CONFIRMED):
                self._send_dialog(leg)  # now the front holds a dialog for this leg
            if state == pj.PJSIP_INV_STATE_EARLY and name != br.CALLER:
                self._execute(self.bridge.leg_ringing(name, now))
            elif state == pj.PJSIP_INV_STATE_CONFIRMED:
                self._execute(self.bridge.leg_connected(name, now))

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self._command(command)

    def _command(self, command: msg.Message) -> None:
        now = time.monotonic()
        if isinstance(command, WebCallerArrived):
            self._web_arrived(command)
            return
        if isinstance(command, WebCallerGone):
            self._web_gone(command.reason, now)
            return
        if isinstance(command, msg.WebCancel):
            self._web_cancel(command)
            return
        if isinstance(command, msg.Stop):
            self._stopping = True
            if self.bridge is not None:
                self._execute(self.bridge.hang_up(503, "Service Unavailable", 0, now))
            return
        if self.bridge is None:
            self.emit(msg.MemberFault(message=f"{type(command).__name__}: no call"))
            return
        if isinstance(command, msg.RingSeat):
            actions = self.bridge.ring(command.seat_id, command.uri, now)
        elif isinstance(command, msg.CancelSeat):
            actions = self.bridge.cancel(command.seat_id, now)
        elif isinstance(command, msg.CheckSeat):
            actions = self.bridge.check(command.seat_id, now)
        elif isinstance(command, msg.Announce):
            actions = self.bridge.announce(now)
        elif isinstance(command, msg.Connect):
            actions = self.bridge.connect(command.seat_id, now)
        elif isinstance(command, msg.HangUp):
            actions = self.bridge.hang_up(command.status, command.reason, command.retry_after, now)
        elif isinstance(command, msg.DialOfficer):
            actions = self.bridge.dial_officer(command.target, command.uri, now)
        elif isinstance(command, msg.CancelOfficer):
            actions = self.bridge.cancel_officer(command.target, now)
        elif isinstance(command, msg.DialAgency):
            actions = self.bridge.dial_agency(command.agency, command.uri, now)
        elif isinstance(command, msg.CancelAgency):
            actions = self.bridge.cancel_agency(command.agency, now)
        elif isinstance(command, msg.LeaveSeat):
            actions = self.bridge.leave_seat(now)
        elif isinstance(command, msg.RejoinSeat):
            actions = self.bridge.rejoin_seat(command.seat_id, command.uri, now)
        elif isinstance(command, msg.MuteSeat):
            actions = self.bridge.mute_seat(command.muted, now)
        elif isinstance(command, msg.HoldCaller):
            actions = self.bridge.hold(command.held, now)
        elif isinstance(command, msg.IncidentOpened):
            # NENA i3: the incident's identifier travels with every leg placed from now on
            self._call_info = [
                *self._call_info[:1],
                f"<{command.incident_uid}>;purpose=emergency-IncidentId",
            ]
            actions = []
        else:
            actions = [act.Notify(message=msg.MemberFault(message=f"unknown command {command}"))]
        self._execute(actions)

    def _execute(self, actions: list[act.BridgeAction]) -> None:
        for action in actions:
            try:
                self._do(action)
            except pj.Error as exc:
                if isinstance(action, act.DialLeg) and exc.status == PJ_ETOOMANY:
                    # pjsua frees a disconnected call's slot only once its media is gone, a
                    # poll or two after the DISCONNECTED state the bridge already counted
                    self._legs.pop(action.leg, None)
                    self._dial_later.append((time.monotonic() + RETRY_DIAL_S, action))
                    continue
                log.warning("%s failed: %s", action, exc.info())
                leg = getattr(action, "leg", None)
                if isinstance(action, act.DialLeg) and self.bridge is not None:
                    self._legs.pop(action.leg, None)
                    now = time.monotonic()
                    self._execute(self.bridge.leg_ended(action.leg, 0, exc.reason, now))
                elif leg is None:
                    self.emit(msg.MemberFault(message=f"{action}: {exc.reason}"))

    def _retry_dials(self) -> None:
        """Place the legs pjsua had no free slot for; give up after RETRY_DIAL_S."""
        pending, self._dial_later = self._dial_later, []
        for give_up, action in pending:
            leg = None if self.bridge is None else self.bridge.legs.get(action.leg)
            if leg is None or self.bridge is None or leg.state is br.LegState.ENDED:
                continue
            now = time.monotonic()
            if leg.ours:  # withdrawn while it waited: it never existed for the far end
                self._execute(self.bridge.leg_ended(action.leg, 487, "withdrawn", now))
            elif now >= give_up:
                why = f"no free pjsua call slot for {RETRY_DIAL_S:g} s"
                log.warning("%s failed: %s", action, why)
                self._execute(self.bridge.leg_ended(action.leg, 0, why, now))
            else:
                self._execute([action])  # back on the list if still no slot
                if not any(waiting is action for _, waiting in self._dial_later):
                    waited = RETRY_DIAL_S - (give_up - now)
                    log.info(
                        "%s placed after waiting %.0f ms for a call slot", action.leg, waited * 1000
                    )

    def _do(self, action: act.BridgeAction) -> None:
        if isinstance(action, act.Notify):
            # closed and hashed first: the engine files it before it closes the record
            # (unless the header is late: then it is reported at shutdown)
            if (
                isinstance(action.message, msg.CallEnded)
                and self._recording is not None
                and self._recording.close(time.monotonic())
            ):
                self._recording = None
            self.emit(action.message)
        elif self._web is not None and isinstance(
            action, act.SendRinging | act.AnswerCaller | act.RefuseCaller
        ):
            self._web_action(action)
        elif isinstance(action, act.EndLeg) and action.leg == br.CALLER and self._web is not None:
            self._end_web_leg(200, "hung up by the centre")
        elif isinstance(action, act.SendRinging):
            self._answer(self._legs[br.CALLER], 180)
        elif isinstance(action, act.AnswerCaller):
            self._answer(self._legs[br.CALLER], 200)
        elif isinstance(action, act.RefuseCaller):
            self._answer(self._legs[br.CALLER], action.status, action.reason, action.retry_after)
        elif isinstance(action, act.DialLeg):
            outgoing = _Leg(self, action.leg)
            self._legs[action.leg] = outgoing
            prm = pj.CallOpParam(True)
            if self._call_info:
                header = pj.SipHeader()
                header.hName, header.hValue = "Call-Info", ", ".join(self._call_info)
                prm.txOption.headers.append(header)
            outgoing.makeCall(action.uri, prm)
        elif isinstance(action, act.EndLeg):
            ending = self._legs.get(action.leg)
            if ending is not None and self._alive(ending):
                ending.hangup(pj.CallOpParam(True))
        elif isinstance(action, act.Route):
            self._route(action)

    def _route(self, route: act.Route) -> None:
        """One direction of audio; a port that is gone (its leg ended) has nothing to stop."""
        src, dst = self._port(route.src, create=route.on), self._port(route.dst, create=route.on)
        if src is None or dst is None:
            return
        if route.on:
            src.startTransmit(dst)
        else:
            with contextlib.suppress(pj.Error):
                src.stopTransmit(dst)

    def _port(self, name: str, *, create: bool) -> Any:
        if name == act.RECORDER:
            if self._recording is None and create:
                path = recording_path(
                    self.spec.recordings_dir, self.call_id, self._sip_call_id, time.time()
                )
                self._recording = Recording(self.call_id, path, self.emit)
                self._recording.open(time.monotonic())
            return None if self._recording is None else self._recording.port
        if name in (act.ANNOUNCEMENT, act.HOLD):
            if name not in self._players and create:
                wav = self.spec.announcement
                if name == act.HOLD and self.spec.hold_announcement:
                    wav = self.spec.hold_announcement
                player = pj.AudioMediaPlayer()
                player.createPlayer(wav, 0)
                self._players[name] = player
            return self._players.get(name)
        if name == br.CALLER and self._web is not None:
            return self._web.audio
        leg = self._legs.get(name)
        return None if leg is None else leg.media.audio

    @staticmethod
    def _answer(
        leg: _Leg,
        status: int,
        reason: str = "",
        retry_after: int = 0,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = status
        if reason:
            prm.reason = reason
        headers = ((("Retry-After", str(retry_after)),) if retry_after else ()) + extra
        for name, value in headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        leg.answer(prm)

    def _send_dialog(self, leg: _Leg) -> None:
        if leg.dialog_sent:
            return
        leg.dialog_sent = True
        call_id = leg.getInfo().callIdString
        self.emit(msg.LegDialog(call_id=self.call_id, leg=leg.name, sip_call_id=call_id))
