"""A host that fails on its own side (volume, memory) says which host, which key and why, and
the run folder still records the failure and what was measured."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import pickle

import pandas as pd
import pytest

from bench import cli
from bench.errors import HostError, describe_failure, first_error
from bench.live.engine import run_mode
from bench.run.runner import prepare_dataset, shard_plans
from tests.support import make_scenario, quiet_run, write_scenario


def _plans(scenario, endpoint):
    dataset, _ = prepare_dataset(endpoint, scenario, progress=False)
    return shard_plans(dataset, scenario.cluster.hosts, "ShardedByS3Key", "round-robin")


def test_file_in_the_way_of_a_fifo_names_the_host_and_path(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(
        tmp_path, embedded.url, unique_prefix, cluster={"hosts": 2}, modes={"run": ["pipe"]}
    )
    plans = _plans(scenario, embedded)
    volumes = tmp_path / "volumes"
    in_the_way = volumes / "host-0001" / "train_0"
    in_the_way.parent.mkdir(parents=True)
    in_the_way.write_text("not a FIFO")  # mkfifo then fails with FileExistsError

    with pytest.raises(BaseException) as caught:
        asyncio.run(run_mode("pipe", plans, endpoint=embedded, scenario=scenario, volumes=volumes))
    error = first_error(caught.value)
    assert isinstance(error, HostError) and error.host == 1
    line = describe_failure(caught.value)
    assert line.startswith("host 1: File exists") and str(in_the_way) in line, line
    assert "TaskGroup" not in line and "sub-exception" not in line
    assert in_the_way.read_text() == "not a FIFO"  # the user's file is untouched


class _FullDisk:
    """The ``os`` module as File mode sees it, but its first write finds the disk full."""

    def __init__(self) -> None:
        self.failed = False

    def write(self, fd: int, data: bytes) -> int:
        if not self.failed:
            self.failed = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    def __getattr__(self, name: str):
        return getattr(os, name)


def test_full_disk_names_host_key_and_cause_in_one_line(
    tmp_path, embedded, unique_prefix, monkeypatch, capsys
):
    import bench.live.file as file_mode

    path = write_scenario(
        tmp_path,
        f"""
[dataset]
objects = 12
bucket = "stagebench-tests"
prefix = "{unique_prefix}"
[dataset.sizes]
distribution = "fixed"
size = "8KiB"
[cluster]
hosts = 2
[storage]
endpoint = "{embedded.url}"
volume_root = "{tmp_path / "vol"}"
[modes]
run = ["file"]
""",
    )
    monkeypatch.setattr(file_mode, "os", _FullDisk())
    results = tmp_path / "results"
    code = cli.main(["run", str(path), "--results", str(results), "--no-report", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    (line,) = [text for text in err if text.startswith("stagebench: error:")]
    assert f"key {unique_prefix}" in line and "No space left on device" in line, line
    assert "host " in line and "url http" not in line and "ExceptionGroup" not in line
    (run_dir,) = results.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert line.endswith(summary["error"])


def test_memory_error_in_a_host_keeps_what_was_measured(
    tmp_path, embedded, unique_prefix, monkeypatch
):
    from bench.live.consumer import Consumer

    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        cluster={"hosts": 2},
        modes={"run": ["pipe"]},
        training={"epochs": 2},
    )
    real_finish = Consumer.finish

    async def finish_then_run_out(self):
        stats = await real_finish(self)
        if stats.epoch == 1:
            raise MemoryError()
        return stats

    monkeypatch.setattr(Consumer, "finish", finish_then_run_out)
    result = quiet_run(scenario, tmp_path)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"].startswith("host ") and "out of memory" in summary["error"]
    events = pd.read_parquet(result.run_dir / "events.parquet")
    assert len(events) > 0 and set(events["epoch"]) >= {0}  # the GETs before the failure
    assert not list((tmp_path / "vol").glob("*")), "volumes left behind"


def test_unexpected_error_outside_the_hosts_still_writes_the_run_folder(
    tmp_path, embedded, unique_prefix, monkeypatch
):
    import bench.run.runner as runner

    scenario = make_scenario(tmp_path, embedded.url, unique_prefix)

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(runner, "shard_plans", no_memory)
    result = quiet_run(scenario, tmp_path)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert result.status == summary["status"] == "failed"
    assert "out of memory" in summary["error"]
    assert (result.run_dir / "events.parquet").exists()


def test_host_error_survives_pickling_for_dask():
    error = HostError("No space left on device (/v/x)", host=3, key="train/x")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.host, copy.key, str(copy)) == (3, "train/x", str(error))
    assert str(copy) == "host 3, key train/x: No space left on device (/v/x)"


def test_groups_are_unwrapped_recursively():
    inner = HostError("Read-only file system (/v/a)", host=1, key="p/a")
    group = ExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("x"), inner])])
    assert first_error(group) is inner
    assert describe_failure(group) == f"{inner} (and 1 more error)"
