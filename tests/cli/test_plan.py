"""``stagebench plan`` as a user runs it: the Answers block, --json, the plan folder, sweeps,
bad input, and no endpoint contacted for a dataset that is not in S3."""

from __future__ import annotations

import json

import pytest

from tests.support import stagebench, write_scenario

MODE_KEYS = {
    "starting_s", "downloading_s", "training_phase_s", "uploading_s", "billable_s",
    "startup_s", "training_s", "job_s", "au", "gets", "lists", "cost_usd", "instance_usd",
    "request_usd", "volume_size_gb",
}  # fmt: skip

SCENARIO = """
[scenario]
name = "planned"
[dataset]
objects = 3000
seed = 2
[dataset.sizes]
distribution = "lognormal"
median = "512KiB"
sigma = 1.0
[cluster]
hosts = 8
instance = "ml.p4d.24xlarge"
[distribution]
type = "ShardedByS3Key"
[training]
compute_rate = "400 objects/s"
[storage]
# A closed port: a plan of a synthetic dataset must never contact it.
endpoint = "http://127.0.0.1:9"
"""


@pytest.fixture
def scenario_path(tmp_path):
    return write_scenario(tmp_path, SCENARIO)


def test_plan_prints_answers_and_writes_its_folder(tmp_path, scenario_path):
    results = tmp_path / "results"
    done = stagebench("plan", str(scenario_path), "--results", str(results))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Answers (plan" in out and "nothing measured" in out
    for mode in ("file", "pipe", "fastfile"):
        assert any(line.split()[:1] == [mode] for line in out.splitlines())
    assert "recommended: " in out and "VolumeSizeInGB per host" in out
    assert "platform sagemaker" in out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["mode"])
    for column in ("starting_s", "downloading_s", "training_phase_s", "billable_s"):
        assert column in header.split()
    (plan_dir,) = [p for p in results.iterdir() if not p.name.startswith(".")]
    assert plan_dir.name.startswith("planned-plan-")
    names = {p.name for p in plan_dir.iterdir()}
    assert {"plan.json", "report.md", "report.html", "whatifs.csv"} <= names
    report = (plan_dir / "report.md").read_text()
    assert report.startswith("# Capacity plan: planned")
    assert "A **plan**" in report and "nothing was measured" in report
    assert "failed" not in report and "status" not in report
    assert "Modes as measured" not in report and "Straggler" not in report
    assert "## Assumptions" in report
    for default in ("Concurrency", "Readers", "Compute rate", "Volume", "Profile", "Platform"):
        assert f"**{default}:**" in report
    assert "**Platform:** sagemaker (bench/profiles/sagemaker.toml" in report
    assert "billable s" in report and "downloading s" in report
    assert "400 objects/s" in report
    assert "Fastfile job s" in report or "FastFile job s" in report  # job time in what-ifs
    html = (plan_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and '<img src="report' not in html
    assert json.loads((plan_dir / "plan.json").read_text())["hosts"] == 8


def test_json_is_one_object_with_every_key(tmp_path, scenario_path):
    done = stagebench("plan", str(scenario_path), "--json", "--results", str(tmp_path / "results"))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # nothing else on stdout
    assert document["schema_version"] == 1 and document["hosts"] == 8
    assert document["instance"] == "ml.p4d.24xlarge"
    assert document["profile"] == "aws-s3-standard" and document["platform"] == "sagemaker"
    assert document["dataset"]["objects"] == 3000 and document["dataset"]["bytes"] > 0
    assert document["recommended_mode"] in ("file", "pipe", "fastfile")
    for mode in ("file", "pipe", "fastfile"):
        figures = document["modes"][mode]
        assert set(figures) == MODE_KEYS
        assert figures["billable_s"] == pytest.approx(
            figures["downloading_s"] + figures["training_phase_s"] + figures["uploading_s"]
        )
        assert figures["job_s"] == pytest.approx(figures["startup_s"] + figures["training_s"])
        assert figures["starting_s"] > 0


def test_platform_none_is_storage_only(tmp_path, scenario_path):
    done = stagebench(
        "plan", str(scenario_path), "--platform", "none", "--json",
        "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["platform"] is None
    for mode in ("file", "pipe", "fastfile"):
        figures = document["modes"][mode]
        assert set(figures) == MODE_KEYS
        assert figures["starting_s"] == 0 and figures["uploading_s"] == 0
        assert figures["downloading_s"] == figures["startup_s"]
        assert figures["billable_s"] == figures["job_s"]


def test_host_sweep_prints_a_table_per_mode_and_the_largest_count(tmp_path, scenario_path):
    results = tmp_path / "results"
    done = stagebench(
        "plan", str(scenario_path), "--hosts", "2-16", "--json", "--results", str(results)
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [row["hosts"] for row in document["sweep"]] == [2, 4, 8, 16]
    assert set(document["max_hosts_au_0_90"]) == {"file", "pipe", "fastfile"}
    for row in document["sweep"]:
        for mode in ("file", "pipe", "fastfile"):
            assert set(row["modes"][mode]) >= MODE_KEYS
    (plan_dir,) = [p for p in results.iterdir() if not p.name.startswith(".")]
    names = {p.name for p in plan_dir.iterdir()}
    assert {"sweep.csv", "sweep.png", "sweep.svg"} <= names
    assert "How many hosts can this data feed?" in (plan_dir / "report.md").read_text()
    shown = stagebench("plan", str(scenario_path), "--hosts", "4,8", "--results", str(results))
    assert shown.returncode == 0, shown.stderr
    assert "largest count keeping AU >= 0.90" in shown.stdout or "no count keeps" in shown.stdout
    assert "MLPerf Storage" in shown.stdout


def test_instance_option_uses_the_preset(tmp_path, scenario_path):
    done = stagebench(
        "plan", str(scenario_path), "--instance", "ml.m5.xlarge", "--json",
        "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["instance"] == "ml.m5.xlarge" and document["volume_type"] == "gp2"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--instance", "ml.nope.large"], "cluster.local_nvme_gib"),
        (["--hosts", "8-2"], "--hosts"),
        (["--hosts", "0"], "--hosts"),
        (["--profile-file", "no-such-profile"], "no such preset"),
        (["--platform", "no-such-platform.toml"], "no such platform file"),
        (["--platform", "nonesuch"], "no such preset"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, scenario_path, args, needle):
    done = stagebench("plan", str(scenario_path), *args, "--results", str(tmp_path / "results"))
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    if "stagebench: error:" in done.stderr:  # argparse's own errors come with the usage
        assert len(done.stderr.strip().splitlines()) == 1
    if "--platform" in args:
        assert done.stderr.startswith("stagebench: error:")
