"""``run --platform``: the Answers block places the measured figures in the platform's job
phases; a platform that does not exist stops the run before anything is written."""

from __future__ import annotations

import json

from tests.support import REPO, stagebench, write_scenario

SCENARIO = """
[scenario]
name = "platform-check"
[dataset]
objects = 8
sizes = {{ distribution = "fixed", size = "4KiB" }}
[storage]
endpoint = "{endpoint}"
[cluster]
hosts = 2
[modes]
run = ["pipe"]
"""


def test_unknown_platform_is_one_line_before_anything_runs(tmp_path, embedded):
    path = write_scenario(tmp_path, SCENARIO.format(endpoint=embedded.url))
    done = stagebench(
        "run", str(path), "--platform", str(tmp_path / "nope.toml"), "--results", str(tmp_path)
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "nope.toml" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("platform-check-*"))


def test_platform_none_answers_without_job_phases(tmp_path, embedded):
    path = write_scenario(tmp_path, SCENARIO.format(endpoint=embedded.url))
    plain = stagebench(
        "run", str(path), "--platform", "none", "--no-report", "--results", str(tmp_path)
    )
    assert plain.returncode == 0, plain.stderr
    assert "platform none" in plain.stdout
    sagemaker = stagebench(
        "run", str(path), "--platform", "sagemaker", "--no-report", "--results", str(tmp_path)
    )
    assert sagemaker.returncode == 0, sagemaker.stderr
    assert "platform sagemaker" in sagemaker.stdout


def test_run_of_a_job_json_plays_its_channels_live(tmp_path):
    done = stagebench(
        "run",
        "scenarios/jobs/image-classifier.json",
        "--sidecar",
        "scenarios/jobs/image-classifier.rehearsal.toml",
        "--hosts",
        "2",
        "--no-report",
        "--no-progress",
        "--results",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "channel validation: 60 objects" in done.stderr
    (run_dir,) = tmp_path.glob("image-classifier-2026-12-01-*")
    summary = json.loads((run_dir / "summary.json").read_text())
    # The job's TrainingInputMode is File; the validation channel's own InputMode is FastFile.
    assert list(summary["modes"]) == ["file"]
    channels = summary["channels"]
    assert channels["train"]["distribution"] == "ShardedByS3Key"
    assert channels["validation"]["input_mode"] == "fastfile"
    assert channels["validation"]["modes"]["file"]["lists"] == 2  # each host lists it once
    assert channels["train"]["modes"]["file"]["lists"] == 0
    assert "validation validation     file   fastfile" in done.stdout


def test_run_of_a_bad_job_json_is_one_line(tmp_path):
    job = tmp_path / "bad.json"
    raw = json.loads((REPO / "scenarios/jobs/image-classifier.json").read_text())
    raw["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] = "ftp://nowhere"
    job.write_text(json.dumps(raw))
    done = stagebench("run", str(job), "--results", str(tmp_path / "results"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "InputDataConfig[1].DataSource.S3DataSource.S3Uri" in done.stderr
    assert not (tmp_path / "results").exists()
