"""The user-agent pool's asyncio shell: fork server, member connections, the front's dispatcher.

It carries out `sip.slots.Slots` decisions: asks the fork server (`sip.zygote`) for members,
accepts their IPC connections, tells the front which members are idle, and relays every member
event to the engine's call router. A member is finished only when both its process has exited
(reported by the fork server) and its connection has closed, so no event it sent is lost to a
race between the two. When a member dies holding a call, the front ends that call's SIP legs
(the caller hears a BYE instead of silence; the seat's phone hangs up) and the router is told
the call was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.settings import Settings, resolve
from sip import messages as msg, slots as sl
from sip.front import Front, RpcError
from sip.lifetime import die_with_parent
from sip.useragent import MemberSpec

log = logging.getLogger(__name__)
EXIT_GRACE = 2.0
"""After a member's process exits, how long to wait for its connection to close."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberLost(msg.Message):
    """Engine-internal: the member holding `call_id` died (not a wire message)."""

    call_id: str
    reason: str
    at: float


@dataclass(slots=True)
class _Member:
    member_id: int
    slot: int
    pid: int = 0
    writer: asyncio.StreamWriter | None = None
    exited: tuple[int, int] | None = None
    closed: bool = False
    dialogs: dict[str, msg.LegDialog] = field(default_factory=dict)
    finalized: bool = False


