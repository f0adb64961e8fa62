"""sip.headers: caller identity and location from a trunk INVITE, never raising on bad input."""

from __future__ import annotations

from pathlib import Path

from sip.headers import parse_pidf_lo, read_invite, split_message

PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
  xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0"
  xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:caller@carrier.invalid">
 <tuple id="t1"><status><gp:geopriv><gp:location-info>
  <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>31.2304 121.4737</gml:pos>
   <gs:radius uom="urn:ogc:def:uom:EPSG::9001">35</gs:radius></gs:Circle>
  <ca:civicAddress><ca:country>CN</ca:country><ca:A1>Shanghai</ca:A1><ca:RD>Nanjing Road</ca:RD>
  </ca:civicAddress>
 </gp:location-info><gp:usage-rules/><gp:method>GPS</gp:method></gp:geopriv></status></tuple>
</presence>"""


def invite(extra: str = "", body: str = "", content_type: str = "application/sdp") -> str:
    return (
        "INVITE sip:110@10.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1\r\n"
        'f: "Li Lei" <sip:13800001111@carrier.invalid>;tag=1\r\n'
        "To: <sip:110@10.0.0.1>\r\n"
        "Call-ID: abc@carrier\r\n"
        "CSeq: 1 INVITE\r\n"
        f"{extra}"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def multipart(pidf: str, cid: str = "loc1@carrier.invalid") -> str:
    return (
        "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
        f"--b1\r\nContent-Type: application/pidf+xml\r\nContent-ID: <{cid}>\r\n\r\n{pidf}\r\n"
        "--b1--\r\n"
    )


def test_identity_prefers_p_asserted_identity() -> None:
    info = read_invite(invite('P-Asserted-Identity: "Net" <sip:+8613900002222@carrier>\r\n'))
    assert info.caller == "+8613900002222"
    assert info.caller_name == "Net"
    assert info.called == "110"
    assert info.sip_call_id == "abc@carrier"


def test_identity_falls_back_to_from_compact_form() -> None:
    info = read_invite(invite())
    assert (info.caller, info.caller_name) == ("13800001111", "Li Lei")
    assert info.location is None and info.location_error == ""


def test_front_receive_stamp() -> None:
    assert read_invite(invite("X-H110-Rx: 1700000000.123456\r\n")).front_received_wall == (
        1700000000.123456
    )
    assert read_invite(invite("X-H110-Rx: garbage\r\n")).front_received_wall is None


def test_location_by_value_from_multipart_pidf_lo() -> None:
    info = read_invite(
        invite(
            "Geolocation: <cid:loc1@carrier.invalid>\r\nGeolocation-Routing: yes\r\n",
            multipart(PIDF),
            "multipart/mixed; boundary=b1",
        )
    )
    assert info.location_error == ""
    assert info.location == {
        "source": "pidf-lo",
        "lat": 31.2304,
        "lon": 121.4737,
        "radius_m": 35.0,
        "civic": "CN, Shanghai, Nanjing Road",
        "method": "GPS",
    }


def test_bad_locations_are_reported_not_raised() -> None:
    geo = "Geolocation: <cid:loc1@carrier.invalid>\r\n"
    mp = "multipart/mixed; boundary=b1"
    cases = {
        "no body part": read_invite(invite(geo, multipart(PIDF, "other@x"), mp)),
        "XML": read_invite(invite(geo, multipart("<presence><oops"), mp)),
        "out of range": read_invite(invite(geo, multipart(PIDF.replace("31.2304", "131.2")), mp)),
        "by reference": read_invite(invite("Geolocation: <https://lis.example/loc/1>\r\n")),
    }
    for word, info in cases.items():
        assert info.location is None
        assert word in info.location_error, (word, info.location_error)


def test_pidf_with_civic_only() -> None:
    civic_only = PIDF.split("<gs:Circle")[0] + PIDF.split("</gs:Circle>")[1]
    assert parse_pidf_lo(civic_only)["civic"] == "CN, Shanghai, Nanjing Road"


def test_split_message_unfolds_headers() -> None:
    start, headers, body = split_message("OPTIONS sip:x SIP/2.0\r\nSubject: a\r\n  b\r\n\r\nhi")
    assert start == "OPTIONS sip:x SIP/2.0"
    assert headers["subject"] == ["a b"]
    assert body == "hi"


def test_truncation_is_measured_on_the_octets_received() -> None:
    whole = invite(body="v=0\r\nc=IN IP4 127.0.0.1\r\n")
    assert not read_invite(whole).truncated
    assert read_invite(whole[:-5]).truncated


def test_content_type_and_accept_are_kept_as_received() -> None:
    info = read_invite(invite("Accept: application/sdp\r\naccept: text/plain;q=0.5\r\n"))
    assert info.content_type == "application/sdp"
    assert info.accept == "application/sdp, text/plain;q=0.5"
    unknown = read_invite(invite(body="<audio/>", content_type="application/unknownformat"))
    assert (unknown.content_type, unknown.sdp) == ("application/unknownformat", "")


def test_no_accept_header_differs_from_an_empty_one() -> None:
    assert read_invite(invite()).accept is None
    assert read_invite(invite("Accept:\r\n")).accept == ""


def test_rfc4475_sdp01_and_invut_read_from_the_torture_files() -> None:
    torture = Path(__file__).parent.parent / "data" / "sip-torture"
    sdp01 = read_invite((torture / "sdp01.dat").read_bytes().decode("latin-1"))
    assert (sdp01.accept, sdp01.content_type) == ("text/nobodyKnowsThis", "application/sdp")
    assert "c=IN IP4 192.0.2.5" in sdp01.sdp
    invut = read_invite((torture / "invut.dat").read_bytes().decode("latin-1"))
    assert (invut.accept, invut.content_type) == (None, "application/unknownformat")
