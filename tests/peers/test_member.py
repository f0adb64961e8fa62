"""One pool member on its own (forked by the real fork server, no front): what it tells the
engine, how it treats INVITEs it must refuse, and that it exits cleanly after its one call."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.settings import PACKAGE_ROOT
from sip import messages as msg
from sip.useragent import MemberSpec
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
SDP = "v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"


@dataclasses.dataclass
class Member:
    events: asyncio.Queue[msg.Message]
    writer: asyncio.StreamWriter
    zygote: socket.socket
    spec: MemberSpec

    async def next(self, kind: type[msg.Message], timeout: float = 10.0) -> msg.Message:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if isinstance(event, kind):
                    return event

    async def exit_report(self, timeout: float = 10.0) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                data = await loop.sock_recv(self.zygote, 4096)
                for line in data.splitlines():
                    report = json.loads(line)
                    if "exited" in report:
                        return report  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def member(ports: PortBlock, tmp_path: Path) -> AsyncIterator[Member]:
    events: asyncio.Queue[msg.Message] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while line := await reader.readline():
            await events.put(msg.decode(line))

    path = str(tmp_path / "pool.sock")
    server = await asyncio.start_unix_server(accept, path)
    ours, theirs = socket.socketpair()
    zygote = subprocess.Popen(
        [sys.executable, "-m", "sip.zygote", str(theirs.fileno())], pass_fds=[theirs.fileno()]
    )
    theirs.close()
    spec = MemberSpec(
        member_id=7, slot=0, sip_port=ports.pool_sip, rtp_port=ports.pool_rtp, rtp_span=10,
        address="127.0.0.1", front_uri="", codecs=("PCMU/8000/1",), clock_rate=8000,
        announcement=str(PACKAGE_ROOT / "config/sounds/queue-announcement.wav"),
        trunk="test", socket_path=path, media_allow=("127.0.0.1/32",),
    )  # fmt: skip
    ours.sendall(json.dumps({"spawn": dataclasses.asdict(spec)}).encode() + b"\n")
    ours.setblocking(False)
    try:
        ready = await asyncio.wait_for(events.get(), 10)
        assert isinstance(ready, msg.MemberReady) and ready.member_id == 7
        yield Member(events, writers[0], ours, spec)
    finally:
        ours.close()  # the fork server kills what is left and exits
        zygote.wait(10)
        server.close()


def invite(port: int, *, pad: int = 0, media_ip: str = "127.0.0.1") -> bytes:
    body = SDP.format(ip=media_ip, port=20000)
    return (
        f"INVITE sip:110@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port + 5};branch=z9hG4bK{pad}{media_ip};rport\r\n"
        f"From: <sip:13900000001@127.0.0.1>;tag=t{pad}\r\nTo: <sip:110@127.0.0.1>\r\n"
        f"Call-ID: direct-{pad}-{media_ip}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:13900000001@127.0.0.1:{port + 5}>\r\nMax-Forwards: 70\r\n"
        f"X-Padding: {'x' * pad}\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def exchange(port: int, data: bytes, wait: float = 1.0) -> list[str]:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port + 5))
        sock.setblocking(False)
        sock.sendto(data, ("127.0.0.1", port))
        replies: list[str] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    reply = await loop.sock_recv(sock, 65535)
                    replies.append(reply.split(b"\r\n", 1)[0].decode())
        return replies


async def test_refused_invites_leave_the_member_warm_and_its_call_then_recycles_it(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with member(ports, tmp_path) as m:
        port = m.spec.sip_port
        # over pjsip's 4000-byte packet: cut short, refused without a crash
        assert "SIP/2.0 500 Server Internal Error" in await exchange(port, invite(port, pad=4200))
        refused = await m.next(msg.CallRefused)
        assert refused.reason == "truncated"  # type: ignore[attr-defined]
        # media elsewhere than the carrier's gateways: 488, and no RTP is ever sent there
        assert "SIP/2.0 488 Media Address Not Allowed" in await exchange(
            port, invite(port, media_ip="192.0.2.7")
        )
        refused = await m.next(msg.CallRefused)
        assert refused.reason == "media-not-allowed"  # type: ignore[attr-defined]

        # still warm: a real carrier call is offered, announced, and ends the member's life
        sipp = SippCall(tmp_path, ports, 0, hold_ms=1500)
        sipp.args[1] = f"127.0.0.1:{port}"
        await sipp.start()
        offered = await m.next(msg.CallOffered)
        assert offered.caller.startswith("1380000")  # type: ignore[attr-defined]
        m.writer.write(msg.encode(msg.Announce()))
        answered = await m.next(msg.CallerAnswered)
        assert answered.announcement  # type: ignore[attr-defined]
        stats = await m.next(msg.LegStats)
        assert stats.rx_packets > 50 and stats.tx_packets > 50  # type: ignore[attr-defined]
        ended = await m.next(msg.CallEnded)
        assert (ended.ended_by, ended.status) == ("caller", 200)  # type: ignore[attr-defined]
        assert (await sipp.finish(20)).returncode == 0
        report = await m.exit_report()
        assert (report["code"], report["signal"]) == (0, 0)  # recycled, not crashed


async def test_a_second_invite_to_a_busy_member_gets_486(ports: PortBlock, tmp_path: Path) -> None:
    async with member(ports, tmp_path) as m:
        port = m.spec.sip_port
        first = SippCall(tmp_path, ports, 0, hold_ms=3000)
        first.args[1] = f"127.0.0.1:{port}"
        await first.start()
        await m.next(msg.CallOffered)
        m.writer.write(msg.encode(msg.Announce()))
        await m.next(msg.CallerAnswered)
        assert "SIP/2.0 486 Busy Here" in await exchange(port, invite(port, pad=1))
        m.writer.write(msg.encode(msg.HangUp()))
        ended = await m.next(msg.CallEnded)
        assert ended.ended_by == "engine"  # type: ignore[attr-defined]
        await first.finish(20)
