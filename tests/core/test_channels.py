"""Several input channels: the numpy composition by hand and against the slow reference."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core import reference
from bench.core.model import (
    MODES,
    ModeResult,
    PathParams,
    Storage,
    Training,
    compose_channels,
    model_job,
)

PER_HOST = ("startup_s", "end_s", "listing_s", "objects", "bytes", "gets", "lists")
PER_EPOCH = ("epoch_start_s", "epoch_end_s", "compute_s", "stall_s", "barrier_s")


def _result(mode, *, startup, listing, starts, ends, hosts=2):
    starts, ends = np.array(starts, dtype=float), np.array(ends, dtype=float)
    return ModeResult(
        mode=mode,
        objects=np.full(hosts, 3),
        bytes=np.full(hosts, 300),
        bytes_fetched=np.full(hosts, 300),
        gets=np.full(hosts, 3),
        lists=np.full(hosts, 1 if mode == "fastfile" else 0),
        startup_s=np.array(startup, dtype=float),
        end_s=ends[-1].copy(),
        listing_s=np.array(listing, dtype=float),
        epoch_start_s=starts,
        epoch_end_s=ends,
        compute_s=(ends - starts) / 2,
        stall_s=(ends - starts) / 4,
        barrier_s=np.zeros_like(starts),
    )


def test_two_channels_by_hand():
    # Training channel in File mode: downloads in 2 s (host 0) and 3 s (host 1); passes of 3
    # and 1 s (host 0), 4 and 2 s (host 1).
    train = _result(
        "file", startup=[2, 3], listing=[0, 0], starts=[[2, 3], [5, 7]], ends=[[5, 7], [6, 9]]
    )
    # Validation channel in FastFile: lists in 1 s, first data 0.5 s (0.2 s) later; passes of
    # 1 and 2 s (host 0), 1 and 1 s (host 1).
    validation = _result(
        "fastfile",
        startup=[1.5, 1.2],
        listing=[1, 1],
        starts=[[1.5, 1.2], [2.5, 2.2]],
        ends=[[2.5, 2.2], [4.5, 3.2]],
    )
    composed = compose_channels([train, validation], mode="file", names=("train", "val"))
    # Host 0: setup 2 + 1 = 3; epoch 0: train 3-6, wait 0.5, validation 6.5-7.5;
    # epoch 1: train 7.5-8.5, validation 8.5-10.5.
    # Host 1: setup 3 + 1 = 4; epoch 0: train 4-8, wait 0.2, validation 8.2-9.2;
    # epoch 1: train 9.2-11.2, validation 11.2-12.2.
    placed_train, placed_val = composed.channels
    assert composed.channel("val") is placed_val
    np.testing.assert_allclose(placed_train.startup_s, [3, 4])
    np.testing.assert_allclose(placed_train.epoch_start_s, [[3, 4], [7.5, 9.2]])
    np.testing.assert_allclose(placed_train.epoch_end_s, [[6, 8], [8.5, 11.2]])
    np.testing.assert_allclose(placed_train.end_s, [8.5, 11.2])
    np.testing.assert_allclose(placed_val.listing_s, [3, 4])
    np.testing.assert_allclose(placed_val.startup_s, [6.5, 8.2])
    np.testing.assert_allclose(placed_val.epoch_start_s, [[6.5, 8.2], [8.5, 11.2]])
    np.testing.assert_allclose(placed_val.epoch_end_s, [[7.5, 9.2], [10.5, 12.2]])
    job = composed.job
    assert job.mode == "file"
    np.testing.assert_allclose(job.startup_s, [3, 4])
    np.testing.assert_allclose(job.end_s, [10.5, 12.2])
    np.testing.assert_allclose(job.epoch_start_s, [[3, 4], [7.5, 9.2]])
    np.testing.assert_allclose(job.epoch_end_s, [[7.5, 9.2], [10.5, 12.2]])
    np.testing.assert_allclose(job.listing_s, [1, 1])
    np.testing.assert_allclose(job.compute_s, train.compute_s + validation.compute_s)
    assert job.gets.tolist() == [6, 6]
    assert job.lists.tolist() == [1, 1]
    # A channel keeps its own work: its passes last what they lasted alone.
    np.testing.assert_allclose(placed_val.epoch_s, validation.epoch_s)


def test_pipe_training_channel_waits_for_its_first_chunk():
    train = _result(
        "pipe", startup=[0.25, 0.5], listing=[0, 0], starts=[[0.25, 0.5]], ends=[[1, 2]]
    )
    other = _result("file", startup=[2, 1], listing=[0, 0], starts=[[2, 1]], ends=[[3, 3]])
    job = compose_channels([train, other], mode="pipe").job
    # Setup is the File channel's download (2 s, 1 s); then the first chunk 0.25 s (0.5 s) on.
    np.testing.assert_allclose(job.startup_s, [2.25, 1.5])
    np.testing.assert_allclose(job.epoch_end_s, [[2.25 + 0.75 + 1, 1.5 + 1.5 + 2]])


def test_one_channel_is_that_channel():
    sizes = np.random.default_rng(4).integers(1, 2**20, size=17)
    storage = Storage(latency_s=0.01, connection_bps=1e8, list_page_s=0.05, requests_per_s=200)
    alone = model_job(sizes, hosts=3, storage=storage, training=Training(epochs=2))
    for mode, result in alone.items():
        composed = compose_channels([result], mode=mode)
        for name in PER_HOST + PER_EPOCH:
            assert np.array_equal(
                getattr(composed.job, name), getattr(result, name), equal_nan=True
            ), (mode, name)


def test_channels_must_share_hosts_and_epochs():
    a = _result("file", startup=[1, 1], listing=[0, 0], starts=[[1, 1]], ends=[[2, 2]])
    b = _result(
        "file", startup=[1, 1], listing=[0, 0], starts=[[1, 1], [2, 2]], ends=[[2, 2], [3, 3]]
    )
    with pytest.raises(ValueError, match="differ"):
        compose_channels([a, b], mode="file")
    with pytest.raises(ValueError, match="at least one"):
        compose_channels([], mode="file")


def _storage(rng: np.random.Generator) -> Storage:
    return Storage(
        latency_s=float(rng.uniform(0.0005, 0.1)),
        connection_bps=float(rng.uniform(1e6, 1e9)),
        nic_bps=float(rng.choice([0.0, 5e6, 1e8])),
        requests_per_s=float(rng.choice([0.0, 50.0, 400.0])),
        endpoint_bps=float(rng.choice([0.0, 2e7])),
        volume_write_bps=float(rng.choice([0.0, 3e7])),
        volume_read_bps=float(rng.choice([0.0, 5e7])),
        list_page_s=float(rng.uniform(0.0, 0.5)),
        list_parallel=float(rng.choice([0.0, 2.0])),
        burst_s_per_request=float(rng.choice([0.0, 0.002])),
        timer_tick_s=float(rng.choice([0.0, 0.001])),
    )


def _close(model_values, reference_values, what):
    model_values = np.asarray(model_values, dtype=float)
    reference_values = np.asarray(reference_values, dtype=float)
    assert np.allclose(model_values, reference_values, rtol=5e-3, atol=1e-9), (
        f"{what}: model {model_values} vs reference {reference_values}"
    )


def _agree(model: ModeResult, slow: dict, what: str) -> None:
    for name in PER_HOST + PER_EPOCH:
        _close(getattr(model, name), slow[name], f"{what} {name}")


@pytest.mark.parametrize("seed", range(40))
def test_composition_agrees_with_reference(seed):
    rng = np.random.default_rng([7, seed])
    channels = 2 + seed % 2
    hosts = int(rng.integers(1, 5))
    storage = _storage(rng)
    params = PathParams(
        concurrency=int(rng.integers(1, 5)),
        prefetch=int(rng.integers(1, 4)),
        part_size=int(rng.choice([256 * 1024, 2**20])),
        read_ahead=int(rng.integers(0, 3)),
    )
    training = Training(
        epochs=int(rng.integers(1, 3)),
        compute_bps=float(rng.choice([0.0, 5e7])),
        step_bytes=int(rng.choice([100_000, 2**20])),
        barrier=seed % 4 < 2,
        shuffle_seed=int(rng.choice([0, 3])) or None,
    )
    models, slows = [], []
    for c in range(channels):
        mode = MODES[(seed + c) % 3]
        sizes = rng.integers(1, 2 * 2**20, size=int(rng.integers(1, 25)))
        distribution = "FullyReplicated" if (seed // 3 + c) % 3 == 0 else "ShardedByS3Key"
        kwargs = dict(
            hosts=hosts,
            storage=storage,
            distribution=distribution,
            params=params,
            training=training,
            modes=(mode,),
        )
        models.append(model_job(sizes, **kwargs)[mode])
        slows.append((mode, reference.simulate(sizes.tolist(), **kwargs)[mode]))
    composed = compose_channels(models, mode=MODES[seed % 3])
    expected = reference.simulate_channels(slows)
    _agree(composed.job, expected["job"], "job")
    for c, (placed, slow) in enumerate(zip(composed.channels, expected["channels"], strict=True)):
        _agree(placed, slow, f"channel {c} ({placed.mode})")
