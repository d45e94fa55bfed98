"""The vectorised timeline model against the slow simulation in ``bench.core.reference``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.core import reference, sharding
from bench.core.model import PathParams, Storage, Training, model_job, shard

SEEDED = settings(derandomize=True, deadline=None, max_examples=60)


@st.composite
def cases(draw):
    objects = draw(st.integers(min_value=1, max_value=40))
    sizes = draw(
        st.lists(st.integers(min_value=1, max_value=3 * 2**20), min_size=objects, max_size=objects)
    )
    storage = Storage(
        latency_s=draw(st.floats(0.0005, 0.2)),
        connection_bps=draw(st.floats(1e6, 1e9)),
        nic_bps=draw(st.sampled_from([0.0, 5e6, 1e8])),
        requests_per_s=draw(st.sampled_from([0.0, 50.0, 400.0])),
        endpoint_bps=draw(st.sampled_from([0.0, 2e7])),
        volume_write_bps=draw(st.sampled_from([0.0, 3e7])),
        volume_read_bps=draw(st.sampled_from([0.0, 5e7])),
        list_page_s=draw(st.floats(0.0, 1.0)),
        list_parallel=draw(st.sampled_from([0.0, 2.0])),
        list_key_s=draw(st.sampled_from([0.0, 1e-4])),
        burst_s_per_request=draw(st.sampled_from([0.0, 0.002])),
        verify_bps=draw(st.sampled_from([0.0, 3e7])),
        timer_tick_s=draw(st.sampled_from([0.0, 0.0, 0.001])),
        timer_wake_s=draw(st.sampled_from([0.0, 1e-4])),
    )
    params = PathParams(
        concurrency=draw(st.integers(1, 6)),
        prefetch=draw(st.integers(1, 5)),
        chunk_bytes=draw(st.sampled_from([64 * 1024, 2**20])),
        part_size=draw(st.sampled_from([256 * 1024, 2**20, 8 * 2**20])),
        read_ahead=draw(st.integers(0, 3)),
        access=draw(st.sampled_from(["sequential", "sequential", "random"])),
        record_size=draw(st.sampled_from([4096, 300_000])),
        reads_per_file=draw(st.integers(1, 3)),
        verify_etag=draw(st.booleans()),
    )
    training = Training(
        epochs=draw(st.integers(1, 2)),
        compute_bps=draw(st.sampled_from([0.0, 2e6, 5e7])),
        step_bytes=draw(st.sampled_from([100_000, 2**20])),
        barrier=draw(st.booleans()),
        shuffle_seed=draw(st.sampled_from([None, 3])),
        readers=draw(st.sampled_from([1, 4, 16])),
    )
    hosts = draw(st.integers(1, 5))
    distribution = draw(st.sampled_from(["ShardedByS3Key", "FullyReplicated"]))
    assignment = draw(st.sampled_from(["round-robin", "contiguous"]))
    return sizes, hosts, distribution, assignment, storage, params, training


def _close(model_values, reference_values, what):
    model_values = np.asarray(model_values, dtype=float)
    reference_values = np.asarray(reference_values, dtype=float)
    assert np.allclose(model_values, reference_values, rtol=5e-3, atol=1e-9), (
        f"{what}: model {model_values} vs reference {reference_values}"
    )


@SEEDED
@given(cases())
def test_model_agrees_with_reference(case):
    sizes, hosts, distribution, assignment, storage, params, training = case
    kwargs = dict(
        hosts=hosts,
        storage=storage,
        distribution=distribution,
        assignment=assignment,
        params=params,
        training=training,
    )
    model = model_job(np.array(sizes), **kwargs)
    slow = reference.simulate(sizes, **kwargs)
    for mode, result in model.items():
        expected = slow[mode]
        _close(result.startup_s, expected["startup_s"], f"{mode} startup_s")
        _close(result.epoch_s, expected["epoch_s"], f"{mode} epoch_s")
        _close(result.barrier_s, expected["barrier_s"], f"{mode} barrier_s")
        _close(result.stall_s, expected["stall_s"], f"{mode} stall_s")
        assert result.gets.tolist() == expected["gets"], mode
        assert result.lists.tolist() == expected["lists"], mode


@pytest.mark.parametrize("assignment", ["round-robin", "contiguous"])
def test_shard_matches_sharding_module(assignment):
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 1000, size=103)
    shards = shard(sizes, 7, "ShardedByS3Key", assignment)
    per_host = sharding.host_object_indices(sharding.sharded_by_s3_key(103, 7, assignment), 7)
    for host, indices in enumerate(per_host):
        count = shards.counts[host]
        assert count == indices.size
        assert shards.sizes[:count, host].tolist() == sizes[indices].tolist()


def test_list_scheduling_finds_the_straggler():
    # One large object among small ones: with C connections the large one ends the download,
    # which an average rate (total bytes / (C x bandwidth)) would miss.
    sizes = np.array([10**6] * 8 + [10**8])
    storage = Storage(latency_s=0.01, connection_bps=1e8)
    result = model_job(
        sizes, hosts=1, storage=storage, params=PathParams(concurrency=4), modes=("file",)
    )["file"]
    average = sizes.sum() / (4 * 1e8) + 0.01 * sizes.size / 4
    # Eight small objects take two rounds of the four connections, then the large one alone.
    small = 0.01 + 1e6 / 1e8
    lone = 2 * small + 0.01 + 1e8 / 1e8
    assert result.startup_s[0] == pytest.approx(lone, rel=1e-9)
    assert result.startup_s[0] > 2 * average


def test_merged_items_stay_close_to_exact():
    rng = np.random.default_rng(5)
    sizes = np.maximum(1, rng.lognormal(np.log(50_000), 1.0, 12_000)).astype(np.int64)
    storage = Storage(latency_s=0.005, connection_bps=5e8, requests_per_s=900, list_page_s=0.1)
    kwargs = dict(
        hosts=3,
        storage=storage,
        params=PathParams(concurrency=8, prefetch=6),
        training=Training(compute_bps=3e8),
    )
    exact = model_job(sizes, **kwargs)
    merged = model_job(sizes, max_exact_items=400, **kwargs)
    # FastFile under a barrier is lumpier: a merged run completes several steps at once.
    tolerance = {"file": 0.01, "pipe": 0.01, "fastfile": 0.1}
    for mode in exact:
        a, b = exact[mode].job(), merged[mode].job()
        # Pipe and FastFile startup is the first request: merging must not move it.
        startup_tolerance = tolerance[mode] if mode == "file" else 1e-9
        assert b.startup_s == pytest.approx(a.startup_s, rel=startup_tolerance), mode
        assert b.epoch_s == pytest.approx(a.epoch_s, rel=tolerance[mode]), mode


def test_fully_replicated_hosts_share_one_timeline():
    sizes = np.arange(1, 50) * 1000
    storage = Storage(latency_s=0.01, connection_bps=1e8, requests_per_s=100)
    result = model_job(
        sizes, hosts=6, storage=storage, distribution="FullyReplicated", modes=("file",)
    )["file"]
    assert np.all(result.startup_s == result.startup_s[0])
    # Six hosts share 100 requests/s: each gets 1/6 of it.
    assert result.startup_s[0] >= sizes.size * 6 / 100


def test_a_burst_cost_delays_pipes_first_answer():
    """4 hosts open 8 requests each at once. With a burst cost of 1.25 ms per request the first
    answer comes after all 32 (0.04 s), and the endpoint answers in issue order: the last host's
    first request waits besides for the 24 gate slots issued before it at 400 GET/s (0.06 s).
    Without a burst cost, the first answer comes after one gate slot of the host (0.01 s)."""
    sizes = np.full(400, 1000, dtype=np.int64)
    params = PathParams(prefetch=8)
    base = dict(latency_s=0.002, connection_bps=1e9, requests_per_s=400.0)
    startup = {}
    for burst in (0.0, 0.00125):
        storage = Storage(**base, burst_s_per_request=burst)
        result = model_job(sizes, hosts=4, storage=storage, params=params, modes=("pipe",))
        startup[burst] = result["pipe"].startup_s
    assert startup[0.0].max() == pytest.approx(4 / 400 + 1000 / 1e9)
    assert startup[0.00125].min() == pytest.approx(32 * 0.00125)
    assert startup[0.00125].max() == pytest.approx(32 * 0.00125 + 24 / 400)


def test_timer_ticks_stretch_compute_steps():
    """A step of 2.5 ms on a 1 ms timer ends at the third tick, plus 0.1 ms of wake-up: ten steps
    hold the consumer 31 ms; the compute reported stays the nominal 25 ms, and the lateness is
    not stall."""
    sizes = np.full(10, 100_000, dtype=np.int64)
    training = Training(compute_bps=4e7, step_bytes=100_000)
    storage = Storage(latency_s=0.0, connection_bps=1e12, timer_tick_s=0.001, timer_wake_s=1e-4)
    result = model_job(sizes, hosts=1, storage=storage, training=training, modes=("file",))
    assert result["file"].epoch_s[0, 0] == pytest.approx(0.031)
    assert result["file"].compute_s[0, 0] == pytest.approx(0.025)
    assert result["file"].stall_s[0, 0] == pytest.approx(0.0)


def test_fastfile_checks_whole_objects_on_the_endpoints_cpu():
    """A 1 MB object that one 8 MiB part covers is checked against its ETag when verifying: at
    a 1 GB/s endpoint and 1 GB/s MD5 on the same CPU, its bytes take 2 ms instead of 1 ms."""
    sizes = np.array([10**6], dtype=np.int64)
    base = dict(latency_s=0.0, connection_bps=1e12, endpoint_bps=1e9, verify_bps=1e9)
    startup = {}
    for verify in (False, True):
        params = PathParams(verify_etag=verify)
        result = model_job(
            sizes,
            hosts=1,
            storage=Storage(**base, list_page_s=0.0),
            params=params,
            modes=("fastfile",),
        )
        startup[verify] = result["fastfile"].startup_s[0]
    assert startup[False] == pytest.approx(0.001)
    assert startup[True] == pytest.approx(0.002)


def test_verification_shares_the_endpoints_cpu():
    """100 MB into one host: 0.1 s at a 1 GB/s endpoint; hashing at 1 GB/s on the same CPU makes
    each byte cost twice as long (0.2 s); without an endpoint figure it caps the host at 1 GB/s."""
    sizes = np.full(100, 10**6, dtype=np.int64)
    base = dict(latency_s=0.0, connection_bps=1e12, verify_bps=1e9)
    startup = {}
    for endpoint, verify in ((1e9, False), (1e9, True), (0.0, True)):
        storage = Storage(**base, endpoint_bps=endpoint)
        params = PathParams(concurrency=4, verify_etag=verify)
        result = model_job(sizes, hosts=1, storage=storage, params=params, modes=("file",))
        startup[endpoint, verify] = result["file"].startup_s.max()
    assert startup[1e9, False] == pytest.approx(0.1)
    assert startup[1e9, True] == pytest.approx(0.2)
    assert startup[0.0, True] == pytest.approx(0.1)


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="allowed"):
        model_job(np.array([1]), hosts=1, storage=Storage(0.01, 1e8), modes=("tape",))


STORAGES = {
    # latency-bound, the gate provably never binds
    "slack": Storage(latency_s=0.03, connection_bps=9e7, nic_bps=1.25e9, requests_per_s=5500),
    # the shared request rate decides
    "gate": Storage(latency_s=0.005, connection_bps=2e9, requests_per_s=300, endpoint_bps=1e9),
    # a narrow link: small objects wait behind large ones
    "link": Storage(latency_s=0.002, connection_bps=5e8, nic_bps=2e8, verify_bps=7e8),
}


@pytest.mark.parametrize("storage_name", sorted(STORAGES))
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("readers", [1, 4, 16])
def test_rounds_and_blocks_agree_with_reference(monkeypatch, storage_name, wide, readers):
    """Skewed sizes with empty objects among them, over more rounds and blocks than the
    hypothesis cases reach: rounds that break part-way, blocks first computed without the
    clocks and redone with them, Pipe steps found and handed over block by block, FastFile
    rows taken a few at a time, and (``wide``) the per-row accumulation used for many hosts."""
    from bench.core import model as model_module

    monkeypatch.setattr(model_module, "COST_BLOCK_ITEMS", 24)
    monkeypatch.setattr(model_module, "STEP_BLOCK_ITEMS", 16)
    monkeypatch.setattr(model_module, "FASTFILE_BLOCK_CELLS", 700)
    monkeypatch.setattr(model_module, "ACCUMULATE_MAX_ROWS", 0 if wide else 64)
    rng = np.random.default_rng(17)
    sizes = rng.pareto(1.3, 2_400) * 200_000
    sizes = np.where(rng.random(sizes.size) < 0.03, 0, sizes + 1).astype(np.int64)
    kwargs = dict(
        hosts=7,
        storage=STORAGES[storage_name],
        params=PathParams(concurrency=6, prefetch=5, verify_etag=True),
        training=Training(compute_bps=4e8, step_bytes=300_000, readers=readers),
    )
    model = model_job(sizes, **kwargs)
    slow = reference.simulate(sizes.tolist(), **kwargs)
    for mode, result in model.items():
        _close(result.startup_s, slow[mode]["startup_s"], f"{mode} startup_s")
        _close(result.epoch_s, slow[mode]["epoch_s"], f"{mode} epoch_s")
        _close(result.stall_s, slow[mode]["stall_s"], f"{mode} stall_s")


def test_a_short_last_list_page_costs_less():
    """A page of k keys costs a full page less 0.1 ms per missing key: 10 keys list in
    0.2 - 990 x 1e-4 = 0.101 s, 2,500 keys in three pages, the last 500 short: 0.55 s."""
    storage = Storage(latency_s=0.0, connection_bps=1e9, list_page_s=0.2, list_key_s=1e-4)
    for objects, listing in ((10, 0.101), (2500, 0.55)):
        sizes = np.full(objects, 1000, dtype=np.int64)
        result = model_job(sizes, hosts=1, storage=storage, modes=("fastfile",))["fastfile"]
        assert result.listing_s[0] == pytest.approx(listing)
        assert result.lists[0] == -(-objects // 1000)


@SEEDED
@given(
    readers=st.sampled_from([1, 4, 16]),
    hosts=st.integers(1, 4),
    barrier=st.booleans(),
    compute_bps=st.sampled_from([0.0, 1e7, 1e9]),
    seed=st.integers(0, 2**16),
)
def test_readers_agree_with_reference(readers, hosts, barrier, compute_bps, seed):
    """Many small files over a few hosts, the case readers are for, at 1, 4 and 16 readers."""
    rng = np.random.default_rng(seed)
    sizes = (rng.lognormal(np.log(20_000), 0.8, 120) + 1).astype(np.int64)
    kwargs = dict(
        hosts=hosts,
        storage=STORAGES["gate"],
        params=PathParams(part_size=64 * 1024, read_ahead=1, verify_etag=True),
        training=Training(
            compute_bps=compute_bps, step_bytes=50_000, barrier=barrier, readers=readers
        ),
        modes=("fastfile",),
    )
    result = model_job(sizes, **kwargs)["fastfile"]
    slow = reference.simulate(sizes.tolist(), **kwargs)["fastfile"]
    for name in ("startup_s", "epoch_s", "stall_s", "barrier_s", "compute_s"):
        _close(getattr(result, name), slow[name], f"readers={readers} {name}")
    assert result.gets.tolist() == slow["gets"]


@SEEDED
@given(
    readers=st.sampled_from([2, 4, 8]),
    hosts=st.integers(2, 4),
    storage_name=st.sampled_from(sorted(STORAGES)),
    compute_bps=st.sampled_from([0.0, 1e7, 1e9]),
    tick_s=st.sampled_from([0.0, 0.001]),
    epochs=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_readers_under_a_barrier_agree_with_reference(
    readers, hosts, storage_name, compute_bps, tick_s, epochs, seed
):
    """Several readers with the step barrier on and several hosts: each host's lanes merged
    into one stream for its one consumer, the barrier syncing the hosts' consumer steps."""
    rng = np.random.default_rng(seed)
    sizes = (rng.lognormal(np.log(60_000), 1.0, 90) + 1).astype(np.int64)
    storage = replace(STORAGES[storage_name], timer_tick_s=tick_s, timer_wake_s=tick_s / 10)
    kwargs = dict(
        hosts=hosts,
        storage=storage,
        params=PathParams(part_size=64 * 1024, read_ahead=1, verify_etag=bool(seed % 2)),
        training=Training(
            epochs=epochs,
            compute_bps=compute_bps,
            step_bytes=int(rng.choice([50_000, 300_000])),
            barrier=True,
            readers=readers,
            shuffle_seed=seed if seed % 3 else None,
        ),
        modes=("fastfile",),
    )
    result = model_job(sizes, **kwargs)["fastfile"]
    slow = reference.simulate(sizes.tolist(), **kwargs)["fastfile"]
    for name in ("startup_s", "epoch_s", "stall_s", "barrier_s", "compute_s"):
        _close(getattr(result, name), slow[name], f"readers={readers} hosts={hosts} {name}")
    assert result.gets.tolist() == slow["gets"]


