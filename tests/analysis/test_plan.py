"""The plan library: dataset sizes from each source, compute units, instances, answers, sweeps."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import boto3
import numpy as np
import pandas as pd
import pytest

from bench.analysis import plan
from bench.config.profile import load_instances, resolve_instance
from bench.config.scenario import build_scenario
from bench.errors import ScenarioError, StagebenchError
from bench.vocabulary import MODES

SYNTHETIC = {"distribution": "lognormal", "median": "1MiB", "sigma": 0.8}


def scenario(tmp_path, **sections):
    raw: dict[str, dict] = {
        "scenario": {"name": "plan-test"},
        "dataset": {"objects": 2_000, "seed": 3, "sizes": SYNTHETIC},
        "cluster": {"hosts": 4, "instance": "ml.g5.12xlarge"},
        "distribution": {"type": "ShardedByS3Key"},
        "training": {"compute_rate": "200MB/s"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    for name, values in list(raw.items()):
        raw[name] = {k: v for k, v in values.items() if v is not None}
    return build_scenario(raw, path=tmp_path / "plan.toml")


def context_for(tmp_path, platform="none", platform_section=None, **sections):
    """A plan's context; ``platform`` is ``--platform`` (None: the scenario's or the default),
    ``platform_section`` the scenario's [platform]."""
    if platform_section is not None:
        sections["platform"] = platform_section
    planned = scenario(tmp_path, **sections)
    sizes = plan.plan_sizes(planned, results_root=tmp_path / "results")
    return plan.plan_context(planned, sizes.sizes, sizes_source=sizes.source, platform=platform)


# --- sources ----------------------------------------------------------------------------------


def test_synthetic_sizes_match_the_dataset_the_run_builds(tmp_path):
    from bench.run.dataset import build_dataset

    planned = scenario(tmp_path)
    sizes = plan.plan_sizes(planned, results_root=tmp_path)
    assert np.array_equal(sizes.sizes, build_dataset(planned.dataset).sizes)
    assert "synthetic" in sizes.source and sizes.listing is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_sizes_come_in_key_order(tmp_path, suffix):
    rng = np.random.default_rng(11)
    keys = [f"img/{i:05d}.jpg" for i in rng.permutation(500)]
    sizes = rng.integers(1, 10**6, 500)
    path = tmp_path / f"manifest{suffix}"
    frame = pd.DataFrame({"key": keys, "size": sizes})
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    planned = scenario(tmp_path, dataset={"objects": None, "sizes": None, "manifest": path.name})
    got = plan.plan_sizes(planned, results_root=tmp_path)
    expected = frame.sort_values("key")["size"].to_numpy()
    assert np.array_equal(got.sizes, expected)
    assert str(path) in got.source


def test_manifest_with_duplicate_keys_is_one_line(tmp_path):
    path = tmp_path / "dupes.csv"
    pd.DataFrame({"key": ["b", "a", "b"], "size": [1, 2, 3]}).to_csv(path, index=False)
    planned = scenario(tmp_path, dataset={"objects": None, "sizes": None, "manifest": path.name})
    with pytest.raises(ScenarioError, match="more than once"):
        plan.plan_sizes(planned, results_root=tmp_path)


def test_s3_listing_is_cached_and_relisted_on_request(tmp_path, embedded, unique_prefix):
    s3 = boto3.client("s3", **embedded.client_kwargs())
    bucket = "stagebench-tests"
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    written = {f"{unique_prefix}{name}": size for name, size in (("b", 30), ("a", 10), ("c", 7))}
    for key, size in written.items():
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    planned = scenario(
        tmp_path,
        dataset={"objects": None, "sizes": None, "uri": f"s3://{bucket}/{unique_prefix}"},
        storage={"endpoint": embedded.url},
    )
    first = plan.plan_sizes(planned, results_root=tmp_path)
    assert first.sizes.tolist() == [10, 30, 7]  # key order: a, b, c
    assert first.listing is not None and first.listing.parent.name == ".listings"
    assert first.listing_age_s == 0.0
    # A new object does not show until the listing is made again.
    s3.put_object(Bucket=bucket, Key=f"{unique_prefix}d", Body=b"y" * 5)
    time.sleep(0.05)
    second = plan.plan_sizes(planned, results_root=tmp_path)
    assert second.sizes.tolist() == [10, 30, 7]
    assert second.listing_age_s > 0 and "ago" in second.source and "--relist" in second.source
    third = plan.plan_sizes(planned, results_root=tmp_path, relist=True)
    assert third.sizes.tolist() == [10, 30, 7, 5]


