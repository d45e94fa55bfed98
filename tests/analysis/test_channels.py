"""The model of a several-channel scenario: each channel alone, composed per job mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.analysis.channels import keys_in_bucket, model_channels, profile_storage
from bench.analysis.inputs import model_arguments, scenario_storage
from bench.config.profile import load_profile
from bench.config.scenario import build_scenario
from bench.core.model import model_job
from bench.run.dataset import build_dataset

SIZES = {"distribution": "lognormal", "median": "64KiB", "sigma": 1.0}
PER_HOST = ("startup_s", "end_s", "listing_s", "objects", "bytes", "bytes_fetched", "gets")
PER_EPOCH = ("epoch_start_s", "epoch_end_s", "compute_s", "stall_s", "barrier_s")


def _two_channels(tmp_path: Path, modes=("file", "pipe", "fastfile")):
    raw = {
        "scenario": {"name": "two"},
        "channels": [
            {"name": "train", "objects": 300, "sizes": SIZES},
            {
                "name": "validation",
                "input_mode": "fastfile",
                "distribution": "FullyReplicated",
                "objects": 60,
                "sizes": SIZES,
            },
        ],
        "distribution": {"type": "ShardedByS3Key"},
        "cluster": {"hosts": 2},
        "training": {"epochs": 2},
        "modes": {"run": list(modes)},
    }
    return build_scenario(raw, path=tmp_path / "two.toml")


def _alone(scenario, channel, mode, sizes, storage_for):
    """One channel modelled alone as the job playing ``mode`` would play it."""
    one_channel = scenario.channel_scenario(channel, mode)
    return model_job(
        **model_arguments(one_channel, sizes[channel.name]),
        storage=storage_for(one_channel, sum(s.size for s in sizes.values())),
        prefix_objects=sizes[channel.name].size,
    )[channel.mode_in(mode)]


def _sizes(scenario):
    return {c.name: build_dataset(c.dataset).sizes for c in scenario.channels}


def test_two_channels_every_job_mode(tmp_path):
    scenario = _two_channels(tmp_path)
    sizes = _sizes(scenario)
    profile = load_profile("embedded")
    asked = []

    def storage_for(one_channel, keys):
        asked.append((one_channel.channels[0].name, keys))
        return scenario_storage(profile, one_channel, keys_in_bucket=keys)

    composed = model_channels(scenario, sizes, storage_for)
    assert list(composed) == list(scenario.modes)
    # The validation channel plays FastFile in every job mode: modelled once, not per mode.
    assert asked == [("train", 360), ("validation", 360)]
    for mode, result in composed.items():
        assert result.names == ("train", "validation")
        placed_train, placed_val = result.channels
        assert (placed_train.mode, placed_val.mode) == (mode, "fastfile")
        job = result.job
        assert job.mode == mode
        assert job.objects.sum() == sizes["train"].size + 2 * sizes["validation"].size
        assert np.array_equal(job.gets, placed_train.gets + placed_val.gets)
        # Each epoch: the training pass, then the validation pass.
        np.testing.assert_allclose(job.epoch_start_s, placed_train.epoch_start_s)
        np.testing.assert_allclose(job.epoch_end_s, placed_val.epoch_end_s)
        assert np.all(placed_val.epoch_start_s >= placed_train.epoch_end_s - 1e-12)
        assert np.all(job.end_s >= placed_train.end_s)
        # The validation listing is the setup's last part, after the training channel's
        # download (File) or listing (FastFile).
        train_alone, val_alone = (
            _alone(scenario, channel, mode, sizes, storage_for) for channel in scenario.channels
        )
        train_setup = {"file": train_alone.startup_s, "fastfile": train_alone.listing_s}
        before = train_setup.get(mode, 0.0)
        np.testing.assert_allclose(placed_val.listing_s, before + val_alone.listing_s)
        listed = val_alone.listing_s + (train_alone.listing_s if mode == "fastfile" else 0.0)
        np.testing.assert_allclose(job.listing_s, listed)
        np.testing.assert_allclose(placed_val.epoch_s, val_alone.epoch_s)
    # The validation pass takes the same time whatever the job plays.
    val_epochs = [r.channel("validation").epoch_s for r in composed.values()]
    for other in val_epochs[1:]:
        np.testing.assert_allclose(other, val_epochs[0])


def test_one_channel_scenario_is_model_job(tmp_path):
    raw = {
        "scenario": {"name": "one"},
        "dataset": {"objects": 120, "sizes": SIZES},
        "cluster": {"hosts": 3},
        "training": {"epochs": 2, "barrier": True},
        "modes": {"run": ["file", "pipe", "fastfile"]},
    }
    scenario = build_scenario(raw, path=tmp_path / "one.toml")
    sizes = build_dataset(scenario.dataset).sizes
    storage = scenario_storage(load_profile("embedded"), scenario, keys_in_bucket=sizes.size)
    alone = model_job(
        storage=storage, prefix_objects=sizes.size, **model_arguments(scenario, sizes)
    )
    composed = model_channels(scenario, {scenario.channels[0].name: sizes}, storage)
    for mode, result in alone.items():
        for name in PER_HOST + PER_EPOCH:
            expected, got = getattr(result, name), getattr(composed[mode].job, name)
            assert np.array_equal(got, expected, equal_nan=True), (mode, name)


def test_keys_in_bucket_counts_the_channels_sharing_it(tmp_path):
    scenario = _two_channels(tmp_path, modes=("pipe",))
    sizes = _sizes(scenario)
    for channel in scenario.channels:
        assert keys_in_bucket(scenario, channel, sizes) == sum(s.size for s in sizes.values())
    storage = profile_storage(load_profile("embedded"))
    composed = model_channels(scenario, sizes, storage)
    assert composed["pipe"].channel("validation").mode == "fastfile"


def test_missing_sizes_name_the_channel(tmp_path):
    scenario = _two_channels(tmp_path, modes=("pipe",))
    sizes = _sizes(scenario)
    del sizes["validation"]
    with pytest.raises(ValueError, match="validation"):
        model_channels(scenario, sizes, profile_storage(load_profile("embedded")))
