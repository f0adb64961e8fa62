"""The 49 RFC 4475 torture messages against the trunk, over UDP and TCP: whatever arrives, the
engine keeps answering calls, no part of it crashes, and nothing invalid is accepted."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from tests.peers.conftest import centre
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
TORTURE = Path(__file__).parent.parent / "data" / "sip-torture"
MUST_REJECT = {
    # RFC 4475 3.1.2: elements "should" or "must" answer these with an error, never accept them
    "badinv01", "clerr", "ncl", "scalar02", "quotbal", "lwsruri", "badvers",
    "mismatch01", "mismatch02", "insuf", "multi01", "mcl01",
}  # fmt: skip
INVITES = {
    # every message that is (or, like dblreq over TCP, contains) an INVITE
    "baddate", "badinv01", "clerr", "dblreq", "esc01", "escruri", "insuf", "inv2543", "invut",
    "longreq", "ltgtruri", "lwsruri", "lwsstart", "multi01", "ncl", "quotbal", "sdp01", "wsinv",
}  # fmt: skip


async def send_udp(port: int, data: bytes, wait: float = 0.3) -> list[str]:
    """Send one datagram; return the first line of every reply within `wait` seconds."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(data, ("127.0.0.1", port))
        replies: list[str] = []
        deadline = loop.time() + wait
        while (left := deadline - loop.time()) > 0:
            try:
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
            except TimeoutError:
                break
            replies.append(reply.split(b"\r\n", 1)[0].decode("latin-1"))
        return replies


async def send_tcp(port: int, data: bytes, wait: float = 0.5) -> list[str]:
    """Send one message on its own TCP connection; return the first lines of what comes back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65535), wait):
            received += chunk
    except (TimeoutError, ConnectionError):
        pass
    writer.close()
    return [
        block.split(b"\r\n", 1)[0].decode("latin-1")
        for block in received.split(b"\r\n\r\n")
        if block.startswith(b"SIP/2.0 ")
    ]


async def test_torture_messages_leave_the_engine_answering(
    ports: PortBlock, tmp_path: Path
) -> None:
    index = json.loads((TORTURE / "index.json").read_text())
    assert index["count"] == len(index["messages"]) == 49
    async with centre(ports, tmp_path, 2) as (engine, _farm):
        replies: dict[tuple[str, str], list[str]] = {}
        for instance, (transport, send) in enumerate((("udp", send_udp), ("tcp", send_tcp))):
            for message in index["messages"]:
                data = (TORTURE / message["file"]).read_bytes()
                replies[(transport, message["name"])] = await send(ports.trunk, data)
            # after every batch a real call is still answered by a seat
            run = await SippCall(tmp_path, ports, instance, hold_ms=1000).run(30)
            assert run.returncode == 0, (transport, run.messages[-2000:])

        assert engine.front.up and engine.front.restarts == 0
        assert engine.pool.core.restarts == 0
        assert engine.router.tally.answered == 2
        for message in index["messages"]:
            for transport in ("udp", "tcp"):
                got = replies[(transport, message["name"])]
                finals = [r for r in got if not r.startswith("SIP/2.0 1")]
                if message["name"] in MUST_REJECT:
                    assert not any(r.startswith("SIP/2.0 2") for r in got), (message, got)
                if message["kind"] == "response":
                    assert got == [], (message["name"], got)  # stray replies are dropped
                if message["kind"] == "request" and message["name"] in INVITES:
                    # none of these INVITEs names a media address on the trunk's media
                    # networks (or fits in a member): never answered, always refused
                    assert not any(r.startswith("SIP/2.0 2") for r in got), (message, got)
                    assert len(finals) <= 2, (message, got)
        assert replies[("udp", "longreq")][-1] == "SIP/2.0 513 Message Too Large"
        assert replies[("udp", "esc01")][-1] == "SIP/2.0 488 Media Address Not Allowed"
        assert replies[("udp", "zeromf")] == ["SIP/2.0 483 Too Many Hops"]
        assert any(r.startswith("SIP/2.0 4") for r in replies[("udp", "mismatch01")])
