"""Simulated call-taker phones: one pjsua2 process hosting a few seats (the demo and the tests).

Each seat is a real SIP user agent (`sip:<seat>@127.0.0.1:<port>`): it rings, picks up after a
human-like delay, speaks (a looping tone), records what it hears when asked, and can be told to
stay silent, decline, be busy, or hang up. The installable pjsua2 allows 4 call legs per
process, so a worker hosts at most 3 seats (one leg spare for a call that is still ending).

Single-threaded: the worker's one thread created the Endpoint and polls it; commands arrive as
JSON lines on a socket that is read between polls; events leave the same way.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pjsua2 as pj

from sip.pjendpoint import account_config, start_endpoint

POLL_MS = 10
SEAT_CODECS = ("PCMU/8000/1", "PCMA/8000/1", "G722/16000/1")


def tone_path(workdir: Path, hz: float) -> str:
    return str(workdir / f"tone-{int(hz)}.wav")


@dataclass(slots=True)
class Behaviour:
    answer: str = "auto"  # auto | never | reject | busy
    delay: tuple[float, float] = (0.2, 0.8)
    hangup_after: float | None = None
    record: bool = False


@dataclass(slots=True)
class _SeatCall:
    call: Any
    number: int
    player: Any = None
    recorder: Any = None
    recording: str = ""
    answered_at: float | None = None
    stats: dict[str, int] = field(default_factory=dict)


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, worker: Worker, seat: str, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.seat = seat
        self.number = 0

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.worker.gone(self, info.lastReason)
        else:
            self.worker.later.append(("state", self.seat, self.number, info.state))

    def onCallMediaState(self, prm: Any) -> None:
        self.worker.later.append(("media", self.seat, self.number, 0))

    def onStreamDestroyed(self, prm: Any) -> None:
        current = self.worker.calls.get(self.seat)
        if current is None or current.call is not self:
            return
        try:
            rtcp = self.getStreamStat(prm.streamIdx).rtcp
            current.stats = {"rx_packets": int(rtcp.rxStat.pkt), "tx_packets": int(rtcp.txStat.pkt)}
        except pj.Error:
            pass


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, worker: Worker, seat: str) -> None:
        super().__init__()
        self.worker = worker
        self.seat = seat

    def onIncomingCall(self, prm: Any) -> None:
        self.worker.incoming(self.seat, self, prm)


class Worker:
    """One process's seats (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], channel: socket.socket) -> None:
        self.spec = spec
        self.channel = channel
        self.workdir = Path(spec["workdir"])
        self.behaviour = {
            seat: Behaviour(
                delay=(spec["answer_delay"][0], spec["answer_delay"][1]), record=spec["record"]
            )
            for seat in spec["seats"]
        }
        self.calls: dict[str, _SeatCall] = {}
        self.later: list[tuple[str, str, int, int]] = []
        self.refused: list[Any] = []  # kept alive until pjsua reports them disconnected
        self.finished: list[tuple[str, _SeatCall, str]] = []
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.numbers = dict.fromkeys(spec["seats"], 0)
        self.stopping = False
        self._inbox = b""
        self.accounts: dict[str, Any] = {}

    def emit(self, seat: str, kind: str, **data: Any) -> None:
        event = {"seat": seat, "kind": kind, "at": time.monotonic(), **data}
        self.channel.sendall(json.dumps(event).encode() + b"\n")

    def run(self) -> None:
        port = self.spec["sip_port"]
        ep = start_endpoint(address="127.0.0.1", sip_port=port, codecs=SEAT_CODECS, clocked=True)
        self.tone = tone_path(self.workdir, self.spec["tone_hz"])
        for seat in self.spec["seats"]:
            acfg = account_config(
                f"sip:{seat}@127.0.0.1:{port}", "127.0.0.1",
                self.spec["rtp_port"], self.spec["rtp_span"],
            )  # fmt: skip
            account = _Account(self, seat)
            account.create(acfg)
            self.accounts[seat] = account
        for seat in self.spec["seats"]:
            self.emit(seat, "ready")
        self.channel.setblocking(False)
        try:
            while not (self.stopping and not self.calls):
                ep.libHandleEvents(POLL_MS)
                self._facts()
                self._timers()
                self._commands(ep)
        finally:
            ep.hangupAllCalls()
            for _ in range(20):
                ep.libHandleEvents(10)
            self.later.clear()
            self.timers.clear()
            self.refused.clear()
            self.finished.clear()
            self.calls.clear()
            self.accounts.clear()
            gc.collect()
            ep.libDestroy()

    # -- calls ---------------------------------------------------------------------------

    def incoming(self, seat: str, account: Any, prm: Any) -> None:
        call = _Call(self, seat, account, prm.callId)
        behaviour = self.behaviour[seat]
        if seat in self.calls or self.stopping or behaviour.answer in ("busy", "reject"):
            status = 603 if behaviour.answer == "reject" and seat not in self.calls else 486
            self._answer(call, status)
            self.refused.append(call)
            self.emit(seat, "refused", status=status)
            return
        self.numbers[seat] += 1
        number = call.number = self.numbers[seat]
        self.calls[seat] = _SeatCall(call=call, number=number)
        call_info = [
            line.split(":", 1)[1].strip()
            for line in prm.rdata.wholeMsg.splitlines()
            if line.lower().startswith("call-info:")
        ]
        self.emit(
            seat, "incoming", number=number, call_id=call.getInfo().callIdString,
            call_info=call_info,
        )  # fmt: skip
        self._answer(call, 180)
        if behaviour.answer == "auto":
            low, high = behaviour.delay
            due = time.monotonic() + random.uniform(low, high)
            self.timers.append((due, functools.partial(self._pick_up, seat, number)))

    def _current(self, seat: str, number: int) -> _SeatCall | None:
        current = self.calls.get(seat)
        if current is None or current.number != number or current.call is None:
            return None
        return current

    def _pick_up(self, seat: str, number: int) -> None:
        current = self._current(seat, number)
        if current is not None:
            self._answer(current.call, 200)

    def gone(self, call: _Call, reason: str) -> None:
        """onCallState(DISCONNECTED): drop the Call object inside the callback.

        pjsua reuses the call slot once the callback returns; pjsua2's Call destructor run later
        would hang up whichever call took the slot. Player and recorder are released after the
        poll (the recorder writes its WAV header then), and only then is "ended" reported.
        """
        if call in self.refused:
            self.refused.remove(call)
            return
        current = self.calls.get(call.seat)
        if current is None or current.call is not call:
            return
        del self.calls[call.seat]
        current.call = None
        self.finished.append((call.seat, current, reason))

    @staticmethod
    def _answer(call: Any, status: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = status
        with contextlib.suppress(pj.Error):  # the caller may already have left
            call.answer(prm)

    def _facts(self) -> None:
        while self.later:
            kind, seat, number, state = self.later.pop(0)
            current = self._current(seat, number)
            if current is None:
                continue
            if kind == "media":
                self._media(seat, current)
            elif state == pj.PJSIP_INV_STATE_CONFIRMED and current.answered_at is None:
                current.answered_at = time.monotonic()
                self.emit(seat, "answered", number=number)
                after = self.behaviour[seat].hangup_after
                if after is not None:
                    due = time.monotonic() + after
                    self.timers.append((due, functools.partial(self._hang_up, seat, number)))
        while self.finished:
            self._ended(*self.finished.pop(0))

    def _media(self, seat: str, current: _SeatCall) -> None:
        info = current.call.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = current.call.getAudioMedia(index)
            if current.player is None:
                current.player = pj.AudioMediaPlayer()
                current.player.createPlayer(self.tone, 0)
                current.player.startTransmit(audio)
            if self.behaviour[seat].record and current.recorder is None:
                rec_dir = self.workdir / "rec"
                rec_dir.mkdir(parents=True, exist_ok=True)
                current.recording = str(rec_dir / f"{seat}-{current.number}.wav")
                current.recorder = pj.AudioMediaRecorder()
                current.recorder.createRecorder(current.recording)
                audio.startTransmit(current.recorder)
            return

    def _ended(self, seat: str, current: _SeatCall, reason: str) -> None:
        duration = 0.0 if current.answered_at is None else time.monotonic() - current.answered_at
        current.player = None
        current.recorder = None  # destroying the recorder writes the WAV header
        gc.collect()
        self.emit(
            seat,
            "ended",
            number=current.number,
            reason=reason,
            answered=current.answered_at is not None,
            duration=round(duration, 3),
            recording=current.recording,
            rx_packets=current.stats.get("rx_packets", 0),
            tx_packets=current.stats.get("tx_packets", 0),
        )

    def _hang_up(self, seat: str, number: int) -> None:
        current = self._current(seat, number)
        if current is not None:
            self._hang_up_now(current.call)

    def _timers(self) -> None:
        now = time.monotonic()
        due = [item for item in self.timers if item[0] <= now]
        self.timers = [item for item in self.timers if item[0] > now]
        for _, action in due:
            action()

    def _commands(self, ep: Any) -> None:
        try:
            data = self.channel.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.stopping = True
            ep.hangupAllCalls()
            return
        self._inbox += data
        while b"\n" in self._inbox:
            line, self._inbox = self._inbox.split(b"\n", 1)
            self._command(json.loads(line))

    def _command(self, command: dict[str, Any]) -> None:
        seat = command.get("seat", "")
        if command["cmd"] == "stop":
            self.stopping = True
            for current in list(self.calls.values()):
                self._hang_up(current.call.seat, current.number)
        elif command["cmd"] == "set" and seat in self.behaviour:
            behaviour = self.behaviour[seat]
            for key in ("answer", "hangup_after", "record"):
                if key in command:
                    setattr(behaviour, key, command[key])
            if command.get("delay") is not None:
                behaviour.delay = (command["delay"][0], command["delay"][1])
            self.emit(seat, "set")
        elif command["cmd"] == "hangup" and seat in self.calls:
            self._hang_up(seat, self.calls[seat].number)

    @staticmethod
    def _hang_up_now(call: Any) -> None:
        with contextlib.suppress(pj.Error):
            call.hangup(pj.CallOpParam(True))


def worker_main(spec: dict[str, Any], channel: socket.socket) -> None:
    """Entry point of a forked worker."""
    Worker(spec, channel).run()
