"""A whole training job planned from the model: every channel planned with the plan functions,
combined as the module says (File downloads add before the first step, streaming starts at
once, the training channel drives training, the others add one pass per epoch), and the
volume and modes recommended. Synthetic sizes: no endpoint is contacted."""

from __future__ import annotations

import json
import math

import pytest

from bench.analysis import jobplan
from bench.analysis.plan import volume_limit
from bench.config.job import channel_scenarios, load_job, load_sidecar
from bench.report.capacity import size_volume
from tests.config.test_job import create_request, s3_channel

SIDECAR = """
[training]
epochs = 2
compute_rate = "200MB/s"
[storage]
# A closed port: a plan of synthetic channels must never contact it.
endpoint = "http://127.0.0.1:9"
[channels.train]
objects = 400
sizes = { distribution = "lognormal", median = "256KiB", sigma = 1.0 }
seed = 3
[channels.validation]
objects = 60
sizes = { distribution = "lognormal", median = "256KiB", sigma = 1.0 }
seed = 4
"""


def write_job(tmp_path, raw, sidecar):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(raw))
    (tmp_path / "job.stagebench.toml").write_text(sidecar)
    return path


def planned(tmp_path, raw, sidecar=SIDECAR, counts=None):
    path = write_job(tmp_path, raw, sidecar)
    job = load_job(path)
    scenarios = channel_scenarios(job, load_sidecar(path))
    return jobplan.plan_job(
        job, scenarios, counts=counts, results_root=tmp_path / "results", workers=1
    )


@pytest.fixture
def two_channel_plan(tmp_path):
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"),
        s3_channel("validation", "s3://data-bucket/validation/", mode="FastFile"),
        count=3,
    )
    return planned(tmp_path, raw)


def test_two_channels_combine_as_stated(two_channel_plan):
    plan = two_channel_plan
    assert plan.training_channel == "train" and list(plan.channels) == ["train", "validation"]
    given = plan.as_given
    assert dict(given.modes) == {"train": "file", "validation": "fastfile"}
    train = plan.channels["train"].answers[3]
    validation = plan.channels["validation"].answers[3]
    # The File channel's copy stands before the first step; the FastFile channel streams.
    assert dict(given.downloads_s) == {"train": train.modes["file"].startup_s}
    assert given.first_step_s == train.modes["file"].startup_s
    assert given.training_s == train.modes["file"].training_s
    # The streaming validation channel adds its whole data path: listing, first reads, passes.
    assert given.validation_s == validation.modes["fastfile"].model.end_s
    assert given.job_s == pytest.approx(given.first_step_s + given.training_s + given.validation_s)
    assert given.gets == train.modes["file"].gets + validation.modes["fastfile"].gets
    assert (
        given.volume.volume_gb == size_volume(train.largest_shard_bytes, plan.allowances).volume_gb
    )
    context = plan.training.context
    hourly = context.instance.hourly_price
    assert given.instance_usd == pytest.approx(3 * given.job_s / 3600 * hourly)


def test_every_file_channel_counts_before_the_first_step_and_on_the_volume(two_channel_plan):
    plan = two_channel_plan
    both_file = jobplan.job_totals(
        plan.channels, 3, {"train": "file", "validation": "file"}, plan.allowances
    )
    train = plan.channels["train"].answers[3]
    validation = plan.channels["validation"].answers[3]
    # The platform's phases stand once before the first step, then each File channel's copy.
    validation_copy = validation.modes["file"].model.startup_s
    assert validation_copy < validation.modes["file"].startup_s
    assert both_file.first_step_s == pytest.approx(train.modes["file"].startup_s + validation_copy)
    assert both_file.downloads_s["validation"] == validation_copy
    shards = train.largest_shard_bytes + validation.largest_shard_bytes
    assert both_file.volume.volume_gb == size_volume(shards, plan.allowances).volume_gb
    streamed = jobplan.job_totals(
        plan.channels, 3, {"train": "pipe", "validation": "pipe"}, plan.allowances
    )
    # Only the training channel's first records stand before the first step when streaming.
    assert streamed.first_step_s == train.modes["pipe"].startup_s
    assert streamed.downloads_s == {} and streamed.file_shards == {}
    assert streamed.volume.volume_gb == size_volume(0, plan.allowances).volume_gb


