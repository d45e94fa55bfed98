"""``stagebench plan JOB.json`` as a user runs it: the job's answers printed, the plan folder
with recommended-job.json (accepted by botocore's own request validation for
CreateTrainingJob) and its diff, per-channel figures, a sweep setting InstanceCount, and a bad
job as one line naming its JSON path, exit 2."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from bench.config.job import parse_job
from tests.config.test_job import EXAMPLE, create_request, describe_output, s3_channel
from tests.support import stagebench

SIDECAR = """
[training]
compute_rate = "200MB/s"
[storage]
# A closed port: a plan of synthetic channels must never contact it.
endpoint = "http://127.0.0.1:9"
[channels.train]
objects = 300
sizes = { distribution = "lognormal", median = "256KiB", sigma = 1.0 }
seed = 3
[channels.validation]
objects = 40
sizes = { distribution = "lognormal", median = "256KiB", sigma = 1.0 }
seed = 4
"""


def create_training_job_errors(request):
    """botocore's own validation of a CreateTrainingJob request: the report's text, empty when
    it is valid."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape
    report = ParamValidator().validate(request, shape)
    return report.generate_report() if report.has_errors() else ""


def only_plan_dir(results):
    (plan_dir,) = [p for p in results.iterdir() if not p.name.startswith(".")]
    return plan_dir


def two_channel_job(tmp_path, raw=None):
    raw = raw or create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"),
        s3_channel("validation", "s3://data-bucket/validation/", mode="FastFile"),
        count=3,
    )
    path = tmp_path / "two.json"
    path.write_text(json.dumps(raw))
    (tmp_path / "two.stagebench.toml").write_text(SIDECAR)
    return path


def test_plan_of_the_shipped_example_writes_a_valid_recommended_job(tmp_path):
    results = tmp_path / "results"
    done = stagebench("plan", str(EXAMPLE), "--results", str(results))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Answers (plan of " in out and "nothing measured" in out
    assert "as given" in out and "recommended" in out and "first step after" in out
    plan_dir = only_plan_dir(results)
    assert plan_dir.name.startswith("image-classifier-2026-12-01-plan-")
    assert f"recommended job: {plan_dir / 'recommended-job.json'}" in out
    names = {p.name for p in plan_dir.iterdir()}
    assert {
        "plan.json", "report.md", "report.html", "recommended-job.json",
        "recommended-job.diff.txt", "channels",
    } <= names  # fmt: skip
    for channel in ("train", "validation"):
        assert (plan_dir / "channels" / channel / "report.md").is_file()
    request = json.loads((plan_dir / "recommended-job.json").read_text())
    assert create_training_job_errors(request) == ""
    given = json.loads(EXAMPLE.read_text())
    document = json.loads((plan_dir / "plan.json").read_text())
    modes = document["recommended"]["input_modes"]
    for index, entry in enumerate(request["InputDataConfig"]):
        mode = entry.get("InputMode", request["AlgorithmSpecification"]["TrainingInputMode"])
        assert mode == modes[entry["ChannelName"]]
        assert entry["DataSource"] == given["InputDataConfig"][index]["DataSource"]
    volume = document["recommended"]["volume_size_gb"]
    assert request["ResourceConfig"]["VolumeSizeInGB"] == volume
    assert request["ResourceConfig"]["InstanceCount"] == given["ResourceConfig"]["InstanceCount"]
    untouched = {"InputDataConfig", "ResourceConfig"}
    assert {k: v for k, v in request.items() if k not in untouched} == {
        k: v for k, v in given.items() if k not in untouched
    }
    diff = (plan_dir / "recommended-job.diff.txt").read_text()
    for line in document["changes"]:
        assert line in diff and line in out
    report = (plan_dir / "report.md").read_text()
    assert "## Assumptions" in report and "one validation pass per epoch" in report


def test_two_channel_job_has_per_channel_figures(tmp_path):
    path = two_channel_job(tmp_path)
    results = tmp_path / "results"
    done = stagebench("plan", str(path), "--json", "--results", str(results))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # one JSON object, nothing else
    assert document["training_channel"] == "train" and document["hosts"] == 3
    channels = document["channels"]
    assert set(channels) == {"train", "validation"}
    for channel in channels.values():
        assert set(channel["modes"]) == {"file", "pipe", "fastfile"}
        assert channel["hosts"] == 3
    assert channels["train"]["dataset"]["objects"] == 300
    assert channels["validation"]["dataset"]["objects"] == 40
    given = document["as_given"]
    assert given["input_modes"] == {"train": "File", "validation": "FastFile"}
    train_file = channels["train"]["modes"]["file"]
    validation_fastfile = channels["validation"]["modes"]["fastfile"]
    assert given["downloads_s"] == {"train": train_file["startup_s"]}
    assert given["first_step_s"] == train_file["startup_s"]
    # The validation channel adds its passes and, streaming, its listing and first reads
    # (its startup without the platform's phases, which stand once before the first step).
    data_path_s = (
        validation_fastfile["startup_s"]
        - validation_fastfile["starting_s"]
        + validation_fastfile["training_s"]
    )
    assert validation_fastfile["training_s"] < given["validation_s"] <= data_path_s + 1e-9
    assert given["job_s"] == pytest.approx(
        given["first_step_s"] + given["training_s"] + given["validation_s"]
    )
    request = json.loads((only_plan_dir(results) / "recommended-job.json").read_text())
    assert create_training_job_errors(request) == ""


def test_a_sweep_sets_the_instance_count_and_a_describe_output_becomes_a_request(tmp_path):
    raw = describe_output()  # train ShardedByS3Key File, validation FastFile, 2 instances
    path = two_channel_job(tmp_path, raw)
    results = tmp_path / "results"
    done = stagebench("plan", str(path), "--hosts", "1,4", "--results", str(results))
    assert done.returncode == 0, done.stderr
    plan_dir = only_plan_dir(results)
    document = json.loads((plan_dir / "plan.json").read_text())
    assert [row["hosts"] for row in document["sweep"]] == [1, 4]
    chosen = document["hosts"]
    request = json.loads((plan_dir / "recommended-job.json").read_text())
    assert create_training_job_errors(request) == ""
    assert "TrainingJobArn" not in request and "TrainingJobStatus" not in request
    assert parse_job(request).kind == "CreateTrainingJob"
    assert request["ResourceConfig"]["InstanceCount"] == chosen
    assert (f"ResourceConfig.InstanceCount: 2 → {chosen}" in done.stdout) == (chosen != 2)
    assert (plan_dir / "sweep.csv").is_file()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            lambda raw: raw["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
                S3DataDistributionType="Sharded"
            ),
            "InputDataConfig[0].DataSource.S3DataSource.S3DataDistributionType",
        ),
        (
            lambda raw: raw["ResourceConfig"].update(InstanceCount="eight"),
            "ResourceConfig.InstanceCount",
        ),
    ],
)
def test_a_bad_job_is_one_line_naming_its_json_path(tmp_path, change, path):
    raw = json.loads(EXAMPLE.read_text())
    change(raw)
    job = tmp_path / "bad.json"
    job.write_text(json.dumps(raw))
    results = tmp_path / "results"
    done = stagebench("plan", str(job), "--results", str(results))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0]
    assert done.stdout == "" and not results.exists()


def test_an_instance_option_is_refused_for_a_job(tmp_path):
    done = stagebench(
        "plan", str(EXAMPLE), "--instance", "ml.g5.xlarge", "--results", str(tmp_path)
    )
    assert done.returncode == 2 and "ResourceConfig.InstanceType" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
