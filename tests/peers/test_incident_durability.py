"""kill -9 the engine mid-incident, restart it: the incident is there with every event that was
acknowledged before the kill, and numbering goes on without repeating a number. The engine runs
as `python -m engine.cli run`, on each store backend: the embedded SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.access import AUTH, access_file
from tests.peers.conftest import seat_farm
from tests.peers.ports import PortBlock
from tests.peers.sipp import SippCall

pytestmark = pytest.mark.peers


def config(ports: PortBlock, state: Path, seat_contact: str, store: str, users: Path) -> str:
    return f"""
state_dir = "{state}"
[trunk]
port = {ports.trunk}
[front]
internal_port = {ports.internal}
rpc_port = {ports.rpc}
[pool]
size = 4
warm = 2
sip_port_base = {ports.pool_sip}
rtp_port_base = {ports.pool_rtp}
[http]
port = {ports.http}
[access]
users = "{users}"
[incidents]
city_code = "HZ"
store = "{store}"
[[seats]]
id = "seat1"
contact = "{seat_contact}"
agent = "agent-1"
ready = true
"""


def request(ports: PortBlock, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{ports.http}{path}", data=data, method=method,
        headers={"Content-Type": "application/json", **AUTH},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_9_mid_incident_loses_nothing_acknowledged(
    ports: PortBlock, tmp_path: Path, url: str
) -> None:
    async with seat_farm(ports, tmp_path / "seats", 1) as farm:
        path = tmp_path / "hotline110.toml"
        store = "" if url.startswith("sqlite") else url  # SQLite: the embedded default
        users = access_file(tmp_path / "access.toml")
        path.write_text(config(ports, tmp_path / "var", farm.contact("seat1"), store, users))
        engine = start(path)
        sipp = SippCall(tmp_path, ports, 0, calls=1, hold_ms=30000, timeout_s=40)
        try:
            wait_for(lambda: request(ports, "GET", "/healthz")[0] == 200, 30, "the engine")
            await sipp.start()

            def answered_call() -> dict[str, Any] | None:
                _, calls = request(ports, "GET", "/api/calls")
                live = [c for c in calls if c["answer_seconds"] is not None]
                if not live:
                    return None
                _, view = request(ports, "GET", f"/api/calls/{live[0]['call_id']}")
                return view if view.get("incident") else None

            call = wait_for(answered_call, 15, "an answered call with its incident")
            number = call["incident"]
            wait_for(
                lambda: (
                    "answered"
                    in [
                        e["kind"]
                        for e in request(ports, "GET", f"/api/incidents/{number}")[1]["events"]
                    ]
                ),
                5,
                "the answer to be stored",
            )
            status, note = request(
                ports, "POST", f"/api/incidents/{number}/notes",
                {"text": "caller reports a man with a knife", "actor": "agent-1"},
            )  # fmt: skip
            assert status == 201, note  # acknowledged: it must survive what follows
            engine.send_signal(signal.SIGKILL)
            engine.wait(timeout=10)
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
            if sipp._process is not None and sipp._process.returncode is None:
                sipp._process.kill()
                await sipp._process.wait()

        time.sleep(1.0)  # the front and the members die with the engine (PDEATHSIG)
        engine = start(path)
        try:
            wait_for(lambda: request(ports, "GET", "/healthz")[0] == 200, 30, "the restart")
            status, incident = request(ports, "GET", f"/api/incidents/{number}")
            assert status == 200, incident
            kinds = [e["kind"] for e in incident["events"]]
            assert kinds[:2] == ["opened", "answered"], kinds
            notes = [e for e in incident["events"] if e["kind"] == "note"]
            assert [n["data"]["text"] for n in notes] == ["caller reports a man with a knife"]
            assert [e["seq"] for e in incident["events"]] == list(range(1, len(kinds) + 1))
            assert incident["caller"].startswith("1380000")
            assert incident["ng911_incident_uid"].startswith("urn:emergency:uid:incidentid:")
            # numbering goes on after the restart: the next number is the next in the day
            status, walk_in = request(
                ports, "POST", "/api/incidents",
                {"source": "walk-in", "summary": "bicycle stolen", "actor": "station S-nw"},
            )  # fmt: skip
            assert status == 201, walk_in
            city, day, seq = walk_in["number"].split("-")
            assert (city, day) == tuple(number.split("-")[:2]) and int(seq) == int(number[-6:]) + 1
            engine.send_signal(signal.SIGINT)
            output, _ = engine.communicate(timeout=30)
            assert engine.returncode == 0, output[-2000:]
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
