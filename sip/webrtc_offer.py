"""What of a citizen's WebRTC offer the centre will act on (pure).

The offer comes from anyone on the internet, and each of its ICE candidates makes a member
send connectivity checks to that address. Unchecked, an offer could list hundreds of
addresses inside the centre's own network: a port scan run from the pool. So an offer may
carry at most MAX_CANDIDATES candidates, and only candidates the members could really use are
kept: public addresses, and private or loopback ones only when the members' own addresses
(`webrtc.addresses`) are of that kind too. mDNS names (`....local`) are dropped: a member would
have to ask the local network to resolve them.
"""

from __future__ import annotations

import ipaddress

MAX_CANDIDATES = 16
MAX_SDP = 16 * 1024


class OfferError(ValueError):
    """An offer refused as a whole (400 to the page)."""


def check_offer(sdp: str, ours: tuple[str, ...], *, video: bool = False) -> str:
    """The offer with only usable candidates; OfferError for one that cannot be taken."""
    if len(sdp) > MAX_SDP or not sdp.startswith("v=0"):
        raise OfferError(f"not an SDP offer (at most {MAX_SDP} bytes)")
    if ("m=video" if video else "m=audio") not in sdp:
        raise OfferError("the offer has no " + ("video" if video else "audio"))
    lines = sdp.replace("\r\n", "\n").split("\n")
    candidates = [line for line in lines if line.startswith("a=candidate:")]
    if len(candidates) > MAX_CANDIDATES:
        raise OfferError(
            f"the offer lists {len(candidates)} ICE candidates (at most {MAX_CANDIDATES})"
        )
    kinds = {_kind(address) for address in ours}
    kept = [line for line in lines if not line.startswith("a=candidate:") or _usable(line, kinds)]
    if candidates and not any(line.startswith("a=candidate:") for line in kept):
        raise OfferError("none of the offer's ICE candidates is reachable from the centre")
    return "\r\n".join(kept)


def _usable(line: str, kinds: set[str]) -> bool:
    fields = line.split()
    if len(fields) < 8:
        return False
    try:
        ip = ipaddress.ip_address(fields[4])
    except ValueError:
        return False  # an mDNS name
    kind = _kind(str(ip))
    if kind == "global":
        return True
    if kind in ("loopback", "private"):
        return kind in kinds or (not kinds and kind == "private")
    return False  # link-local, multicast, unspecified, reserved


def _kind(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "other"
    if ip.is_private:
        return "private"
    return "global"
