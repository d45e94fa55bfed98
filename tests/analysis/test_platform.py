"""Platform phases around the model's answer, and the platform profiles that feed them."""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.inputs import model_arguments, scenario_storage
from bench.analysis.platform import file_download_s, phases, volume_throughput_bps
from bench.config.platform import NONE, PlatformError, load_platform, parse_platform
from bench.config.profile import gp2_throughput_bps, load_profile
from bench.config.scenario import build_scenario
from bench.core.model import model_job
from bench.errors import ScenarioError

SAGEMAKER = load_platform("sagemaker")


def test_no_platform_passes_the_model_through():
    got = phases(
        "file",
        startup_s=3.0,
        training_s=10.0,
        objects=5,
        bytes_per_host=1e6,
        channel_objects=5,
        platform=NONE,
    )
    assert (got.starting_s, got.downloading_s, got.training_s, got.uploading_s) == (0, 3, 10, 0)
    assert got.billable_s == 13.0 and got.first_step_s == 3.0 and got.wall_s == 13.0


def test_sagemaker_phases_add_up():
    volume = volume_throughput_bps("gp2", 100)
    got = phases(
        "file",
        startup_s=3.0,
        training_s=10.0,
        objects=np.array([400, 500]),
        bytes_per_host=np.array([4e9, 5e9]),
        channel_objects=900,
        platform=SAGEMAKER,
        volume_bps=volume,
        upload_bytes=9e7,
    )
    expected_download = SAGEMAKER.file_fixed_s + 500 * SAGEMAKER.file_per_object_s + 5e9 / volume
    assert got.downloading_s == pytest.approx(expected_download)
    assert got.training_s == pytest.approx(SAGEMAKER.image_s + 10.0)
    assert got.uploading_s == pytest.approx(
        SAGEMAKER.uploading_fixed_s + 9e7 / SAGEMAKER.uploading_bandwidth_bps
    )
    # Billable = Downloading + Training + Uploading; Starting is waited for, not billed.
    assert got.billable_s == pytest.approx(got.downloading_s + got.training_s + got.uploading_s)
    assert got.wall_s == pytest.approx(got.starting_s + got.billable_s)
    assert got.first_step_s == pytest.approx(
        SAGEMAKER.starting_s + got.downloading_s + SAGEMAKER.image_s
    )


def test_fastfile_lists_at_the_platform_rate_and_pipe_starts_fixed():
    ff = phases(
        "fastfile",
        startup_s=2.5,
        training_s=10.0,
        objects=10,
        bytes_per_host=1e6,
        channel_objects=90_910,
        platform=SAGEMAKER,
        listing_s=2.0,
    )
    listing = 90_910 / SAGEMAKER.fastfile_list_keys_per_s
    assert ff.downloading_s == pytest.approx(SAGEMAKER.fastfile_fixed_s + listing)
    # The model's own listing leaves its startup: only the first read stays in Training.
    assert ff.training_s == pytest.approx(SAGEMAKER.image_s + 0.5 + 10.0)
    pipe = phases(
        "pipe",
        startup_s=0.2,
        training_s=10.0,
        objects=10,
        bytes_per_host=1e6,
        channel_objects=10,
        platform=SAGEMAKER,
    )
    assert pipe.downloading_s == SAGEMAKER.pipe_fixed_s
    assert pipe.first_step_s == pytest.approx(
        SAGEMAKER.starting_s + SAGEMAKER.pipe_fixed_s + SAGEMAKER.image_s + 0.2
    )


def test_file_download_is_the_platforms_not_cluster_concurrency():
    """SageMaker's downloader copies File's data: stagebench's reader concurrency moves the
    model's startup but not the platform's Downloading."""
    sizes = np.full(2000, 1 << 20, dtype=np.int64)
    downloads, startups = [], []
    for concurrency in (1, 64):
        scenario = build_scenario(
            {
                "dataset": {"objects": 2000, "sizes": {"distribution": "fixed", "size": "1MiB"}},
                "cluster": {"concurrency": concurrency},
            },
            path=Path("s.toml"),
        )
        storage = scenario_storage(load_profile("aws-s3-standard"), scenario, keys_in_bucket=2000)
        result = model_job(
            storage=storage, **{**model_arguments(scenario, sizes), "modes": ("file",)}
        )["file"]
        job = result.job()
        startups.append(job.startup_s)
        downloads.append(
            phases(
                "file",
                startup_s=job.startup_s,
                training_s=job.end_s - job.startup_s,
                objects=result.objects,
                bytes_per_host=result.bytes,
                channel_objects=2000,
                platform=SAGEMAKER,
                volume_bps=gp2_throughput_bps(30),
            ).downloading_s
        )
    assert startups[0] > 5 * startups[1]
    assert downloads[0] == downloads[1]


