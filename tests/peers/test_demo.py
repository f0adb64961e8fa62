"""The simulated city from the command line, as a user runs it: `hotline110 demo`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.ports import allocate

pytestmark = pytest.mark.peers
SUMMARY = re.compile(
    r"^offered=(\d+) answered=(\d+) within_3s=(\d+) abandoned=(\d+) failed=(\d+) "
    r"p50_answer_ms=(\d+) p99_answer_ms=(\d+)$"
)


def test_demo_places_the_calls_and_ends_with_the_summary_line(tmp_path: Path) -> None:
    block = allocate(span=4700)  # the demo lays its ports out from --port-base
    config = tmp_path / "demo.toml"
    config.write_text(f'state_dir = "{tmp_path / "var"}"\n[http]\nport = {block.base + 50}\n')
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--config", str(config),
         "--calls", "30", "--rate", "6", "--seats", "40", "--hold", "1-2",
         "--port-base", str(block.base)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, last
    offered, answered, within, abandoned, failed, p50, p99 = map(int, match.groups())
    assert (offered, answered, within, abandoned, failed) == (30, 30, 30, 0, 0), last
    assert 0 < p50 <= p99 < 3000


def test_bad_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[front]\nmode = "embedded"\nrpc_prot = 1\n')
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.startswith(f"hotline110: configuration error: {config}:3: front.rpc_prot:")
