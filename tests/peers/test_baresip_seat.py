"""A real softphone as the seat: baresip registers at the front's registrar, the engine rings it
through Kamailio, and audio flows both ways between SIPp (the carrier) and baresip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.settings import SeatSettings
from tests.peers.audio import read_wav, tone_levels, ulaw_decode
from tests.peers.baresip import BaresipPhone
from tests.peers.conftest import eventually, running, settings_for
from tests.peers.ports import PortBlock
from tests.peers.rtpsniff import RtpSniffer
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
SEAT_HZ = 1320.0


async def test_registered_baresip_seat_answers_trunk_calls(
    ports: PortBlock, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        settings_for(ports, tmp_path / "var", []),
        seats=(SeatSettings(id="desk9", registered="desk9", agent="agent-9", ready=True),),
    )
    sip_port, ctrl_port, rtp = ports.baresip
    async with running(settings) as engine:
        phone = BaresipPhone(
            tmp_path / "baresip",
            user="desk9",
            sip_port=sip_port,
            ctrl_port=ctrl_port,
            rtp_ports=rtp,
            registrar=f"127.0.0.1:{ports.internal}",
            tone_hz=SEAT_HZ,
        )
        async with phone:
            await phone.registered()
            sipp = SippCall(tmp_path, ports, 0, hold_ms=3000)
            with RtpSniffer(sipp.media_port) as heard_by_caller:
                run = await sipp.run(30)
            assert run.returncode == 0, run.messages[-2000:]
            await phone.wait_event("CALL_ESTABLISHED", 5)
            await phone.wait_event("CALL_CLOSED", 5)  # the caller's BYE reached the phone
            await eventually(lambda: not engine.router.calls, 10, "the call to end")
            (record,) = engine.router.finished
            assert (record.outcome, record.seat_id) == ("answered", "desk9")
            assert record.answered_at is not None and record.answered_at - record.offered_at < 3.0

            # RTP both ways: baresip's own counters, and what each side actually heard
            (tx, rx), *_ = phone.rtp_packets()
            assert tx > 100 and rx > 100, phone.rtp_packets()
            heard = max(phone.recordings, key=lambda p: p.stat().st_size)
            samples, rate = read_wav(heard)
            assert tone_levels(samples, rate, [440.0])[440.0] > 0.5
            pcm = ulaw_decode(bytes(heard_by_caller.payload[0]))
            assert tone_levels(pcm, 8000, [SEAT_HZ])[SEAT_HZ] > 0.5
