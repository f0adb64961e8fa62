"""Text conversations over HTTP (engine.texts, engine.http_texts) with the real SQLite store and
aiohttp app: a citizen's web report opens a conversation, a signed-in READY call-taker is
offered it, accepts and replies; the citizen reads the reply with the conversation's secret and
writes back; every message is in the incident's timeline under who wrote it; strangers and
other seats are refused; an offer not accepted moves on; nobody ready -> it waits, in metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from engine.http import build_app
from engine.http_intake import IntakeDesk
from engine.texts import TextService
from intake.media import MediaStore
from metrics.registry import Metrics
from tests.access import directory
from tests.shells.test_access_shell import PEOPLE, log_in
from tests.shells.test_incidents_shell import FakeEngine, running
from tests.shells.test_intake_shell import report

Client = TestClient[Any, Any]


class TextEngine(FakeEngine):
    """The incidents shell's engine, with the status line the console's live stream sends."""

    def summary(self) -> dict[str, Any]:
        return {"waiting": 0}


@contextlib.asynccontextmanager
async def desk(
    tmp_path: Path,
    offer_timeout: float = 20.0,
    *,
    console_gone: float = 60.0,
    unanswered_alert: float = 120.0,
) -> AsyncIterator[tuple[FakeEngine, Client, dict[str, Client]]]:
    """A centre with seats s1, s2, the people of PEOPLE (none logged in yet), the text desk
    running, and one HTTP client per person plus a citizen (no credentials)."""
    engine = TextEngine(tmp_path / "incidents.db", seats=2)
    engine.access.directory = directory(PEOPLE)
    engine.texts.desk.offer_timeout = offer_timeout
    engine.texts.desk.console_gone = console_gone
    engine.texts.desk.unanswered_alert = unanswered_alert
    engine.texts.rate = IntakeDesk(MediaStore(tmp_path / "media"), per_minute=3)
    async with running(engine) as (_, service):
        loop = asyncio.create_task(engine.texts.run())
        people = {name: TestClient(TestServer(build_app(engine))) for name in (*PEOPLE, "citizen")}  # type: ignore[arg-type]
        for client in people.values():
            await client.start_server()
        try:
            yield engine, service, people
        finally:
            loop.cancel()
            for client in people.values():
                await client.close()


async def until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return value


async def seated(
    client: Client, user: str, seat: str, *, ready: bool = True, console: bool = True
) -> ClientResponse | None:
    """Log `user` in at `seat` with the console open (its live stream: the response, to close
    when the console goes away), READY unless told."""
    await log_in(client, user, seat)
    stream = await watch(client) if console else None
    if ready:
        assert (await client.post(f"/api/seats/{seat}/ready")).status == 200
    return stream


async def watch(client: Client) -> ClientResponse:
    """The console's live stream, open (what the seat console does as it starts)."""
    stream = await client.get("/api/stream")
    assert stream.status == 200
    return stream


def topics(engine: FakeEngine, prefix: str = "text/") -> list[tuple[str, Any]]:
    return [(e["topic"], e.get("seat_id")) for e in engine.events.recent
            if e["topic"].startswith(prefix)]  # fmt: skip


