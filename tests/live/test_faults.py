"""Faults between the readers and a real S3 server: every byte still arrives, retries show in
the events, and a key that keeps failing is reported without losing the rest of the run.

A FaultProxy sits in front of the embedded server; data is populated directly on the server
first, then every mode reads through the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import pytest

from bench.core.content import content_block, object_range
from bench.errors import ObjectError
from bench.live.base import (
    EVENT_COLUMNS,
    EventLog,
    HostContext,
    HostPlan,
    ModeSettings,
    NicCap,
    epoch_order,
    get_range,
)
from bench.run.dataset import build_dataset, populate_dataset
from bench.run.runner import prepare_dataset, shard_plans
from bench.s3.client import Endpoint, async_client, client_config, sync_client
from tests.support import REPO, make_scenario, quiet_run
from tests.support.faultproxy import FaultProxy, FaultRates

FIVE_PERCENT = FaultRates(
    slowdown=0.05,
    internal=0.05,
    drop=0.05,
    reset=0.05,
    truncate=0.05,
    latency=0.05,
    latency_s=0.1,
)
# Faults after which the reader must ask again, and see that it did (botocore or a resume).
COUNTED = ("slowdown", "internal", "reset", "truncate")


def _populate(scenario, endpoint: Endpoint):
    """Write the scenario's objects straight to the server, bypassing the proxy."""
    dataset, _ = prepare_dataset(endpoint, scenario, progress=False)
    return dataset


def _source(scenario, dataset, index: int) -> bytes:
    block = content_block(scenario.dataset.seed)
    return object_range(block, int(dataset.content_index[index]), 0, int(dataset.sizes[index]))


def _stream_digests(scenario, dataset) -> dict[tuple[int, int], str]:
    """sha256 of what each host's consumer must read per epoch, from the source content."""
    block = content_block(scenario.dataset.seed)
    plans = shard_plans(
        dataset,
        scenario.cluster.hosts,
        scenario.distribution.type,
        scenario.distribution.assignment,
    )
    expected = {}
    for plan in plans:
        for epoch in range(scenario.training.epochs):
            digest = hashlib.sha256()
            for i in epoch_order(len(plan.keys), scenario.training.shuffle_seed, epoch):
                digest.update(
                    object_range(block, int(plan.content_index[i]), 0, int(plan.sizes[i]))
                )
            expected[(plan.host, epoch)] = digest.hexdigest()
    return expected


MODE_SETTINGS = {
    "file": {"cluster": {"concurrency": 4}},
    "pipe": {"training": {"epochs": 2}, "pipe": {"prefetch": 3, "chunk_size": "4KiB"}},
    "fastfile": {"fastfile": {"part_size": "16KiB", "read_ahead": 2}},
}


