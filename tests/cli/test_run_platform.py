"""``run --platform``: the Answers block places the measured figures in the platform's job
phases; a platform that does not exist stops the run before anything is written."""

from __future__ import annotations

from tests.support import stagebench, write_scenario

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


def test_run_of_a_job_json_names_the_commands_that_take_it(tmp_path):
    done = stagebench("run", "scenarios/jobs/image-classifier.json", "--results", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "stagebench plan JOB.json" in done.stderr
    assert not list(tmp_path.iterdir())
