"""summary.json as a typed RunSummary: the same file back, refusals in one line, and a run on an
endpoint the caller opened, with the endpoint's own credentials and an engine it chose."""

from __future__ import annotations

import json

import pytest

from bench.core.figures import JobFigures
from bench.errors import ResultsError
from bench.live.engine import LocalEngine
from bench.run.runner import run_on_endpoint
from bench.run.summary import SCHEMA_VERSION, RunSummary
from tests.support import make_scenario, quiet_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, embedded):
    tmp_path = tmp_path_factory.mktemp("summary")
    scenario = make_scenario(
        tmp_path, embedded.url, "summary-roundtrip/", modes={"run": ["file", "pipe"]}
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.error
    return result.run_dir


def test_a_run_summary_writes_back_the_file_it_read(run_dir):
    written = json.loads((run_dir / "summary.json").read_text())
    summary = RunSummary.read(run_dir)
    assert json.loads(summary.to_json()) == written
    assert list(summary.modes) == ["file", "pipe"]
    file = summary.modes["file"]
    assert isinstance(file, JobFigures)
    assert file.startup_s == written["modes"]["file"]["startup_s"]
    assert file.tail_s == pytest.approx(file.startup_s - file.first_host_ready_s)
    assert summary.dataset is not None and summary.dataset.objects == file.objects


def test_a_newer_schema_is_refused_in_one_line_naming_the_remedy(run_dir, tmp_path):
    data = json.loads((run_dir / "summary.json").read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultsError) as refused:
        RunSummary.from_json(json.dumps(data))
    message = str(refused.value)
    assert "\n" not in message
    assert f"schema_version {SCHEMA_VERSION + 1}" in message
    assert "use the stagebench version that wrote it" in message


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data["modes"]["file"].update(startup_s="soon"),
        lambda data: data.update(modes=["file"]),
        lambda data: data.update(dataset="everything"),
    ],
)
def test_a_damaged_summary_is_one_line(run_dir, damage):
    data = json.loads((run_dir / "summary.json").read_text())
    damage(data)
    with pytest.raises(ResultsError) as refused:
        RunSummary.from_json(json.dumps(data), where="damaged.json")
    assert str(refused.value).startswith("damaged.json: ")
    assert "\n" not in str(refused.value)


def test_a_null_figure_reads_as_nothing_measured(run_dir):
    data = json.loads((run_dir / "summary.json").read_text())
    data["modes"]["pipe"]["au"] = None
    del data["modes"]["pipe"]["epoch_s"]
    pipe = RunSummary.from_json(json.dumps(data)).modes["pipe"]
    assert pipe.au != pipe.au and pipe.epoch_s != pipe.epoch_s  # NaN
    assert pipe.gets == data["modes"]["pipe"]["gets"]


def test_a_run_on_an_open_endpoint_needs_no_credentials_in_the_environment(
    embedded, tmp_path, unique_prefix, monkeypatch
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # No shared credentials file either: the endpoint object is the only source of keys.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, dataset={"objects": 6})
    result = run_on_endpoint(
        scenario,
        embedded,
        LocalEngine(),
        results_root=tmp_path / "results",
        progress=False,
        say=lambda _: None,
    )
    assert result.status == "ok", result.error
    assert result.run_summary.endpoint.kind == "embedded"
    assert result.run_summary.modes["file"].objects == 6
