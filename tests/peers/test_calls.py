"""Trunk calls through the real engine: SIPp carrier -> Kamailio front -> pjsua2 pool member
-> ACD -> pjsua2 seat phone, with RTP both ways and the metrics checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.peers.audio import read_wav, tone_levels, ulaw_decode
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.rtpsniff import RtpSniffer
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers
CALLER_HZ, SEAT_HZ = 440.0, 880.0


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by prometheus_client's own parser."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def test_calls_reach_seats_with_audio_both_ways_and_are_counted(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 4, farm={"tone_hz": SEAT_HZ}) as (engine, farm):
        sipp = SippCall(tmp_path, ports, 0, calls=3, rate=2, hold_ms=3000)
        with RtpSniffer(sipp.media_port) as heard_by_caller:
            run = await sipp.run()
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: not engine.router.calls, 10, "calls to end")

        records = sorted(engine.router.finished, key=lambda r: r.offered_at)
        assert [r.outcome for r in records] == ["answered"] * 3
        for record in records:
            assert record.answered_at is not None
            assert record.answered_at - record.offered_at < 3.0
            assert record.caller.startswith("1380000")
        assert len(run.received("SIP/2.0 180")) == 3
        assert len(run.received("SIP/2.0 200")) == 6  # INVITE and BYE, per call

        # caller -> seat: each seat that answered recorded the caller's tone
        ended = [e for e in farm.events if e["kind"] == "ended"]
        assert len(ended) == 3
        for event in ended:
            assert event["rx_packets"] > 100 and event["tx_packets"] > 100, event
            samples, rate = read_wav(Path(event["recording"]))
            assert tone_levels(samples, rate, [CALLER_HZ])[CALLER_HZ] > 0.5, event
        # seat -> caller: the RTP that reached SIPp carries the seats' tone, on every call
        assert heard_by_caller.packets > 300
        streams = [data for (_, kind), data in heard_by_caller.streams.items() if kind == 0]
        assert len(streams) == 3
        for stream in streams:
            pcm = ulaw_decode(bytes(stream))
            assert tone_levels(pcm, 8000, [SEAT_HZ])[SEAT_HZ] > 0.5

        status, text = await http_json(engine, "GET", "/metrics")
        assert status == 200
        values = metric_values(text)
        trunk = (("trunk", "carrier"),)
        assert values[("hotline110_calls_offered_total", trunk)] == 3
        assert values[("hotline110_calls_answered_total", trunk)] == 3
        bucket = (("le", "3.0"), ("trunk", "carrier"))
        assert values[("hotline110_answer_time_seconds_bucket", bucket)] == 3
        assert (
            values[("hotline110_rtp_packets_total", (("direction", "rx"), ("leg", "caller")))] > 300
        )
        assert values[("hotline110_front_up", ())] == 1
        assert (
            values[
                (
                    "hotline110_front_sip_replies_total",
                    (("class", "2xx"), ("kind", "transaction")),
                )
            ]
            >= 6
        )
        assert values[("hotline110_agents", (("state", "talking"),))] == 0
        assert values[("hotline110_pool_members", (("state", "busy"),))] == 0


async def test_seat_hangs_up_first_and_the_caller_gets_a_bye(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2) as (engine, farm):
        for seat in farm.seat_ids():
            await farm.set_behaviour(seat, hangup_after=1.5)
        run = await SippCall(tmp_path, ports, 0, scenario="uac_wait_bye").run()
        assert run.returncode == 0, run.messages[-2000:]
        assert run.received("BYE ")
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        (record,) = engine.router.finished
        assert record.outcome == "answered"


async def test_no_seat_ready_announces_queues_and_the_first_ready_seat_gets_the_oldest_call(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2, ready=False) as (engine, farm):
        first = await SippCall(tmp_path, ports, 0, hold_ms=6000, caller_prefix="111").start()
        await eventually(lambda: len(engine.acd.waiting()) == 1, 10, "first call queued")
        await asyncio.sleep(0.3)
        second = await SippCall(tmp_path, ports, 1, hold_ms=4000, caller_prefix="222").start()
        await eventually(lambda: len(engine.acd.waiting()) == 2, 10, "second call queued")
        # both callers were answered at once with the announcement, and wait in order
        await eventually(
            lambda: all(r.announced_at is not None for r in engine.router.calls.values()),
            3,
            "announcements",
        )
        status, queue = await http_json(engine, "GET", "/api/queue")
        assert status == 200
        assert [entry["caller"][:3] for entry in queue] == ["111", "222"]
        assert queue[0]["wait_seconds"] > queue[1]["wait_seconds"]

        status, seat = await http_json(engine, "POST", "/api/seats/seat2/ready")
        assert (status, seat["state"]) == (200, "reserved")
        oldest = next(r for r in engine.router.calls.values() if r.caller.startswith("111"))
        await eventually(lambda: oldest.seat_id == "seat2", 5, "seat2 to take the oldest call")
        await http_json(engine, "POST", "/api/seats/seat1/ready")
        await eventually(lambda: not engine.acd.waiting(), 5, "the queue to empty")

        assert (await first.finish()).returncode == 0
        assert (await second.finish()).returncode == 0
        await eventually(lambda: not engine.router.calls, 10, "calls to end")
        outcomes = {r.caller[:3]: (r.outcome, r.seat_id) for r in engine.router.finished}
        assert outcomes == {"111": ("answered", "seat2"), "222": ("answered", "seat1")}
        # the seat heard the caller, not the announcement, once connected
        ended = {e["seat"]: e for e in farm.events if e["kind"] == "ended"}
        samples, rate = read_wav(Path(ended["seat2"]["recording"]))
        assert tone_levels(samples, rate, [CALLER_HZ])[CALLER_HZ] > 0.5


async def test_ring_no_answer_moves_the_call_to_the_next_seat(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2, acd={"ring_timeout": 1.0}) as (engine, farm):
        await farm.set_behaviour("seat1", answer="never")
        # seat1 is the longest idle (configured first): it is rung first and stays silent
        run = await SippCall(tmp_path, ports, 0, hold_ms=2000).run()
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        (record,) = engine.router.finished
        assert (record.outcome, record.seat_id) == ("answered", "seat2")
        assert [(seat, what) for _, seat, what in record.rings] == [
            ("seat1", "ringing"),
            ("seat2", "ringing"),
            ("seat2", "answered"),
        ]
        assert record.answered_at is not None and record.answered_at - record.offered_at > 1.0
        cancelled = await farm.wait_event("seat1", "ended", 5)
        assert cancelled is not None


async def test_caller_location_from_pidf_lo_reaches_the_call_record(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 1) as (engine, farm):
        run = await SippCall(tmp_path, ports, 0, scenario="uac_pidflo").run(30)
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: engine.router.finished, 10, "the call to end")
        (record,) = engine.router.finished
        status, view = await http_json(engine, "GET", f"/api/calls/{record.call_id}")
        assert status == 200
        assert view["outcome"] == "answered"
        assert view["location_error"] == ""
        assert view["location"] == {
            "source": "pidf-lo",
            "lat": 31.2353,
            "lon": 121.484,
            "radius_m": 40.0,
            "civic": "CN, Shanghai, Huangpu, Nanjing East Road, 100",
            "method": "Cell",
        }
        # the seat phone got plain SDP (baresip and others refuse multipart bodies)
        assert (await farm.wait_event("seat1", "ended", 5))["answered"]
