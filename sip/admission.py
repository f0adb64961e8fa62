"""Pure checks a pool member makes before it offers a trunk call to the engine.

The carrier's media comes from known gateways. An INVITE whose SDP asks us to send RTP to any
other address is refused (488): answering it would turn the centre into a reflector that sends
audio wherever a forged INVITE points. For the same reason a trunk INVITE must carry its SDP
offer (otherwise the address would only arrive, unchecked, in the ACK), and a message that
arrived cut short is refused rather than half-read.

The offer comes as application/sdp, alone or in a multipart body beside a PIDF-LO location
(RFC 6442); a body of any other type is refused with 415 (RFC 3261 8.2.3). Our answer is SDP, so
a caller whose Accept header rules application/sdp out is refused with 406 (RFC 3261 20.1). The
Kamailio front refuses both first (with the Accept header RFC 3261 21.4.13 asks for); these
checks are the member's own, for whatever reaches it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from sip.headers import InviteInfo


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    phrase: str
    reason: str
    """Short machine-readable word, for metrics."""
    detail: str
    """For the log."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers the response must carry (a 415 lists the body types we take)."""


def media_addresses(sdp: str) -> list[str]:
    """Every connection address of an SDP body (session and media level)."""
    addresses = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("c="):
            parts = line[2:].split()
            if len(parts) >= 3:
                addresses.append(parts[2].split("/", 1)[0])
    return addresses


def media_refusal(sdp: str, allowed: Iterable[str]) -> str:
    """'' when every media address of `sdp` is inside `allowed` networks, else why not."""
    networks = [ipaddress.ip_network(net, strict=False) for net in allowed]
    addresses = media_addresses(sdp)
    if not addresses:
        return "the SDP names no connection address"
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"media address {address!r} is not an IP address"
        if not any(ip in net for net in networks):
            return f"media address {address} is outside the trunk's media networks"
    return ""


def media_type(content_type: str) -> str:
    """'type/subtype' of a Content-Type or Accept element, lower case, parameters dropped."""
    return content_type.split(";", 1)[0].strip().lower()


def body_type_acceptable(content_type: str) -> bool:
    """Whether a body of this Content-Type can hold our SDP offer ('' = no Content-Type)."""
    kind = media_type(content_type)
    return kind in ("", "application/sdp") or kind.startswith("multipart/")


def accepts_sdp(accept: str | None) -> bool:
    """Whether an Accept header value (None: no header) lets us answer with application/sdp.

    The most specific range that covers application/sdp decides (application/sdp, then
    application/*, then */*); a q of 0 rules it out. An unreadable q is taken as acceptable.
    """
    if accept is None:
        return True
    best: tuple[int, float] | None = None
    for element in accept.split(","):
        kind, *params = element.split(";")
        rank = {"application/sdp": 3, "application/*": 2, "*/*": 1}.get(media_type(kind), 0)
        if not rank or (best is not None and best[0] >= rank):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 1.0
        best = (rank, quality)
    return best is not None and best[1] > 0


def check_invite(info: InviteInfo, media_allow: Iterable[str]) -> Refusal | None:
    """None when the INVITE may be offered to the engine, else how to refuse it."""
    if info.truncated:
        return Refusal(500, "Incomplete Message", "truncated", "body shorter than Content-Length")
    if not body_type_acceptable(info.content_type):
        return Refusal(
            415,
            "Unsupported Media Type",
            "unsupported-media-type",
            f"body of type {media_type(info.content_type)!r}, not an SDP offer",
            (("Accept", "application/sdp, multipart/mixed"),),
        )
    if not accepts_sdp(info.accept):
        return Refusal(
            406, "Not Acceptable", "not-acceptable", f"Accept: {info.accept!r} rules out SDP"
        )
    if not info.sdp.strip():
        return Refusal(488, "SDP Offer Required", "no-sdp-offer", "INVITE without an SDP offer")
    allowed = tuple(media_allow)
    if allowed:
        why = media_refusal(info.sdp, allowed)
        if why:
            return Refusal(488, "Media Address Not Allowed", "media-not-allowed", why)
    return None