@pytest.mark.parametrize("readers", [2, 4, 8])
def test_hosts_with_the_same_files_wait_nothing_at_the_barrier(readers):
    """Every host reads the same files in the same order, so their consumers reach every step
    together: the barrier costs no host anything, however many readers feed each."""
    hosts = 3
    rng = np.random.default_rng(readers)
    per_host = (rng.lognormal(np.log(400_000), 0.7, 40) + 1).astype(np.int64)
    result = model_job(
        np.repeat(per_host, hosts),  # round-robin deals each host the same list
        hosts=hosts,
        storage=STORAGES["gate"],
        params=PathParams(part_size=256 * 1024),
        training=Training(epochs=2, compute_bps=2e8, step_bytes=2**20, readers=readers),
        modes=("fastfile",),
    )["fastfile"]
    # Zero up to the rounding of the barrier's closed form.
    assert np.allclose(result.barrier_s, 0.0, atol=1e-12), result.barrier_s
    assert np.allclose(result.epoch_s, result.epoch_s[:, :1], rtol=0, atol=1e-12), result.epoch_s
    assert np.all(result.compute_s > 0)


def test_many_small_files_train_about_readers_times_faster():
    """Latency-bound small files with fast compute: R readers cut training time to about
    1/R until the request rate, the link or the compute binds."""
    sizes = np.full(4_000, 16 * 1024, dtype=np.int64)
    storage = Storage(latency_s=0.03, connection_bps=9e7, requests_per_s=5_500)
    epoch = {}
    for readers in (1, 2, 4, 8, 16):
        result = model_job(
            sizes,
            hosts=1,
            storage=storage,
            training=Training(compute_bps=2e9, step_bytes=2**20, readers=readers),
            modes=("fastfile",),
        )["fastfile"]
        epoch[readers] = float(result.epoch_s[0, 0])
    for readers in (2, 4, 8, 16):
        assert epoch[1] / epoch[readers] == pytest.approx(readers, rel=0.1), epoch
    # Compute binds: 4,000 x 16 KiB at 20 MB/s is 3.3 s however many readers read.
    slow_compute = {}
    for readers in (4, 64):
        slow_compute[readers] = model_job(
            sizes,
            hosts=1,
            storage=storage,
            training=Training(compute_bps=2e7, step_bytes=2**20, readers=readers),
            modes=("fastfile",),
        )["fastfile"].epoch_s[0, 0]
    compute_s = sizes.sum() / 2e7
    assert slow_compute[64] == pytest.approx(compute_s, rel=0.05)
    assert slow_compute[4] >= slow_compute[64]
