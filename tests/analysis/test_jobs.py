"""Fitting a platform profile to DescribeTrainingJob records: the records' shape (botocore's
SageMaker model), a round trip from known parameters, and refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.analysis.jobs import JobRecordError, fit_platform, read_job, read_jobs
from bench.analysis.platform import phases, volume_throughput_bps
from bench.config.platform import load_platform, parse_platform
from bench.config.profile import load_instances
from tests.support import stagebench
from tests.support.jobs import botocore_shape_errors, describe_training_job, write_job

TRUE = replace(
    load_platform("sagemaker"),
    name="truth",
    starting_s=97.0,
    image_s=41.0,
    file_fixed_s=12.0,
    file_per_object_s=0.004,
    file_bandwidth_bps=150e6,
    pipe_fixed_s=9.0,
    fastfile_fixed_s=14.0,
    fastfile_list_keys_per_s=5000.0,
    uploading_fixed_s=3.0,
    uploading_bandwidth_bps=60e6,
)
FITTED = (
    "starting_s",
    "image_s",
    "file_fixed_s",
    "file_per_object_s",
    "file_bandwidth_bps",
    "pipe_fixed_s",
    "fastfile_fixed_s",
    "fastfile_list_keys_per_s",
    "uploading_fixed_s",
    "uploading_bandwidth_bps",
)


def synthetic_jobs(tmp_path, platform, *, counts=None, seed=7, iso=False):
    """Job records whose phases are ``platform``'s phase model on random datasets."""
    rng = np.random.default_rng(seed)
    instances = load_instances()
    counts = counts or {"file": 8, "pipe": 3, "fastfile": 4}
    paths = []
    for mode, count in counts.items():
        for index in range(count):
            hosts = int(rng.integers(1, 5))
            objects = int(rng.integers(100, 1_000_000))
            nbytes = float(rng.uniform(1e8, 2e11))
            # Small volumes cap File's download below the downloader's 150 MB/s; large do not.
            volume_gb = int(rng.choice([30, 120, 400, 1000]))
            output = float(rng.uniform(1e6, 5e10))
            instance = instances["ml.m5.xlarge"]
            job = phases(
                mode,
                startup_s=float(rng.uniform(0.01, 2.0)),
                training_s=float(rng.uniform(60, 3600)),
                objects=objects / hosts,
                bytes_per_host=nbytes / hosts,
                channel_objects=objects,
                platform=platform,
                listing_s=0.0,
                volume_bps=volume_throughput_bps(platform.volume_kind, volume_gb),
                nic_bps=instance.nic_bps,
                upload_bytes=output,
            )
            record = describe_training_job(
                f"{mode}-{index}",
                mode=mode,
                phases={
                    "starting": job.starting_s,
                    "downloading": job.downloading_s,
                    "image": platform.image_s,
                    "training": job.training_s - platform.image_s,
                    "uploading": job.uploading_s,
                },
                hosts=hosts,
                instance="ml.m5.xlarge",
                volume_gb=volume_gb,
                start=1_700_000_000.0 + 10_000 * len(paths),
                iso=iso,
            )
            assert botocore_shape_errors(record) == ""
            paths.append(
                write_job(
                    tmp_path,
                    record,
                    {"train": {"objects": objects, "bytes": nbytes}},
                    output={"bytes": output},
                )
            )
    return paths


def test_records_have_the_documented_shape(tmp_path):
    paths = synthetic_jobs(tmp_path, TRUE, counts={"file": 1, "pipe": 1, "fastfile": 1})
    import json

    for path in paths:
        assert botocore_shape_errors(json.loads(path.read_text())) == ""
    broken = json.loads(paths[0].read_text())
    broken["SecondaryStatusTransitions"][0]["StartTime"] = [1]
    assert "StartTime" in botocore_shape_errors(broken)


def test_round_trip_recovers_known_parameters(tmp_path):
    jobs = read_jobs(synthetic_jobs(tmp_path, TRUE))
    fit = fit_platform(jobs, load_platform("sagemaker"))
    for name in FITTED:
        assert getattr(fit.platform, name) == pytest.approx(getattr(TRUE, name), rel=1e-6), name
    for group in fit.groups:
        assert np.abs(group.residuals_s).max() < 1e-6, group.group
    assert fit.kept == []
    # The records' billable time is Downloading + Training + Uploading, to the second.
    assert max(abs(gap) for gap in fit.billable_gaps_s.values()) <= 0.5


