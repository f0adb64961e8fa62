"""The 49 RFC 4475 torture messages against the trunk, over UDP and TCP.

Each message gets exactly the answer pinned in EXPECTED (the final status lines, "no reply", and
over TCP whether the front closes the connection), and whatever arrives, the engine keeps
answering calls and no part of it crashes or restarts.

Who answers: the Kamailio front (config/kamailio/kamailio.cfg) answers or drops everything it
does not relay; a pool member answers the INVITEs the front relays (pjsip first, then
sip/admission.py). Where the answer is not what RFC 4475 names, the table says why; "the front's
core" means Kamailio's own parser dropped the message before any line of our script ran, so
nothing in the script can answer it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.app import Engine
from tests.peers.conftest import centre
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
TORTURE = Path(__file__).parent.parent / "data" / "sip-torture"

CLOSED = "connection closed"
"""Over TCP: after the replies listed before it, the front closes the connection."""
NO_REPLY: tuple[str, ...] = ()
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
OK = "SIP/2.0 200 OK"
R400_URI = "SIP/2.0 400 Bad Request URI"
R405 = "SIP/2.0 405 Method Not Allowed"
R488_MEDIA = "SIP/2.0 488 Media Address Not Allowed"
R501 = "SIP/2.0 501 Not Implemented"
SAME = None
"""Over TCP: the same answer as over UDP."""

# name: (finals over UDP, finals over TCP); a comment names the RFC 4475 section where we
# answer otherwise than it does, and why
EXPECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    # 3.1.1.1: the front's core. Kamailio 5.6 takes no line folding between the CSeq number and
    # its method, and it parses CSeq (like From, To, Call-ID and the first Via) before any route
    # runs, so the request is dropped unanswered (over TCP the connection is closed). Were it
    # parsed, its To tag (a re-INVITE) and foreign Route would get 403 Route Not Ours from our
    # script; without those, a member's 488 (its media address is not the carrier's).
    "wsinv": (NO_REPLY, (CLOSED,)),
    "intmeth": ((R501,), SAME),
    "esc01": ((R488_MEDIA,), SAME),
    "escnull": ((R405,), SAME),  # the trunk is no registrar (RFC: a non-registrar 405/501)
    "esc02": ((R501,), SAME),
    "lwsdisp": ((OK,), SAME),
    # 3.1.1.7: our limit. A member's pjsip reads at most 4000 bytes; the front refuses more
    "longreq": (("SIP/2.0 513 Message Too Large",), SAME),
    # over TCP the INVITE after the REGISTER has 5 octets more than its Content-Length; they
    # ("C\r\n\r\n") frame no message, so the front closes the connection (the INVITE itself
    # reaches a member, whose 400 Bad SDP has no connection left to go back on)
    "dblreq": ((R405,), (R405, CLOSED)),
    "semiuri": ((OK,), SAME),
    "transports": ((OK,), SAME),
    "mpart01": ((R405,), SAME),  # parsed; MESSAGE is not served on the trunk
    "unreason": (NO_REPLY, SAME),
    "noreason": (NO_REPLY, SAME),
    "badinv01": (NO_REPLY, (CLOSED,)),  # 3.1.2.1: the front's core (its Via parser), not 400
    "clerr": (("SIP/2.0 400 Content-Length mis-match",), NO_REPLY),  # TCP: waits for the rest
    # 3.1.2.3: the front's core. The script runs, but Kamailio builds no reply while a header
    # (Content-Length: -999) does not parse; over TCP it leaves the connection open
    "ncl": (NO_REPLY, SAME),
    "scalar02": (("SIP/2.0 400 CSeq number is illegal",), SAME),
    "scalarlg": (NO_REPLY, SAME),
    "quotbal": (NO_REPLY, (CLOSED,)),  # 3.1.2.6: the front's core (its To parser), not 400
    "ltgtruri": ((R400_URI,), SAME),
    "lwsruri": (NO_REPLY, (CLOSED,)),  # 3.1.2.8: the front's core (request line), not 400
    "lwsstart": (NO_REPLY, (CLOSED,)),  # 3.1.2.9: the front's core (request line), not 400
    "trws": ((OK,), SAME),  # liberal, as the RFC allows
    "escruri": ((R488_MEDIA,), SAME),  # liberal: the escaped header is ignored
    "baddate": ((R488_MEDIA,), SAME),  # liberal: the Date does not matter to us
    "regbadct": ((R405,), SAME),  # 3.1.2.13: the method is judged first (RFC 3261 8.2.1)
    "badaspec": ((OK,), SAME),  # liberal, as the RFC allows
    # no empty line ends the headers: over TCP the message never completes
    "baddn": (("SIP/2.0 400 Content-Length Body Failure",), NO_REPLY),
    # 3.1.2.16: the front's core. Its Via parser refuses SIP/7.0 before the script (and the
    # sanity module's 505) can run
    "badvers": (NO_REPLY, (CLOSED,)),
    "mismatch01": (("SIP/2.0 400 CSeq method does not match request method",), SAME),
    "mismatch02": ((R501,), SAME),
    "bigcode": (NO_REPLY, (CLOSED,)),  # dropped by the front's core, as the RFC asks
    "badbranch": ((OK,), SAME),
    # 3.3.1: the front's core drops a request without From/To/Call-ID before any route runs
    "insuf": (NO_REPLY, (CLOSED,)),
    "unkscm": (("SIP/2.0 416 Unsupported URI Scheme",), SAME),
    "novelsc": (("SIP/2.0 416 Unsupported URI Scheme",), SAME),
    "unksm2": (("SIP/2.0 400 Invalid From Header",), SAME),
    "bext01": (("SIP/2.0 420 Bad Extension",), SAME),
    "invut": (("SIP/2.0 415 Unsupported Media Type",), SAME),
    "regaut01": ((R405,), SAME),
    "multi01": (NO_REPLY, (CLOSED,)),  # 3.3.8: the front's core (duplicate CSeq), not 400
    # 3.3.9: the front's core. The script runs, but no reply can be built with two
    # Content-Lengths; over TCP the connection is closed, as the RFC asks
    "mcl01": (NO_REPLY, (CLOSED,)),
    "bcast": (NO_REPLY, SAME),
    "zeromf": (("SIP/2.0 483 Too Many Hops",), SAME),  # as a proxy
    "cparam01": ((R405,), SAME),
    "cparam02": ((R405,), SAME),
    "regescrt": ((R405,), SAME),
    "sdp01": (("SIP/2.0 406 Not Acceptable",), SAME),
    # 3.4.1: the pool member. pjsip refuses an INVITE without Contact before our admission check
    # sees it (its SDP's media address would get 488 there)
    "inv2543": (("SIP/2.0 400 Bad Request",), SAME),
}
HEADERS: dict[str, dict[str, str]] = {
    # headers the final reply must carry, on both transports
    "intmeth": {"allow": ALLOW},
    "esc02": {"allow": ALLOW},
    "mismatch02": {"allow": ALLOW},
    "escnull": {"allow": ALLOW},
    "lwsdisp": {"allow": ALLOW, "accept": "application/sdp, multipart/mixed"},
    "bext01": {
        "unsupported": "noProxiesSupportThis, norDoAnyProxiesSupportThis, "
        "nothingSupportsThis, nothingSupportsThisEither"
    },
    "invut": {"accept": "application/sdp, multipart/mixed"},
}
MEMBER_REFUSED = 6
"""esc01, escruri and baddate, over each transport: the INVITEs our admission check refuses."""
QUIET = 0.5
"""Seconds of silence taken as "no reply" (nothing else can show that nothing comes)."""
BOUND = 15.0
"""At most this long for a reply or a close that is expected."""


@dataclass(frozen=True, slots=True)
class Exchange:
    replies: tuple[bytes, ...]
    closed: bool = False

    @property
    def finals(self) -> tuple[str, ...]:
        """Status lines of the final replies, then CLOSED if the connection was closed."""
        lines = tuple(reply.split(b"\r\n", 1)[0].decode("latin-1") for reply in self.replies)
        return tuple(line for line in lines if not line.startswith("SIP/2.0 1")) + (
            (CLOSED,) if self.closed else ()
        )

    @property
    def provisional(self) -> set[str]:
        """Status lines of the provisional replies."""
        lines = (reply.split(b"\r\n", 1)[0].decode("latin-1") for reply in self.replies)
        return {line for line in lines if line.startswith("SIP/2.0 1")}

    def header(self, name: str) -> list[str]:
        """Values of header `name` (lower case) in the last final reply ([] without one)."""
        finals = [r for r in self.replies if _is_final(r)]
        if not finals:
            return []
        lines = finals[-1].split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return [v.strip() for n, _, v in (ln.partition(":") for ln in lines) if n.lower() == name]


def _is_final(reply: bytes) -> bool:
    return reply.startswith(b"SIP/2.0 ") and not reply.startswith(b"SIP/2.0 1")


def expected(name: str, transport: str) -> tuple[str, ...]:
    udp, tcp = EXPECTED[name]
    return tcp if transport == "tcp" and tcp is not SAME else udp


def _expected_events(expect: tuple[str, ...]) -> tuple[int, bool]:
    return len([e for e in expect if e != CLOSED]), CLOSED in expect


async def send_udp(port: int, data: bytes, expect: tuple[str, ...]) -> Exchange:
    """Send one datagram; collect replies until as many finals as expected came (bounded), or,
    when none is expected, for QUIET seconds."""
    finals, _ = _expected_events(expect)
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(data, ("127.0.0.1", port))
        replies: list[bytes] = []
        deadline = loop.time() + (BOUND if finals else QUIET)
        while not finals or sum(map(_is_final, replies)) < finals:
            try:
                async with asyncio.timeout_at(deadline):
                    replies.append(await loop.sock_recv(sock, 65535))
            except TimeoutError:
                break
        return Exchange(tuple(replies))


def _split_stream(stream: bytes) -> tuple[list[bytes], bytes]:
    """Complete SIP messages at the start of a TCP stream (framed by Content-Length), and the rest."""
    messages = []
    while (end := stream.find(b"\r\n\r\n")) >= 0:
        head = stream[:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-length", "l"):
                length = int(value)
        size = end + 4 + length
        if len(stream) < size:
            break
        messages.append(stream[:size])
        stream = stream[size:]
    return messages, stream


async def send_tcp(port: int, data: bytes, expect: tuple[str, ...]) -> Exchange:
    """Send one message on its own TCP connection; collect replies until the expected finals (and
    the close, if expected) came (bounded) or, when nothing is expected, for QUIET seconds."""
    finals, close = _expected_events(expect)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    stream, closed = b"", False
    replies: list[bytes] = []

    def done() -> bool:
        if closed or not (finals or close):
            return closed  # nothing expected: only a close ends the quiet window early
        return not close and sum(map(_is_final, replies)) >= finals

    deadline = loop.time() + (BOUND if finals or close else QUIET)
    try:
        while not done():
            async with asyncio.timeout_at(deadline):
                chunk = await reader.read(65535)
            closed = not chunk
            messages, stream = _split_stream(stream + chunk)
            replies += messages
    except TimeoutError:
        pass
    except ConnectionError:
        closed = True
    writer.close()
    return Exchange(tuple(replies), closed)


async def front_forgets_transactions(engine: Engine) -> None:
    """Wait (bounded) until the front holds no transaction. The TCP batch sends the same INVITEs
    again (same branch, Call-ID and CSeq): while the UDP ones' transactions last, the front takes
    them for retransmissions and answers at the UDP address."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (stats := await engine.front.call("tm.stats"))["current"] > 0:
        assert loop.time() < deadline, f"front transactions did not end: {stats}"
        await asyncio.sleep(0.2)