def test_volume_caps_file_download():
    small = file_download_s(SAGEMAKER, 100, 50e9, volume_bps=volume_throughput_bps("gp2", 100))
    large = file_download_s(SAGEMAKER, 100, 50e9, volume_bps=volume_throughput_bps("gp2", 400))
    assert large < small
    assert volume_throughput_bps("gp2", 400, local_nvme_gib=250) == 0.0
    assert volume_throughput_bps("gp3", 10) == volume_throughput_bps("gp3", 10_000)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_phases_refuse_bad_figures(bad):
    with pytest.raises(ValueError, match="startup_s"):
        phases(
            "file",
            startup_s=bad,
            training_s=1.0,
            objects=1,
            bytes_per_host=1.0,
            channel_objects=1,
            platform=SAGEMAKER,
        )


# --- platform profiles ------------------------------------------------------------------------


def test_every_number_in_the_preset_names_a_source():
    text = (resources.files("bench") / "profiles" / "sagemaker.toml").read_text()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = [0-9]", line) and not line.startswith("version"):
            assert lines[index - 1].startswith("#"), f"no source comment above {line!r}"
    assert text.count("ASSUMPTION") >= 4 and "Calibrate" in text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[platform]\nversion = 1\n[file]\nfixd_s = 1\n", "unknown key file.fixd_s"),
        ("[platform]\nversion = 1\n[fil]\n", "unknown section [fil]"),
        ("[platform]\nversion = 1\n[file]\nfixed_s = nan\n", "file.fixed_s = nan"),
        ("[platform]\nversion = 1\n[file]\nfixed_s = inf\n", "file.fixed_s = inf"),
        ("[platform]\nversion = 1\n[starting]\nseconds = -1\n", "from 0 to 86400"),
        ("[platform]\nversion = 1\n[starting]\nseconds = 1e9\n", "from 0 to 86400"),
        ('[platform]\nversion = 1\n[starting]\nseconds = "2"\n', "must be a number"),
        ('[platform]\nversion = 1\n[volume]\nkind = "io2"\n', "volume.kind"),
        ("[starting]\nseconds = 1\n", "platform.version is missing"),
        ("[platform]\nversion = 2\n", "platform.version = 2"),
    ],
)
def test_bad_platform_files_name_the_key(text, fragment):
    with pytest.raises(PlatformError) as caught:
        parse_platform(text, path=Path("p.toml"))
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_scenario_selects_platform_and_volume(tmp_path):
    base = {"dataset": {"objects": 4, "sizes": {"distribution": "fixed", "size": 10}}}
    from bench.config.platform import scenario_platform

    assert scenario_platform(build_scenario(base, path=tmp_path / "s.toml")).name == "sagemaker"
    ec2 = build_scenario({**base, "cluster": {"instance": "c5.xlarge"}}, path=tmp_path / "s.toml")
    assert scenario_platform(ec2) is NONE
    (tmp_path / "mine.toml").write_text(SAGEMAKER.to_toml().replace('"sagemaker"', '"mine"'))
    mine = build_scenario({**base, "platform": {"name": "mine.toml"}}, path=tmp_path / "s.toml")
    assert scenario_platform(mine) == replace(SAGEMAKER, name="mine", path=tmp_path / "mine.toml")
    with pytest.raises(PlatformError, match="no such preset"):
        scenario_platform(
            build_scenario({**base, "platform": {"name": "azure"}}, path=tmp_path / "s.toml")
        )
    sized = build_scenario({**base, "cluster": {"volume_size_gb": 400}}, path=tmp_path / "s.toml")
    assert sized.cluster.volume_size_gb == 400
    with pytest.raises(ScenarioError, match="cluster.volume_size_gb"):
        build_scenario({**base, "cluster": {"volume_size_gb": 20_000}}, path=tmp_path / "s.toml")


def test_asked_volume_caps_and_warns():
    from bench.report.capacity import Allowances, asked_volume, size_volume

    sizing = size_volume(100 * 2**30, Allowances())
    assert asked_volume(0, sizing) == (sizing.volume_gb, sizing.throughput_bps, None)
    gb, bps, warning = asked_volume(400, sizing)
    assert (gb, bps, warning) == (400, gp2_throughput_bps(400), None)
    gb, _, warning = asked_volume(50, sizing)
    assert gb == 50 and "cluster.volume_size_gb = 50" in warning


def test_scenario_phases_use_the_asked_volume():
    from bench.analysis.platform import scenario_phases
    from bench.config.scenario import load_scenario
    from bench.run.dataset import dataset_sizes

    path = Path(__file__).resolve().parents[2] / "scenarios" / "fidelity" / "docs-50gb-file.toml"
    profile = load_profile("aws-s3-standard")
    scenario = load_scenario(path)
    recommended = scenario_phases(scenario, dataset_sizes(scenario), profile=profile)["file"]
    larger = load_scenario(path, overrides={"cluster.volume_size_gb": 400})
    asked = scenario_phases(larger, dataset_sizes(larger), profile=profile)["file"]
    assert asked.volume_gb == 400 and recommended.volume_gb < 170
    assert asked.phases.downloading_s < recommended.phases.downloading_s
    assert recommended.phases.billable_s == pytest.approx(
        recommended.phases.downloading_s
        + recommended.phases.training_s
        + recommended.phases.uploading_s
    )
