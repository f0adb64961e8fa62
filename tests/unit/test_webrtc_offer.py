"""Which ICE candidates of a citizen's offer the centre acts on (sip.webrtc_offer)."""

from __future__ import annotations

import pytest

from sip.webrtc_offer import MAX_CANDIDATES, OfferError, check_offer

HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def candidate(address: str, port: int = 50000) -> str:
    return f"a=candidate:1 1 udp 2122260223 {address} {port} typ host generation 0"


def offer(*addresses: str) -> str:
    return HEAD + "".join(candidate(a) + "\r\n" for a in addresses)


def kept(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.split("\r\n") if line.startswith("a=candidate:")]


def test_public_candidates_are_kept_and_inner_ones_dropped_for_a_public_pool() -> None:
    sdp = offer("93.184.216.7", "10.1.2.3", "127.0.0.1", "169.254.1.1", "abcd.local", "::1")
    assert kept(check_offer(sdp, ("1.2.3.4",))) == ["93.184.216.7"]


def test_loopback_and_private_candidates_need_members_of_the_same_kind() -> None:
    sdp = offer("127.0.0.1", "10.1.2.3")
    assert kept(check_offer(sdp, ("127.0.0.1",))) == ["127.0.0.1"]
    assert kept(check_offer(sdp, ("10.0.0.5",))) == ["10.1.2.3"]
    assert kept(check_offer(sdp, ())) == ["10.1.2.3"]  # every interface: never loopback


def test_offers_the_centre_cannot_take_are_refused() -> None:
    with pytest.raises(OfferError, match="at most"):
        check_offer(offer(*[f"93.184.216.{n}" for n in range(MAX_CANDIDATES + 1)]), ())
    with pytest.raises(OfferError, match="reachable"):
        check_offer(offer("10.9.9.9", "192.168.1.1"), ("1.2.3.4",))
    with pytest.raises(OfferError, match="no audio"):
        check_offer("v=0\r\nm=video 9 RTP/AVP 96\r\n", ())
    with pytest.raises(OfferError, match="not an SDP"):
        check_offer("hello", ())
    with pytest.raises(OfferError, match="not an SDP"):
        check_offer("v=0" + "x" * 20_000, ())


def test_an_offer_without_candidates_passes_as_it_is() -> None:
    assert check_offer(HEAD, ("127.0.0.1",)) == HEAD