# --- compute units ------------------------------------------------------------------------------


def test_compute_in_objects_per_second_becomes_bytes_through_the_mean_size(tmp_path):
    by_objects = context_for(tmp_path, training={"compute_rate": "50 objects/s"})
    mean = by_objects.sizes.mean()
    training = by_objects.scenario.training
    assert training.compute_unit == "objects/s"
    assert training.compute_bps_for(mean) == pytest.approx(50 * mean)
    assert "objects/s" in training.describe()
    by_bytes = context_for(tmp_path, training={"compute_rate": 50 * mean})
    a, b = plan.plan_hosts(by_objects, 4), plan.plan_hosts(by_bytes, 4)
    for mode in MODES:
        assert a.modes[mode].job_s == pytest.approx(b.modes[mode].job_s, rel=1e-6)


def test_step_time_with_a_batch_is_objects_per_second(tmp_path):
    context = context_for(
        tmp_path, training={"compute_rate": None, "step_time": "120ms", "batch_objects": 64}
    )
    training = context.scenario.training
    assert training.compute_unit == "step_time"
    assert training.compute_objects_per_s == pytest.approx(64 / 0.12)
    assert "120 ms" in training.describe() and "64" in training.describe()


@pytest.mark.parametrize(
    "training, match",
    [
        ({"step_time": "120ms"}, "go together"),
        ({"step_time": "120ms", "batch_objects": 8}, "not both"),
        ({"compute_rate": "many objects/s"}, "objects per second"),
        ({"compute_rate": None, "step_time": "soon", "batch_objects": 8}, "duration"),
    ],
)
def test_bad_compute_units_are_one_line(tmp_path, training, match):
    with pytest.raises(ScenarioError, match=match) as info:
        scenario(tmp_path, training=training)
    assert "\n" not in str(info.value)


# --- instances ----------------------------------------------------------------------------------


def test_every_family_has_a_preset_with_figures():
    instances = load_instances()
    for family in ("p3.", "p3dn", "p4d.", "p4de", "p5", "g4dn", "g5", "g6", "trn1", "c5", "m5"):
        found = [i for name, i in instances.items() if name.startswith(f"ml.{family}")]
        assert found, family
        assert all(i.nic_bps > 0 and i.hourly_price > 0 for i in found)


def test_unknown_instance_needs_its_figures(tmp_path):
    with pytest.raises(ScenarioError) as info:
        context_for(tmp_path, cluster={"instance": "ml.x99.huge"})
    message = str(info.value)
    assert "\n" not in message
    for key in ("cluster.nic_bandwidth", "cluster.local_nvme_gib", "cluster.hourly_price"):
        assert key in message
    context = context_for(
        tmp_path,
        cluster={
            "instance": "ml.x99.huge",
            "nic_bandwidth": "3GB/s",
            "local_nvme_gib": 0,
            "hourly_price": 9.5,
        },
    )
    assert context.instance.source == "scenario" and context.volume_kind == "gp2"
    assert context.instance.hourly_price == 9.5


def test_scenario_figures_win_over_a_preset():
    preset = load_instances()["ml.p4d.24xlarge"]
    resolved = resolve_instance(
        "ml.p4d.24xlarge", nic_bps=None, local_nvme_gib=None, hourly_price=20.0
    )
    assert resolved.hourly_price == 20.0 and resolved.nic_bps == preset.nic_bps
    assert resolved.local_nvme_gib == preset.local_nvme_gib
    assert resolved.source == "preset + scenario"


# --- answers ------------------------------------------------------------------------------------


def test_answer_costs_and_volume_follow_the_capacity_rules(tmp_path):
    from bench.report import capacity, whatif

    context = context_for(tmp_path, cluster={"instance": "ml.m5.xlarge"})
    answer = plan.plan_hosts(context, 4)
    assert context.volume_kind == "gp2"
    get_price, list_price = whatif.prices(context.profile)
    for _mode, figures in answer.modes.items():
        assert figures.job_s == pytest.approx(figures.startup_s + figures.training_s)
        assert figures.billable_s == figures.job_s and figures.starting_s == 0
        assert figures.downloading_s == figures.startup_s
        expected = 4 * figures.job_s / 3600 * context.instance.hourly_price
        expected += (figures.gets * get_price + figures.lists * list_price) / 1000
        assert figures.cost_usd == pytest.approx(expected)
    largest = answer.largest_shard_bytes
    assert (
        answer.modes["file"].volume_size_gb
        == capacity.size_volume(largest, context.allowances).volume_gb
    )
    assert answer.recommended_mode in MODES


