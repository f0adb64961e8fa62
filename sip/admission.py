"""Pure checks a pool member makes before it offers a trunk call to the engine.

The carrier's media comes from known gateways. An INVITE whose SDP asks us to send RTP to any
other address is refused (488): answering it would turn the centre into a reflector that sends
audio wherever a forged INVITE points. For the same reason a trunk INVITE must carry its SDP
offer (otherwise the address would only arrive, unchecked, in the ACK), and a message that
arrived cut short is refused rather than half-read.
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


def check_invite(info: InviteInfo, media_allow: Iterable[str]) -> Refusal | None:
    """None when the INVITE may be offered to the engine, else how to refuse it."""
    if info.truncated:
        return Refusal(500, "Incomplete Message", "truncated", "body shorter than Content-Length")
    if not info.sdp.strip():
        return Refusal(488, "SDP Offer Required", "no-sdp-offer", "INVITE without an SDP offer")
    allowed = tuple(media_allow)
    if allowed:
        why = media_refusal(info.sdp, allowed)
        if why:
            return Refusal(488, "Media Address Not Allowed", "media-not-allowed", why)
    return None