def test_recommendation_follows_each_channels_plan(two_channel_plan):
    plan = two_channel_plan
    chosen = plan.chosen
    assert chosen.hosts == 3 and not plan.swept
    for name, channel in plan.channels.items():
        assert chosen.totals.modes[name] == channel.answers[3].recommended_mode
        assert chosen.reasons[name]
    inputs = jobplan.recommendation_inputs(plan)
    assert inputs["input_modes"] == dict(chosen.totals.modes)
    assert inputs["volume_size_gb"] == chosen.totals.volume.volume_gb
    assert inputs["instance_count"] is None  # no sweep: the job's count stays
    assert "VolumeSizeInGB" in inputs["reasons"]
    document = jobplan.job_plan_json(plan)
    assert set(document["channels"]) == {"train", "validation"}
    assert document["channels"]["train"]["is_training"] is True
    assert document["as_given"]["input_modes"] == {"train": "File", "validation": "FastFile"}
    assert {f["check"] for f in document["findings"]} >= {"volume", "runtime"}
    json.dumps(document)  # serialisable as it is


def test_a_sweep_chooses_a_count_and_plans_the_job_as_given_too(tmp_path):
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"), count=3
    )
    sidecar = SIDECAR.split("[channels.validation]")[0]
    plan = planned(tmp_path, raw, sidecar, counts=[2, 8])
    assert plan.swept and plan.counts == [2, 8]
    assert [a.hosts for a in plan.answers] == [2, 8]
    assert set(plan.channels["train"].answers) == {2, 3, 8}  # 3: the job as given
    assert plan.as_given.hosts == 3
    fitting = [a for a in plan.answers if math.isfinite(a.totals.au) and a.totals.au >= 0.9]
    expected = max(fitting, key=lambda a: a.hosts) if fitting else plan.answers[0]
    assert plan.chosen.hosts == expected.hosts
    assert jobplan.recommendation_inputs(plan)["instance_count"] == plan.chosen.hosts


def test_file_channels_that_fit_alone_but_not_together_are_moved_to_streaming(tmp_path):
    """Two FullyReplicated File channels of 60 GiB each on ml.g4dn.xlarge (125 GB local NVMe),
    read over 10 epochs, so each channel's own plan keeps File: each fits alone, both do not."""
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/", mode="File"),
        s3_channel("extra", "s3://data-bucket/extra/", mode="File"),
        instance="ml.g4dn.xlarge",
        count=1,
        volume=200,
    )
    sidecar = (
        "[training]\ncompute_rate = '2GB/s'\nepochs = 10\n"
        "[channels.train]\nobjects = 60\nsizes = {distribution = 'fixed', size = '1GiB'}\n"
        "[channels.extra]\nobjects = 60\nsizes = {distribution = 'fixed', size = '1GiB'}\n"
    )
    plan = planned(tmp_path, raw, sidecar)
    limit, _ = volume_limit(plan.training.context.instance)
    assert plan.as_given.volume.volume_gb > limit
    assert plan.chosen.totals.volume.volume_gb <= limit
    assert all(c.answers[1].recommended_mode == "file" for c in plan.channels.values())
    assert list(plan.chosen.switched) == ["train"]  # equal shards: the first of the largest
    assert plan.chosen.totals.modes["extra"] == "file"
    for name in plan.chosen.switched:
        assert plan.chosen.totals.modes[name] != "file"
        assert "largest shard" in plan.chosen.reasons[name]
    severities = {f.check: f.severity for f in plan.findings}
    assert severities["volume"] == "error" and severities["local-disk"] == "error"
    inputs = jobplan.recommendation_inputs(plan)
    # On local NVMe the volume is the disk: only a value above it changes, to the disk.
    assert inputs["volume_size_gb"] == math.floor(plan.training.context.instance.local_nvme_gib)
