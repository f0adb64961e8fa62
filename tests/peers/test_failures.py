"""What goes wrong, with real peers: a pool member killed mid-call, overload, strangers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest

from sip.slots import SlotState
from tests.peers.conftest import centre, eventually, http_json
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall
from tests.peers.test_calls import metric_values

pytestmark = pytest.mark.peers


async def test_member_killed_mid_call_loses_that_call_only(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 3) as (engine, farm):
        victim = await SippCall(
            tmp_path, ports, 0, scenario="uac_wait_bye", caller_prefix="999"
        ).start()
        others = [
            await SippCall(tmp_path, ports, n, hold_ms=7000, caller_prefix=f"{n}{n}{n}").start()
            for n in (1, 2)
        ]
        await eventually(
            lambda: sum(r.answered_at is not None for r in engine.router.calls.values()) == 3,
            10,
            "three connected calls",
        )
        doomed = next(r for r in engine.router.calls.values() if r.caller.startswith("999"))
        seat = doomed.seat_id
        assert engine.pool.kill_member(doomed.call_id) > 0

        # the caller hears a BYE (the front ends the dead member's dialogs), not silence
        run = await victim.finish(30)
        assert run.returncode == 0, run.messages[-2000:]
        await eventually(lambda: doomed.outcome == "failed", 5, "the call marked failed")
        assert "killed by signal 9" in doomed.reason
        # its seat phone was hung up too, and the seat is free again
        await farm.wait_event(seat, "ended", 5)
        await eventually(
            lambda: engine.acd.seat(seat).state.name in ("READY", "WRAP_UP"), 5, "seat freed"
        )
        # every other call went on untouched
        for sipp in others:
            assert (await sipp.finish(30)).returncode == 0
        await eventually(lambda: not engine.router.calls, 10, "calls to end")
        outcomes = sorted(r.outcome for r in engine.router.finished)
        assert outcomes == ["answered", "answered", "failed"]
        # the slot was refilled
        assert engine.pool.core.restarts == 1
        await eventually(
            lambda: engine.pool.core.count(SlotState.WARM) >= 4, 5, "warm reserve refilled"
        )
        _, text = await http_json(engine, "GET", "/metrics")
        values = metric_values(text)
        assert values[("hotline110_pool_member_restarts_total", ())] == 1
        key = (
            "hotline110_calls_failed_total",
            (("reason", "member-died"), ("trunk", "carrier")),
        )
        assert values[key] == 1


async def test_pool_exhausted_gets_503_with_retry_after(ports: PortBlock, tmp_path: Path) -> None:
    async with centre(ports, tmp_path, 3, pool={"size": 2, "warm": 2}) as (engine, _farm):
        calls = [await SippCall(tmp_path, ports, n, hold_ms=5000).start() for n in (0, 1)]
        await eventually(
            lambda: engine.pool.core.count(SlotState.BUSY) == 2, 10, "both members busy"
        )
        refused = await SippCall(tmp_path, ports, 2, scenario="uac_refused", expect_status=503).run(
            30
        )
        assert refused.returncode == 0, refused.messages[-2000:]
        (reply,) = refused.received("SIP/2.0 503")
        assert "Retry-After: 10" in reply
        _status, text = await http_json(engine, "GET", "/metrics")
        assert metric_values(text)[("hotline110_front_refusals_total", (("reason", "no-member"),))] == 1  # fmt: skip
        for sipp in calls:
            assert (await sipp.finish(30)).returncode == 0
        # the pool recovers by itself once the calls end
        await eventually(
            lambda: engine.pool.core.count(SlotState.WARM) == 2, 10, "members recycled"
        )
        assert (await SippCall(tmp_path, ports, 3, hold_ms=500).run(30)).returncode == 0


async def test_full_queue_gets_503_with_retry_after_from_the_engine(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(
        ports, tmp_path, 1, ready=False, acd={"max_waiting": 1, "retry_after": 7}
    ) as (engine, _farm):
        waiting = await SippCall(tmp_path, ports, 0, hold_ms=3000).start()
        await eventually(lambda: len(engine.acd.waiting()) == 1, 10, "one call waiting")
        refused = await SippCall(tmp_path, ports, 1, scenario="uac_refused", expect_status=503).run(
            30
        )
        assert refused.returncode == 0, refused.messages[-2000:]
        (reply,) = refused.received("SIP/2.0 503")
        assert "Retry-After: 7" in reply
        await http_json(engine, "POST", "/api/seats/seat1/ready")
        assert (await waiting.finish(30)).returncode == 0
        await eventually(lambda: not engine.router.calls, 10, "calls to end")
        outcomes = sorted(r.outcome for r in engine.router.finished)
        assert outcomes == ["answered", "refused"]
        _, text = await http_json(engine, "GET", "/metrics")
        key = (
            "hotline110_calls_failed_total",
            (("reason", "queue-full"), ("trunk", "carrier")),
        )
        assert metric_values(text)[key] == 1


async def test_sources_outside_the_allow_list_get_403(ports: PortBlock, tmp_path: Path) -> None:
    async with centre(ports, tmp_path, 1, trunk={"allow": ("127.0.0.1/32",)}) as (engine, _farm):
        stranger = SippCall(
            tmp_path, ports, 0, scenario="uac_refused", expect_status=403, source_ip="127.0.0.2"
        )
        run = await stranger.run(30)
        assert run.returncode == 0, run.messages[-2000:]
        assert engine.router.tally.offered == 0  # it never reached the pool
        # the carrier still gets through
        assert (await SippCall(tmp_path, ports, 1, hold_ms=500).run(30)).returncode == 0
        await asyncio.sleep(0)


async def test_front_killed_is_restarted_and_calls_go_on(ports: PortBlock, tmp_path: Path) -> None:
    async with centre(ports, tmp_path, 2) as (engine, _farm):
        assert (await SippCall(tmp_path, ports, 0, hold_ms=500).run(30)).returncode == 0
        pid = int((engine.run_dir / "front" / "kamailio.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: engine.front.restarts == 1 and engine.front.up, 20, "restart")
        # the new front lists every member inactive: the engine re-announces the idle ones
        await asyncio.sleep(0.5)
        assert (await SippCall(tmp_path, ports, 1, hold_ms=500).run(30)).returncode == 0
        _, text = await http_json(engine, "GET", "/metrics")
        assert metric_values(text)[("hotline110_front_restarts_total", ())] == 1


async def test_drain_refuses_new_calls_and_lets_calls_in_progress_finish(
    ports: PortBlock, tmp_path: Path
) -> None:
    async with centre(ports, tmp_path, 2) as (engine, _farm):
        talking = await SippCall(tmp_path, ports, 0, hold_ms=4000).start()
        await eventually(
            lambda: any(r.answered_at for r in engine.router.calls.values()), 10, "a call up"
        )
        draining = asyncio.create_task(engine.pool.drain(30.0))
        await eventually(lambda: engine.pool.core.count(SlotState.WARM) == 0, 10, "no idle")
        refused = await SippCall(tmp_path, ports, 1, scenario="uac_refused", expect_status=503).run(
            30
        )
        assert refused.returncode == 0, refused.messages[-2000:]
        (reply,) = refused.received("SIP/2.0 503")
        assert "Retry-After: 10" in reply
        assert (await talking.finish(30)).returncode == 0  # the call in progress went on
        assert await draining == 0
        (record,) = engine.router.finished
        assert record.outcome == "answered"


async def test_a_flooding_source_is_stopped_at_the_front(ports: PortBlock, tmp_path: Path) -> None:
    async with centre(
        ports, tmp_path, 1, trunk={"allow": ("127.0.0.0/8",)}, front={"per_source_rate": 20}
    ) as (engine, _farm):
        loop = asyncio.get_running_loop()
        replies: list[bytes] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
            flood.bind(("127.0.0.3", 0))
            flood.setblocking(False)
            # room for all 200 replies at once: a loopback datagram takes ~2 KiB of buffer, and
            # the default 208 KiB drops replies whenever this loaded loop reads them late
            force = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; root may pass rmem_max
            try:
                flood.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
            except PermissionError:
                flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            port = flood.getsockname()[1]
            for n in range(200):  # 200 requests in well under a second from one address
                flood.sendto(
                    (f"OPTIONS sip:110@127.0.0.1:{ports.trunk} SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP 127.0.0.3:{port};branch=z9hG4bKflood{n}\r\n"
                     f"From: <sip:x@127.0.0.3>;tag={n}\r\nTo: <sip:110@127.0.0.1>\r\n"
                     f"Call-ID: flood{n}@127.0.0.3\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                     "Content-Length: 0\r\n\r\n").encode(),
                    ("127.0.0.1", ports.trunk),
                )  # fmt: skip
            # every request is answered (200 or 503): wait for all of them, not for a fixed
            # second (a loaded machine answers the last ones later, and the count must match)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    while len(replies) < 200:
                        replies.append(await loop.sock_recv(flood, 4096))
        codes = [reply.split(b" ", 2)[1] for reply in replies]
        assert codes.count(b"200") < 60 and codes.count(b"503") > 100, codes[:10]
        assert all(b"Retry-After:" in r for r in replies if r.split(b" ", 2)[1] == b"503")
        _status, text = await http_json(engine, "GET", "/metrics")
        flood_refusals = metric_values(text)[("hotline110_front_refusals_total", (("reason", "flood"),))]  # fmt: skip
        assert flood_refusals == codes.count(b"503")
        # the carrier at its own address is not affected
        assert (await SippCall(tmp_path, ports, 0, hold_ms=500).run(30)).returncode == 0
        assert engine.router.tally.offered == 1
