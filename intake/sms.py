"""The SMS adapter: texts from the carrier's SMS gateway as SIP MESSAGE, replies the same way.

Why evapi. The gateway must get its 200 only once the text is filed (a 200 tells it the
message is delivered; it will not send it again), and the engine's own SIP stack (pjsua2) lives
in one-call pool members that cannot take requests outside a call. So the front answers: on the
trunk, a MESSAGE is checked (text/plain, not empty, not oversize: 415/400/513, see
config/kamailio/kamailio.cfg route[SMS]), then `evapi_async_relay` suspends its transaction
and hands it to the engine over the evapi socket (a TCP connection the engine opens to the
front, netstrings of JSON, every SIP field base64 so no text can break the JSON). The engine
files the text and answers with the transaction's ids and a status; the front resumes the
transaction (`t_continue`) and replies with that status. With no engine connected the front
answers 503 with Retry-After at once; an engine that does not answer within the front's
timer gets a 503 too, so the gateway sends again rather than the text being lost. A refused
text (not from a phone number, not decodable, empty, too long: the sender's own fault) gets its
4xx from the engine; anything else that keeps it from being filed (the store failing, a bug)
gets 503, which the front sends with Retry-After: a gateway takes any other 5xx as final, and
the text would be lost.

A gateway whose 200 came late or got lost sends the same MESSAGE again (same Call-ID, and the
same CSeq, RFC 3428 retransmission rules aside). The engine remembers each MESSAGE it filed for
DEDUPE_S seconds, by its Call-ID and CSeq (the Call-ID and a hash of the body when the front
sends no CSeq), and answers a repeat with the first one's 200 without filing it twice; a
repeat that comes while the first is still being filed waits for its outcome.

Replies go out through the same front as a new MESSAGE transaction (`tm.t_uac_wait` over the
JSON-RPC the engine already uses; jsonrpcs answers it asynchronously, so no front process
waits): Request-URI and To are the citizen's number at the gateway (`intake.sms_gateway`),
From is the centre's number; the gateway's final status is the delivery. A reply longer than
one SIP MESSAGE should carry (RFC 3428: 1300 bytes) goes as several, in order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from intake.channels import Delivery, Desk
from intake.texts import TextError

log = logging.getLogger(__name__)
MAX_SMS_BYTES = 1300
"""RFC 3428: a MESSAGE body over UDP stays under 1300 bytes; the front refuses larger (513)."""
PART_BYTES = 1000
"""A reply is cut into parts of at most this many bytes of UTF-8, at character boundaries."""
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
RECONNECT_MIN, RECONNECT_MAX = 0.2, 5.0
DEDUPE_S = 300.0
"""Seconds a filed MESSAGE is remembered, so a repeat of it is answered 200 and not filed."""
SENDERS_FAULT = frozenset({400, 413, 415, 513})
"""Refusals of the text itself: the gateway may give up on those. Anything else is 503."""

Rpc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class SmsIn:
    """A MESSAGE from the gateway, checked."""

    tindex: int
    tlabel: int
    number: str
    """The citizen's number (the From user)."""
    text: str
    key: str = ""
    """What tells a repeat of this MESSAGE from a new one ('' when the front sent no Call-ID)."""


class SmsError(Exception):
    """A MESSAGE the engine refuses; the front answers `status_hint` with `reason`."""

    def __init__(self, reason: str, status_hint: int) -> None:
        super().__init__(reason)
        self.status_hint = status_hint


# -- pure parts: framing, parsing, building -----------------------------------------------------


def netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


