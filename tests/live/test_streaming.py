"""Pipe and FastFile on the embedded server: bytes, order, FIFOs, stalls and the NIC cap."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import threading
import time

import numpy as np
import pandas as pd
import pytest

from bench.core.content import content_block, object_range
from bench.live.base import EventLog, HostContext, HostPlan, NicCap, epoch_order
from bench.live.fastfile import S3File
from bench.run.dataset import build_dataset
from bench.s3.client import async_client, client_config
from tests.support import make_scenario, quiet_run


def _expected_digests(scenario, result, mode):
    """sha256 of each host's stream per epoch, from the deterministic source content."""
    from bench.run.runner import shard_plans

    dataset = build_dataset(scenario.dataset)
    block = content_block(scenario.dataset.seed)
    plans = shard_plans(dataset, scenario.cluster.hosts, "ShardedByS3Key", "round-robin")
    expected = {}
    for plan in plans:
        for epoch in range(scenario.training.epochs):
            digest = hashlib.sha256()
            for i in epoch_order(len(plan.keys), scenario.training.shuffle_seed, epoch):
                index = int(plan.content_index[i])
                digest.update(object_range(block, index, 0, int(plan.sizes[i])))
            expected[(plan.host, epoch)] = digest.hexdigest()
    return expected


def test_pipe_delivers_every_byte_in_order_for_two_epochs(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        modes={"run": ["pipe"]},
        training={"epochs": 2, "shuffle_seed": 3, "verify": True, "step_bytes": "8KiB"},
        pipe={"prefetch": 3, "chunk_size": "4KiB"},
    )
    seen_fifos: set[str] = set()
    stop = threading.Event()

    def watch() -> None:  # a FIFO really exists on the volume while an epoch streams
        while not stop.is_set():
            for path in (tmp_path / "vol").glob("stagebench-volumes-*/host-*/train_*"):
                try:
                    if stat.S_ISFIFO(os.stat(path).st_mode):
                        seen_fifos.add(path.name)
                except FileNotFoundError:
                    pass
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = quiet_run(scenario, tmp_path)
    finally:
        stop.set()
        watcher.join()
    assert result.status == "ok", result.summary["error"]
    epochs = result.epochs
    assert len(epochs) == 3 * 2
    assert set(epochs["source"]) == {"train_0", "train_1"}
    assert seen_fifos <= {"train_0", "train_1"} and "train_0" in seen_fifos
    expected = _expected_digests(scenario, result, "pipe")
    for row in epochs.itertuples():
        assert row.sha256 == expected[(row.host, row.epoch)], (row.host, row.epoch)
    # The shuffle really reorders: the two epochs of a host differ in stream digest.
    assert expected[(0, 0)] != expected[(0, 1)]
    # Every epoch streams the data again: GETs = objects × epochs.
    assert len(result.events) == 24 * 2
    shard_bytes = result.hosts.set_index("host")["bytes"]
    for row in epochs.itertuples():
        assert row.bytes == shard_bytes[row.host]


def test_fastfile_sequential_reads_return_the_source_bytes(tmp_path, embedded, unique_prefix):
    # One reader: the consumer takes the files whole, in key order.
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        modes={"run": ["fastfile"]},
        training={"verify": True, "step_bytes": "5000", "readers": 1},
        fastfile={"part_size": "8KiB", "read_ahead": 2},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    expected = _expected_digests(scenario, result, "fastfile")
    for row in result.epochs.itertuples():
        assert row.sha256 == expected[(row.host, row.epoch)]
    lists = result.events[result.events["op"] == "LIST"]
    assert len(lists) == 3  # one page per host: 24 keys
    for row in result.hosts.itertuples():
        assert row.startup_s >= row.listing_s > 0


@pytest.mark.parametrize("readers", [1, 4, 16])
def test_fastfile_readers_deliver_every_byte_in_order_of_consumption(
    tmp_path, embedded, unique_prefix, readers
):
    """Several files open at once, pieces taken as they complete: every file still arrives
    whole and front to back, and each epoch's sha256 is that of the bytes in the order the
    consumer took them."""
    from bench.live.engine import run_mode
    from bench.run.runner import shard_plans

    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 40},
        modes={"run": ["fastfile"]},
        training={
            "epochs": 2,
            "shuffle_seed": 3,
            "verify": True,
            "step_bytes": "5000",
            "readers": readers,
        },
        fastfile={"part_size": "8KiB", "read_ahead": 2},
    )
    assert quiet_run(scenario, tmp_path).status == "ok"  # populates, and reads once
    dataset = build_dataset(scenario.dataset)
    block = content_block(scenario.dataset.seed)
    plans = shard_plans(dataset, scenario.cluster.hosts, "ShardedByS3Key", "round-robin")
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    outcomes, _ = asyncio.run(
        run_mode("fastfile", plans, endpoint=embedded, scenario=scenario, volumes=volumes)
    )
    for plan, outcome in zip(plans, outcomes, strict=True):
        sizes = {k: int(s) for k, s in zip(plan.keys, plan.sizes, strict=True) if s > 0}
        content = dict(zip(plan.keys, plan.content_index, strict=True))
        assert len(outcome.epochs) == 2
        for stats in outcome.epochs:
            digest = hashlib.sha256()
            read_to: dict[str, int] = {}
            open_files = most_open = 0
            for key, offset, nbytes in stats.pieces:
                assert offset == read_to.get(key, 0), (key, offset)  # front to back
                if offset == 0:
                    open_files += 1
                    most_open = max(most_open, open_files)
                digest.update(object_range(block, int(content[key]), offset, nbytes))
                read_to[key] = offset + nbytes
                if read_to[key] == sizes[key]:
                    open_files -= 1
            assert read_to == sizes  # every file, every byte, once
            assert stats.sha256 == digest.hexdigest()
            assert stats.bytes == sum(sizes.values())
            assert most_open <= readers
            if readers > 1:
                assert most_open > 1  # files really were read at once
            else:
                first_seen = list(dict.fromkeys(key for key, _, _ in stats.pieces))
                order = epoch_order(len(plan.keys), 3, stats.epoch)
                assert first_seen == [plan.keys[int(i)] for i in order if plan.sizes[int(i)]]


