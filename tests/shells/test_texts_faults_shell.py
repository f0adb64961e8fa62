"""The text desk when things go wrong (engine.texts over the real SQLite store and aiohttp app):
a store that cannot file a step leaves no phantom conversation, no skipped message number, no
orphan incident for a retry to duplicate; a console that goes away loses its offers at once
and its conversations after `texts.console_gone`, filed and alerted; a citizen left without a
reply is alerted; behind a trusted proxy every citizen has a rate limit of their own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from incidents.store import StoreError
from tests.shells.test_incidents_shell import FakeEngine
from tests.shells.test_intake_shell import report
from tests.shells.test_texts_shell import desk, seated, topics, until, watch


@dataclass
class Failing:
    """What the store does with a write that files a text-* event: 0 files it; a status
    raises StoreError with it (< 500: refused at once; >= 500: the writer retries, for ever)."""

    status: int = 0

    def check(self, kinds: list[str]) -> None:
        if self.status and any(kind.startswith("text-") for kind in kinds):
            raise StoreError("the test's store cannot write this", self.status)


def fail_text_writes(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> Failing:
    """Make the store fail, on demand, every write that files a step of a conversation."""
    failing, store = Failing(), engine.store
    append, create_with = store.append, getattr(store, "create_with", None)

    async def failing_append(number: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        failing.check([kind])
        return await append(number, kind, *args, **kwargs)

    monkeypatch.setattr(store, "append", failing_append)
    if create_with is not None:

        async def failing_create_with(new: Any, then: Any, **kwargs: Any) -> Any:
            failing.check([kind for kind, _, _ in then])
            return await create_with(new, then, **kwargs)

        monkeypatch.setattr(store, "create_with", failing_create_with)
    return failing


async def text_events(engine: FakeEngine, number: str) -> list[tuple[str, Any]]:
    return [(e.kind, e.data.get("seq")) for e in await engine.store.events(number)
            if e.kind.startswith("text-")]  # fmt: skip


async def test_a_step_the_store_refuses_leaves_no_trace_and_a_retry_files_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with desk(tmp_path) as (engine, _service, people):
        citizen, li = people["citizen"], people["li"]
        failing = fail_text_writes(engine, monkeypatch)
        await seated(li, "li", "s1")
        failing.status = 422
        refused = await citizen.post("/api/intake/reports", data=report("a man with a knife"))
        assert refused.status == 422
        # nothing of it: no incident for the retry to duplicate, no conversation offered
        assert (await engine.store.query(since=0))[1] == 0
        assert engine.texts.desk.conversations == {} and topics(engine) == []
        failing.status = 0
        filed = await citizen.post("/api/intake/reports", data=report("a man with a knife"))
        assert filed.status == 201
        body = await filed.json()
        cid, number, mine = body["conversation"], body["number"], {"X-Citizen-Token": body["token"]}
        incidents, total = await engine.store.query(since=0)
        assert total == 1 and incidents[0].number == number  # the retry filed it once

        async def offered() -> bool:
            return ("text/offered", "s1") in topics(engine)

        await until(offered, "the text offered to li")
        failing.status = 422
        assert (await li.post(f"/api/texts/{cid}/accept")).status == 422
        conversation = engine.texts.desk.get(cid)
        assert (conversation.state.value, conversation.seat) == ("offered", "s1")
        assert "text/taken" not in [t for t, _ in topics(engine)]
        wrote = await citizen.post(f"/api/intake/conversations/{cid}/messages", headers=mine,
                                   json={"text": "he is coming"})  # fmt: skip
        assert wrote.status == 422 and len(conversation.messages) == 1
        failing.status = 0
        assert (await li.post(f"/api/texts/{cid}/accept")).status == 200
        wrote = await citizen.post(f"/api/intake/conversations/{cid}/messages", headers=mine,
                                   json={"text": "he is coming"})  # fmt: skip
        assert wrote.status == 201 and await wrote.json() == {"seq": 2}
        assert await text_events(engine, number) == [
            ("text-opened", 1), ("text-taken", None), ("text-in", 2),
        ]  # fmt: skip
        assert [t for t, _ in topics(engine)] == [
            "text/message", "text/offered", "text/taken", "text/message",
        ]  # fmt: skip


async def test_while_the_store_is_down_a_text_is_shown_to_nobody_until_it_is_filed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with desk(tmp_path) as (engine, _service, people):
        citizen, li = people["citizen"], people["li"]
        failing = fail_text_writes(engine, monkeypatch)
        await seated(li, "li", "s1")
        failing.status = 503  # the writer retries (with an alert) until the store is back
        posting = asyncio.create_task(citizen.post("/api/intake/reports", data=report("fire")))

        async def alerted() -> bool:
            return any(e["topic"] == "alert/store-failing" for e in engine.events.recent)

        await until(alerted, "the store failing, alerted")
        await asyncio.sleep(0.6)  # more than a look at the seats
        assert not posting.done()
        assert engine.texts.desk.conversations == {} and topics(engine) == []  # no phantom
        failing.status = 0
        filed = await asyncio.wait_for(posting, 15)
        assert filed.status == 201
        number = (await filed.json())["number"]
        assert (await engine.store.query(since=0))[1] == 1
        assert await text_events(engine, number) == [("text-opened", 1)]

        async def offered() -> bool:
            return ("text/offered", "s1") in topics(engine)

        await until(offered, "the text offered once it was filed")


async def test_texts_go_only_to_a_watched_seat_and_come_back_when_its_console_is_gone(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path, console_gone=0.4, unanswered_alert=0.8) as (engine, _, people):
        citizen, li = people["citizen"], people["li"]
        await seated(li, "li", "s1", console=False)  # signed in and READY; no console open
        body = await (await citizen.post("/api/intake/reports", data=report("help"))).json()
        cid, number = body["conversation"], body["number"]
        await asyncio.sleep(0.7)
        assert "text/offered" not in [t for t, _ in topics(engine)]  # nobody watches s1
        stream = await watch(li)

        async def offered() -> bool:
            return ("text/offered", "s1") in topics(engine)

        await until(offered, "the text offered once li's console is open")
        assert (await li.post(f"/api/texts/{cid}/accept")).status == 200
        stream.close()  # the tab is closed: after console_gone the text goes back in line

        async def requeued() -> Any:
            return next((e for e in engine.events.recent if e["topic"] == "text/requeued"), None)

        event = await until(requeued, "the text requeued from the unwatched seat")
        assert (event["seat_id"], event["reason"], event["incident"]) == ("s1", "console-gone",
                                                                          number)  # fmt: skip
        assert engine.texts.desk.get(cid).state.value == "waiting"
        alerts = {e["topic"]: e for e in engine.events.recent if e["topic"].startswith("alert/")}
        assert alerts["alert/text-requeued"]["conversation"] == cid

        async def filed() -> bool:
            return ("text-requeued", None) in await text_events(engine, number)

        await until(filed, "the requeue filed in the incident")

        async def unanswered() -> Any:
            return next((e for e in engine.events.recent
                         if e["topic"] == "alert/text-unanswered"), None)  # fmt: skip

        alert = await until(unanswered, "the citizen's unanswered text alerted")
        assert (alert["conversation"], alert["incident"], alert["message_seq"]) == (cid, number, 1)


async def test_behind_a_trusted_proxy_each_citizen_has_a_rate_limit_of_their_own(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as (engine, _service, people):
        citizen = people["citizen"]
        http = SimpleNamespace(trusted_proxies=("127.0.0.0/8",))
        engine.settings = SimpleNamespace(http=http)  # type: ignore[attr-defined]
        one = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}  # client, then an inner proxy
        statuses = [
            (await citizen.post("/api/intake/reports", data=report(f"r{n}"), headers=one)).status
            for n in range(5)
        ]
        assert statuses == [201, 201, 201, 201, 429]  # 4 a minute in the test centre
        other = {"X-Forwarded-For": "203.0.113.9"}
        assert (await citizen.post("/api/intake/reports", data=report("x"),
                                   headers=other)).status == 201  # fmt: skip
        # a spoofed header left of the proxy's entry is not believed
        spoof = {"X-Forwarded-For": "203.0.113.50, 198.51.100.7"}
        assert (await citizen.post("/api/intake/reports", data=report("y"),
                                   headers=spoof)).status == 429  # fmt: skip
