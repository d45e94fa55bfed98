"""SIGTERM and Ctrl-C in the middle of a run: partial results, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.support import REPO


def _servers() -> int:
    out = subprocess.run(["pgrep", "-f", "bench.s3._server_child"], capture_output=True, text=True)
    return len(out.stdout.split())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_writes_partial_results_and_cleans_up(tmp_path, signum):
    scenario = tmp_path / "slow.toml"
    volume_root = tmp_path / "vol"
    scenario.write_text(
        f"""
[dataset]
objects = 40
prefix = "slow/"
[dataset.sizes]
distribution = "fixed"
size = "64KiB"
[cluster]
hosts = 2
nic_bandwidth = "200KB/s"
[distribution]
type = "ShardedByS3Key"
[storage]
volume_root = "{volume_root}"
[modes]
run = ["pipe"]
"""
    )
    servers_before = _servers()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(scenario), "--results", str(tmp_path / "r")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # Wait until the hosts are streaming (a FIFO exists), then interrupt.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(volume_root.glob("*/host-*/train_0")):
        time.sleep(0.05)
    assert list(volume_root.glob("*/host-*/train_0")), "the run never started streaming"
    time.sleep(2.5)  # a few objects complete (each host streams 1.3 MB at 200 KB/s)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    events = pd.read_parquet(run_dir / "events.parquet")
    assert len(events) > 0  # what was measured before the signal is kept
    assert not list(volume_root.glob("*")), "volumes or FIFOs left behind"
    time.sleep(0.5)
    assert _servers() == servers_before, "embedded server left running"
