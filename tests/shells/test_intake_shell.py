"""A citizen's text with pictures through POST /api/intake/reports (engine.http_intake): no
account needed, the incident filed with its pictures in one step, the position from the browser
or the photo's EXIF; a bad picture refuses the whole report and nothing is kept; a source
sending too much is told to wait. The SQLite store and the aiohttp app are real."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.http import build_app
from engine.http_intake import IntakeDesk
from intake.media import MediaStore
from tests.access import AUTH
from tests.shells.test_incidents_shell import FakeEngine, running
from tests.unit.test_pictures import HANGZHOU, picture

Citizen = TestClient[Any, Any]


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, Citizen, Citizen]]:
    async with running(FakeEngine(tmp_path / "incidents.db")) as (engine, staff):
        citizen = TestClient(TestServer(build_app(engine)))  # type: ignore[arg-type]
        await citizen.start_server()
        try:
            yield engine, citizen, staff
        finally:
            await citizen.close()


def report(text: str = "", *pictures: bytes, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if text:
        form.add_field("text", text)
    for name, value in fields.items():
        form.add_field(name, value)
    for n, data in enumerate(pictures):
        form.add_field("picture", data, filename=f"scene{n}.jpg", content_type="image/jpeg")
    return form


def stored(engine: FakeEngine) -> list[Path]:
    root = engine.intake.media.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_report_with_pictures_becomes_an_incident_without_an_account(
    centre: tuple[FakeEngine, Citizen, Citizen],
) -> None:
    _, citizen, staff = centre
    photo, png = picture(gps=HANGZHOU), picture("PNG")
    reply = await citizen.post(
        "/api/intake/reports",
        data=report("a man is breaking into cars on Wensan Road", photo, png,
                    phone="+8613900000001", lat="30.2741", lon="120.1551"),
    )  # fmt: skip
    assert reply.status == 201, await reply.text()
    body = await reply.json()
    assert [p["sha256"] for p in body["pictures"]] == [
        hashlib.sha256(photo).hexdigest(),
        hashlib.sha256(png).hexdigest(),
    ]
    assert body["location"]["method"] == "app" and body["location"]["grid"]  # the browser's
    incident = await (await staff.get(f"/api/incidents/{body['number']}")).json()
    assert (incident["source"], incident["channel"]) == ("text", "web-app")
    assert incident["caller"] == "+8613900000001"
    assert incident["summary"].startswith("a man is breaking into cars")
    opened = incident["events"][0]
    assert opened["kind"] == "opened" and opened["actor"] == "citizen:+8613900000001"
    files = [a["path"] for a in opened["data"]["attachments"]]
    assert [Path(f).read_bytes() for f in files] == [photo, png]
    assert opened["data"]["attachments"][0]["exif_location"] == {"lat": 30.26, "lon": 120.15}
    # staff see the pictures with the report; nobody else does
    number, sha = body["number"], body["pictures"][0]["sha256"]
    shown = await staff.get(f"/api/incidents/{number}/pictures/{sha}")
    assert shown.status == 200 and await shown.read() == photo
    assert shown.headers["Content-Type"] == "image/jpeg"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert (await citizen.get(f"/api/incidents/{number}/pictures/{sha}")).status == 401
    assert (await staff.get(f"/api/incidents/{number}/pictures/{'0' * 64}")).status == 404
    assert (await staff.get(f"/api/incidents/{number}/pictures/..%2Fetc")).status in (400, 404)
    # staff still need a session for everything else
    assert (await citizen.get(f"/api/incidents/{body['number']}")).status == 401
    assert staff.session.headers.get("Authorization") == AUTH["Authorization"]


async def test_without_a_browser_position_the_photo_says_where(
    centre: tuple[FakeEngine, Citizen, Citizen],
) -> None:
    _, citizen, _ = centre
    body = await (
        await citizen.post("/api/intake/reports", data=report("fire", picture(gps=HANGZHOU)))
    ).json()
    assert body["location"]["method"] == "exif" and body["location"]["lat"] == 30.26
    nowhere = await citizen.post(
        "/api/intake/reports",
        data=report("smoke", picture(gps={1: "N", 2: (30, 99, 0), 3: "E", 4: (120, 0, 0)})),
    )
    body = await nowhere.json()
    assert body["location"] is None and "EXIF GPS not usable" in body["location_error"]


async def test_one_bad_picture_refuses_the_report_and_nothing_is_kept(
    centre: tuple[FakeEngine, Citizen, Citizen],
) -> None:
    engine, citizen, staff = centre
    cases = [
        (report("help", picture(), b"GIF89a" + b"\0" * 64), 415, "not a JPEG, PNG or WebP"),
        (report("help", picture(), picture()[:300]), 422, "scene1.jpg is broken"),
        (report("help", *[picture()] * 6), 413, "at most 5 pictures"),
        (report("", picture()), 400, "'text' is required"),
        (report("help", lat="31.2"), 400, "both be numbers"),
        (report("help", phone="call me"), 400, "'phone'"),
    ]
    for form, status, words in cases:
        engine.intake.per_minute = 100  # this test is about the pictures, not the rate
        reply = await citizen.post("/api/intake/reports", data=form)
        assert reply.status == status, (words, await reply.text())
        assert words in (await reply.json())["error"]
    assert stored(engine) == []
    page = await (await staff.get("/api/incidents")).json()
    assert page["total"] == 0
    plain = await citizen.post("/api/intake/reports", json={"text": "help"})
    assert plain.status == 415


async def test_a_source_sending_too_much_is_told_when_to_come_back(
    centre: tuple[FakeEngine, Citizen, Citizen],
) -> None:
    _, citizen, _ = centre
    for _ in range(4):
        assert (await citizen.post("/api/intake/reports", data=report("x"))).status == 201
    reply = await citizen.post("/api/intake/reports", data=report("x"))
    assert reply.status == 429 and "call 110" in (await reply.json())["error"]
    assert 0 < int(reply.headers["Retry-After"]) <= 60


async def test_pictures_written_for_a_report_that_cannot_be_filed_are_taken_back(
    centre: tuple[FakeEngine, Citizen, Citizen],
) -> None:
    engine, citizen, _ = centre
    kept = picture("PNG")
    assert (await citizen.post("/api/intake/reports", data=report("one", kept))).status == 201
    before = stored(engine)

    async def store_down(**_: Any) -> Any:
        raise ConnectionError("the incident store is down")

    engine.incidents.report = store_down  # type: ignore[method-assign]
    reply = await citizen.post("/api/intake/reports", data=report("two", picture(), kept))
    assert reply.status == 500
    assert stored(engine) == before  # the new picture taken back, the earlier one kept


def test_the_rate_limit_forgets_quiet_sources() -> None:
    desk = IntakeDesk(MediaStore(Path("/nonexistent")), per_minute=2)
    for n in range(10_001):
        assert desk.admit(f"10.0.{n // 256}.{n % 256}", now=float(n) * 0.001) == 0.0
    assert desk.admit("192.0.2.1", now=100.0) == 0.0  # over 10,000: the quiet ones go
    assert len(desk._sent) == 1
    assert desk.admit("192.0.2.1", now=100.5) == 0.0
    assert desk.admit("192.0.2.1", now=101.0) == 59.0  # the third in a minute waits