MUST_REJECT = {
    # RFC 4475 3.1.2 and 3.3: elements "should" or "must" answer these with an error
    "badinv01", "clerr", "ncl", "scalar02", "quotbal", "lwsruri", "badvers",
    "mismatch01", "mismatch02", "insuf", "multi01", "mcl01",
}  # fmt: skip


def test_the_table_covers_every_message_and_accepts_nothing_it_must_not() -> None:
    index = json.loads((TORTURE / "index.json").read_text())
    assert index["count"] == len(index["messages"]) == len(EXPECTED) == 49
    for message in index["messages"]:
        invite = (TORTURE / message["file"]).read_bytes().startswith(b"INVITE ")
        for answer in (expected(message["name"], "udp"), expected(message["name"], "tcp")):
            if message["kind"] == "response":  # a stray response is dropped, never answered
                assert set(answer) <= {CLOSED}, message["name"]
            if message["name"] in MUST_REJECT or invite:
                # and no torture INVITE names a media address on the trunk's media networks
                assert not [a for a in answer if a.startswith("SIP/2.0 2")], message["name"]


async def test_torture_messages_get_the_pinned_answers_and_calls_go_on(
    ports: PortBlock, tmp_path: Path
) -> None:
    index = json.loads((TORTURE / "index.json").read_text())
    async with centre(ports, tmp_path, 2) as (engine, _farm):
        got: dict[tuple[str, str], Exchange] = {}
        for instance, (transport, send) in enumerate((("udp", send_udp), ("tcp", send_tcp))):
            for message in index["messages"]:
                data = (TORTURE / message["file"]).read_bytes()
                expect = expected(message["name"], transport)
                got[(transport, message["name"])] = await send(ports.trunk, data, expect)
            # after every batch a real call is still answered by a seat
            run = await SippCall(tmp_path, ports, instance, hold_ms=1000).run(30)
            assert run.returncode == 0, (transport, run.messages[-2000:])
            if transport == "udp":
                await front_forgets_transactions(engine)

        assert engine.front.up and engine.front.restarts == 0
        assert engine.pool.core.restarts == 0
        assert engine.router.tally.answered == 2
        assert engine.router.tally.turned_away == MEMBER_REFUSED
        wrong: dict[tuple[str, ...], object] = {}
        for (transport, name), exchange in got.items():
            if exchange.finals != expected(name, transport) or not exchange.provisional <= {
                "SIP/2.0 100 trying -- your call is important to us"
            }:
                wrong[(transport, name)] = (exchange.finals, exchange.provisional)
            for header, value in HEADERS.get(name, {}).items():
                if exchange.header(header) != [value]:
                    wrong[(transport, name, header)] = exchange.header(header)
        assert wrong == {}
