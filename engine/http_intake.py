"""POST /api/intake/reports: a citizen's text with pictures (issue 7, R4): an incident of its own.

Open to anyone (a citizen has no account), so it is rate-limited per source address (429 with
Retry-After; behind a trusted proxy, the citizen's address: engine.clientaddr). The body is a
form, multipart/form-data (urlencoded without pictures): `text` (required), `phone` (a number
to call back), `lat` and `lon` (the browser's geolocation) and up to `intake.max_pictures`
files named `picture`. Everything is checked before anything is stored: a picture that is too
large (413), not a JPEG/PNG/WebP by its bytes (415) or broken (422) refuses the whole report
with a clear message, and nothing is kept. Then the pictures are written whole (intake.media)
and the incident is created with them and with the opening of its text conversation with a
call-taker (engine.texts), in one transaction; if that fails, the pictures written for it are
taken back, and nothing is left for a retry to duplicate. Where the report is: the browser's
position, else the first picture's EXIF GPS, else unknown with the reason noted. The 201
carries the conversation's id and the citizen's secret token for it (`conversation`, `token`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from engine.clientaddr import client_address
from intake.media import MediaStore
from intake.pictures import Picture, PictureError, check_picture

if TYPE_CHECKING:
    from engine.app import Engine

MAX_TEXT = 4000
MAX_FIELD = 8 * 1024


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/intake/reports", intake_report)
    app.router.add_get("/api/incidents/{number}/pictures/{sha256}", incident_picture)


async def incident_picture(request: web.Request) -> web.StreamResponse:
    """A picture filed with an incident, for staff (the console shows them with the report)."""
    engine = _engine(request)
    number, sha = request.match_info["number"], request.match_info["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise web.HTTPBadRequest(reason="a picture is named by its SHA-256 (64 hex digits)")
    events = await engine.incidents.store.events(number)
    filed = next(
        (
            item
            for event in events
            for item in event.data.get("attachments") or ()
            if isinstance(item, dict) and item.get("sha256") == sha
        ),
        None,
    )
    if filed is None:
        raise web.HTTPNotFound(reason=f"no picture {sha[:12]}... in incident {number!r}")
    root = engine.intake.media.root.resolve()
    path = Path(str(filed.get("path", ""))).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(reason="the picture's file is missing")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": str(filed.get("content_type") or "application/octet-stream"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@dataclass(slots=True)
class IntakeDesk:
    """Where pictures go, the limits, and who has sent how much lately."""

    media: MediaStore
    max_picture_bytes: int = 10 * 1024 * 1024
    max_pictures: int = 5
    per_minute: int = 6
    _sent: dict[str, deque[float]] = field(default_factory=dict)

    def refund(self, source: str) -> None:
        """Take back the last admission (a call the centre could not take is not counted
        against the citizen who retries it)."""
        recent = self._sent.get(source)
        if recent:
            recent.pop()

    def admit(self, source: str, now: float, per_minute: int = 0) -> float:
        """0 when this source may send now, else the seconds until it may (`per_minute`
        instead of the reports' limit when given)."""
        recent = self._sent.setdefault(source, deque())
        while recent and now - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= (per_minute or self.per_minute):
            return 60.0 - (now - recent[0])
        recent.append(now)
        if len(self._sent) > 10_000:  # forget the quiet ones: a flood of sources is bounded
            for key in [k for k, v in self._sent.items() if not v or now - v[-1] >= 60.0]:
                del self._sent[key]
        return 0.0


def _engine(request: web.Request) -> Engine:
    from engine.http import ENGINE_KEY

    return request.app[ENGINE_KEY]  # type: ignore[return-value]


class Refused(Exception):
    """The report is refused as a whole; nothing of it is kept."""

    def __init__(self, status: int, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def _refuse(status: int, message: str, **headers: str) -> Refused:
    return Refused(status, message, **headers)


async def _read(part: BodyPartReader, limit: int, what: str, status: int = 413) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise _refuse(status, f"{what} is larger than {limit} bytes")
    return bytes(data)


async def intake_report(request: web.Request) -> web.Response:
    """A citizen's report: text, a call-back number, a position, pictures (see the module)."""
    try:
        return await _report(request)
    except Refused as refused:
        return web.json_response(
            {"error": str(refused)}, status=refused.status, headers=refused.headers
        )


async def _report(request: web.Request) -> web.Response:
    from engine.http import _json

    engine = _engine(request)
    desk: IntakeDesk = engine.intake
    source = client_address(request)
    wait = desk.admit(source, time.monotonic())
    if wait:
        raise _refuse(429, "too many reports from here: try again shortly, or call 110",
                      **{"Retry-After": str(math.ceil(wait))})  # fmt: skip
    if request.content_type == "application/x-www-form-urlencoded":  # a form without files
        posted = await request.post()
        fields = {k: v for k, v in posted.items() if isinstance(v, str)}
        unknown = set(posted) - {"text", "phone", "lat", "lon"}
        if unknown:
            raise _refuse(400, f"unknown field {sorted(unknown)[0]!r}")
        uploads: list[tuple[str, bytes]] = []
    elif request.content_type.startswith("multipart/form-data"):
        fields, uploads = await _parts(request, desk)
    else:
        raise _refuse(415, "send a form (multipart/form-data): text, phone, lat, lon, pictures")
    text = fields.get("text", "").strip()
    if not text:
        raise _refuse(400, "'text' is required: say what happened")
    if len(text) > MAX_TEXT:
        raise _refuse(400, f"'text' is longer than {MAX_TEXT} characters")
    phone = fields.get("phone", "").strip()
    if phone and not (len(phone) <= 20 and phone.lstrip("+").isdigit()):
        raise _refuse(400, "'phone' must be a phone number (digits, optional +)")
    where = _position(fields)
    pictures: list[Picture] = []
    for name, data in uploads:
        try:
            pictures.append(check_picture(data, name=name, max_bytes=desk.max_picture_bytes))
        except PictureError as exc:
            raise _refuse(exc.status_hint, str(exc)) from None
    # all checked: now store, and take the pictures back if the incident cannot be filed
    now = time.time()
    loop = asyncio.get_running_loop()
    filed: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []  # only these are taken back: the others were there
    try:
        for picture in pictures:
            record, made = await loop.run_in_executor(None, desk.media.put, picture, now)
            filed.append(record)
            if made:
                created.append(record)
        location, error = where, ""
        if location is None:
            exif = next((p for p in pictures if p.location is not None), None)
            if exif is not None and exif.location is not None:
                location = {"lat": exif.location[0], "lon": exif.location[1], "method": "exif"}
            else:
                error = "; ".join(p.location_error for p in pictures if p.location_error)
        # the report is also the first message of a conversation with a call-taker
        # (engine.texts), filed in the incident's own transaction: both or neither, so a
        # citizen who retries after a failure files it once. The page follows the
        # conversation with the secret token, given here once.
        incident, talk = await engine.texts.open_report(
            "web-app", "", text, caller=phone, actor=f"citizen:{phone or source}",
            location=location, location_error=error, attachments=tuple(filed),
        )  # fmt: skip
    except Exception:  # not filed: take the pictures back (not on a cancellation: the filing
        desk.media.remove(created)  # goes on to its end, engine.texts, and keeps them)
        raise
    return _json(
        {
            "number": incident.number,
            "conversation": talk.conversation,
            "token": talk.token,
            "location": incident.location,
            "location_error": incident.location_error,
            "pictures": [
                {k: item[k] for k in ("sha256", "size", "content_type", "width", "height")}
                for item in filed
            ],
        },
        status=201,
    )


async def _parts(
    request: web.Request, desk: IntakeDesk
) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    fields: dict[str, str] = {}
    uploads: list[tuple[str, bytes]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise _refuse(400, "nested multipart bodies are not taken")
        name = part.name or ""
        if name == "picture":
            if len(uploads) >= desk.max_pictures:
                raise _refuse(413, f"at most {desk.max_pictures} pictures in one report")
            label = Path(part.filename or f"picture {len(uploads) + 1}").name[:80]
            uploads.append((label, await _read(part, desk.max_picture_bytes, label)))
        elif name in ("text", "phone", "lat", "lon"):
            raw = await _read(part, MAX_TEXT * 4 if name == "text" else MAX_FIELD, name, 400)
            try:
                fields[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _refuse(400, f"'{name}' is not UTF-8 text") from None
        else:
            raise _refuse(400, f"unknown field {name!r}")
    return fields, uploads


def _position(fields: dict[str, str]) -> dict[str, Any] | None:
    lat, lon = fields.get("lat", "").strip(), fields.get("lon", "").strip()
    if not lat and not lon:
        return None
    try:
        y, x = float(lat), float(lon)
    except ValueError:
        raise _refuse(400, "'lat' and 'lon' must both be numbers") from None
    if not (math.isfinite(y) and math.isfinite(x) and abs(y) <= 90 and abs(x) <= 180):
        raise _refuse(400, "'lat' must be -90..90 and 'lon' -180..180")
    return {"lat": y, "lon": x, "method": "app"}