def test_json_has_every_key_for_every_mode(tmp_path):
    context = context_for(tmp_path)
    answer = plan.plan_hosts(context, 4)
    document = plan.plan_json(context, answer)
    for key in ("schema_version", "hosts", "instance", "profile", "platform", "dataset"):
        assert key in document
    assert document["schema_version"] == 1 and document["platform"] is None
    assert document["dataset"]["objects"] == 2_000
    assert document["recommended_mode"] in MODES
    assert set(document["modes"]) == set(MODES)
    for figures in document["modes"].values():
        assert set(figures) == set(plan.MODE_JSON_KEYS)
    phased = context_for(tmp_path, platform="sagemaker")
    document = plan.plan_json(phased, plan.plan_hosts(phased, 4))
    assert document["platform"] == "sagemaker"
    for figures in document["modes"].values():
        assert set(figures) == set(plan.MODE_JSON_KEYS)
        assert all(figures[key] is not None for key in plan.MODE_JSON_KEYS)


def test_sweep_on_two_processes_equals_one_count_at_a_time(tmp_path):
    context = context_for(tmp_path)
    counts = [2, 4, 8, 16]
    parallel = plan.plan_sweep(context, counts, workers=2)
    assert [a.hosts for a in parallel] == counts
    for answer in parallel:
        alone = plan.plan_hosts(context, answer.hosts)
        for mode in MODES:
            assert answer.modes[mode].job_s == pytest.approx(alone.modes[mode].job_s)
    for mode in MODES:
        most = plan.max_hosts_for_au(parallel, mode)
        fitting = [a.hosts for a in parallel if a.modes[mode].au >= plan.AU_TARGET]
        assert most == (max(fitting) if fitting else None)
    table = plan.sweep_table(parallel)
    assert len(table) == len(counts) * 3 and math.isfinite(table["job_s"].sum())


def test_empty_dataset_cannot_be_planned(tmp_path):
    planned = scenario(tmp_path)
    with pytest.raises(StagebenchError, match="no objects"):
        plan.plan_context(planned, np.zeros(0, dtype=np.int64), sizes_source="none")


# --- platform phases ----------------------------------------------------------------------------


def write_platform(tmp_path, **numbers):
    """A platform file whose every phase is distinct, so a sum that picks the wrong phase shows."""
    text = "\n".join(
        [
            "[platform]", "version = 1", 'name = "test-platform"',
            "[starting]", f"seconds = {numbers.get('starting', 70.0)}",
            "[training]", f"image_s = {numbers.get('image', 11.0)}",
            "[file]", "fixed_s = 13.0", "per_object_ms = 2.0",
            "[pipe]", "fixed_s = 17.0",
            "[fastfile]", "fixed_s = 19.0", "list_keys_per_s = 500.0",
            "[uploading]", f"fixed_s = {numbers.get('uploading', 5.0)}", "bandwidth = 50e6",
            "[volume]", 'kind = "gp2"',
        ]
    )  # fmt: skip
    path = tmp_path / "test-platform.toml"
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize("platform", ["sagemaker", "file"])
def test_billable_is_downloading_training_and_uploading(tmp_path, platform):
    from bench.analysis.platform import scenario_phases
    from bench.report import whatif

    chosen = str(write_platform(tmp_path)) if platform == "file" else platform
    context = context_for(tmp_path, platform=chosen, cluster={"instance": "ml.m5.xlarge"})
    assert context.platform.phased and context.platform_name is not None
    answer = plan.plan_hosts(context, 4)
    get_price, list_price = whatif.prices(context.profile)
    for mode, figures in answer.modes.items():
        assert figures.billable_s == pytest.approx(
            figures.downloading_s + figures.training_phase_s + figures.uploading_s
        )
        assert figures.starting_s == context.platform.starting_s > 0
        assert figures.job_s == pytest.approx(figures.startup_s + figures.training_s)
        # Starting is waited for but not billed; everything before the first step counts.
        assert figures.startup_s > figures.starting_s + figures.downloading_s
        assert figures.job_s + figures.uploading_s == pytest.approx(
            figures.starting_s + figures.billable_s
        )
        expected = 4 * figures.billable_s / 3600 * context.instance.hourly_price
        expected += (figures.gets * get_price + figures.lists * list_price) / 1000
        assert figures.cost_usd == pytest.approx(expected), mode
        assert figures.model is not None and figures.model.end_s < figures.job_s
    # The phases are the platform layer's own, not a second formula.
    scenario_at = dataclasses.replace(context.at_hosts(4), modes=MODES)
    modelled = scenario_phases(
        scenario_at, context.sizes, profile=context.profile, platform=context.platform,
        instance=context.instance,
    )  # fmt: skip
    for mode in MODES:
        assert answer.modes[mode].billable_s == pytest.approx(modelled[mode].phases.billable_s)
        assert answer.modes[mode].startup_s == pytest.approx(modelled[mode].phases.first_step_s)