def test_s3file_random_reads_seek_tell_readinto(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, dataset={"objects": 2})
    quiet_run(scenario, tmp_path)  # populates
    dataset = build_dataset(scenario.dataset)
    block = content_block(scenario.dataset.seed)
    size = int(dataset.sizes[0])
    source = object_range(block, 0, 0, size)

    async def exercise() -> None:
        async with async_client(embedded, client_config()) as client:
            plan = HostPlan(
                0,
                "stagebench-tests",
                unique_prefix,
                dataset.keys,
                dataset.sizes,
                dataset.content_index,
            )
            ctx = HostContext(
                plan=plan,
                client=client,
                endpoint=embedded,
                log=EventLog(time.perf_counter()),
                volume=tmp_path,
                channel="train",
                concurrency=1,
                nic=NicCap(0),
                first_byte_delay_s=0,
            )
            handle = S3File(ctx, 0, dataset.keys[0], size, part_size=1000, read_ahead=2)
            rng = np.random.default_rng(1)
            for _ in range(40):
                offset = int(rng.integers(0, size))
                length = int(rng.integers(1, 3000))
                assert handle.seek(offset) == offset
                data = await handle.read(length)
                assert data == source[offset : offset + length]
                assert handle.tell() == offset + len(data)
                # A sequential continuation goes through the read-ahead parts.
                more = await handle.read(1500)
                assert more == source[offset + len(data) : offset + len(data) + 1500]
            handle.seek(-10, os.SEEK_END)
            buffer = bytearray(64)
            assert await handle.readinto(buffer) == 10
            assert bytes(buffer[:10]) == source[-10:]
            assert await handle.read(5) == b""
            handle.close()

    asyncio.run(exercise())


def test_fastfile_random_access_reads_records(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        modes={"run": ["fastfile"]},
        fastfile={"access": "random", "record_size": "1KiB", "reads_per_file": 3},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok"
    gets = result.events[result.events["op"] == "GET"]
    assert len(gets) == 24 * 3 and (gets["bytes"] <= 1024).all()
    assert result.epochs["bytes"].sum() == gets["bytes"].sum()


def test_fast_consumer_stalls_slow_consumer_does_not(tmp_path, embedded, unique_prefix):
    # One object in flight, 64 KiB objects: each host streams ~256 KB in order, so after the
    # first byte there is data still to come (with prefetch, a capped link could deliver the
    # whole of a tiny shard before the first object, leaving nothing to wait for).
    common = {
        "dataset": {
            "objects": 12,
            "sizes": {"distribution": "fixed", "size": "64KiB"},
        },
        "modes": {"run": ["pipe"]},
        "pipe": {"prefetch": 1},
    }
    # Data at 1 MB/s per host against a consumer that could take 1 GB/s: it waits.
    fast = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        cluster={"nic_bandwidth": "1MB/s"},
        training={"compute_rate": "1GB/s", "step_bytes": "16KiB", "barrier": False},
        **common,
    )
    fast_result = quiet_run(fast, tmp_path)
    # A consumer at 1 MB/s fed by an uncapped link: data is there before it is needed.
    slow = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        training={"compute_rate": "1MB/s", "step_bytes": "16KiB", "barrier": False},
        **common,
    )
    slow_result = quiet_run(slow, tmp_path)
    fast_epochs, slow_epochs = fast_result.epochs, slow_result.epochs
    assert (fast_epochs["au"] < 0.2).all(), fast_epochs[["au", "stall_s", "compute_s"]]
    assert (fast_epochs["stall_s"] > fast_epochs["compute_s"]).all()
    assert (slow_epochs["au"] > 0.7).all(), slow_epochs[["au", "stall_s", "compute_s"]]


@pytest.mark.parametrize("mode", ["pipe", "fastfile"])
def test_nic_cap_shows_in_streaming_throughput(tmp_path, embedded, unique_prefix, mode):
    cap = 0.4e6
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        cluster={"nic_bandwidth": cap},
        modes={"run": [mode]},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok"
    for row in result.hosts.itertuples():
        assert row.end_s >= row.bytes_fetched / cap
        assert row.end_s <= row.bytes_fetched / cap + 1.5


def test_all_three_modes_in_one_run(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 90},
        modes={"run": ["file", "pipe", "fastfile"]},
        training={"compute_rate": "50MB/s"},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok"
    assert set(result.summary["modes"]) == {"file", "pipe", "fastfile"}
    for name in ("hosts.csv", "epochs.csv"):
        table = pd.read_csv(result.run_dir / name)
        assert set(table["mode"]) == {"file", "pipe", "fastfile"}
    assert set(pd.read_parquet(result.run_dir / "events.parquet")["mode"]) == {
        "file",
        "pipe",
        "fastfile",
    }
    figures = result.summary["modes"]
    # File mode pays the whole download before training; the streaming modes start sooner.
    assert figures["pipe"]["startup_s"] < figures["file"]["startup_s"]
    for mode in figures:
        assert 0 < figures[mode]["au"] <= 1