@pytest.mark.parametrize("mode", ["file", "pipe", "fastfile"])
def test_every_byte_arrives_under_five_percent_faults(tmp_path, embedded, unique_prefix, mode):
    settings = MODE_SETTINGS[mode]
    # No step barrier: each host rides out its own retries instead of waiting for everyone's.
    # One FastFile reader, so the stream is in key order (several take pieces as they complete).
    training = {"verify": True, "step_bytes": "8KiB", "barrier": False, "readers": 1}
    training.update(settings.get("training", {}))
    direct = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 60},
        modes={"run": [mode]},
        training=training,
        **{k: v for k, v in settings.items() if k != "training"},
    )
    dataset = _populate(direct, embedded)
    with FaultProxy(
        embedded.url, prefix=unique_prefix, rates=FIVE_PERCENT, seed=7, lists=mode == "fastfile"
    ) as proxy:
        scenario = make_scenario(
            tmp_path,
            proxy.url,
            unique_prefix,
            dataset={"objects": 60},
            modes={"run": [mode]},
            training=training,
            **{k: v for k, v in settings.items() if k != "training"},
        )
        result = quiet_run(scenario, tmp_path, keep_volumes=mode == "file")
        injected = proxy.injected_into("GET")
    assert result.status == "ok", result.summary["error"]

    # Every byte, in order: the volume's files (File) or the consumer's stream (Pipe, FastFile).
    if mode == "file":
        (volume_root,) = (tmp_path / "vol").glob("stagebench-volumes-*")
        verified = 0
        for index, key in enumerate(dataset.keys):
            relative = key[len(dataset.prefix) :]
            (path,) = volume_root.glob(f"host-*/data/train/{relative}")
            assert path.read_bytes() == _source(scenario, dataset, index), key
            verified += path.stat().st_size
        assert verified == dataset.total_bytes
    else:
        expected = _stream_digests(scenario, dataset)
        assert len(result.epochs) == len(expected)
        for row in result.epochs.itertuples():
            assert row.sha256 == expected[(row.host, row.epoch)], (row.host, row.epoch)
        assert result.epochs["bytes"].sum() == dataset.total_bytes * scenario.training.epochs

    # The faults really happened, and every one that forced a new request shows as a retry.
    assert all(injected[kind] >= 1 for kind in (*COUNTED, "drop", "latency")), injected
    gets = result.events[result.events["op"] == "GET"]
    retries = int((gets["attempts"] - 1).sum())
    assert (gets["attempts"] > 1).any()
    counted = sum(injected[kind] for kind in COUNTED)
    # A dropped connection that aiohttp had pooled is retried by aiohttp itself, unseen.
    assert counted <= retries <= counted + injected["drop"], (retries, injected)
    assert result.hosts["retries"].sum() == retries


def _host_context(endpoint, client, dataset, tmp_path, *, chunk_bytes, **settings):
    plan = HostPlan(
        0, dataset.bucket, dataset.prefix, dataset.keys, dataset.sizes, dataset.content_index
    )
    return HostContext(
        plan=plan,
        client=client,
        endpoint=endpoint,
        log=EventLog(time.perf_counter()),
        volume=tmp_path,
        channel="train",
        concurrency=1,
        nic=NicCap(0),
        first_byte_delay_s=0,
        settings=ModeSettings(chunk_bytes=chunk_bytes, **settings),
    )


@pytest.fixture
def big_objects(tmp_path, embedded, unique_prefix):
    """Two 600 KB objects on the server, read in 32 KiB chunks so bodies break mid-stream."""
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 2, "sizes": {"distribution": "fixed", "size": 600_000}},
        cluster={"hosts": 1},
    )
    return scenario, _populate(scenario, embedded)


@pytest.fixture
def big_objects_without_checksums(tmp_path, embedded, unique_prefix):
    """As ``big_objects``, written with no checksum (as older objects, or other tools'): an
    ETag is all they have."""
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 2, "sizes": {"distribution": "fixed", "size": 600_000}},
        cluster={"hosts": 1},
    )
    dataset = build_dataset(scenario.dataset)
    populate_dataset(embedded, dataset, progress=False, checksum=None)
    return scenario, dataset


def _read(proxy, dataset, tmp_path, key_index, offset, length, *, rewind=False, **kwargs):
    """One get_range through the proxy: (chunks the sink got, rewinds, attempts, error); the
    check that verified the bytes goes into ``checks`` when a list is given."""
    chunks: list[bytes] = []
    rewinds: list[int] = []
    outcome: dict = {}
    verify_etag = kwargs.pop("verify_etag", True)
    checks = kwargs.pop("checks", [])

    async def sink(chunk: bytes) -> None:
        chunks.append(chunk)

    async def undo() -> None:
        rewinds.append(sum(map(len, chunks)))
        chunks.clear()

    async def go() -> None:
        endpoint = Endpoint.embedded(proxy.url)
        async with async_client(endpoint, client_config(max_attempts=3)) as client:
            ctx = _host_context(
                endpoint,
                client,
                dataset,
                tmp_path,
                chunk_bytes=32 * 1024,
                verify_etag=verify_etag,
            )
            try:
                await get_range(
                    ctx,
                    "test",
                    0,
                    dataset.keys[key_index],
                    offset,
                    length,
                    sink,
                    rewind=undo if rewind else None,
                    resume_backoff_s=0.001,
                    **kwargs,
                )
            except ObjectError as error:
                outcome["error"] = error
            attempts, check = EVENT_COLUMNS.index("attempts"), EVENT_COLUMNS.index("check")
            outcome["attempts"] = [row[attempts] for row in ctx.log.rows]
            checks.extend(row[check] for row in ctx.log.rows)

    asyncio.run(go())
    return chunks, rewinds, outcome.get("attempts"), outcome.get("error")