def test_platform_none_keeps_the_storage_only_relations(tmp_path):
    none = plan.plan_hosts(context_for(tmp_path, platform="none"), 4)
    sagemaker = plan.plan_hosts(context_for(tmp_path, platform="sagemaker"), 4)
    for mode in MODES:
        figures = none.modes[mode]
        assert figures.starting_s == 0 and figures.uploading_s == 0
        assert figures.downloading_s == figures.startup_s
        assert figures.billable_s == figures.job_s
        # The same data path with the platform's phases around it takes longer and costs more.
        assert sagemaker.modes[mode].job_s > figures.job_s
        assert sagemaker.modes[mode].instance_usd > figures.instance_usd
        assert sagemaker.modes[mode].training_s == pytest.approx(figures.training_s)


def test_scenario_platform_is_the_default_and_the_option_wins(tmp_path):
    path = write_platform(tmp_path)
    named = context_for(tmp_path, platform=None, platform_section={"name": path.name})
    assert named.platform.name == "test-platform"
    assert context_for(tmp_path, platform=None).platform.name == plan.DEFAULT_PLATFORM
    overridden = context_for(tmp_path, platform="none", platform_section={"name": path.name})
    assert overridden.platform_name is None


def test_missing_platform_file_is_one_line(tmp_path):
    from bench.config.platform import PlatformError

    with pytest.raises(PlatformError) as info:
        context_for(tmp_path, platform=str(tmp_path / "no-such-platform.toml"))
    assert "no such platform file" in str(info.value) and "\n" not in str(info.value)


def test_measured_answer_places_a_run_in_the_same_phases(tmp_path):
    from bench.analysis.platform import file_download_s, volume_throughput_bps
    from bench.config.platform import NONE, load_platform

    planned = scenario(tmp_path, cluster={"instance": "ml.m5.xlarge"})
    rng = np.random.default_rng(5)
    sizes = rng.integers(10_000, 2_000_000, 400)
    hosts_table = pd.DataFrame(
        [
            {"mode": mode, "host": host, "objects": 100, "bytes": int(sizes[host::4].sum())}
            for mode in MODES
            for host in range(4)
        ]
    )
    summary = {
        "dataset": {"objects": int(sizes.size)},
        "modes": {
            mode: {"hosts": 4, "startup_s": 3.0 + i, "end_s": 60.0 + i, "au": 0.9, "gets": 400}
            for i, mode in enumerate(MODES)
        },
    }
    none, _ = plan.measured_answer(planned, summary, hosts_table, sizes, platform=NONE)
    sagemaker = load_platform("sagemaker")
    phased, instance = plan.measured_answer(
        planned, summary, hosts_table, sizes, platform=sagemaker
    )
    for i, mode in enumerate(MODES):
        alone, figures = none.modes[mode], phased.modes[mode]
        assert alone.startup_s == 3.0 + i and alone.billable_s == alone.job_s == 60.0 + i
        assert alone.downloading_s == alone.startup_s and alone.starting_s == 0
        assert figures.billable_s == pytest.approx(
            figures.downloading_s + figures.training_phase_s + figures.uploading_s
        )
        assert figures.job_s == pytest.approx(figures.startup_s + figures.training_s)
        assert figures.training_s == pytest.approx(alone.training_s)
        assert figures.instance_usd == pytest.approx(
            4 * figures.billable_s / 3600 * instance.hourly_price
        )
    # File's Downloading is the platform's copy of the largest shard, not the run's reader.
    volume_bps = volume_throughput_bps(
        sagemaker.volume_kind, phased.file_volume.volume_gb, local_nvme_gib=0.0
    )
    expected = file_download_s(
        sagemaker,
        hosts_table[hosts_table["mode"] == "file"]["objects"].to_numpy(),
        hosts_table[hosts_table["mode"] == "file"]["bytes"].to_numpy(),
        volume_bps=volume_bps,
        nic_bps=instance.nic_bps,
    )
    assert phased.modes["file"].downloading_s == pytest.approx(expected)
