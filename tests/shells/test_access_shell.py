"""The REST API's door over a scripted pool (engine.http_access): log-in at a seat, sessions in
an HttpOnly cookie, a closed API for strangers, call-takers kept to their own seat and calls,
supervisor-only routes, every action under the logged-in name; and `hotline110 add-user`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.access import load_directory, token_hash
from engine.http import build_app
from sip import messages as msg
from tests.access import directory
from tests.shells.test_incidents_shell import STATION_POINT, FakeEngine, offer, running

PEOPLE = {
    "li": ("call-taker", "pw-li-1234"),
    "zhao": ("call-taker", "pw-zhao-1234"),
    "sun": ("supervisor", "pw-sun-1234"),
}
Client = TestClient[Any, Any]


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, list[Client]]]:
    engine = FakeEngine(tmp_path / "incidents.db", seats=2)
    engine.access.directory = directory(PEOPLE)
    async with running(engine) as (_, service):
        clients = [TestClient(TestServer(build_app(engine))) for _ in range(4)]  # type: ignore[arg-type]
        for client in clients:
            await client.start_server()
        try:
            yield engine, [service, *clients]
        finally:
            for client in clients:
                await client.close()


async def log_in(client: Client, user: str, seat: str = "") -> Any:
    reply = await client.post(
        "/api/session", json={"user": user, "password": PEOPLE[user][1], "seat": seat}
    )
    assert reply.status == 200, await reply.text()
    return reply


async def test_strangers_are_refused_and_people_log_in_at_their_seat(
    centre: tuple[FakeEngine, list[Client]],
) -> None:
    _, (service, stranger, li, *_) = centre
    for method, path in (("GET", "/api/calls"), ("GET", "/api/incidents"),
                         ("POST", "/api/seats/s1/ready"), ("GET", "/api/events")):  # fmt: skip
        reply = await stranger.request(method, path)
        assert reply.status == 401, (method, path)
        assert "log in first" in (await reply.json())["error"]
    assert (await stranger.get("/api/openapi.json")).status == 200
    bad = await stranger.post("/api/session", json={"user": "li", "password": "guess"})
    assert bad.status == 401
    forged = await stranger.get("/api/calls", headers={"Authorization": "Bearer guess"})
    assert forged.status == 401

    reply = await log_in(li, "li", "s1")
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert await reply.json() == {
        "user": "li",
        "role": "call-taker",
        "seat": "s1",
        "service": False,
    }
    seat = await (await li.get("/api/seats/s1")).json()
    assert seat["agent_id"] == "li" and seat["state"] == "not-ready"
    assert (await li.post("/api/seats/s1/ready")).status == 200
    # a call-taker keeps to their own seat, and a seat takes one call-taker
    other = await li.post("/api/seats/s2/ready")
    assert other.status == 403 and "not yours" in (await other.json())["error"]
    taken = await stranger.post(
        "/api/session", json={"user": "zhao", "password": PEOPLE["zhao"][1], "seat": "s1"}
    )
    assert taken.status == 409
    assert (await stranger.get("/api/calls")).status == 401  # no session was left behind

    out = await li.delete("/api/session")
    assert (await out.json())["logged_out"] is True
    assert (await li.get("/api/calls")).status == 401
    assert (await (await service.get("/api/seats/s1")).json())["state"] == "logged-out"


async def test_a_call_taker_acts_only_on_their_seats_calls_and_is_named_in_the_trail(
    centre: tuple[FakeEngine, list[Client]],
) -> None:
    engine, (service, _, li, zhao, sun) = centre
    await log_in(li, "li", "s1")
    await log_in(zhao, "zhao", "s2")
    await log_in(sun, "sun")
    await li.post("/api/seats/s1/ready")
    lat, lon = STATION_POINT
    offer(engine, "c1", {"lat": lat, "lon": lon, "method": "GPS"})
    now = time.monotonic()
    engine.feed(msg.SeatAnswered(call_id="c1", seat_id="s1", at=now))
    engine.feed(msg.CallerAnswered(call_id="c1", at=now, announcement=False))
    await engine.incidents.settled()
    number = engine.incidents.by_call["c1"]

    for path in ("/api/calls/c1/hold", f"/api/incidents/{number}/notes"):
        refused = await zhao.post(path, json={"text": "not mine"})
        assert refused.status == 403, path
        assert "not your seat's call" in (await refused.json())["error"]
    assert (await zhao.get(f"/api/incidents/{number}")).status == 200  # reading is allowed

    note = await li.post(f"/api/incidents/{number}/notes", json={"text": "knife", "actor": "sun"})
    assert note.status == 201 and (await note.json())["actor"] == "user:li"  # not what it claims
    assert (await li.post("/api/calls/c1/hold")).status == 202
    assert (await sun.post("/api/calls/c1/unhold")).status == 202  # a supervisor acts on any
    needs_boss = await li.put("/api/seats/s1/skills", json={"skills": {"lang:yue": 5}})
    assert needs_boss.status == 403 and "supervisor" in (await needs_boss.json())["error"]
    assert (await li.get("/api/outbox/dead-letters")).status == 403
    assert (await sun.put("/api/seats/s1/skills", json={"skills": {"lang:yue": 5}})).status == 200
    assert (await sun.post("/api/supervisor/seats/s2/not-ready", json={})).status == 200
    officer = engine.dispatcher.force.officers(time.time())[0].id
    where = {"lat": lat, "lon": lon, "ts": time.time()}
    typed = await li.put(f"/api/officers/{officer}/position", json=where)
    assert typed.status == 403 and "terminal" in (await typed.json())["error"]
    assert (await service.put(f"/api/officers/{officer}/position", json=where)).status == 200
    elsewhere = await li.post("/api/calls/c1/rejoin", json={"seat": "s2"})
    assert elsewhere.status == 403 and "own seat" in (await elsewhere.json())["error"]
    walk_in = await service.post(
        "/api/incidents", json={"source": "walk-in", "summary": "bike", "actor": "station S-nw"}
    )
    reported = await (
        await service.get(f"/api/incidents/{(await walk_in.json())['number']}")
    ).json()
    assert reported["events"][0]["actor"] == "station S-nw"  # a service names whom it acts for

    await engine.incidents.settled()
    incident = await (await sun.get(f"/api/incidents/{number}")).json()
    trail = [(e["kind"], e["actor"]) for e in incident["events"]]
    assert ("note", "user:li") in trail and ("hold", "user:li") in trail
    assert ("unhold", "user:sun") in trail


def test_add_user_appends_people_and_service_tokens_hashed(tmp_path: Path) -> None:
    config = tmp_path / "hotline110.toml"
    config.write_text('[access]\nusers = "users.toml"\n')

    def add(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", "add-user", "--config", str(config), *args],
            input=stdin, capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    assert add("--user", "wang", "--role", "supervisor", stdin="pw-wang-1234\n").returncode == 0
    made = add("--user", "terminals", "--role", "call-taker", "--token")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    loaded = load_directory(tmp_path / "users.toml")
    assert loaded.users["wang"].role == "supervisor"
    assert "pw-wang-1234" not in (tmp_path / "users.toml").read_text()  # hashes only
    assert loaded.tokens[token_hash(token)].name == "terminals"
    again = add("--user", "wang", "--role", "admin", stdin="pw-other-1234\n")
    assert again.returncode == 2 and "already" in again.stderr
    short = add("--user", "chen", "--role", "admin", stdin="short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr
