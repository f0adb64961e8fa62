"""A pool member's WebRTC commands, served on its asyncio thread (`sip.member` hands them over).

`WebOffer`: the engine chose this idle member for a caller from the 110 web app. aiortc
answers the browser's offer here; then the agent (pj thread) is told `WebCallerArrived` and
takes the call, unless a trunk INVITE reached it first (it then refuses with busy=True and the
engine offers the caller to another member). `WebHangUp`, `WatchVideo` (a console's live view)
and `TakeSnapshot` act on that caller. At the member's exit the session is closed and the
video recording reported (`VideoRecorded`), after the call's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conference.recording import recording_path
from sip import messages as msg
from sip.webcaller import NEGOTIATE_S, WebCaller, use_host_addresses, use_ports
from sip.webleg import WebCallerArrived, WebCallerGone
from sip.webmessages import WEB_COMMANDS

if TYPE_CHECKING:
    from sip.useragent import MemberSpec, UserAgent

log = logging.getLogger(__name__)


class WebDesk:
    """See the module docstring."""

    def __init__(
        self, spec: MemberSpec, emit: Callable[[msg.Message], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.spec = spec
        self.emit = emit
        self.loop = loop
        self.agent: UserAgent | None = None
        self.caller: WebCaller | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def call_id(self) -> str:
        return str(self.spec.member_id)

    def take(self, command: msg.Message) -> bool:
        """Serve a WebRTC command here (True), or leave it to the agent (False)."""
        if not isinstance(command, WEB_COMMANDS):
            return False
        self._spawn(self._serve(command))
        return True

    def end_soon(self, caller: Any) -> None:
        """From the pj thread: the agent ended (or refused) this caller; close its session."""
        self.loop.call_soon_threadsafe(self._end, caller)

    async def close(self) -> None:
        caller, self.caller = self.caller, None
        for task in list(self._tasks):
            task.cancel()
        if caller is None:
            return
        report = await caller.close()
        if report is not None:
            self.emit(msg.VideoRecorded(call_id=self.call_id, **report))

    # -- commands -------------------------------------------------------------------------------

    async def _serve(self, command: msg.Message) -> None:
        try:
            if isinstance(command, msg.WebOffer):
                await self._offer(command)
            elif isinstance(command, msg.WebHangUp):
                if self.caller is not None:
                    self.caller.hang_up(command.reason)
                    self._spawn(self.caller.close())
            elif isinstance(command, msg.WatchVideo):
                await self._watch(command)
            elif isinstance(command, msg.TakeSnapshot):
                await self._snapshot(command)
        except Exception as exc:  # a member must report, not die, on one bad request
            log.exception("WebRTC command %s failed", type(command).__name__)
            self.emit(msg.MemberFault(message=f"{type(command).__name__} failed: {exc!r}"))

    async def _offer(self, offer: msg.WebOffer) -> None:
        agent = self.agent
        assert agent is not None
        if self.caller is not None or agent.bridge is not None:  # the agent checks again
            self._refuse(offer, "the member has a call", busy=True, retry=True)
            return
        use_host_addresses(self.spec.webrtc_addresses)
        use_ports(self.spec.webrtc_port, self.spec.webrtc_ports)
        video_path = None
        if self.spec.recordings_dir:
            wav = recording_path(self.spec.recordings_dir, self.call_id, offer.session, time.time())
            video_path = Path(wav).with_suffix(".video.mkv")
        caller = WebCaller(rate=self.spec.clock_rate, video_path=video_path, on_gone=self._gone)
        self.caller = caller
        try:
            answer = await asyncio.wait_for(
                caller.accept(offer.offer, video=offer.video), NEGOTIATE_S
            )
        except Exception as exc:  # reported to the engine, which decides
            self.caller = None
            await caller.close()
            # a malformed offer is the page's fault (400); anything else may work elsewhere
            bad = isinstance(exc, ValueError | IndexError | KeyError | TypeError)
            why = str(exc) or type(exc).__name__
            self._refuse(
                offer,
                f"cannot answer the offer: {why}",
                busy=agent.bridge is not None,  # a trunk call may have come meanwhile
                retry=not bad,
            )
            return
        agent.commands.put(
            WebCallerArrived(caller=caller, offer=offer, answer=answer, video=caller.offers_video())
        )

    def _refuse(self, offer: msg.WebOffer, reason: str, *, busy: bool, retry: bool) -> None:
        refused = msg.WebRefused(
            member_id=self.spec.member_id,
            session=offer.session,
            reason=reason,
            busy=busy,
            retry=retry,
        )
        self.emit(refused)

    def _gone(self, reason: str) -> None:
        if self.agent is not None:
            self.agent.commands.put(WebCallerGone(reason=reason))

    def _end(self, caller: WebCaller) -> None:
        agent = self.agent
        taken = agent is not None and agent.web_caller is caller
        if caller is self.caller and not taken:
            self.caller = None  # refused: a trunk call came first; nothing of it is kept
        self._spawn(caller.close())

    async def _watch(self, command: msg.WatchVideo) -> None:
        caller = self.caller
        viewer = command.viewer or command.watch_id
        try:
            if caller is None or caller.gone:
                raise LookupError("the call has no WebRTC caller now")
            # each view holds one of the member's few ports: a console that looks again gives
            # its old view's back first, and the oldest view goes when they are all taken
            stale = [caller.watchers.pop(viewer, None)]
            while len(caller.watchers) >= max(1, self.spec.webrtc_ports - 1):
                stale.append(caller.watchers.pop(next(iter(caller.watchers))))
            for old in stale:
                if old is not None:
                    await old.close()
            answer, pc = await asyncio.wait_for(caller.watch(command.offer), NEGOTIATE_S)
        except (LookupError, ValueError, TimeoutError, OSError) as exc:
            refused = msg.VideoRefused(
                call_id=self.call_id, watch_id=command.watch_id, reason=str(exc) or "timed out"
            )
            self.emit(refused)
            return
        caller.watchers[viewer] = pc
        self.emit(msg.VideoAnswered(call_id=self.call_id, watch_id=command.watch_id, answer=answer))

    async def _snapshot(self, command: msg.TakeSnapshot) -> None:
        caller = self.caller
        try:
            if caller is None:
                raise LookupError("the call has no WebRTC caller")
            width, height = await caller.snapshot(Path(command.path))
        except (LookupError, OSError, ValueError) as exc:
            taken = msg.SnapshotTaken(
                call_id=self.call_id, request_id=command.request_id, path="", error=str(exc)
            )
        else:
            taken = msg.SnapshotTaken(
                call_id=self.call_id,
                request_id=command.request_id,
                path=command.path,
                width=width,
                height=height,
            )
        self.emit(taken)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
