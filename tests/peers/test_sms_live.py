"""SMS through the real front: SIPp plays the carrier's SMS gateway against Kamailio and the
engine (evapi in, tm.t_uac_wait out). A MESSAGE on the trunk is filed as an incident before
the gateway gets its 200; a call-taker's reply over REST reaches the gateway as a MESSAGE to
the citizen's number; malformed MESSAGEs get a 4xx and the desk keeps serving."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.app import Engine
from engine.settings_texts import TextSettings
from tests.peers.conftest import eventually, http_json, running, settings_for
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall, SippRun

pytestmark = pytest.mark.peers
CITIZEN = "+8613900000001"
USERS = {"li": ("call-taker", "pw-li-1234")}


def sms(tmp_path: Path, ports: PortBlock, n: int, text: str, *, status: int = 200,
        sender: str = CITIZEN, content_type: str = "text/plain;charset=utf-8") -> SippCall:  # fmt: skip
    return SippCall(
        tmp_path / f"sms{n}", ports, n % 5, scenario="sms_in", expect_status=status,
        timeout_s=15, caller_prefix=sender,
        replacements={"CONTENT_TYPE": content_type, "BODY_TEXT": text},
    )  # fmt: skip


def gateway(tmp_path: Path, ports: PortBlock) -> SippCall:
    return SippCall(tmp_path / "gateway", ports, 9, scenario="sms_out", timeout_s=15)


async def incident_texts(engine: Engine, number: str) -> list[tuple[str, Any, Any]]:
    status, incident = await http_json(engine, "GET", f"/api/incidents/{number}")
    assert status == 200
    return [(e["kind"], e["data"].get("seq"), e["data"].get("text"))
            for e in incident["events"] if e["kind"].startswith("text-")]  # fmt: skip


async def test_an_sms_is_filed_before_its_200_and_the_reply_goes_back_as_sms(
    ports: PortBlock, tmp_path: Path
) -> None:
    gw_port = ports.sipp(9)[0]
    settings = settings_for(ports, tmp_path / "var", [("s1", "sip:s1@127.0.0.1:9")],
                            ready=False, users=USERS)  # fmt: skip
    settings = dataclasses.replace(
        settings,
        seats=tuple(dataclasses.replace(s, agent="") for s in settings.seats),
        texts=TextSettings(sms_gateway=f"sip:127.0.0.1:{gw_port}", evapi_port=ports.base + 8),
    )
    async with running(settings) as engine:
        assert engine.sms is not None
        sms_channel = engine.sms
        await eventually(lambda: sms_channel.connected, 10, "the engine on the front's evapi")

        started = time.monotonic()
        first: SippRun = await sms(tmp_path, ports, 0, "有人跟踪我 someone follows me").run(20)
        took = time.monotonic() - started
        assert first.returncode == 0, first.messages[-2000:]
        (ok,) = first.received("SIP/2.0 200")
        # the 200 names the incident: it was filed before the gateway was told
        number = ok.split("SIP/2.0 200 Filed ", 1)[1].splitlines()[0].strip()
        assert number.startswith("HZ-")
        assert await incident_texts(engine, number) == [
            ("text-opened", 1, "有人跟踪我 someone follows me")
        ]
        status, texts = await http_json(engine, "GET", "/api/texts")
        assert status == 200
        (conversation,) = texts["waiting"]
        assert (conversation["channel"], conversation["address"]) == ("sms", CITIZEN)
        cid = conversation["id"]

        # the call-taker li, at seat s1, takes it and replies over REST
        http = f"http://{settings.http.address}:{settings.http.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as li:
            login = {"user": "li", "password": USERS["li"][1], "seat": "s1"}
            assert (await li.post(f"{http}/api/session", json=login)).status == 200
            assert (await li.post(f"{http}/api/texts/{cid}/accept")).status == 200
            gw = await gateway(tmp_path, ports).start()
            reply = "警察马上到 Police are on the way, stay in the shop"
            async with li.post(f"{http}/api/texts/{cid}/messages", json={"text": reply}) as r:
                assert r.status == 201, await r.text()
                sent = await r.json()
            out = await gw.finish(20)
        assert sent == {"seq": 2, "delivery": {"ok": True, "detail": "202 Accepted"}}
        assert out.returncode == 0, out.messages[-2000:]
        (message,) = out.received("MESSAGE ")
        head, _, body = message.replace("\r\n", "\n").partition("\n\n")
        assert head.startswith(f"MESSAGE sip:{CITIZEN}@127.0.0.1:{gw_port} SIP/2.0")
        assert f"\nTo: <sip:{CITIZEN}@127.0.0.1:{gw_port}>" in head
        assert "\nFrom: <sip:110@" in head and "Content-Type: text/plain;charset=utf-8" in head
        assert body.strip() == reply

        # the citizen's next SMS joins the same conversation; malformed ones get a 4xx
        bad_type = await sms(tmp_path, ports, 1, "<b>hi</b>", status=415,
                             content_type="text/html").run(20)  # fmt: skip
        assert bad_type.returncode == 0 and bad_type.received("SIP/2.0 415")
        not_a_number = await sms(tmp_path, ports, 2, "hello", status=400, sender="alice").run(20)
        assert not_a_number.returncode == 0
        assert not_a_number.received("SIP/2.0 400 From Is Not A Phone Number")
        again = await sms(tmp_path, ports, 3, "I am in the pharmacy now").run(20)
        assert again.returncode == 0 and again.received(f"SIP/2.0 200 Filed {number}")
        assert await incident_texts(engine, number) == [
            ("text-opened", 1, "有人跟踪我 someone follows me"),
            ("text-taken", None, None),
            ("text-out", 2, reply),
            ("text-delivery", 2, None),
            ("text-in", 3, "I am in the pharmacy now"),
        ]
        _, metrics = await http_json(engine, "GET", "/metrics")
        assert 'hotline110_text_messages_total{channel="sms",sender="citizen"} 2.0' in metrics
        assert 'hotline110_text_deliveries_total{channel="sms",outcome="delivered"} 1.0' in metrics
        print(f"\nSMS in -> 200 (SIPp run incl. start-up): {took * 1000:.0f} ms")
