"""Pure reading of what a trunk INVITE tells us about the caller.

pjsua2 hands the member the whole received INVITE as text; this module pulls out the caller's
identity (P-Asserted-Identity, From), the front's receive timestamp, and the caller's location
(RFC 6442 Geolocation header pointing at a PIDF-LO body, RFC 4119/5491 shapes: gml:Point,
gml:Circle, civic address). Nothing here raises on bad input from a peer: a location that cannot
be read gives `location=None` and a `location_error` saying why, and the call goes on.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

_COMPACT = {"f": "from", "t": "to", "i": "call-id", "c": "content-type", "l": "content-length"}
_URI_USER = re.compile(r"^(?:sips?|tel):([^@;>]*)", re.IGNORECASE)
_NS = {
    "pidf": "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
    "ca": "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr",
}
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class InviteInfo:
    """What the engine needs from a trunk INVITE."""

    caller: str = ""
    caller_name: str = ""
    called: str = ""
    pai: str = ""
    sip_call_id: str = ""
    front_received_wall: float | None = None
    location: dict[str, Any] | None = None
    location_error: str = ""
    sdp: str = ""
    truncated: bool = False
    """The body is shorter than Content-Length says (the message was cut somewhere)."""
    headers: dict[str, list[str]] = field(default_factory=dict)
    content_type: str = ""
    """The Content-Type header as received ('' when there is none)."""
    accept: str | None = None
    """Every Accept header, joined with ', '; None when the INVITE has none (an empty Accept
    header is '' and, by RFC 3261 20.1, accepts nothing)."""


def split_message(raw: str) -> tuple[str, dict[str, list[str]], str]:
    """Start line, headers (lower-case names, compact forms expanded, folding undone), body."""
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    start = lines[0].strip() if lines else ""
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line.strip():
            unfolded.append(line)
    headers: dict[str, list[str]] = {}
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return start, headers, body


def _raw_body_length(raw: str) -> int:
    """Octets after the blank line that ends the headers, as received (CRLFs kept)."""
    for separator in ("\r\n\r\n", "\n\n"):
        index = raw.find(separator)
        if index >= 0:
            return len(raw[index + len(separator) :].encode("utf-8", "replace"))
    return 0


def uri_user(value: str) -> str:
    """User part of the first SIP/tel URI in a name-addr or addr-spec."""
    inner = value
    if "<" in value:
        inner = value.split("<", 1)[1].split(">", 1)[0]
    match = _URI_USER.match(inner.strip())
    return match.group(1) if match else ""


def display_name(value: str) -> str:
    """Display name of a name-addr ('' when none)."""
    if "<" not in value:
        return ""
    name = value.split("<", 1)[0].strip()
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def read_invite(raw: str) -> InviteInfo:
    """Identity, timing and location of a received INVITE."""
    start, headers, body = split_message(raw)
    parts = start.split()
    called = uri_user(parts[1]) if len(parts) >= 2 else ""
    pai = (headers.get("p-asserted-identity") or [""])[0]
    from_ = (headers.get("from") or [""])[0]
    caller = uri_user(pai) or uri_user(from_)
    name = display_name(pai) or display_name(from_)
    wall: float | None = None
    stamp = (headers.get("x-h110-rx") or [""])[0]
    try:
        wall = float(stamp) if stamp else None
    except ValueError:
        wall = None
    location, error = read_location(headers, body)
    content_type = (headers.get("content-type") or [""])[0]
    sdp = _find_part(content_type, body, "") if "multipart" in content_type.lower() else None
    if sdp is None and content_type.lower().startswith("application/sdp"):
        sdp = body
    declared = (headers.get("content-length") or ["0"])[0]
    truncated = declared.isdigit() and int(declared) > _raw_body_length(raw)
    return InviteInfo(
        truncated=truncated,
        caller=caller,
        caller_name=name,
        called=called,
        pai=pai,
        sip_call_id=(headers.get("call-id") or [""])[0],
        front_received_wall=wall,
        location=location,
        location_error=error,
        sdp=sdp or "",
        headers=headers,
        content_type=content_type,
        accept=", ".join(headers["accept"]) if "accept" in headers else None,
    )


def read_location(headers: dict[str, list[str]], body: str) -> tuple[dict[str, Any] | None, str]:
    """Location by value (PIDF-LO body named by the Geolocation header); (None, why) if unusable."""
    geo = ", ".join(headers.get("geolocation", []))
    if not geo:
        return None, ""
    refs = re.findall(r"<([^>]+)>", geo)
    cids = [ref[4:] for ref in refs if ref.lower().startswith("cid:")]
    if not cids:
        return None, f"location by reference not fetched: {geo[:120]}"
    if len(body) > MAX_BODY:
        return None, "message body too large"
    content_type = (headers.get("content-type") or [""])[0]
    pidf = _find_part(content_type, body, cids[0])
    if pidf is None:
        return None, f"no body part with Content-ID <{cids[0]}>"
    try:
        return parse_pidf_lo(pidf), ""
    except ValueError as exc:
        return None, f"invalid PIDF-LO: {exc}"


def _find_part(content_type: str, body: str, cid: str) -> str | None:
    """The body part with Content-ID `cid`, or (cid '') the first application/sdp part."""
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not content_type.lower().startswith("multipart/") or not match:
        return body if cid and "pidf" in content_type.lower() else None
    for part in body.split("--" + match.group(1)):
        _, part_headers, part_body = split_message("start\n" + part.lstrip("\r\n"))
        ids = [value.strip("<> ") for value in part_headers.get("content-id", [])]
        kind = (part_headers.get("content-type") or [""])[0].lower()
        if (cid and cid in ids) or (not cid and kind.startswith("application/sdp")):
            return part_body
    return None


def parse_pidf_lo(text: str) -> dict[str, Any]:
    """lat/lon (+ radius) from gml:Point or gs:Circle, and the civic address as one line."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise ValueError(f"XML: {exc}") from None
    location: dict[str, Any] = {"source": "pidf-lo"}
    pos = root.find(".//gml:pos", _NS)
    if pos is not None and pos.text:
        try:
            lat_text, lon_text = pos.text.split()[:2]
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise ValueError(f"gml:pos is not two numbers: {pos.text!r}") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise ValueError(f"coordinates out of range: {lat} {lon}")
        location.update(lat=lat, lon=lon)
        radius = root.find(".//gs:radius", _NS)
        if radius is not None and radius.text:
            try:
                location["radius_m"] = float(radius.text)
            except ValueError:
                raise ValueError(f"radius is not a number: {radius.text!r}") from None
    civic = root.find(".//ca:civicAddress", _NS)
    if civic is not None:
        fields = [(child.tag.split("}")[-1], (child.text or "").strip()) for child in civic]
        line = ", ".join(value for _, value in fields if value)
        if line:
            location["civic"] = line
    method = root.find(".//gp:method", _NS)
    if method is not None and method.text:
        location["method"] = method.text.strip()
    if "lat" not in location and "civic" not in location:
        raise ValueError("neither coordinates nor a civic address")
    return location
