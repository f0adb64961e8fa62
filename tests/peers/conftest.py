"""Fixtures for tests with real peers: a running engine (Kamailio front + pjsua2 pool), a seat
farm of pjsua2 phones, SIPp callers. Every test gets its own block of ports below 32768."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.app import Engine
from engine.settings import (
    AccessSettings,
    AcdSettings,
    DispatchSettings,
    FrontSettings,
    HttpSettings,
    IncidentSettings,
    PoolSettings,
    RecordingSettings,
    SeatSettings,
    Settings,
    TrunkSettings,
)
from engine.settings_webrtc import WebrtcSettings
from tests.access import AUTH, Users, access_file
from tests.peers.ports import PortBlock, allocate
from tests.peers.postgres import Postgres


@pytest.fixture
def ports() -> PortBlock:
    return allocate()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL 15 cluster for the session (a fresh database per test)."""
    # base+1395: unused by the port layout (Mosquitto takes base+1390, officers up to +1380).
    with Postgres(allocate().base + 1395) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The incident store of a test run on both backends: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/incidents.db"
    cluster: Postgres = request.getfixturevalue("postgres")
    return await cluster.create_database()


def settings_for(
    ports: PortBlock,
    state_dir: Path,
    seats: list[tuple[str, str]],
    *,
    ready: bool = True,
    pool: dict[str, Any] | None = None,
    acd: dict[str, Any] | None = None,
    trunk: dict[str, Any] | None = None,
    front: dict[str, Any] | None = None,
    dispatch: dict[str, Any] | None = None,
    recording: dict[str, Any] | None = None,
    incidents: dict[str, Any] | None = None,
    users: Users | None = None,
    webrtc: dict[str, Any] | None = None,
) -> Settings:
    """Embedded defaults on this test's ports, with `seats` = [(seat_id, contact)]; the REST
    API takes the test service token (`tests.access.AUTH`) and `users`."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    users_file = access_file(state_dir.parent / f"{state_dir.name}-access.toml", users)
    return Settings(
        access=AccessSettings(users=str(users_file)),
        state_dir=str(state_dir),
        log_level="DEBUG",
        trunk=TrunkSettings(port=ports.trunk, **(trunk or {})),
        front=FrontSettings(internal_port=ports.internal, rpc_port=ports.rpc, **(front or {})),
        pool=PoolSettings(
            **{
                "size": 8,
                "warm": 4,
                "sip_port_base": ports.pool_sip,
                "rtp_port_base": ports.pool_rtp,
                **(pool or {}),
            }
        ),
        acd=AcdSettings(**{"wrap_up": 0.5, **(acd or {})}),
        http=HttpSettings(port=ports.http),
        dispatch=DispatchSettings(**(dispatch or {})),
        recording=RecordingSettings(**(recording or {})),
        incidents=IncidentSettings(**(incidents or {})),
        webrtc=WebrtcSettings(**{"port_base": ports.webrtc, **(webrtc or {})}),
        seats=tuple(
            SeatSettings(id=seat_id, contact=contact, agent=f"agent-{seat_id}", ready=ready)
            for seat_id, contact in seats
        ),
    )


@contextlib.asynccontextmanager
async def running(settings: Settings, city: Any = None) -> AsyncIterator[Engine]:
    """An engine started in this event loop; stopped (and its run task checked) on exit."""
    engine = Engine(settings, city)
    await engine.start()
    task = asyncio.create_task(engine.run())
    try:
        yield engine
        assert not task.done() or task.cancelled(), f"engine stopped: {task.exception()!r}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await engine.stop()


@contextlib.asynccontextmanager
async def seat_farm(
    ports: PortBlock, workdir: Path, seats: int, **options: Any
) -> AsyncIterator[Any]:
    from demo.seatfarm import SeatFarm

    farm = SeatFarm(
        seats=seats,
        sip_port_base=ports.seats_sip,
        rtp_port_base=ports.seats_rtp,
        workdir=workdir,
        **{"answer_delay": (0.1, 0.3), "record": True, **options},
    )
    await farm.start()
    try:
        yield farm
    finally:
        await farm.stop()


@contextlib.asynccontextmanager
async def centre(
    ports: PortBlock,
    tmp_path: Path,
    seats: int,
    farm: dict[str, Any] | None = None,
    city: Any = None,
    **options: Any,
) -> AsyncIterator[tuple[Engine, Any]]:
    """A seat farm of `seats` pjsua2 phones and an engine whose seats they are, both running."""
    async with seat_farm(ports, tmp_path / "seats", seats, **(farm or {})) as phones:
        contacts = [(seat, phones.contact(seat)) for seat in phones.seat_ids()]
        settings = settings_for(ports, tmp_path / "var", contacts, **options)
        async with running(settings, city) as engine:
            yield engine, phones


async def http_json(engine: Engine, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    http = engine.settings.http
    async with (
        aiohttp.ClientSession(headers=AUTH) as session,
        session.request(method, f"http://{http.address}:{http.port}{path}", json=body) as response,
    ):
        data = (
            await response.json(content_type=None) if path != "/metrics" else await response.text()
        )
        return response.status, data


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll `check()` until it returns a truthy value (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        await asyncio.sleep(0.05)


def replace_acd(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, acd=dataclasses.replace(settings.acd, **changes))
