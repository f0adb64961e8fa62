"""The simulated city from the command line, as a user runs it: `hotline110 demo`."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from incidents.store import Incident, open_store
from tests.access import AUTH, access_file
from tests.peers.ports import allocate

pytestmark = pytest.mark.peers
SUMMARY = re.compile(
    r"^offered=(\d+) answered=(\d+) within_3s=(\d+) abandoned=(\d+) failed=(\d+) "
    r"p50_answer_ms=(\d+) p99_answer_ms=(\d+) bridged=(\d+) within_30s=(\d+) p99_bridge_ms=(\d+)$"
)


def test_demo_places_the_calls_dispatches_half_and_ends_with_the_summary_line(
    tmp_path: Path,
) -> None:
    """Calls hold 3-4 s: a dispatch follows the answer, and the officer picks up in 0.5-2.5 s."""
    block = allocate(span=4700)  # the demo lays its ports out from --port-base
    config = tmp_path / "demo.toml"
    config.write_text(f'state_dir = "{tmp_path / "var"}"\n[http]\nport = {block.base + 50}\n')
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--config", str(config),
         "--calls", "30", "--rate", "6", "--seats", "40", "--hold", "3-4",
         "--dispatch-share", "0.5", "--port-base", str(block.base)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, last
    offered, answered, within, abandoned, failed, p50, p99, bridged, within_30s, p99_bridge = map(
        int, match.groups()
    )
    assert (offered, answered, within, abandoned, failed) == (30, 30, 30, 0, 0), last
    assert 0 < p50 <= p99 < 3000
    assert bridged > 0 and within_30s == bridged, last
    assert 0 < p99_bridge < 30000, last
    # every caller said where they were (a PIDF-LO): each incident is placed in the city
    incidents = asyncio.run(stored(tmp_path / "var" / "incidents.db"))
    assert len(incidents) == 30
    assert all(i.location and i.grid and i.station for i in incidents), incidents[0]


async def stored(db: Path) -> list[Incident]:
    async with open_store(f"sqlite:///{db}") as store:
        page, _ = await store.query(limit=100)
        return page


def test_bad_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[front]\nmode = "embedded"\nrpc_prot = 1\n')
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.startswith(f"hotline110: configuration error: {config}:3: front.rpc_prot:")


def test_run_with_the_shipped_config_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`hotline110 run --config config/hotline110.toml`, moved onto free ports."""
    import signal
    import time
    import urllib.error
    import urllib.request

    block = allocate(span=1700)
    text = (Path(__file__).parents[2] / "config" / "hotline110.toml").read_text()
    for old, new in (
        ("port = 5060", f"port = {block.base}"),
        ("internal_port = 5070", f"internal_port = {block.base + 2}"),
        ("rpc_port = 5072", f"rpc_port = {block.base + 4}"),
        ("port = 8110", f"port = {block.base + 6}"),
        ("sip_port_base = 21000", f"sip_port_base = {block.base + 10}"),
        ("rtp_port_base = 23000", f"rtp_port_base = {block.base + 200}"),
        ('state_dir = "var"', f'state_dir = "{tmp_path / "var"}"'),
        ('users = ""', f'users = "{access_file(tmp_path / "access.toml")}"'),
    ):
        assert old in text
        text = text.replace(old, new)
    config = tmp_path / "hotline110.toml"
    config.write_text(text)
    engine = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and engine.poll() is None:
            try:
                url = f"http://127.0.0.1:{block.base + 6}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    health = response.status
                    break
            except OSError:
                time.sleep(0.2)
        assert health == 200
        url = f"http://127.0.0.1:{block.base + 6}/api/seats"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=2)
        assert refused.value.code == 401  # the REST API is closed to strangers
        with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=2) as reply:
            seats = __import__("json").loads(reply.read())
        assert len(seats) == 100 and seats[0]["state"] == "logged-out"
        front_pid = int((tmp_path / "var" / "front" / "kamailio.pid").read_text())
        engine.send_signal(signal.SIGINT)
        output, _ = engine.communicate(timeout=30)
        assert engine.returncode == 0, output[-2000:]
        assert "hotline110 up: trunk" in output
        assert not Path(f"/proc/{front_pid}").exists()  # the front went down with the engine
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
