"""Pure checks a pool member makes before it offers a trunk call to the engine.

The carrier's media comes from known gateways. An INVITE whose SDP asks us to send RTP to any
other address is refused (488): answering it would turn the centre into a reflector that sends
audio wherever a forged INVITE points.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


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
    for address in media_addresses(sdp):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"media address {address!r} is not an IP address"
        if not any(ip in net for net in networks):
            return f"media address {address} is outside the trunk's media networks"
    return ""
