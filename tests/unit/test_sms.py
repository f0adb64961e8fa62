"""intake.sms, its pure parts: evapi framing, reading a relayed MESSAGE (and refusing a bad one
with the status the front answers), cutting a long reply into MESSAGE-sized parts."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from intake.sms import (
    MAX_SMS_BYTES,
    SmsError,
    answer,
    netstring,
    parse_message,
    parts,
    split_netstrings,
)


def b64(value: str | bytes) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()


def relayed(sender: str = "sip:+8613900000001@10.0.0.9:5060", body: bytes = b"help",
            ctype: str = "text/plain;charset=utf-8") -> dict[str, Any]:  # fmt: skip
    return {"event": "sms", "tindex": 7, "tlabel": 99, "from": b64(sender),
            "to": b64("sip:110@front"), "ctype": b64(ctype), "body": b64(body)}  # fmt: skip


def test_netstrings_are_split_whole_and_the_rest_kept_for_later() -> None:
    stream = netstring(b'{"a":1}') + netstring(b"") + b"12:half"
    assert split_netstrings(stream) == ([b'{"a":1}', b""], b"12:half")
    assert split_netstrings(b"") == ([], b"")
    for broken in (b"x:abc,", b"3:abcd", b"1234567890123"):
        with pytest.raises(ValueError):
            split_netstrings(broken)


@given(st.lists(st.binary(max_size=50), max_size=5), st.integers(0, 400))
def test_any_cut_of_a_stream_gives_back_every_netstring(payloads: list[bytes], cut: int) -> None:
    stream = b"".join(netstring(p) for p in payloads)
    first, rest = split_netstrings(stream[:cut])
    second, left = split_netstrings(rest + stream[cut:])
    assert first + second == payloads and left == b""


def test_a_relayed_message_is_read_and_a_bad_one_refused_with_its_status() -> None:
    sms = parse_message(relayed(body="有人跟踪我".encode()))
    assert (sms.tindex, sms.tlabel, sms.number, sms.text) == (7, 99, "+8613900000001", "有人跟踪我")
    gbk = parse_message(relayed(body="救命".encode("gbk"), ctype="text/plain; charset=GBK"))
    assert gbk.text == "救命" and parse_message(relayed(sender="tel:13800000001")).number
    cases = [
        (relayed(sender="sip:alice@example.com"), 400, "Phone Number"),
        (relayed(body=b"  \r\n"), 400, "Empty"),
        (relayed(body=b"x" * (MAX_SMS_BYTES + 1)), 513, "Too Large"),
        (relayed(body=b"\xff\xfe"), 415, "utf-8"),
        (relayed(ctype="text/plain;charset=klingon"), 415, "klingon"),
    ]
    for event, status, words in cases:
        with pytest.raises(SmsError) as refused:
            parse_message(event)
        assert refused.value.status_hint == status and words in str(refused.value)
    with pytest.raises(ValueError):
        parse_message({"event": "sms"})  # no transaction to answer: a front bug, logged


def test_the_answer_names_the_transaction_and_carries_no_unsafe_reason() -> None:
    (framed,), _ = split_netstrings(answer(7, 99, 200, "Filed HZ-20260101-000001\r\nX: y"))
    assert json.loads(framed) == {"tindex": 7, "tlabel": 99, "code": 200,
                                  "reason": "Filed HZ-20260101-000001X y"}  # fmt: skip


@given(st.text(max_size=3000), st.integers(4, 1200))
def test_a_reply_is_cut_at_characters_into_parts_that_fit(text: str, limit: int) -> None:
    pieces = parts(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(p.encode("utf-8")) <= limit for p in pieces)


def test_the_front_answers_an_sms_it_cannot_hand_over_with_503_never_a_final_5xx() -> None:
    """A gateway takes any 5xx but 503 as final: the text would be lost. route[SMS] answers
    4xx for the sender's own faults and 503 with Retry-After for everything else."""
    cfg = (Path(__file__).parents[2] / "config" / "kamailio" / "kamailio.cfg").read_text()
    start = cfg.index("route[SMS] {")
    block = cfg[start : cfg.index("#!endif", start)]
    lines = block.splitlines()
    replies = [
        (n, int(m.group(2)))
        for n, line in enumerate(lines)
        if (m := re.search(r'\b(sl_send_reply|t_reply)\("(\d+)"', line))
    ]
    assert replies, "no replies found in route[SMS]"
    for n, code in replies:
        assert 400 <= code < 500 or code in (503, 513), lines[n]  # 513: too large, his fault
        if code == 503:
            assert "Retry-After" in lines[n - 1], lines[n]
    assert "evapi_async_relay" in block and '\\"callid\\"' in block and '\\"cseq\\"' in block