def split_netstrings(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Whole netstrings at the front of `buffer`, and what is left (an incomplete one)."""
    found: list[bytes] = []
    while True:
        head, colon, rest = buffer.partition(b":")
        if not colon:
            if len(buffer) > 12 or (buffer and not buffer.isdigit()):
                raise ValueError(f"not a netstring: {buffer[:40]!r}")
            return found, buffer
        if not head.isdigit():
            raise ValueError(f"not a netstring length: {head[:40]!r}")
        size = int(head)
        if len(rest) < size + 1:
            return found, buffer
        if rest[size : size + 1] != b",":
            raise ValueError("a netstring does not end with ','")
        found.append(rest[:size])
        buffer = rest[size + 1 :]


def _b64(event: dict[str, Any], key: str) -> str:
    try:
        return base64.b64decode(str(event.get(key) or ""), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SmsError(f"{key} is not readable", 400) from None


def parse_message(event: dict[str, Any]) -> SmsIn:
    """The relayed MESSAGE as the front sent it; SmsError (4xx) for one the desk refuses."""
    try:
        tindex, tlabel = int(event["tindex"]), int(event["tlabel"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"no transaction ids in {event!r}") from None
    scheme, _, rest = _b64(event, "from").strip().strip("<>").partition(":")
    number = rest.split("@", 1)[0].split(";", 1)[0] if scheme.lower() in ("sip", "tel") else ""
    if not NUMBER.match(number):
        raise SmsError("From Is Not A Phone Number", 400)
    raw = base64.b64decode(str(event.get("body") or ""), validate=False)
    if not raw.strip():
        raise SmsError("Empty Message", 400)
    if len(raw) > MAX_SMS_BYTES:
        raise SmsError("Message Too Large", 513)
    charset = "utf-8"
    for param in _b64(event, "ctype").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or "utf-8"
    try:
        codecs.lookup(charset)
        text = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise SmsError(f"Body Is Not {charset[:20]}", 415) from None
    return SmsIn(tindex=tindex, tlabel=tlabel, number=number, text=text,
                 key=repeat_key(event, number, raw))  # fmt: skip


def repeat_key(event: dict[str, Any], number: str, raw: bytes) -> str:
    """(Call-ID, CSeq) of the relayed MESSAGE, else (Call-ID, SHA-256 of the body); '' when
    the front sent no readable Call-ID (then nothing is recognised as a repeat)."""
    try:
        callid = base64.b64decode(str(event.get("callid") or ""), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    if not callid.strip():
        return ""
    cseq = str(event.get("cseq") or "").strip()
    second = f"cseq {cseq}" if cseq.isdigit() else f"body {hashlib.sha256(raw).hexdigest()}"
    return f"{number}\n{callid.strip()}\n{second}"


def answer(tindex: int, tlabel: int, code: int, reason: str) -> bytes:
    """The engine's answer to a relayed MESSAGE, framed for the evapi socket."""
    safe = re.sub(r"[^A-Za-z0-9 .,'-]", "", reason)[:60] or "Error"
    body = {"tindex": tindex, "tlabel": tlabel, "code": code, "reason": safe}
    return netstring(json.dumps(body).encode())


def parts(text: str, limit: int = PART_BYTES) -> list[str]:
    """`text` cut into pieces of at most `limit` bytes of UTF-8, never inside a character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


# -- the adapter -------------------------------------------------------------------------------


class SmsChannel:
    """Keeps the evapi connection to the front, files what comes in, sends replies."""

    name = "sms"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        gateway: str,
        sender: str,
        socket: str,
        rpc: Rpc,
        desk: Desk,
    ) -> None:
        self.host, self.port = host, port
        self.gateway = gateway.removeprefix("sip:")
        """host[:port] of the gateway."""
        self.sender = sender
        self.socket = socket
        """The front's trunk socket replies leave from ('udp:addr:port')."""
        self.rpc = rpc
        self.desk = desk
        self.connected = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._filing: dict[str, tuple[float, asyncio.Task[tuple[int, str]]]] = {}
        """Repeat key -> (when it came, its filing): a repeat waits for and answers the same."""
        self.clock = time.monotonic

    async def run(self) -> None:
        """Stay connected to the front's evapi socket; reconnect with backoff."""
        delay = RECONNECT_MIN
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.warning("sms: front's evapi %s:%d: %s", self.host, self.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_MIN
            self.connected = True
            log.info("sms: connected to the front's evapi %s:%d", self.host, self.port)
            try:
                await self._serve(reader, writer)
            except (ConnectionError, ValueError) as exc:
                log.warning("sms: evapi connection lost: %r", exc)
            finally:
                self.connected = False
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            await asyncio.sleep(RECONNECT_MIN)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while chunk := await reader.read(65536):
            found, buffer = split_netstrings(buffer + chunk)
            for payload in found:
                try:
                    event = json.loads(payload)
                except ValueError:
                    log.error("sms: unreadable event from the front: %r", payload[:80])
                    continue
                if isinstance(event, dict) and event.get("event") == "sms":
                    task = asyncio.create_task(self._one(event, writer))
                    self._tasks.add(task)  # held: a task nobody references may be collected
                    task.add_done_callback(self._tasks.discard)

    async def _one(self, event: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        try:
            sms = parse_message(event)
        except SmsError as exc:
            log.warning("sms refused (%d): %s", exc.status_hint, exc)
            writer.write(answer(int(event["tindex"]), int(event["tlabel"]), exc.status_hint,
                                str(exc)))  # fmt: skip
            return
        except ValueError as exc:
            log.error("sms: %s", exc)
            return
        code, reason = await self.file(sms)
        writer.write(answer(sms.tindex, sms.tlabel, code, reason))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def file(self, sms: SmsIn) -> tuple[int, str]:
        """File the text once (a repeat gets the first one's outcome); the status to answer."""
        now = self.clock()
        for key in [k for k, (at, t) in self._filing.items() if now - at > DEDUPE_S and t.done()]:
            del self._filing[key]
        while sms.key and (known := self._filing.get(sms.key)) is not None:
            _, task = known
            if task.done() and _outcome(task)[0] != 200:
                break  # the first try failed: this repeat is filed afresh
            await asyncio.wait([task])  # the first is still being filed: its outcome
            code, reason = _outcome(task)
            if code == 200:
                log.info("sms from %s: a repeat of one filed, answered 200 again", sms.number)
                return code, reason
        task = asyncio.ensure_future(self._file_once(sms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if sms.key:
            self._filing[sms.key] = (now, task)
        await asyncio.wait([task])  # not cancelled with the caller: the filing goes on
        return _outcome(task)

    async def _file_once(self, sms: SmsIn) -> tuple[int, str]:
        try:
            filed = await self.desk.receive("sms", sms.number, sms.text, caller=sms.number)
            return 200, f"Filed {filed.incident}"
        except TextError as exc:
            if exc.status_hint in SENDERS_FAULT:
                log.warning("sms from %s refused (%d): %s", sms.number, exc.status_hint, exc)
                return exc.status_hint, str(exc).title()
            log.error("sms from %s not filed (%d, answered 503): %s", sms.number,
                      exc.status_hint, exc)  # fmt: skip
        except Exception:  # the store failing, a bug: the gateway must send it again
            log.exception("sms from %s could not be filed (answered 503)", sms.number)
        return 503, "Not Filed Try Again"

    async def send(self, address: str, text: str) -> Delivery:
        """A reply as SIP MESSAGE(s) to the citizen's number at the gateway."""
        if not NUMBER.match(address):
            return Delivery(ok=False, detail=f"{address!r} is not a phone number")
        uri = f"sip:{address}@{self.gateway}"
        headers = (
            f"From: <sip:{self.sender}@{self.socket.split(':', 1)[-1]}>\r\n"
            f"To: <{uri}>\r\nContent-Type: text/plain;charset=utf-8\r\n"
        )
        last = Delivery(ok=False, detail="nothing to send")
        for piece in parts(text):
            try:
                result = await self.rpc("tm.t_uac_wait", "MESSAGE", uri, ".", self.socket,
                                        headers, piece)  # fmt: skip
                status, reason = int(result[0]), str(result[1])
            except Exception as exc:  # the front is down, or no final reply came
                return Delivery(ok=False, detail=f"not sent: {exc}")
            last = Delivery(ok=200 <= status < 300, detail=f"{status} {reason}", status=status)
            if not last.ok:
                break
        return last


def _outcome(task: asyncio.Task[tuple[int, str]]) -> tuple[int, str]:
    """A finished filing's status (503 if it was cancelled: the gateway sends it again)."""
    return (503, "Not Filed Try Again") if task.cancelled() else task.result()
