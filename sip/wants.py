"""What an emergency call asks of its call-taker, read from the INVITE: skills for the ACD.

* `video`: the SDP offers a video stream (a port other than 0), so the call needs a
  video-capable console.
* `lang:<tag>`: the language the caller will speak. RFC 8373 (the human-language negotiation
  NG911 and EU 112 use) puts it in the audio stream's `a=hlang-send` (most preferred first);
  without it, the first language of the Accept-Language header (RFC 3261 20.1) by q-value.
"""

from __future__ import annotations

from sip.headers import split_message


def call_skills(raw: str, sdp: str) -> frozenset[str]:
    """Skills the INVITE `raw` (with its SDP offer `sdp`) asks for."""
    skills: set[str] = set()
    language = ""
    media = ""
    for line in sdp.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            fields = line[2:].split()
            media = fields[0].lower() if fields else ""
            if media == "video" and len(fields) > 1 and fields[1] != "0":
                skills.add("video")
        elif media == "audio" and not language:
            for attribute in ("a=hlang-send:", "a=hlang-recv:"):
                if line.lower().startswith(attribute):
                    tags = line[len(attribute) :].split()
                    language = tags[0].rstrip("*").lower() if tags else ""
    if not language:
        language = _accept_language(raw)
    if language:
        skills.add(f"lang:{language}")
    return frozenset(skills)


def _accept_language(raw: str) -> str:
    _start, headers, _body = split_message(raw)
    ranked: list[tuple[float, int, str]] = []
    for value in headers.get("accept-language", []):
        for index, item in enumerate(value.split(",")):
            tag, *params = (part.strip() for part in item.split(";"))
            q = 1.0
            for param in params:
                if param.lower().startswith("q="):
                    try:
                        q = float(param[2:])
                    except ValueError:
                        q = 0.0
            if tag and tag != "*" and q > 0:
                ranked.append((-q, index, tag.lower()))
    return min(ranked)[2] if ranked else ""