def test_resumed_bodies_reach_the_sink_once_and_in_order(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    rates = FaultRates(reset=0.5, truncate=0.5)
    reads = [(0, 0, 600_000, True), (1, 0, 600_000, True), (0, 123_457, 300_000, False)]
    attempts = 0
    with FaultProxy(embedded.url, prefix=dataset.prefix, rates=rates, seed=3) as proxy:
        for index, offset, length, whole in reads:
            chunks, _, logged, error = _read(
                proxy, dataset, tmp_path, index, offset, length, whole=whole, max_resumes=30
            )
            assert error is None, error
            source = _source(scenario, dataset, index)
            assert b"".join(chunks) == source[offset : offset + length], (index, offset)
            attempts += logged[0]
        breaks = proxy.injected["reset"] + proxy.injected["truncate"]
    # Every break cost exactly one ranged GET from where the body stopped, and nothing else did.
    assert breaks >= 3, proxy.injected
    assert attempts == len(reads) + breaks


def test_a_store_that_ignores_range_still_yields_the_asked_bytes(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    source = _source(scenario, dataset, 1)
    rates = FaultRates(truncate=0.5)
    with FaultProxy(
        embedded.url, prefix=dataset.prefix, rates=rates, seed=8, ignore_range=True
    ) as proxy:
        whole, _, _, error = _read(
            proxy, dataset, tmp_path, 1, 0, 600_000, whole=True, max_resumes=30
        )
        assert error is None, error
        part, _, _, error = _read(proxy, dataset, tmp_path, 1, 5_000, 70_000, max_resumes=30)
        assert error is None, error
        assert proxy.injected["truncate"] >= 1  # some resumes got the whole object back
    assert b"".join(whole) == source
    assert b"".join(part) == source[5_000:75_000]


def test_a_body_that_keeps_breaking_is_an_object_error(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    key = dataset.keys[0]
    with FaultProxy(embedded.url, always={key: "truncate"}, seed=1) as proxy:
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, max_resumes=3
        )
        gets = proxy.requests["GET"]
    assert isinstance(error, ObjectError) and error.key == key
    assert key in str(error) and "broke 4 times" in str(error)
    assert gets == 4
    received = b"".join(chunks)  # what did arrive is the object's beginning, without repeats
    assert received == _source(scenario, dataset, 0)[: len(received)]


def _crc64nvme(data: bytes) -> str:
    """The base64 CRC64NVME S3 stores, computed here by awscrt directly, not through botocore."""
    from awscrt import checksums

    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def test_whole_objects_are_verified_by_their_stored_checksum(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    source = _source(scenario, dataset, 0)
    with FaultProxy(embedded.url, prefix=dataset.prefix, seed=3) as proxy:
        checks: list[str] = []
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, checks=checks
        )
        assert error is None and b"".join(chunks) == source
        assert checks == ["crc64nvme"]
    # Bodies that break are resumed with ranged GETs, which carry no checksum: their bytes go
    # into the same running CRC, so the object is still verified as a whole.
    rates = FaultRates(reset=0.5, truncate=0.5)
    with FaultProxy(embedded.url, prefix=dataset.prefix, rates=rates, seed=1) as proxy:
        checks = []
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, max_resumes=30, checks=checks
        )
        assert proxy.injected["reset"] + proxy.injected["truncate"] >= 1
    assert error is None and b"".join(chunks) == source
    assert checks == ["crc64nvme"]
    # A range of an object is not the object: nothing to check it against.
    with FaultProxy(embedded.url, prefix=dataset.prefix, seed=3) as proxy:
        checks = []
        chunks, _, _, error = _read(proxy, dataset, tmp_path, 0, 100, 5_000, checks=checks)
    assert error is None and b"".join(chunks) == source[100:5_100] and checks == ["none"]


def test_a_corrupted_body_fails_the_checksum_check(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    key = dataset.keys[0]
    expected = _crc64nvme(_source(scenario, dataset, 0))
    with FaultProxy(embedded.url, always={key: "corrupt"}, seed=2) as proxy:
        _, _, _, error = _read(proxy, dataset, tmp_path, 0, 0, 600_000, whole=True)
        assert isinstance(error, ObjectError) and error.key == key
        assert "CRC64NVME" in str(error) and expected in str(error), error
        assert proxy.requests["GET"] == 1
        _, rewinds, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, rewind=True, whole=True
        )
        assert isinstance(error, ObjectError) and rewinds == [600_000]
        assert proxy.requests["GET"] == 1 + 2
        checks: list[str] = []
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, verify_etag=False, checks=checks
        )
    assert error is None and checks == ["none"]
    assert b"".join(chunks) != _source(scenario, dataset, 0)


