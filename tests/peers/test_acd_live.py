"""The ACD with real phones: a seat phone killed mid-call (the seat recovers by itself and the
caller gets another call-taker), the 3 s guard ringing two seats at once, and supervisor
controls over REST."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

from acd.seats import SeatState
from tests.peers.conftest import centre, eventually, http_json, running, seat_farm, settings_for
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall
from tests.peers.test_calls import metric_values

pytestmark = pytest.mark.peers


async def test_a_seat_phone_killed_mid_call_frees_the_seat_and_the_caller_gets_another(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(
        ports,
        tmp_path,
        2,
        farm={"per_process": 1},  # one process per phone: kill exactly one
        pool={"seat_media_timeout": 2.0},
        acd={"parallel_after": 0.0},
    ) as (engine, farm):
        caller = await SippCall(tmp_path, ports, 0, hold_ms=12_000).start()
        record = await eventually(
            lambda: next((r for r in engine.router.calls.values() if r.answered_at), None),
            10,
            "the call connected",
        )
        first = record.seat_id
        other = next(seat for seat in farm.seat_ids() if seat != first)
        assert engine.acd.seat(first).state is SeatState.TALKING
        # the phone dies without a BYE: nothing in SIP tells the engine
        worker = farm.seat_ids().index(first)
        os.kill(farm.worker_pids()[worker], signal.SIGKILL)

        # no RTP from it for 2 s: its leg is dropped, the seat leaves TALKING by itself...
        await eventually(
            lambda: engine.acd.seat(first).state is SeatState.NOT_READY, 6, "seat freed"
        )
        assert engine.acd.seat(first).reason == "phone-lost"
        # ...and the caller, who never left, is connected to the other seat
        await eventually(lambda: record.seat_id == other, 6, "the caller re-offered")
        assert engine.acd.seat(other).state is SeatState.TALKING
        assert [seat for _, seat, _ in record.seats_lost] == [first]
        run = await caller.finish(30)
        assert run.returncode == 0, run.messages[-2000:]  # the caller's call was never cut
        await eventually(lambda: not engine.router.calls, 10, "the call to end")
        assert record.outcome == "answered"
        assert engine.pool.core.restarts == 0
        status, text = await http_json(engine, "GET", "/metrics")
        assert status == 200
        assert metric_values(text)[("hotline110_seat_legs_lost_total", ())] == 1.0
        # the dead phone is never rung again while its seat is not ready
        await eventually(lambda: engine.acd.seat(other).state is SeatState.READY, 5, "wrap-up")
        again = await SippCall(tmp_path, ports, 1, hold_ms=500).run(30)
        assert again.returncode == 0, again.messages[-2000:]
        await eventually(lambda: len(engine.router.finished) == 2, 10, "the second call to end")
        assert engine.router.finished[-1].seat_id == other
        assert engine.acd.seat(first).state is SeatState.NOT_READY


async def test_the_3s_guard_rings_a_second_seat_when_the_first_is_silent(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(
        ports,
        tmp_path,
        2,
        farm={"answer_delay": (0.6, 0.6)},
        acd={"parallel_after": 0.5, "ring_timeout": 8.0},
    ) as (engine, farm):
        silent, answering = farm.seat_ids()
        await farm.set_behaviour(silent, answer="never")
        run = await SippCall(tmp_path, ports, 0, hold_ms=500).run(30)
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: engine.router.finished, 10, "the call to end")
        (record,) = engine.router.finished
        # without the guard this caller would have waited 8 s for the silent phone
        assert record.seat_id == answering
        assert record.answered_at is not None
        assert record.answered_at - record.offered_at < 3.0
        rung = [(seat, what) for _, seat, what in record.rings]
        assert rung[:2] == [(silent, "ringing"), (answering, "ringing")]
        # the silent phone was cancelled cleanly, not left ringing
        await farm.wait_event(silent, "ended", 5)
        await eventually(
            lambda: engine.acd.seat(silent).state is SeatState.READY, 5, "silent seat free"
        )
        assert engine.acd.seat(silent).missed == 0  # losing a race is not a miss
        status, text = await http_json(engine, "GET", "/metrics")
        assert status == 200
        assert metric_values(text)[("hotline110_parallel_ring_wins_total", ())] == 1.0


async def test_supervisor_forces_a_ringing_seat_not_ready_and_the_call_moves_on(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2, acd={"parallel_after": 0.0, "announce_after": 0.5}) as (
        engine,
        farm,
    ):
        first, second = farm.seat_ids()
        await farm.set_behaviour(first, answer="never")
        await farm.set_behaviour(second, answer="never")
        caller = await SippCall(tmp_path, ports, 0, hold_ms=500).start()
        await eventually(lambda: engine.acd.seat(first).state is SeatState.RESERVED, 10, "ring")
        status, queue = await http_json(engine, "GET", "/api/queue")
        assert status == 200 and queue[0]["ringing"] == [first] and queue[0]["wait_seconds"] >= 0
        await farm.set_behaviour(second, answer="auto")
        status, seat = await http_json(
            engine, "POST", f"/api/supervisor/seats/{first}/not-ready", {"reason": "headset"}
        )
        assert status == 200 and (seat["state"], seat["reason"]) == ("not-ready", "headset")
        run = await caller.finish(30)
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: engine.router.finished, 10, "the call to end")
        assert engine.router.finished[-1].seat_id == second
        await farm.wait_event(first, "ended", 5)  # its ringing phone was cancelled
        # skills and queues change at run time
        status, seat = await http_json(
            engine, "PUT", f"/api/seats/{second}/skills", {"skills": {"lang:yue": 7}}
        )
        assert status == 200 and seat["skills"] == {"lang:yue": 7}
        status, error = await http_json(
            engine, "PUT", f"/api/seats/{second}/skills", {"skills": {"x": 1000}}
        )
        assert status == 400 and "0..100" in error["error"]
        status, queues = await http_json(engine, "GET", "/api/queues")
        assert status == 200 and queues[0]["queue"] == "main" and queues[0]["staffed"] == 2


async def test_a_caller_asking_for_cantonese_reaches_the_cantonese_speaker(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with seat_farm(ports, tmp_path / "seats", 3) as farm:
        settings = settings_for(
            ports, tmp_path / "var", [(s, farm.contact(s)) for s in farm.seat_ids()]
        )
        speaker = farm.seat_ids()[-1]  # longest-idle alone would pick the first seat
        seats = tuple(
            dataclasses.replace(seat, skills={"lang:yue": 8}) if seat.id == speaker else seat
            for seat in settings.seats
        )
        async with running(dataclasses.replace(settings, seats=seats)) as engine:
            run = await SippCall(
                tmp_path, ports, 0, scenario="uac_codec",
                replacements={
                    "CODEC_PT": "0", "CODEC_NAME": "PCMU/8000", "TONE_FILE": "tone_pcmu.raw",
                    # RFC 8373: the caller will speak (and wants to hear) Cantonese
                    "a=sendrecv": "a=sendrecv\n      a=hlang-send:yue\n      a=hlang-recv:yue",
                },
            ).run(30)  # fmt: skip
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: engine.router.finished, 10, "the call to end")
            (record,) = engine.router.finished
            assert record.skills == ("lang:yue",)
            assert (record.outcome, record.seat_id) == ("answered", speaker)


async def test_a_call_waiting_too_long_overflows_to_the_neighbouring_centre(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with seat_farm(ports, tmp_path / "seats", 2) as farm:
        ours, neighbour = farm.seat_ids()
        base = settings_for(ports, tmp_path / "var", [(ours, farm.contact(ours))], ready=False)
        queue = dataclasses.replace(
            base.acd.queues[0], max_wait=1.0, overflow=farm.contact(neighbour)
        )
        settings = dataclasses.replace(
            base, acd=dataclasses.replace(base.acd, queues=(queue,), announce_after=0.5)
        )
        async with running(settings) as engine:
            # the caller stays 4 s after the announcement answered them
            run = await SippCall(tmp_path, ports, 0, hold_ms=4000).run(30)
            assert run.returncode == 0, run.messages[-2000:]
            await eventually(lambda: engine.router.finished, 10, "the call to end")
            (record,) = engine.router.finished
            # nobody here was ready: after 1 s the neighbouring centre's number rang and answered
            assert record.outcome == "overflowed" and record.seat_id == "overflow:main"
            assert record.announced_at is not None  # the caller heard the announcement first
            await farm.wait_event(neighbour, "ended", 5)
            status, text = await http_json(engine, "GET", "/metrics")
            assert status == 200
            values = metric_values(text)
            assert values[("hotline110_overflows_total", (("queue", "main"),))] == 1.0
            assert values[("hotline110_queue_wait_seconds_count", (("outcome", "overflowed"), ("queue", "main")))] == 1.0  # fmt: skip


async def test_admission_refuses_by_expected_wait_with_503_and_retry_after(
    ports: PortBlock, tmp_path: Path
) -> None:
    # one call-taker, on a break; calls take about 60 s each: the first caller may wait (an
    # expected 60 s), a second would wait 120 s, past the 90 s the queue accepts
    async with centre(
        ports, tmp_path, 1, ready=False,
        acd={"default_handle_time": 60.0, "max_waiting": 50, "retry_after": 12},
    ) as (engine, farm):  # fmt: skip
        waiting = await SippCall(tmp_path, ports, 0, scenario="uac_wait_bye").start()
        await eventually(lambda: engine.acd.waiting(), 10, "the first call queued")
        refused = await SippCall(tmp_path, ports, 1, scenario="uac_refused", expect_status=503).run(
            30
        )
        assert refused.returncode == 0, refused.messages[-2000:]
        (reply,) = refused.received("SIP/2.0 503")
        assert "Retry-After: 12" in reply
        status, text = await http_json(engine, "GET", "/metrics")
        assert status == 200
        assert metric_values(text)[("hotline110_admissions_refused_total", (("reason", "expected-wait"),))] == 1.0  # fmt: skip
        status, queues = await http_json(engine, "GET", "/api/queues")
        assert queues[0]["expected_wait_seconds"] == 120.0
        # the waiting caller is served when the call-taker comes back
        status, _seat = await http_json(engine, "POST", "/api/seats/seat1/ready")
        assert status == 200
        await eventually(lambda: engine.router.tally.answered == 1, 10, "the first call answered")
        await farm.hang_up("seat1")
        assert (await waiting.finish(30)).returncode == 0
