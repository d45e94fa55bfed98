from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from bench.config.scenario import build_scenario
from bench.core.content import content_block, object_range
from bench.run.runner import run_scenario


def _scenario(tmp_path, endpoint_url, prefix, **cluster):
    raw = {
        "scenario": {"name": "filetest"},
        "dataset": {
            "objects": 60,
            "prefix": prefix,
            "seed": 11,
            "bucket": "stagebench-tests",
            "sizes": {"distribution": "lognormal", "median": "16KiB", "sigma": 1.2},
        },
        "cluster": {"hosts": 3, "concurrency": 4, **cluster},
        "distribution": {"type": "ShardedByS3Key"},
        "storage": {"endpoint": endpoint_url, "volume_root": str(tmp_path / "vol")},
        "modes": {"run": ["file"]},
    }
    return build_scenario(raw, path=tmp_path / "filetest.toml")


def test_file_mode_delivers_every_byte_sharded(tmp_path, embedded, unique_prefix):
    scenario = _scenario(tmp_path, embedded.url, unique_prefix)
    result = run_scenario(
        scenario,
        results_root=tmp_path / "results",
        progress=False,
        keep_volumes=True,
        say=lambda _: None,
    )
    assert result.status == "ok", result.summary["error"]
    hosts = result.hosts
    assert len(hosts) == 3
    counts = hosts["objects"].to_numpy()
    assert counts.sum() == 60 and counts.max() - counts.min() <= 1

    # Every byte arrived: each file on each volume equals the deterministic source content.
    volumes = sorted((tmp_path / "vol").glob("stagebench-volumes-*"))
    assert len(volumes) == 1
    block = content_block(11)
    files = sorted(volumes[0].glob("host-*/data/train/*.bin"))
    assert len(files) == 60
    from bench.run.dataset import build_dataset

    dataset = build_dataset(scenario.dataset)
    for path in files:
        index = int(path.stem)
        expected = object_range(block, index, 0, int(dataset.sizes[index]))
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(expected).digest()
    assert int(hosts["bytes"].sum()) == dataset.total_bytes

    # startup_s agrees with the events: the host's last byte.
    events = pd.read_parquet(result.run_dir / "events.parquet")
    assert len(events) == 60 and (events["op"] == "GET").all()
    last_byte = events.groupby("host")["end_s"].max()
    for row in hosts.itertuples():
        assert row.startup_s == pytest.approx(last_byte[row.host], abs=0.05)
        assert row.startup_s >= last_byte[row.host]
    assert int(events["bytes"].sum()) == dataset.total_bytes
    assert (events["first_byte_s"] >= events["start_s"]).all()
    assert (events["end_s"] >= events["first_byte_s"]).all()
    assert result.summary["modes"]["file"]["startup_s"] == pytest.approx(hosts["startup_s"].max())
    for name in ("events.parquet", "hosts.csv", "summary.json"):
        assert (result.run_dir / name).stat().st_size > 0


def test_nic_cap_is_honoured(tmp_path, embedded, unique_prefix):
    cap = 0.5e6  # bytes/s per host: about a second per shard, far slower than uncapped
    scenario = _scenario(tmp_path, embedded.url, unique_prefix, nic_bandwidth=cap)
    result = run_scenario(
        scenario, results_root=tmp_path / "results", progress=False, say=lambda _: None
    )
    assert result.status == "ok"
    for row in result.hosts.itertuples():
        assert row.startup_s >= row.bytes / cap
        # The cap shapes the rate, it does not stall it: within a second of the floor.
        assert row.startup_s <= row.bytes / cap + 1.0


def test_first_byte_latency_is_emulated(tmp_path, embedded, unique_prefix):
    scenario = _scenario(
        tmp_path, embedded.url, unique_prefix, first_byte_latency_ms=50, concurrency=1
    )
    result = run_scenario(
        scenario, results_root=tmp_path / "results", progress=False, say=lambda _: None
    )
    events = result.events
    assert (events["first_byte_s"] - events["start_s"] >= 0.05).all()
    for row in result.hosts.itertuples():
        assert row.startup_s >= row.objects * 0.05


def test_volumes_are_removed_after_the_run(tmp_path, embedded, unique_prefix):
    scenario = _scenario(tmp_path, embedded.url, unique_prefix)
    run_scenario(scenario, results_root=tmp_path / "results", progress=False, say=lambda _: None)
    assert not list((tmp_path / "vol").glob("stagebench-volumes-*"))
    assert np.all([p.is_dir() for p in (tmp_path / "results").iterdir()])