class Pool:
    """Runs the members of the pool (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        run_dir: Path,
        front: Front,
        on_event: Callable[[msg.Message], None],
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.front = front
        self.on_event = on_event
        pool = settings.pool
        self.core = sl.Slots(pool.size, pool.warm, pool.restart_backoff)
        self.socket_path = str(run_dir / "pool.sock")
        self.announcement = str(resolve(settings, pool.announcement))
        self.hold_announcement = (
            str(resolve(settings, pool.hold_announcement)) if pool.hold_announcement else ""
        )
        self.recordings_dir = ""
        if settings.recording.enabled:
            chosen = settings.recording.dir
            self.recordings_dir = str(
                Path(chosen).resolve() if chosen else (run_dir / "recordings").resolve()
            )
        self.member_starts: list[float] = []  # fork->ready seconds, for metrics (bounded)
        self._members: dict[int, _Member] = {}
        self._by_pid: dict[int, _Member] = {}
        self._spawn_times: dict[int, float] = {}
        self._zygote: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._control_reader: asyncio.StreamReader | None = None
        self._control_writer: asyncio.StreamWriter | None = None
        self._server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._front_tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._reports: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self, ready_timeout: float = 20.0) -> None:
        """Start the fork server and the warm reserve; return when the reserve is ready."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        self._server = await asyncio.start_unix_server(
            self._accept, self.socket_path, limit=msg.MAX_LINE
        )
        ours, theirs = socket.socketpair()
        self._zygote = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sip.zygote",
            str(theirs.fileno()),
            pass_fds=[theirs.fileno()],
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        theirs.close()
        self._control = ours
        self._control_reader, self._control_writer = await asyncio.open_connection(sock=ours)
        self._reports = asyncio.create_task(self._read_reports())
        self._execute(self.core.plan(time.monotonic()))
        try:
            await asyncio.wait_for(self._ready.wait(), ready_timeout)
        except TimeoutError:
            counts = self.core.counts()
            raise RuntimeError(f"pool reserve not ready in {ready_timeout} s: {counts}") from None

    async def run(self) -> None:
        """Until the fork server exits (it must not: that is fatal) or we are cancelled."""
        assert self._reports is not None
        # shielded: cancelling run() must not stop us hearing members exit while stopping
        await asyncio.shield(self._reports)

    async def _read_reports(self) -> None:
        assert self._control_reader is not None
        while line := await self._control_reader.readline():
            try:
                report = json.loads(line)
            except ValueError:
                log.error("fork server sent garbage: %r", line[:200])
                continue
            self._zygote_report(report)
        if not self.core.stopping:
            raise RuntimeError("the pool's fork server exited")

    async def drain(self, timeout: float) -> int:
        """Take no new calls and wait (at most `timeout` s) for the calls in progress to end;
        return how many are still going."""
        self._execute(self.core.drain())
        deadline = time.monotonic() + timeout
        while self.core.count(sl.SlotState.BUSY) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return self.core.count(sl.SlotState.BUSY)

    async def stop(self, timeout: float = 5.0) -> None:
        self._execute(self.core.stop_all())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            not member.finalized for member in self._members.values()
        ):
            await asyncio.sleep(0.05)
        if self._control_writer is not None:
            self._control_writer.close()  # the fork server kills what is left and exits
        if self._zygote is not None:
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(self._zygote.wait(), 3.0)
            if self._zygote.returncode is None:
                self._zygote.kill()
        if self._server is not None:
            self._server.close()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._front_tasks):
            task.cancel()
        if self._reports is not None:
            self._reports.cancel()

    async def resync_front(self) -> None:
        """After a front restart: re-announce which members are idle."""
        self._execute(self.core.front_restarted())

    # -- commands to members ----------------------------------------------------------------

    def send(self, call_id: str, command: msg.Message) -> bool:
        """Send a command to the member holding `call_id`; False if it is gone."""
        member = self._members.get(_member_id(call_id))
        if member is None or member.writer is None or member.writer.is_closing():
            return False
        member.writer.write(msg.encode(command))
        return True

    def take_for_web(self) -> int | None:
        """An idle member for a WebRTC caller, taken out of the front's dispatcher as a trunk
        call would take it; None when none is idle. (Kamailio may route an INVITE to it in the
        same instant: the member then refuses the web caller as busy.)"""
        now = time.monotonic()
        for slot in self.core.slots:
            member = self._members.get(slot.member_id)
            if slot.state is not sl.SlotState.WARM or member is None or member.writer is None:
                continue
            if member.writer.is_closing():
                continue  # it is going away: a call given to it would be reported lost
            self._execute(self.core.call_taken(slot.member_id, str(slot.member_id), now))
            return slot.member_id
        return None

    def release_web(self, member_id: int, session: str) -> None:
        """The engine gave up on the web offer it gave this member. The member decides: with
        no call it exits (`WebReleased`: its slot is refilled); a trunk call it took meanwhile
        goes on (never `Stop`: that would hang up an emergency call)."""
        member = self._members.get(member_id)
        if member is not None and member.writer is not None and not member.writer.is_closing():
            member.writer.write(msg.encode(msg.WebCancel(session=session)))

    def kill_member(self, call_id: str) -> int:
        """SIGKILL the member holding a call (tests and operators' last resort); its pid."""
        member = self._members.get(_member_id(call_id))
        if member is None or not member.pid:
            return 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(member.pid, signal.SIGKILL)
        return member.pid

    def snapshot(self) -> list[dict[str, Any]]:
        """Slots for the REST API."""
        return [
            {
                "slot": slot.index,
                "state": slot.state.value,
                "member_id": slot.member_id or None,
                "pid": self._members[slot.member_id].pid
                if slot.member_id in self._members
                else None,
                "call_id": slot.call_id or None,
                "since": slot.since,
            }
            for slot in self.core.slots
        ]

    # -- carrying out core actions -------------------------------------------------------------

    def _execute(self, actions: list[sl.SlotAction]) -> None:
        for action in actions:
            if isinstance(action, sl.StartMember):
                self._spawn(action)
            elif isinstance(action, sl.StopMember):
                member = self._members.get(action.member_id)
                if member is None:
                    continue
                if action.kill and member.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(member.pid, signal.SIGKILL)
                elif member.writer is not None and not member.writer.is_closing():
                    member.writer.write(msg.encode(msg.Stop()))
            elif isinstance(action, sl.SetFrontState):
                self._front_task(self.front.set_member(action.slot, action.active))
            elif isinstance(action, sl.CallLost):
                self._call_lost(action)
        self._check_ready()
        self._rearm()

    def _spawn(self, action: sl.StartMember) -> None:
        pool = self.settings.pool
        front = self.settings.front
        webrtc = self.settings.webrtc
        spec = MemberSpec(
            member_id=action.member_id,
            slot=action.slot,
            sip_port=pool.sip_port_base + action.slot,
            rtp_port=pool.rtp_port_base + action.slot * pool.rtp_ports_per_member,
            rtp_span=pool.rtp_ports_per_member,
            address=pool.address,
            front_uri=f"sip:{front.internal_address}:{front.internal_port};lr",
            announcement=self.announcement,
            codecs=pool.codecs,
            clock_rate=pool.clock_rate,
            trunk=self.settings.trunk.name,
            socket_path=self.socket_path,
            media_allow=self.settings.trunk.media_allow,
            pj_log_level=pool.pj_log_level,
            seat_media_timeout=pool.seat_media_timeout,
            recordings_dir=self.recordings_dir,
            hold_announcement=self.hold_announcement,
            ng911_domain=self.settings.incidents.domain,
            webrtc_addresses=self.settings.webrtc.addresses,
            webrtc_port=webrtc.port_base + action.slot * webrtc.ports_per_member
            if webrtc.port_base
            else 0,
            webrtc_ports=webrtc.ports_per_member,
        )
        self._members[action.member_id] = _Member(member_id=action.member_id, slot=action.slot)
        self._spawn_times[action.member_id] = time.monotonic()
        request = {"spawn": asdict(spec), "log_level": logging.getLogger().getEffectiveLevel()}
        assert self._control_writer is not None
        self._control_writer.write(json.dumps(request).encode() + b"\n")

    def _zygote_report(self, report: dict[str, Any]) -> None:
        now = time.monotonic()
        if "spawned" in report:
            member = self._members.get(report["spawned"])
            if member is not None:
                member.pid = int(report["pid"])
                self._by_pid[member.pid] = member
        elif "failed" in report:
            log.error(
                "fork server could not start member %s: %s", report["failed"], report["error"]
            )
            if report["failed"] is not None:
                self._members.pop(report["failed"], None)
                self._execute(self.core.spawn_failed(report["failed"], now))
        elif "exited" in report:
            member = self._by_pid.pop(int(report["exited"]), None)
            if member is None:
                return
            member.exited = (int(report["code"]), int(report["signal"]))
            if member.exited != (0, 0):
                log.warning("member %d (slot %d) %s", member.member_id, member.slot, report)
            if member.closed or member.writer is None:
                # never connected, or already closed: nothing more will arrive
                loop = asyncio.get_running_loop()
                loop.call_later(0 if member.closed else EXIT_GRACE, self._finalize, member)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        member: _Member | None = None
        try:
            first = msg.decode(await reader.readline())
            if not isinstance(first, msg.MemberReady) or first.member_id not in self._members:
                log.error("pool connection did not start with a known MemberReady: %r", first)
                return
            member = self._members[first.member_id]
            member.writer = writer
            started = self._spawn_times.pop(member.member_id, None)
            if started is not None:
                self.member_starts = [*self.member_starts[-999:], first.at - started]
            self._execute(self.core.member_ready(member.member_id, time.monotonic()))
            while line := await reader.readline():
                self._member_event(member, msg.decode(line))
        except (msg.MessageError, ValueError, ConnectionError) as exc:
            log.error("member connection broken: %s", exc)
        finally:
            writer.close()
            if member is not None:
                member.closed = True
                if member.exited is not None:
                    self._finalize(member)

    def _member_event(self, member: _Member, event: msg.Message) -> None:
        now = time.monotonic()
        if isinstance(event, msg.LegDialog):
            member.dialogs[event.leg] = event
        if isinstance(event, msg.CallOffered):
            self._execute(self.core.call_taken(member.member_id, event.call_id, now))
        elif isinstance(event, msg.CallEnded | msg.WebReleased):
            self._execute(self.core.call_finished(member.member_id, now))
        elif isinstance(event, msg.MemberFault):
            log.warning("member %d: %s", member.member_id, event.message)
        self.on_event(event)

    def _finalize(self, member: _Member) -> None:
        if member.finalized:
            return
        member.finalized = True
        code, sig = member.exited or (1, 0)
        self._execute(self.core.member_exited(member.member_id, code, sig, time.monotonic()))
        self._members.pop(member.member_id, None)
        member.dialogs.clear()

    def _call_lost(self, action: sl.CallLost) -> None:
        member = self._members.get(action.member_id)
        log.error("call %s lost: %s", action.call_id, action.reason)
        if member is not None:
            for dialog in member.dialogs.values():
                self._front_task(self.front.end_dialogs(dialog.sip_call_id))
        self.on_event(MemberLost(call_id=action.call_id, reason=action.reason, at=time.monotonic()))

    def _front_task(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except RpcError as exc:
                log.warning("front: %s", exc)

        task = asyncio.get_running_loop().create_task(guarded())
        self._front_tasks.add(task)
        task.add_done_callback(self._front_tasks.discard)

    def _check_ready(self) -> None:
        if self.core.count(sl.SlotState.WARM) >= min(self.core.warm, len(self.core.slots)):
            self._ready.set()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, deadline - time.monotonic())
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._execute(self.core.on_deadline(time.monotonic()))


def _member_id(call_id: str) -> int:
    try:
        return int(call_id)
    except ValueError:
        return -1