async def test_a_web_report_becomes_a_conversation_a_call_taker_answers(tmp_path: Path) -> None:
    async with desk(tmp_path) as (engine, service, people):
        citizen, li, zhao = people["citizen"], people["li"], people["zhao"]
        filed = await citizen.post("/api/intake/reports",
                                   data=report("someone is following me", phone="+8613900000007"))  # fmt: skip
        assert filed.status == 201, await filed.text()
        body = await filed.json()
        cid, token, number = body["conversation"], body["token"], body["number"]
        mine = {"X-Citizen-Token": token}
        page = await (await citizen.get(f"/api/intake/conversations/{cid}", headers=mine)).json()
        assert page["incident"] == number and page["state"] == "waiting" and page["seat"] is None
        assert [(m["seq"], m["from"], m["text"]) for m in page["messages"]] == [
            (1, "citizen", "someone is following me")
        ]
        # the secret guards the conversation: none 401, a wrong one reads as unknown
        assert (await citizen.get(f"/api/intake/conversations/{cid}")).status == 401
        wrong = {"X-Citizen-Token": token[:-2] + "xx"}
        assert (await citizen.get(f"/api/intake/conversations/{cid}", headers=wrong)).status == 404
        assert (await citizen.get("/api/texts")).status == 401  # staff routes need a session

        await seated(zhao, "zhao", "s2", ready=False)  # signed in, paused: not offered texts
        await seated(li, "li", "s1")

        async def offered() -> Any:
            view = await (await li.get("/api/texts")).json()
            return view["mine"] and view["mine"][0]["state"] == "offered" and view

        view = await until(offered, "the text offered to li's seat")
        assert view["seat"] == "s1" and view["mine"][0]["id"] == cid
        assert 0 < view["mine"][0]["offer_left_s"] <= 20.0
        # another seat may not take it, nor write in it
        assert (await zhao.post(f"/api/texts/{cid}/accept")).status == 403
        early = await li.post(f"/api/texts/{cid}/messages", json={"text": "hello"})
        assert early.status == 409  # accept first
        unread = await li.post(f"/api/texts/{cid}/close")  # nor closed before it is read
        assert unread.status == 409 and "accept" in (await unread.json())["error"]
        taken = await li.post(f"/api/texts/{cid}/accept")
        assert taken.status == 200 and (await taken.json())["state"] == "taken"
        replied = await li.post(f"/api/texts/{cid}/messages",
                                json={"text": "Stay in a lit shop. Officers are coming."})  # fmt: skip
        assert replied.status == 201
        assert await replied.json() == {
            "seq": 2,
            "delivery": {"ok": True, "detail": "kept for the citizen's page"},
        }
        assert (await zhao.post(f"/api/texts/{cid}/messages", json={"text": "x"})).status == 403
        bad = await li.post(f"/api/texts/{cid}/messages", json={"text": "   "})
        assert bad.status == 400 and "empty" in (await bad.json())["error"]

        # the citizen reads the reply (only what is new) and writes back
        since = await (await citizen.get(f"/api/intake/conversations/{cid}?since=1",
                                         headers=mine)).json()  # fmt: skip
        assert [(m["seq"], m["from"]) for m in since["messages"]] == [(2, "call-taker")]
        assert "actor" not in since["messages"][0]  # no names for the citizen
        assert since["state"] == "taken" and since["seat"] == "s1"
        wrote = await citizen.post(f"/api/intake/conversations/{cid}/messages", headers=mine,
                                   json={"text": "I am inside the pharmacy"})  # fmt: skip
        assert wrote.status == 201 and await wrote.json() == {"seq": 3}

        closed = await li.post(f"/api/texts/{cid}/close")
        assert closed.status == 200 and (await closed.json())["state"] == "closed"
        late = await citizen.post(f"/api/intake/conversations/{cid}/messages", headers=mine,
                                  json={"text": "hello?"})  # fmt: skip
        assert late.status == 409
        assert await late.json() == {
            "error": "This conversation was closed: send a new report or call 110."
        }

        # the incident's timeline holds the whole conversation, each step under who did it
        incident = await (await service.get(f"/api/incidents/{number}")).json()
        steps = [(e["kind"], e["actor"], e["data"].get("seq"), e["data"].get("text"))
                 for e in incident["events"] if e["kind"].startswith("text-")]  # fmt: skip
        assert steps == [
            ("text-opened", "system", 1, "someone is following me"),
            ("text-taken", "user:li", None, None),
            ("text-out", "user:li", 2, "Stay in a lit shop. Officers are coming."),
            ("text-delivery", "system", 2, None),
            ("text-in", "citizen", 3, "I am inside the pharmacy"),
            ("text-closed", "user:li", None, None),
        ]
        assert (incident["source"], incident["channel"]) == ("text", "web-app")
        assert [t for t, _ in topics(engine)] == [
            "text/message",
            "text/offered",
            "text/taken",
            "text/message",
            "text/delivery",
            "text/message",
            "text/closed",
        ]
        text = await (await service.get("/metrics")).text()
        assert "hotline110_text_accept_seconds_count 1.0" in text
        assert 'hotline110_text_messages_total{channel="web-app",sender="citizen"} 2.0' in text
        assert "hotline110_texts_waiting 0.0" in text


