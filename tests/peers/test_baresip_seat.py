"""A real softphone as the seat: baresip registers at the front's registrar, the engine rings it
through Kamailio, and audio flows both ways between SIPp (the carrier) and baresip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from acd.seats import SeatState
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


async def test_a_registered_seat_whose_softphone_died_is_ready_again_when_it_registers(
    ports: PortBlock, tmp_path: Path
) -> None:
    """Kill the seat's softphone mid-call: the seat leaves TALKING by itself, the caller hears
    the announcement; start the phone again: it registers, the seat is READY again with no one
    touching it, and the waiting caller is connected to it."""
    base = settings_for(ports, tmp_path / "var", [])
    settings = dataclasses.replace(
        base,
        seats=(SeatSettings(id="desk9", registered="desk9", agent="agent-9", ready=True),),
        pool=dataclasses.replace(base.pool, seat_media_timeout=2.0),
        acd=dataclasses.replace(base.acd, parallel_after=0.0),
    )
    sip_port, ctrl_port, rtp = ports.baresip

    def phone() -> BaresipPhone:
        return BaresipPhone(
            tmp_path / "baresip", user="desk9", sip_port=sip_port, ctrl_port=ctrl_port,
            rtp_ports=rtp, registrar=f"127.0.0.1:{ports.internal}", tone_hz=SEAT_HZ,
        )  # fmt: skip

    async with running(settings) as engine:
        async with phone() as first:
            await first.registered()
            caller = await SippCall(tmp_path, ports, 0, hold_ms=20_000).start()
            await first.wait_event("CALL_ESTABLISHED", 10)
            record = next(iter(engine.router.calls.values()))
            await eventually(
                lambda: engine.acd.seat("desk9").state is SeatState.TALKING, 5, "talking"
            )
            first.kill()  # SIGKILL: no BYE, no unregistration
        await eventually(
            lambda: engine.acd.seat("desk9").reason == "phone-lost", 8, "the seat freed"
        )
        assert engine.acd.seat("desk9").state is SeatState.NOT_READY
        assert [w.call_id for w in engine.acd.waiting()] == [record.call_id]  # still on the line
        async with phone() as second:
            await second.registered()
            await second.wait_event("CALL_ESTABLISHED", 10)  # READY by itself, and rung
            await eventually(
                lambda: engine.acd.seat("desk9").state is SeatState.TALKING, 5, "talking again"
            )
            assert [seat for _, seat, _ in record.seats_lost] == ["desk9"]
            run = await caller.finish(40)
            assert run.returncode == 0, run.messages[-2000:]  # the caller was never cut off
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        assert record.outcome == "answered"
        history = [(to, why) for _, _, to, why in engine.acd.seat("desk9").history]
        assert (SeatState.NOT_READY, "phone-lost") in history
        assert (SeatState.READY, "phone back") in history
