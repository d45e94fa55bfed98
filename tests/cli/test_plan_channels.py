"""``stagebench plan`` of a scenario with several channels answers for the job: the channels
composed, a row per channel, a ``channels`` key in --json, a File volume that holds every
channel playing File; a one-channel plan is unchanged."""

from __future__ import annotations

import json

import pytest

from tests.support import stagebench, write_scenario

TRAIN = """
[[channels]]
name = "train"
objects = 800
prefix = "job/train/"
seed = 3
sizes = { distribution = "lognormal", median = "256KiB", sigma = 1.0 }
distribution = "ShardedByS3Key"
"""

VALIDATION = """
[[channels]]
name = "validation"
role = "validation"
{pinned}
distribution = "FullyReplicated"
objects = 120
prefix = "job/validation/"
seed = 4
sizes = {{ distribution = "lognormal", median = "{median}", sigma = 0.5 }}
"""

REST = """
[scenario]
name = "{name}"
[cluster]
hosts = 4
instance = "ml.p3.2xlarge"
[training]
epochs = 2
compute_rate = "200MB/s"
[storage]
# A closed port: a plan of synthetic channels must never contact it.
endpoint = "http://127.0.0.1:9"
"""


def plan_json(tmp_path, name: str, *channels: str) -> dict:
    path = write_scenario(tmp_path, REST.format(name=name) + "".join(channels), f"{name}.toml")
    done = stagebench("plan", str(path), "--json", "--results", str(tmp_path / "results"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def validation(*, pinned: str = "", median: str = "256KiB") -> str:
    return VALIDATION.format(pinned=pinned, median=median)


def test_the_job_takes_longer_than_its_training_channel_alone(tmp_path):
    alone = plan_json(tmp_path, "alone", TRAIN)
    job = plan_json(tmp_path, "job", TRAIN, validation(pinned='input_mode = "fastfile"'))
    assert "channels" not in alone
    assert set(job["channels"]) == {"train", "validation"}
    for mode in ("file", "pipe", "fastfile"):
        assert job["modes"][mode]["job_s"] > alone["modes"][mode]["job_s"]
        assert job["modes"][mode]["gets"] > alone["modes"][mode]["gets"]
        assert job["modes"][mode]["billable_s"] > alone["modes"][mode]["billable_s"]
    train, checked = job["channels"]["train"], job["channels"]["validation"]
    assert train["role"] == "train" and train["input_mode"] is None
    assert train["distribution"] == "ShardedByS3Key" and train["objects"] == 800
    assert checked["role"] == "validation" and checked["input_mode"] == "fastfile"
    assert checked["distribution"] == "FullyReplicated" and checked["objects"] == 120
    assert checked["bytes"] > 0
    for mode in ("file", "pipe", "fastfile"):
        assert train["modes"][mode]["data_path"] == mode
        assert checked["modes"][mode]["data_path"] == "fastfile"
        for channel in (train, checked):
            figures = channel["modes"][mode]
            assert {"startup_s", "epoch_s", "end_s", "gets"} <= set(figures)
            assert 0 < figures["startup_s"] < figures["end_s"] <= job["modes"][mode]["job_s"]
        # Training's first step is the job's; the last validation pass ends the job.
        assert train["modes"][mode]["startup_s"] == pytest.approx(job["modes"][mode]["startup_s"])
        assert checked["modes"][mode]["end_s"] == pytest.approx(job["modes"][mode]["job_s"])


def test_file_volume_holds_every_channel_that_plays_file(tmp_path):
    big = "128MiB"  # 120 objects every host keeps whole: many GB, beyond the allowances
    alone = plan_json(tmp_path, "alone", TRAIN)
    copied = plan_json(tmp_path, "copied", TRAIN, validation(median=big))
    streamed = plan_json(
        tmp_path, "streamed", TRAIN, validation(pinned='input_mode = "fastfile"', median=big)
    )
    file_gb = alone["modes"]["file"]["volume_size_gb"]
    validation_gib = copied["channels"]["validation"]["bytes"] / 2**30
    assert copied["modes"]["file"]["volume_size_gb"] >= file_gb + validation_gib
    assert streamed["modes"]["file"]["volume_size_gb"] == file_gb
    for document in (copied, streamed):
        for mode in ("pipe", "fastfile"):
            assert (
                document["modes"][mode]["volume_size_gb"] == alone["modes"][mode]["volume_size_gb"]
            )
    # Copying the validation channel lengthens File's Downloading; streaming it does not.
    downloading = alone["modes"]["file"]["downloading_s"]
    assert copied["modes"]["file"]["downloading_s"] > downloading
    assert streamed["modes"]["file"]["downloading_s"] == pytest.approx(downloading, rel=0.05)


def test_plan_prints_a_row_per_channel_and_reports_them(tmp_path):
    path = write_scenario(
        tmp_path, REST.format(name="printed") + TRAIN + validation(), "printed.toml"
    )
    results = tmp_path / "results"
    done = stagebench("plan", str(path), "--results", str(results))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "920 objects" in lines[0] and "in 2 channels" in lines[0]
    start = next(i for i, line in enumerate(lines) if line.startswith("Channels ("))
    header = lines[start + 1].split()
    for column in ("channel", "role", "data", "objects", "bytes", "startup_s", "end_s"):
        assert column in header
    rows = [line.split() for line in lines[start + 2 : start + 8]]
    assert sorted((row[0], row[2]) for row in rows) == sorted(
        (name, mode) for name in ("train", "validation") for mode in ("file", "pipe", "fastfile")
    )
    (plan_dir,) = [p for p in results.iterdir() if not p.name.startswith(".")]
    report = (plan_dir / "report.md").read_text()
    assert "## Channels" in report and "training channel train alone" in report
    assert "| validation | validation | file | file |" in report
    document = json.loads((plan_dir / "plan.json").read_text())
    assert set(document["channels"]) == {"train", "validation"}
