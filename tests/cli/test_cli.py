from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.support import REPO, stagebench


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
    modes = summary["scenario"]["config"]["modes"]["run"]
    assert len(hosts) == 4 * len(modes)
    for mode in modes:
        assert hosts[hosts["mode"] == mode]["objects"].sum() == summary["dataset"]["objects"]
    file_gets = events[(events["mode"] == "file") & (events["op"] == "GET")]
    assert file_gets["bytes"].sum() == summary["dataset"]["bytes"]
    assert (run_dir / "epochs.csv").stat().st_size > 0
    for mode in modes:  # the comparison table has a row per mode
        assert any(line.split()[:1] == [mode] for line in done.stdout.splitlines())
    # the capacity report is written at the end of the run and answers its questions
    assert f"report: {run_dir / 'report.md'}" in done.stdout
    report = (run_dir / "report.md").read_text()
    assert "**VolumeSizeInGB per host:**" in report and "**Input mode (measured here):**" in report
    assert (run_dir / "report.html").stat().st_size > 10_000


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
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot reach" in done.stderr and "127.0.0.1:9" in done.stderr


def test_missing_credentials_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "scenarios/quickstart.toml",
            "--endpoint",
            "http://127.0.0.1:9",
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no AWS credentials" in done.stderr and "--profile" in done.stderr


def test_skew_command_writes_table_and_charts(tmp_path):
    done = stagebench(
        "skew", "scenarios/quickstart.toml", "--hosts", "16", "--results", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = tmp_path.iterdir()
    table = pd.read_csv(run_dir / "skew.csv")
    by_strategy = table.set_index("strategy")["imbalance_ratio"]
    assert by_strategy["uniform"] == pytest.approx(1.0, abs=1e-6)
    assert by_strategy["sharded-by-s3-key"] >= by_strategy["bytes-balanced"] >= 1.0
    assert (run_dir / "bytes_per_host.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "assumption: ShardedByS3Key" in done.stdout
    assert "sharded-by-s3-key" in done.stdout


def test_skew_bad_throughput_is_one_line(tmp_path):
    done = stagebench("skew", "scenarios/quickstart.toml", "--throughput", "fast")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--throughput" in done.stderr