def test_round_trip_from_cli_timestamps(tmp_path):
    """The AWS CLI prints ISO 8601 timestamps (to the microsecond): the fit is as close."""
    jobs = read_jobs(synthetic_jobs(tmp_path, TRUE, iso=True, seed=11))
    fit = fit_platform(jobs, load_platform("sagemaker"))
    for name in FITTED:
        assert getattr(fit.platform, name) == pytest.approx(getattr(TRUE, name), rel=1e-3), name


def test_modes_without_jobs_keep_the_base(tmp_path):
    jobs = read_jobs(synthetic_jobs(tmp_path, TRUE, counts={"pipe": 3}))
    base = load_platform("sagemaker")
    fit = fit_platform(jobs, base)
    assert fit.platform.pipe_fixed_s == pytest.approx(TRUE.pipe_fixed_s)
    assert fit.platform.file_fixed_s == base.file_fixed_s
    assert fit.platform.fastfile_list_keys_per_s == base.fastfile_list_keys_per_s
    assert any(k.startswith("file.") for k in fit.kept)


@pytest.mark.parametrize(
    ("counts", "fragment"),
    [
        ({"file": 1}, "too few to fit a platform"),
        ({"file": 3}, "3 File job(s): too few"),
        ({"fastfile": 2}, "2 FastFile job(s): too few"),
    ],
)
def test_too_few_records_are_refused(tmp_path, counts, fragment):
    jobs = read_jobs(synthetic_jobs(tmp_path, TRUE, counts=counts))
    with pytest.raises(JobRecordError, match="too few") as caught:
        fit_platform(jobs, load_platform("sagemaker"))
    assert fragment in str(caught.value)


def test_alike_records_are_refused(tmp_path):
    """Jobs that all read the same dataset cannot tell per-object from per-byte time."""
    paths = synthetic_jobs(tmp_path, TRUE, counts={"file": 5})
    for path in paths:
        path.with_name(path.stem + ".channels.toml").write_text(
            "[channels.train]\nobjects = 1000\nbytes = 1e9\n"
        )
    jobs = read_jobs(paths)
    with pytest.raises(JobRecordError, match="too alike"):
        fit_platform([replace(j, hosts=1) for j in jobs], load_platform("sagemaker"))


def test_missing_sidecar_and_unfinished_jobs(tmp_path):
    (path,) = synthetic_jobs(tmp_path, TRUE, counts={"file": 1})
    import json

    record = json.loads(path.read_text())
    record["TrainingJobStatus"] = "Failed"
    path.write_text(json.dumps(record))
    with pytest.raises(JobRecordError, match="not Completed"):
        read_job(path)
    path.with_name(path.stem + ".channels.toml").unlink()
    record["TrainingJobStatus"] = "Completed"
    path.write_text(json.dumps(record))
    with pytest.raises(JobRecordError, match="no sidecar"):
        read_job(path)


def test_cli_fits_prints_and_never_overwrites(tmp_path):
    paths = synthetic_jobs(tmp_path, TRUE)
    out = tmp_path / "fitted.toml"
    done = stagebench("calibrate", "--from-jobs", *map(str, paths), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "file.per_object_ms = 4" in done.stdout
    assert "residuals s (model - record)" in done.stdout
    fitted = parse_platform(out.read_text(), path=out)
    assert fitted.starting_s == pytest.approx(TRUE.starting_s, rel=1e-6)
    assert fitted.file_bandwidth_bps == pytest.approx(TRUE.file_bandwidth_bps, rel=1e-6)
    before = out.read_bytes()
    again = stagebench("calibrate", "--from-jobs", *map(str, paths), "--out", str(out))
    assert again.returncode == 2
    assert "never overwritten" in again.stderr and "Traceback" not in again.stderr
    assert out.read_bytes() == before


def test_cli_too_few_is_one_line_exit_2(tmp_path):
    paths = synthetic_jobs(tmp_path, TRUE, counts={"file": 1})
    done = stagebench("calibrate", "--from-jobs", *map(str, paths), "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "too few" in lines[0]
    assert not (tmp_path / "x").exists()
