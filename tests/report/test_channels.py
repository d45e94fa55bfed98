"""The report of a run of several channels, from real runs on the embedded server: a Channels
section naming each channel, and a volume that holds every File channel's largest shard."""

from __future__ import annotations

import pytest

from bench.analysis.plan import measured_answer
from bench.report import write_report
from bench.report.build import build_report
from bench.report.capacity import size_volume
from bench.report.channels import run_volumes
from bench.report.document import render_markdown
from bench.report.rundata import load_run
from bench.run.dataset import build_dataset
from bench.run.runner import shard_plans
from bench.units import format_bytes
from tests.support import quiet_run, two_channel_scenario


def _job(tmp_path, url, prefix, *, validation_mode=None):
    """A training channel sharded over 2 hosts and a replicated validation channel; the job
    plays File, the validation channel its own mode when one is given."""
    return two_channel_scenario(
        tmp_path,
        url,
        prefix,
        objects=(12, 6),
        validation_mode=validation_mode,
        modes={"run": ["file"]},
        training={"epochs": 1, "step_bytes": "8KiB"},
    )


def _largest_shard(scenario, name):
    """A channel's largest per-host bytes, from its dataset and distribution alone."""
    (channel,) = [c for c in scenario.channels if c.name == name]
    plans = shard_plans(
        build_dataset(channel.dataset),
        scenario.cluster.hosts,
        channel.distribution.type,
        "round-robin",
    )
    return max(plan.total_bytes for plan in plans)


@pytest.fixture(scope="module", params=[None, "fastfile"], ids=["both-file", "validation-ff"])
def channel_run(request, tmp_path_factory, embedded):
    tmp_path = tmp_path_factory.mktemp("channels")
    prefix = f"t-{tmp_path.name}/"
    scenario = _job(tmp_path, embedded.url, prefix, validation_mode=request.param)
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    return scenario, result


def _expected_file_bytes(scenario):
    counted = [c.name for c in scenario.channels if c.mode_in("file") == "file"]
    return sum(_largest_shard(scenario, name) for name in counted), counted


def test_the_report_has_a_channels_section_with_both_channels(channel_run):
    scenario, result = channel_run
    written = write_report(result.run_dir)
    markdown = written[0].read_text()
    section = markdown.split("## Channels", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert {row.split(" | ")[0].strip("| ") for row in rows} == {"train", "validation"}
    validation_path = "FastFile" if scenario.channels[1].input_mode else "File"
    (validation_row,) = [row for row in rows if row.startswith("| validation |")]
    assert f"| File | {validation_path} | FullyReplicated |" in validation_row
    assert "trains on `train` and makes one validation pass over `validation`" in section
    assert "Skew and What-ifs sections describe the training channel `train`" in section


def test_the_volume_holds_every_file_channel_largest_shard(channel_run):
    scenario, result = channel_run
    expected, counted = _expected_file_bytes(scenario)
    assert counted == (["train"] if scenario.channels[1].input_mode else ["train", "validation"])
    run = load_run(result.run_dir)
    document, _ = build_report(run)
    markdown = render_markdown(document, relative_to=run.run_dir)
    volume = markdown.split("## Volume size per host", 1)[1].split("\n## ", 1)[0]
    sizing = size_volume(expected, run.settings.allowances)
    assert f"| File | {format_bytes(expected)} + allowances | {sizing.volume_gb} |" in volume
    shards = ", ".join(f"{n} ({format_bytes(_largest_shard(scenario, n))})" for n in counted)
    assert f"with the job in File mode it counts {shards}" in volume
    if len(counted) == 1:
        assert f"{shards}; not validation (plays FastFile)" in volume


def test_the_runs_answers_size_the_volume_for_every_file_channel(channel_run):
    scenario, result = channel_run
    expected, _ = _expected_file_bytes(scenario)
    run = load_run(result.run_dir)
    answer, _ = measured_answer(
        scenario,
        result.summary,
        result.hosts,
        run.sizes,
        volumes=run_volumes(scenario, result.run_dir),
    )
    sizing = size_volume(expected, run.settings.allowances)
    assert answer.file_volume.data_bytes == answer.largest_shard_bytes == expected
    assert answer.modes["file"].volume_size_gb == sizing.volume_gb
    # Nothing is pinned to File, so a Pipe or FastFile job keeps no copy.
    assert answer.artifacts_volume.data_bytes == 0
