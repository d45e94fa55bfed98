"""SIGTERM, SIGHUP and Ctrl-C in any phase of a command: out within 2 s, partial results,
nothing left behind; and the embedded server never outlives its parent, however it died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.support import REPO

STOP_WITHIN_S = 2.0


def _children(pid: int) -> list[int]:
    """The direct children of ``pid``, from its own process tree (never a system-wide search:
    other commands on this machine run servers too)."""
    found = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in listing.read_text().split()]
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and has not exited (a zombie has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.02)
    return [pid for pid in pids if _running(pid)]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(condition, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    assert condition(), f"never got to: {what}"


def _stop(process: subprocess.Popen, signum: int) -> tuple[float, str, str]:
    """Send ``signum``; the seconds until the process exited, and its output."""
    process.send_signal(signum)
    sent = time.monotonic()
    try:
        process.wait(timeout=60)
    finally:
        stopped_s = time.monotonic() - sent
        if process.poll() is None:
            process.kill()
    stdout, stderr = process.communicate()
    return stopped_s, stdout, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
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
    process = _start(["run", str(scenario), "--results", str(tmp_path / "r")])
    # Wait until the hosts are streaming (a FIFO exists), then interrupt.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(volume_root.glob("*/host-*/train_0")):
        time.sleep(0.05)
    assert list(volume_root.glob("*/host-*/train_0")), "the run never started streaming"
    time.sleep(2.5)  # a few objects complete (each host streams 1.3 MB at 200 KB/s)
    servers = _children(process.pid)
    stopped_s, stdout, stderr = _stop(process, signum)
    assert process.returncode == 130, stderr
    assert stopped_s < STOP_WITHIN_S
    assert "Traceback" not in stderr and "interrupted" in stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    events = pd.read_parquet(run_dir / "events.parquet")
    assert len(events) > 0  # what was measured before the signal is kept
    assert not list(volume_root.glob("*")), "volumes or FIFOs left behind"
    assert servers and not _wait_gone(servers, 0.5), "embedded server left running"


SLOW_PIPE = """
[dataset]
objects = 40
prefix = "{prefix}"
[dataset.sizes]
distribution = "fixed"
size = "64KiB"
[cluster]
hosts = 2
nic_bandwidth = "200KB/s"
[storage]
volume_root = "{volume_root}"
[modes]
run = ["pipe"]
"""


@pytest.mark.parametrize(
    "setting",
    [
        # Each once kept the event loop busy, deaf to Ctrl-C: launching a billion prefetches of
        # a 20-object epoch, building a billion per-epoch barriers up front. Both fields now
        # have ranges; their largest allowed values must still stop promptly.
        "[pipe]\nprefetch = 1024",
        "[training]\nepochs = 1000",
    ],
)
def test_ctrl_c_stops_a_busy_run_within_2_s(tmp_path, setting):
    volume_root = tmp_path / "vol"
    scenario = tmp_path / "busy.toml"
    scenario.write_text(SLOW_PIPE.format(prefix="busy/", volume_root=volume_root) + setting + "\n")
    process = _start(["run", str(scenario), "--results", str(tmp_path / "r"), "--no-report"])
    # The volumes folder exists once the mode starts; a second later the hosts are busy.
    _wait_for(lambda: list(volume_root.glob("stagebench-volumes-*")), "the pipe mode")
    time.sleep(1.0)
    stopped_s, _, stderr = _stop(process, signal.SIGINT)
    assert process.returncode == 130, stderr
    assert stopped_s < STOP_WITHIN_S, f"took {stopped_s:.1f} s"
    assert "Traceback" not in stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
    assert not list(volume_root.glob("*")), "volumes or FIFOs left behind"


@pytest.mark.parametrize("command", ["serve", "run"])
def test_embedded_server_dies_with_a_killed_parent(tmp_path, command):
    volume_root = tmp_path / "vol"
    scenario = tmp_path / "slow.toml"
    scenario.write_text(SLOW_PIPE.format(prefix="killed/", volume_root=volume_root))
    args = ["serve"] if command == "serve" else ["run", str(scenario), "--results", str(tmp_path)]
    process = _start(args)
    try:
        # serve prints the server's URL on stdout once it listens; run says it on stderr.
        first_line = (process.stdout if command == "serve" else process.stderr).readline()
        assert "http://127.0.0.1:" in first_line
        servers = _children(process.pid)
        assert len(servers) == 1
    finally:
        process.kill()  # SIGKILL: nothing of the parent runs any more
        process.communicate()
    assert not _wait_gone(servers, STOP_WITHIN_S), "the server outlived its parent by 2 s"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_serve_stops_on_every_stop_signal(signum):
    process = _start(["serve"])
    assert "http://127.0.0.1:" in process.stdout.readline()
    servers = _children(process.pid)
    stopped_s, _, stderr = _stop(process, signum)
    assert stopped_s < STOP_WITHIN_S and "Traceback" not in stderr
    assert process.returncode in (0, 130)
    assert servers and not _wait_gone(servers, 0.5)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_a_report_stops_within_2_s(tmp_path, embedded, unique_prefix, signum):
    from tests.support import make_scenario, quiet_run

    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, modes={"run": ["file"]})
    result = quiet_run(scenario, tmp_path, keep_volumes=False)
    assert result.status == "ok"
    process = _start(["report", str(result.run_dir)])
    # Let it get into the work (imports done, the model and the figures under way).
    _wait_for(lambda: (result.run_dir / "whatifs.csv").exists(), "the report's model")
    stopped_s, _, stderr = _stop(process, signum)
    assert process.returncode == 130, stderr
    assert stopped_s < STOP_WITHIN_S, f"took {stopped_s:.1f} s"
    assert "Traceback" not in stderr and "interrupted" in stderr


PLAN_SCENARIO = """
[scenario]
name = "plan-stop"
[dataset]
objects = 2000000
sizes = { distribution = "lognormal", median = "360KB", sigma = 0.5 }
[cluster]
hosts = 16
instance = "ml.p4d.24xlarge"
[training]
compute_rate = "1500 objects/s"
"""


@pytest.mark.parametrize(("signum", "hosts"), [(signal.SIGTERM, "16"), (signal.SIGINT, "4-64")])
def test_a_plan_stops_within_2_s_with_its_worker_processes(tmp_path, signum, hosts):
    """A plan's what-ifs and host sweep run on worker processes: a stop signal ends them with
    the command, not after the model runs they had started."""
    path = tmp_path / "plan.toml"
    path.write_text(PLAN_SCENARIO)
    process = _start(["plan", str(path), "--hosts", hosts, "--results", str(tmp_path)])
    _wait_for(lambda: len(_children(process.pid)) >= 2, "the plan's worker processes")
    workers = _children(process.pid)
    stopped_s, _, stderr = _stop(process, signum)
    assert process.returncode == 130, stderr
    assert stopped_s < STOP_WITHIN_S, f"took {stopped_s:.1f} s"
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert _wait_gone(workers, STOP_WITHIN_S) == []
