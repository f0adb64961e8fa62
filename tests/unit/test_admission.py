"""sip.admission: which trunk INVITEs a pool member refuses, and with what status."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, strategies as st

from sip.admission import Refusal, accepts_sdp, body_type_acceptable, check_invite
from sip.headers import InviteInfo, read_invite

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
)
ALLOW = ("127.0.0.0/8",)
TORTURE = Path(__file__).parent.parent / "data" / "sip-torture"


def offer(**changes: object) -> InviteInfo:
    """An INVITE the member takes, with `changes` applied."""
    fields: dict[str, object] = {"sdp": SDP, "content_type": "application/sdp", **changes}
    return InviteInfo(**fields)  # type: ignore[arg-type]


def status(info: InviteInfo) -> int | None:
    refusal = check_invite(info, ALLOW)
    return None if refusal is None else refusal.status


def test_a_plain_sdp_offer_on_the_media_networks_is_taken() -> None:
    assert check_invite(offer(), ALLOW) is None
    assert check_invite(offer(accept="application/sdp, application/pidf+xml"), ALLOW) is None


def test_every_refusal_with_its_status_phrase_and_reason() -> None:
    cases = {
        "truncated": offer(truncated=True),
        "type": offer(content_type="application/unknownformat", sdp=""),
        "accept": offer(accept="text/nobodyKnowsThis"),
        "no sdp": offer(sdp="", content_type=""),
        "media": offer(sdp=SDP.replace("127.0.0.1", "192.0.2.5")),
    }
    got = {}
    for name, info in cases.items():
        refusal = check_invite(info, ALLOW)
        assert refusal is not None, name
        got[name] = (refusal.status, refusal.phrase, refusal.reason)
    assert got == {
        "truncated": (500, "Incomplete Message", "truncated"),
        "type": (415, "Unsupported Media Type", "unsupported-media-type"),
        "accept": (406, "Not Acceptable", "not-acceptable"),
        "no sdp": (488, "SDP Offer Required", "no-sdp-offer"),
        "media": (488, "Media Address Not Allowed", "media-not-allowed"),
    }


def test_the_first_failed_check_decides() -> None:
    # a cut message is not read further; the body's type comes before what the caller accepts,
    # and both before the SDP's content (RFC 3261 8.2.3 order: content type, then the rest)
    assert status(offer(truncated=True, content_type="text/plain", accept="")) == 500
    assert status(offer(content_type="text/plain", accept="", sdp="")) == 415
    assert status(offer(accept="", sdp=SDP.replace("127.0.0.1", "192.0.2.5"))) == 406


def test_body_types_that_can_carry_the_offer() -> None:
    for content_type in (
        "application/sdp",
        "Application/SDP ; charset=x",
        "multipart/mixed; boundary=b",
        "",
    ):
        assert body_type_acceptable(content_type), content_type
    for content_type in ("application/unknownformat", "text/plain", "application/pidf+xml"):
        assert not body_type_acceptable(content_type), content_type


def test_accept_ranges_and_q_values() -> None:
    taken = [
        None,
        "application/sdp",
        "APPLICATION/SDP;level=1",
        "text/html, application/*",
        "*/*",
        "application/sdp;q=0.1",
        "application/sdp;q=junk",
        "*/*;q=0, application/sdp",
    ]
    refused = [
        "",
        "text/nobodyKnowsThis",
        "application/sdp;q=0",
        "application/*;q=0.0",
        "*/*, application/sdp;q=0",
        "application/pidf+xml, multipart/mixed",
    ]
    assert [a for a in taken if not accepts_sdp(a)] == []
    assert [a for a in refused if accepts_sdp(a)] == []  # fmt: skip


def test_rfc4475_messages_that_reach_a_member_get_the_rfc_answer() -> None:
    """The front answers these itself; a member given them (say behind another front) agrees."""
    expected = {
        "invut": 415,  # 3.3.6: application/unknownformat body
        "sdp01": 406,  # 3.3.15: Accept: text/nobodyKnowsThis
        "esc01": 488,  # 3.1.1.3: valid, but its media address is not on the trunk's networks
        "baddate": 488,  # 3.1.2.12: the Date is not ours to judge; the media address is
    }
    got = {
        name: status(read_invite((TORTURE / f"{name}.dat").read_bytes().decode("latin-1")))
        for name in expected
    }
    assert got == expected


@given(
    content_type=st.text(max_size=40),
    accept=st.none() | st.text(max_size=60),
    sdp=st.text(max_size=80),
    truncated=st.booleans(),
)
def test_never_raises_and_refusals_are_client_or_server_errors(
    content_type: str, accept: str | None, sdp: str, truncated: bool
) -> None:
    info = InviteInfo(content_type=content_type, accept=accept, sdp=sdp, truncated=truncated)
    refusal = check_invite(info, ALLOW)
    assert refusal is None or (
        isinstance(refusal, Refusal) and refusal.status in (406, 415, 488, 500)
    )