def test_a_wrong_stored_checksum_is_detected_even_across_resumes(tmp_path, embedded, big_objects):
    scenario, dataset = big_objects
    key = f"{dataset.prefix}wrong-crc32c"
    source = _source(scenario, dataset, 1)
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    # The store keeps the checksum the writer claims; S3 would refuse it, which is why a
    # checksum that disagrees with the bytes reaching the reader is corruption.
    sync_client(embedded).put_object(
        Bucket=dataset.bucket,
        Key=key,
        Body=source,
        ChecksumAlgorithm="CRC32C",
        ChecksumCRC32C=wrong,
    )
    odd = replace(dataset, keys=[key])
    rates = FaultRates(truncate=0.5)
    with FaultProxy(embedded.url, prefix=dataset.prefix, rates=rates, seed=4) as proxy:
        _, rewinds, _, error = _read(
            proxy, odd, tmp_path, 0, 0, 600_000, rewind=True, whole=True, max_resumes=30
        )
        assert proxy.injected["truncate"] >= 1
    assert isinstance(error, ObjectError) and error.key == key
    assert "CRC32C" in str(error) and wrong in str(error), error
    assert rewinds == [600_000]


def test_a_corrupted_body_without_a_checksum_fails_the_etag_check(
    tmp_path, embedded, big_objects_without_checksums
):
    scenario, dataset = big_objects_without_checksums
    key = dataset.keys[0]
    source = _source(scenario, dataset, 0)
    expected_md5 = hashlib.md5(source, usedforsecurity=False).hexdigest()
    checks: list[str] = []
    with FaultProxy(embedded.url, prefix=dataset.prefix, seed=2) as proxy:
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, checks=checks
        )
    assert error is None and b"".join(chunks) == source and checks == ["md5"]
    with FaultProxy(embedded.url, always={key: "corrupt"}, seed=2) as proxy:
        # Bytes already in the sink cannot be taken back: the first mismatch is the error.
        _, _, _, error = _read(proxy, dataset, tmp_path, 0, 0, 600_000, whole=True)
        assert isinstance(error, ObjectError) and error.key == key
        assert "MD5" in str(error) and expected_md5 in str(error)
        assert proxy.requests["GET"] == 1
        # A sink that can rewind gets one more try from scratch, then the error.
        _, rewinds, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, rewind=True, whole=True
        )
        assert isinstance(error, ObjectError) and rewinds == [600_000]
        assert proxy.requests["GET"] == 1 + 2
        # Without the check the damage goes through unseen, which is what the check is for.
        chunks, _, _, error = _read(
            proxy, dataset, tmp_path, 0, 0, 600_000, whole=True, verify_etag=False
        )
    assert error is None
    received = b"".join(chunks)
    assert len(received) == len(source) and received != source


