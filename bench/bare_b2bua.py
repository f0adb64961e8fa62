"""Baseline for bench/pipeline.py: a bare one-process pjsua2 B2BUA (caller in, seat out,
bridged; no front, no ACD, no pool). It rings the seats round-robin and hangs up the other leg
when one side hangs up. One JSON line per incoming call goes to stdout: when the INVITE arrived
and which seat it was sent to.

    python bench/bare_b2bua.py PORT RTP_PORT SEAT_URI [SEAT_URI ...]
"""

from __future__ import annotations

import gc
import itertools
import json
import signal
import sys
import time
from typing import Any

import pjsua2 as pj

running = True


class Leg(pj.Call):  # type: ignore[misc]
    def __init__(self, b2bua: B2bua, account: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.b2bua = b2bua
        self.peer: Leg | None = None
        self.audio: Any = None

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.peer is not None:
            if self.b2bua.is_seat(self):
                self.b2bua.todo.append(("answer", self.peer))
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            if self.peer is not None:
                self.b2bua.todo.append(("hangup", self.peer))
                self.peer.peer = None
                self.peer = None
            self.b2bua.seat_legs.discard(id(self))
            self.b2bua.legs.discard(self)  # dropped inside the callback, as pjsua2 wants

    def onCallMediaState(self, prm: Any) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                peer = self.peer
                if peer is not None and peer.audio is not None:
                    self.audio.startTransmit(peer.audio)
                    peer.audio.startTransmit(self.audio)


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, b2bua: B2bua) -> None:
        super().__init__()
        self.b2bua = b2bua

    def onIncomingCall(self, prm: Any) -> None:
        self.b2bua.incoming(prm)


class B2bua:
    def __init__(self, seats: list[str]) -> None:
        self.seats = itertools.cycle(seats)
        self.legs: set[Leg] = set()
        self.seat_legs: set[int] = set()
        self.todo: list[tuple[str, Leg]] = []
        self.account: Any = None

    def is_seat(self, leg: Leg) -> bool:
        return id(leg) in self.seat_legs

    def incoming(self, prm: Any) -> None:
        arrived = time.monotonic()
        caller = Leg(self, self.account, prm.callId)
        self.legs.add(caller)
        seat_uri = next(self.seats)
        seat = Leg(self, self.account)
        self.legs.add(seat)
        self.seat_legs.add(id(seat))
        caller.peer, seat.peer = seat, caller
        try:
            seat.makeCall(seat_uri, pj.CallOpParam(True))
            ok = True
        except pj.Error:
            ok = False
            answer = pj.CallOpParam()
            answer.statusCode = 503
            caller.answer(answer)
        print(json.dumps({"arrived": arrived, "seat": seat_uri, "ok": ok}), flush=True)


def main() -> None:
    port, rtp_port, seats = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    signal.signal(signal.SIGTERM, lambda *_: globals().update(running=False))
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = 4
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port = port
    transport.boundAddress = transport.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU") else 0)
    b2bua = B2bua(seats)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:b2bua@127.0.0.1:{port}"
    media = acfg.mediaConfig.transportConfig
    media.port, media.portRange = rtp_port, 40
    media.boundAddress = media.publicAddress = "127.0.0.1"
    b2bua.account = Account(b2bua)
    b2bua.account.create(acfg)
    while running:
        ep.libHandleEvents(5)
        while b2bua.todo:
            what, leg = b2bua.todo.pop(0)
            answer = pj.CallOpParam()
            try:
                if what == "answer":
                    answer.statusCode = 200
                    leg.answer(answer)
                elif leg.isActive():
                    leg.hangup(answer)
            except pj.Error:
                pass
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(10)
    b2bua.todo.clear()
    for leg in list(b2bua.legs):
        leg.peer = None
    b2bua.legs.clear()
    b2bua.account = None
    gc.collect()
    ep.libDestroy()


if __name__ == "__main__":
    main()
