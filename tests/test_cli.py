from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from tests.conftest import REPO


def stagebench(*args, cwd=REPO, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


def test_quickstart_end_to_end(tmp_path):
    """The README's main command, on its own embedded server, writes a full run folder."""
    done = stagebench("run", "scenarios/quickstart.toml", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (run_dir,) = tmp_path.iterdir()
    hosts = pd.read_csv(run_dir / "hosts.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    events = pd.read_parquet(run_dir / "events.parquet")
    assert summary["schema_version"] == 1 and summary["status"] == "ok"
    assert summary["environment"]["endpoint"]["kind"] == "embedded"
    assert "stagebench-local-only" not in (run_dir / "summary.json").read_text()
    assert len(hosts) == 4 and hosts["objects"].sum() == summary["dataset"]["objects"]
    assert events["bytes"].sum() == summary["dataset"]["bytes"]
    assert "startup_s" in done.stdout and "file: job startup" in done.stdout


def test_bad_scenario_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[cluster]\nhosts = 0\n[dataset]\nobjects = 3\n[dataset.sizes]\n"
        'distribution = "fixed"\nsize = 10\n'
    )
    done = stagebench("run", str(bad), "--results", str(tmp_path / "r"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cluster.hosts" in done.stderr
    debug = stagebench("run", str(bad), "--debug")
    assert "Traceback" in debug.stderr


def test_unreachable_endpoint_is_one_line(tmp_path):
    done = stagebench(
        "run",
        "scenarios/quickstart.toml",
        "--endpoint",
        "http://127.0.0.1:9",
        "--results",
        str(tmp_path),
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot reach" in done.stderr and "127.0.0.1:9" in done.stderr