def test_a_connection_dropped_before_the_response_is_an_object_error(
    tmp_path, embedded, big_objects
):
    _, dataset = big_objects
    key = dataset.keys[0]
    with FaultProxy(embedded.url, always={key: "drop"}, seed=5) as proxy:
        chunks, _, _, error = _read(proxy, dataset, tmp_path, 0, 0, 600_000, whole=True)
        gets = proxy.requests["GET"]
    # One key's trouble, not an unreachable endpoint: the run can record it and go on.
    assert isinstance(error, ObjectError) and error.key == key, error
    assert "connection reset" in str(error) and "after 3 attempts" in str(error)
    assert chunks == []
    assert gets >= 3  # botocore's three attempts, and aiohttp's own retries on pooled ones


ALL_MODES = ("file", "pipe", "fastfile")


def _failing_key_setup(tmp_path, embedded, unique_prefix):
    objects = 12
    direct = make_scenario(
        tmp_path, embedded.url, unique_prefix, dataset={"objects": objects}, cluster={"hosts": 2}
    )
    return _populate(direct, embedded)


def _check_partial_results(run_dir, dataset, bad_key, cause):
    """Status and failed keys in summary.json; every mode and host ran, every other key read."""
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and bad_key in summary["error"]
    failed = summary["failed_keys"]
    assert {(f["mode"], f["key"]) for f in failed} == {(mode, bad_key) for mode in ALL_MODES}
    assert all(cause in f["error"] for f in failed), failed
    hosts = pd.read_csv(run_dir / "hosts.csv")
    assert len(hosts) == len(ALL_MODES) * 2 and hosts["failed"].sum() == len(ALL_MODES)
    events = pd.read_parquet(run_dir / "events.parquet")
    for mode in ALL_MODES:
        read = set(events[(events["mode"] == mode) & (events["op"] == "GET")]["key"])
        assert read == set(dataset.keys) - {bad_key}, mode


def test_a_key_that_keeps_failing_ends_the_cli_with_one_line(tmp_path, embedded, unique_prefix):
    dataset = _failing_key_setup(tmp_path, embedded, unique_prefix)
    bad_key = dataset.keys[5]
    scenario_file = tmp_path / "failing.toml"
    scenario_file.write_text(
        f"""
[scenario]
name = "failing"
[dataset]
objects = {dataset.objects}
prefix = "{unique_prefix}"
seed = 5
bucket = "stagebench-tests"
sizes = {{ distribution = "lognormal", median = "16KiB", sigma = 1.0 }}
[cluster]
hosts = 2
concurrency = 4
[distribution]
type = "ShardedByS3Key"
[storage]
max_attempts = 3
volume_root = "{tmp_path / "vol"}"
[modes]
run = {json.dumps(list(ALL_MODES))}
"""
    )
    with FaultProxy(embedded.url, always={bad_key: "internal"}, seed=4) as proxy:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "run", str(scenario_file)]
            + ["--endpoint", proxy.url, "--results", str(tmp_path / "results"), "--no-progress"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # botocore's three attempts, in each mode, and nothing more
        assert proxy.injected["internal"] == 3 * len(ALL_MODES)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (error_line,) = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert error_line.startswith("stagebench: error:"), error_line
    assert bad_key in error_line and "InternalError" in error_line, error_line
    (run_dir,) = (tmp_path / "results").iterdir()
    _check_partial_results(run_dir, dataset, bad_key, "InternalError")


def test_a_key_whose_body_always_breaks_is_reported(tmp_path, embedded, unique_prefix):
    dataset = _failing_key_setup(tmp_path, embedded, unique_prefix)
    bad_key = dataset.keys[7]
    with FaultProxy(embedded.url, always={bad_key: "reset"}, seed=6) as proxy:
        scenario = make_scenario(
            tmp_path,
            proxy.url,
            unique_prefix,
            dataset={"objects": dataset.objects},
            cluster={"hosts": 2},
            modes={"run": list(ALL_MODES)},
        )
        result = quiet_run(scenario, tmp_path)
        # The first GET and five resumes, each from where the last one broke, in each mode.
        assert proxy.injected["reset"] == 6 * len(ALL_MODES)
    assert result.status == "failed"
    assert isinstance(result.error, ObjectError) and result.error.key == bad_key
    assert "broke 6 times" in str(result.error)
    _check_partial_results(result.run_dir, dataset, bad_key, "broke")
