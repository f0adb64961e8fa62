"""intake.sms.SmsChannel with a scripted desk and a fake evapi writer (no front, no sockets): a
text the engine cannot file is answered 503 (the gateway sends it again: any other 5xx is final,
and the text would be lost), the sender's own faults 4xx; a repeat of a MESSAGE already filed
(same Call-ID and CSeq: the 200 came late or got lost) is answered 200 and filed once."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, cast

import pytest

from incidents.store import StoreError
from intake.channels import Received
from intake.sms import SmsChannel, split_netstrings
from intake.texts import TextError


class Writer:
    """The evapi socket, as the adapter writes its answers to it."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        found, rest = split_netstrings(data)
        assert rest == b""
        self.answers += [json.loads(item) for item in found]

    async def drain(self) -> None:
        return None


class Desk:
    """Files texts, or fails as told; `gate` holds a filing until set."""

    def __init__(self) -> None:
        self.filed: list[tuple[str, str]] = []
        self.fail: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def receive(self, channel: str, address: str, text: str, **_: Any) -> Received:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.filed.append((address, text))
        return Received(conversation="t1", incident="HZ-20260101-000001", seq=len(self.filed))


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def relayed(
    tindex: int, text: str = "help", callid: str = "c1@gw", cseq: str = "1"
) -> dict[str, Any]:
    event = {"event": "sms", "tindex": tindex, "tlabel": 1, "from": b64("sip:+8613900000001@gw"),
             "ctype": b64("text/plain"), "body": b64(text), "callid": b64(callid)}  # fmt: skip
    if cseq:
        event["cseq"] = cseq
    return event


def channel(desk: Desk) -> SmsChannel:
    return SmsChannel(host="127.0.0.1", port=1, gateway="sip:127.0.0.1:5060", sender="110",
                      socket="udp:127.0.0.1:5060", rpc=lambda *a: asyncio.sleep(0), desk=desk)  # fmt: skip


async def one(sms: SmsChannel, writer: Writer, event: dict[str, Any]) -> None:
    await sms._one(event, cast(asyncio.StreamWriter, writer))


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (StoreError("database is locked", 503), 503),
        (StoreError("no incident HZ-1", 404), 503),
        (RuntimeError("a bug"), 503),
        (TextError("the message is empty", 400), 400),
        (TextError("the message is longer than 4000 characters", 400), 400),
    ],
)
async def test_a_text_that_cannot_be_filed_is_answered_503_and_a_bad_one_4xx(
    failure: Exception, code: int
) -> None:
    desk, writer = Desk(), Writer()
    desk.fail = failure
    await one(channel(desk), writer, relayed(7))
    ((answer),) = writer.answers
    assert (answer["tindex"], answer["code"]) == (7, code)


async def test_a_repeat_of_a_filed_message_is_answered_200_and_filed_once() -> None:
    desk, writer = Desk(), Writer()
    sms = channel(desk)
    desk.gate.clear()  # the first is still being filed when the gateway sends it again
    first = asyncio.create_task(one(sms, writer, relayed(1)))
    await asyncio.sleep(0.01)
    again = asyncio.create_task(one(sms, writer, relayed(2)))
    await asyncio.sleep(0.01)
    desk.gate.set()
    await asyncio.gather(first, again)
    await one(sms, writer, relayed(3))  # and once more, later
    assert desk.filed == [("+8613900000001", "help")]
    assert sorted((a["tindex"], a["code"], a["reason"]) for a in writer.answers) == [
        (1, 200, "Filed HZ-20260101-000001"),
        (2, 200, "Filed HZ-20260101-000001"),
        (3, 200, "Filed HZ-20260101-000001"),
    ]
    # a new MESSAGE (another CSeq, another Call-ID) is a new text, even with the same words
    await one(sms, writer, relayed(4, cseq="2"))
    await one(sms, writer, relayed(5, callid="c2@gw", cseq=""))
    await one(sms, writer, relayed(6, callid="c2@gw", cseq=""))  # no CSeq: the body tells
    await one(sms, writer, relayed(7, "another", callid="c2@gw", cseq=""))
    assert len(desk.filed) == 4


async def test_a_repeat_of_one_that_failed_is_filed_afresh() -> None:
    desk, writer = Desk(), Writer()
    sms = channel(desk)
    desk.fail = StoreError("database is locked", 503)
    await one(sms, writer, relayed(1))
    desk.fail = None
    await one(sms, writer, relayed(2))
    assert [a["code"] for a in writer.answers] == [503, 200]
    assert desk.filed == [("+8613900000001", "help")]
