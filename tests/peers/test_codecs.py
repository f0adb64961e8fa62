"""Codecs on the trunk: a carrier that offers only PCMA or only G.722 is still answered, and the
member's conference bridge carries the audio to a seat phone that speaks PCMU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.peers.audio import alaw_decode, alaw_encode, read_wav, tone_levels
from tests.peers.conftest import centre, eventually
from tests.peers.ports import PortBlock
from tests.peers.rtpsniff import RtpSniffer
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
SEAT_HZ = 880.0


def sdp_answer(run_messages: str) -> str:
    """The 200 OK to the INVITE (with its SDP) in a SIPp trace."""
    for block in run_messages.split("----------------------------------------------- ")[1:]:
        lines = block.split("\n", 2)
        if len(lines) < 3 or "received" not in lines[1]:
            continue
        message = lines[2].lstrip()
        if message.startswith("SIP/2.0 200") and "CSeq: 1 INVITE" in message:
            return message
    return ""


@pytest.mark.parametrize(
    ("name", "payload_type", "rtpmap"),
    [("pcma", 8, "PCMA/8000"), ("g722", 9, "G722/8000")],
)
async def test_single_codec_offers_are_answered_and_bridged(
    ports: PortBlock, tmp_path: Path, name: str, payload_type: int, rtpmap: str
) -> None:
    tone = tmp_path / f"sipp0/tone_{name}.raw"
    tone.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(8000 * 10) / 8000
    # PCMA: a real A-law 440 Hz tone; G.722: the same octets, which decode to noise (we check
    # negotiation and flow there, not pitch)
    tone.write_bytes(alaw_encode(0.3 * np.sin(2 * np.pi * 440 * t)))
    async with centre(ports, tmp_path, 1, farm={"tone_hz": SEAT_HZ}) as (engine, farm):
        sipp = SippCall(
            tmp_path, ports, 0, scenario="uac_codec",
            replacements={"CODEC_PT": str(payload_type), "CODEC_NAME": rtpmap,
                          "TONE_FILE": tone.name},
        )  # fmt: skip
        with RtpSniffer(sipp.media_port) as heard_by_caller:
            run = await sipp.run(30)
        assert run.returncode == 0, run.messages[-2000:]
        answer = sdp_answer(run.messages)
        assert f"RTP/AVP {payload_type}" in answer, answer
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        (record,) = engine.router.finished
        assert record.outcome == "answered"
        ended = await farm.wait_event("seat1", "ended", 5)
        assert ended["rx_packets"] > 100 and ended["tx_packets"] > 100
        assert heard_by_caller.packets > 100
        assert set(heard_by_caller.payload) <= {payload_type, 101}
        if name == "pcma":
            samples, rate = read_wav(Path(ended["recording"]))
            assert tone_levels(samples, rate, [440.0])[440.0] > 0.5  # transcoded to PCMU
            pcm = alaw_decode(bytes(heard_by_caller.payload[payload_type]))
            assert tone_levels(pcm, 8000, [SEAT_HZ])[SEAT_HZ] > 0.5