async def test_an_offer_not_accepted_moves_on_and_with_nobody_ready_the_text_waits(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path, offer_timeout=0.3) as (engine, service, people):
        citizen, li, zhao, sun = people["citizen"], people["li"], people["zhao"], people["sun"]
        body = await (await citizen.post("/api/intake/reports", data=report("fire"))).json()
        cid, mine = body["conversation"], {"X-Citizen-Token": body["token"]}

        async def waiting_metric() -> Any:
            text = await (await service.get("/metrics")).text()
            return "hotline110_texts_waiting 1.0" in text and text

        text = await until(waiting_metric, "the text counted as waiting")
        oldest = float(text.split("\nhotline110_texts_oldest_waiting_seconds ")[1].split()[0])
        assert oldest > 0.0
        await seated(li, "li", "s1")
        await seated(zhao, "zhao", "s2")
        started = time.monotonic()

        def offers() -> list[tuple[str, Any]]:
            return [t for t in topics(engine) if t[0] in ("text/offered", "text/withdrawn")]

        async def moved() -> bool:
            return len(offers()) >= 3

        await until(moved, "the offer moving to the other seat")
        first, withdrawn, second = offers()[:3]
        assert first[0] == "text/offered" and withdrawn == ("text/withdrawn", first[1])
        assert second[0] == "text/offered" and second[1] != first[1]
        assert time.monotonic() - started >= 0.3  # not before the offer ran out
        withdrawal = next(e for e in engine.events.recent if e["topic"] == "text/withdrawn")
        assert withdrawal["reason"] == "timeout"
        # the seat that has it now accepts; a supervisor sees it, may reply, but takes none
        holder = li if second[1] == "s1" else zhao
        assert (await holder.post(f"/api/texts/{cid}/accept")).status == 200
        await log_in(sun, "sun")
        view = await (await sun.get("/api/texts")).json()
        assert [c["id"] for c in view["mine"]] == [cid] and view["waiting"] == []
        assert (await sun.post(f"/api/texts/{cid}/messages", json={"text": "sup"})).status == 201
        other = await (await citizen.post("/api/intake/reports", data=report("smoke"))).json()
        assert (await sun.post(f"/api/texts/{other['conversation']}/accept")).status == 403
        # a citizen posting too fast is told to wait (3 a minute here)
        statuses = [
            (await citizen.post(f"/api/intake/conversations/{cid}/messages", headers=mine,
                                json={"text": f"m{n}"})).status
            for n in range(4)
        ]  # fmt: skip
        assert statuses == [201, 201, 201, 429]
        assert (await citizen.get("/api/intake/conversations/nope", headers=mine)).status == 404
        bad = await citizen.get(f"/api/intake/conversations/{cid}?since=x", headers=mine)
        assert bad.status == 400


@pytest.mark.parametrize("body", [{"text": 5}, {}, {"text": "x" * 4001}])
async def test_a_reply_that_is_not_a_text_is_refused(tmp_path: Path, body: Any) -> None:
    async with desk(tmp_path) as (_, _service, people):
        citizen, li = people["citizen"], people["li"]
        cid = (await (await citizen.post("/api/intake/reports", data=report("x"))).json())[
            "conversation"
        ]
        await seated(li, "li", "s1")
        assert (await li.post(f"/api/texts/{cid}/accept")).status == 200  # waiting: take it
        assert (await li.post(f"/api/texts/{cid}/messages", json=body)).status == 400


async def test_a_restarted_engine_takes_the_open_conversations_back_from_the_store(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as (engine, _service, people):
        citizen, li = people["citizen"], people["li"]
        body = await (await citizen.post("/api/intake/reports", data=report("burglary"))).json()
        gone = await (await citizen.post("/api/intake/reports", data=report("lost cat"))).json()
        await seated(li, "li", "s1", ready=False)
        for cid in (body["conversation"], gone["conversation"]):
            assert (await li.post(f"/api/texts/{cid}/accept")).status == 200
        reply = {"text": "Which floor?"}
        assert (
            await li.post(f"/api/texts/{body['conversation']}/messages", json=reply)
        ).status == 201
        assert (await li.post(f"/api/texts/{gone['conversation']}/close")).status == 200
        # a new engine's desk over the same store (what `hotline110 run` does after a restart)
        again = TextService(engine.incidents, engine.events, Metrics(), engine.acd, engine.access)
        assert await again.recover(time.time() - 3600) == 1  # the closed one stays closed
        back = again.check_token(body["conversation"], body["token"])  # the secret still works
        assert (back.state.value, back.incident) == ("waiting", body["number"])
        assert [(m.seq, m.sender, m.text, m.actor) for m in back.messages] == [
            (1, "citizen", "burglary", "citizen"),
            (2, "call-taker", "Which floor?", "user:li"),
        ]
        assert [c.id for c in again.desk.waiting()] == [body["conversation"]]
