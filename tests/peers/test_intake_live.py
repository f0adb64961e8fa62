"""A citizen's report with a picture to a real engine over HTTP: the picture lands whole under
the state directory's media, the incident is placed by the photo's EXIF, and staff see it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

from tests.peers.conftest import centre, http_json
from tests.peers.ports import PortBlock
from tests.unit.test_pictures import HANGZHOU, picture

pytestmark = pytest.mark.peers


async def test_a_report_with_a_photo_reaches_the_incident_record(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 1) as (engine, _):
        http = engine.settings.http
        photo = picture(gps=HANGZHOU)
        form = aiohttp.FormData()
        form.add_field("text", "a car is on fire in the car park")
        form.add_field("picture", photo, filename="fire.jpg", content_type="image/jpeg")
        async with (
            aiohttp.ClientSession() as citizen,  # no credentials: citizens have none
            citizen.post(f"http://{http.address}:{http.port}/api/intake/reports", data=form) as r,
        ):
            assert r.status == 201, await r.text()
            body = await r.json()
        assert body["location"]["method"] == "exif" and body["location"]["station"]
        (stored,) = (tmp_path / "var" / "media").rglob("*.jpg")
        assert stored.read_bytes() == photo
        assert stored.name == f"{hashlib.sha256(photo).hexdigest()}.jpg"
        status, incident = await http_json(engine, "GET", f"/api/incidents/{body['number']}")
        assert status == 200 and incident["source"] == "text"
        assert incident["events"][0]["data"]["attachments"][0]["path"] == str(stored)
