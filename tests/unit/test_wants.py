"""sip.wants: the skills an INVITE asks for (video, the caller's language)."""

from __future__ import annotations

from sip.wants import call_skills

AUDIO = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def invite(*headers: str) -> str:
    return "INVITE sip:110@h SIP/2.0\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"


def test_plain_audio_asks_nothing() -> None:
    assert call_skills(invite(), AUDIO) == frozenset()


def test_an_offered_video_stream_asks_for_a_video_seat_but_a_rejected_one_does_not() -> None:
    assert call_skills(invite(), AUDIO + "m=video 4002 RTP/AVP 96\r\n") == {"video"}
    assert call_skills(invite(), AUDIO + "m=video 0 RTP/AVP 96\r\n") == frozenset()


def test_rfc_8373_hlang_send_of_the_audio_stream_names_the_language() -> None:
    sdp = AUDIO + "a=hlang-send:yue zh\r\na=hlang-recv:yue\r\nm=video 4002 RTP/AVP 96\r\na=hlang-send:ase\r\n"  # fmt: skip
    assert call_skills(invite("Accept-Language: en"), sdp) == {"lang:yue", "video"}


def test_accept_language_by_q_value_when_there_is_no_hlang() -> None:
    raw = invite("Accept-Language: en;q=0.5, ug;q=0.9, *;q=1")
    assert call_skills(raw, AUDIO) == {"lang:ug"}
    assert call_skills(invite("Accept-Language: fr;q=0"), AUDIO) == frozenset()
