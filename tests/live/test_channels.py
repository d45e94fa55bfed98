"""A job of several channels, live on the embedded server: every channel's bytes, its own
folder, FIFOs and listing, the setup before training and a validation pass after each epoch."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from bench.core.content import content_block, object_range
from bench.live.base import epoch_order
from bench.run.dataset import build_dataset
from bench.run.runner import shard_plans
from tests.support import quiet_run, two_channel_scenario


def _job(
    tmp_path, url, prefix, *, validation_mode=None, modes=("file", "pipe"), hosts=2, engine=None
):
    training = {
        "epochs": 2,
        "shuffle_seed": 3,
        "verify": True,
        "step_bytes": "8KiB",
        "readers": 1,
    }
    sections = {"cluster": {"hosts": hosts, "concurrency": 4}, "training": training}
    if engine:
        sections["execution"] = {"engine": engine, "dask": "local:2"}
    return two_channel_scenario(
        tmp_path,
        url,
        prefix,
        objects=(20, 10),
        validation_mode=validation_mode,
        modes={"run": list(modes)},
        **sections,
    )


def _expected(scenario):
    """sha256 of each (channel, host, epoch) stream from the deterministic source content."""
    expected = {}
    for channel in scenario.channels:
        dataset = build_dataset(channel.dataset)
        block = content_block(channel.dataset.seed)
        plans = shard_plans(
            dataset, scenario.cluster.hosts, channel.distribution.type, "round-robin"
        )
        for plan in plans:
            for epoch in range(scenario.training.epochs):
                digest = hashlib.sha256()
                for i in epoch_order(len(plan.keys), scenario.training.shuffle_seed, epoch):
                    index = int(plan.content_index[i])
                    digest.update(object_range(block, index, 0, int(plan.sizes[i])))
                expected[(channel.name, plan.host, epoch)] = digest.hexdigest()
    return expected


def test_a_training_and_a_fastfile_validation_channel_deliver_every_byte(
    tmp_path, embedded, unique_prefix
):
    scenario = _job(tmp_path, embedded.url, unique_prefix, validation_mode="fastfile")
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    channel_epochs = pd.read_csv(result.run_dir / "channel_epochs.csv")
    expected = _expected(scenario)
    # 2 job modes × 2 channels × 2 hosts × 2 epochs, each pass the channel's exact bytes.
    assert len(channel_epochs) == 16
    for row in channel_epochs.itertuples():
        assert row.sha256 == expected[(row.channel, row.host, row.epoch)], row
    channels = pd.read_csv(result.run_dir / "channels.csv")
    assert set(channels.loc[channels["channel"] == "validation", "input_mode"]) == {"fastfile"}
    assert set(channels.loc[channels["channel"] == "train", "input_mode"]) == {"file", "pipe"}
    # Pipe's FIFOs are named after the channel and the epoch.
    pipe_train = channel_epochs[(channel_epochs["mode"] == "pipe")]
    pipe_train = pipe_train[pipe_train["channel"] == "train"]
    assert set(pipe_train["source"]) == {"train_0", "train_1"}
    # The FastFile channel lists its own prefix, once per host and job mode; nothing else lists.
    events = result.events
    lists = events[events["op"] == "LIST"]
    assert set(lists["channel"]) == {"validation"} and len(lists) == 2 * 2
    assert set(events["channel"]) == {"train", "validation"}


def test_every_epoch_trains_then_validates_and_the_job_rows_add_the_channels(
    tmp_path, embedded, unique_prefix
):
    scenario = _job(tmp_path, embedded.url, unique_prefix, modes=("file",))
    result = quiet_run(scenario, tmp_path, keep_volumes=True)
    assert result.status == "ok", result.summary["error"]
    passes = pd.read_csv(result.run_dir / "channel_epochs.csv")
    channels = pd.read_csv(result.run_dir / "channels.csv").set_index(["channel", "host"])
    for host in range(2):
        mine = passes[passes["host"] == host].set_index(["epoch", "channel"])
        # Both File channels are on the volume before the first step of either.
        downloaded = channels.loc[[("train", host), ("validation", host)], "download_s"].max()
        assert mine.loc[(0, "train"), "start_s"] >= downloaded
        for epoch in range(2):
            assert mine.loc[(epoch, "validation"), "start_s"] >= mine.loc[(epoch, "train"), "end_s"]
        if host == 0:
            assert mine.loc[(1, "train"), "start_s"] >= mine.loc[(0, "validation"), "end_s"]
        # The job's epoch runs from its training pass to its validation pass.
        job = result.epochs[(result.epochs["host"] == host)].set_index("epoch")
        for epoch in range(2):
            assert job.loc[epoch, "start_s"] == pytest.approx(
                mine.loc[(epoch, "train"), "start_s"], abs=1e-5
            )
            assert job.loc[epoch, "end_s"] == pytest.approx(
                mine.loc[(epoch, "validation"), "end_s"], abs=1e-5
            )
            assert job.loc[epoch, "bytes"] == mine.loc[epoch, "bytes"].sum()
        job_host = result.hosts.set_index("host").loc[host]
        assert (
            job_host["objects"]
            == channels.loc[[("train", host), ("validation", host)], "objects"].sum()
        )
        assert job_host["startup_s"] == pytest.approx(
            channels.loc[("train", host), "startup_s"], abs=1e-5
        )
    # Each channel in its own folder of the volume, as /opt/ml/input/data/<channel>.
    volumes = list((tmp_path / "vol").glob("stagebench-volumes-*/host-0000/data"))
    assert len(volumes) == 1
    held = {p.name for p in volumes[0].iterdir()}
    assert held == {"train", "validation"}
    assert len(list((volumes[0] / "validation").rglob("*"))) == 10  # replicated: every object
    summary = json.loads((result.run_dir / "summary.json").read_text())
    figures = summary["channels"]
    assert set(figures) == {"train", "validation"}
    assert figures["validation"]["role"] == "validation"
    assert figures["train"]["modes"]["file"]["objects"] == 20
    assert figures["validation"]["modes"]["file"]["objects"] == 2 * 10
    assert summary["modes"]["file"]["objects"] == 20 + 2 * 10


def test_a_pipe_validation_channel_streams_its_own_fifo(tmp_path, embedded, unique_prefix):
    scenario = _job(tmp_path, embedded.url, unique_prefix, modes=("pipe",), hosts=1)
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    passes = pd.read_csv(result.run_dir / "channel_epochs.csv")
    assert set(passes["source"]) == {"train_0", "train_1", "validation_0", "validation_1"}
    expected = _expected(scenario)
    for row in passes.itertuples():
        assert row.sha256 == expected[(row.channel, row.host, row.epoch)]


def test_on_dask_each_host_plays_its_channels_in_its_task(tmp_path, embedded, unique_prefix):
    scenario = _job(
        tmp_path, embedded.url, unique_prefix, validation_mode="fastfile", modes=("pipe",),
        engine="dask",
    )  # fmt: skip
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    passes = pd.read_csv(result.run_dir / "channel_epochs.csv")
    assert len(passes) == 2 * 2 * 2  # channels × hosts × epochs
    expected = _expected(scenario)
    for row in passes.itertuples():
        assert row.sha256 == expected[(row.channel, row.host, row.epoch)], row
    for host in range(2):
        mine = passes[passes["host"] == host].set_index(["epoch", "channel"])
        for epoch in range(2):
            assert mine.loc[(epoch, "validation"), "start_s"] >= mine.loc[(epoch, "train"), "end_s"]
    lists = result.events[result.events["op"] == "LIST"]
    assert set(lists["channel"]) == {"validation"} and len(lists) == 2
