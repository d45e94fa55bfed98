"""The capacity report: built from a real run on the embedded server, its volume arithmetic,
its input-mode rules on hand-built figures, and an HTML file that carries its own images."""

from __future__ import annotations

import base64
import json
import math
import uuid
from html.parser import HTMLParser

import numpy as np
import pytest

from bench.core.figures import JobFigures
from bench.errors import ResultsError, ScenarioError
from bench.report import capacity, write_report
from bench.report.capacity import (
    GIB,
    Allowances,
    DecisionFigures,
    recommend_mode,
    size_volume,
)
from bench.report.compare import describe_change
from bench.report.rundata import load_run, report_settings, sizes_from_events
from bench.report.whatif import repack, snake_layout
from tests.support import make_scenario, quiet_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, embedded):
    """One real run of every mode, small enough for a few seconds on two cores."""
    tmp_path = tmp_path_factory.mktemp("report")
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        f"t-{uuid.uuid4().hex[:10]}/",
        modes={"run": ["file", "pipe", "fastfile"]},
        training={"compute_rate": "50MB/s"},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.error
    return result


@pytest.fixture(scope="module")
def written(small_run):
    return write_report(small_run.run_dir)


# --- from a real run ------------------------------------------------------------------------


def test_report_files_are_written_into_the_run_folder(small_run, written):
    run_dir = small_run.run_dir
    assert written[:2] == [run_dir / "report.md", run_dir / "report.html"]
    for path in written:
        assert path.parent == run_dir and path.stat().st_size > 0
    stems = {path.stem for path in written if path.suffix == ".png"}
    assert {"timeline", "throughput", "first_byte_cdf", "bytes_per_host"} <= stems
    assert {"imbalance_vs_skew"} <= stems
    for png in (p for p in written if p.suffix == ".png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert png.with_suffix(".svg") in written


def test_report_markdown_holds_every_section_with_the_runs_numbers(small_run, written):
    text = (small_run.run_dir / "report.md").read_text()
    for heading in (
        "## Answers",
        "## Dataset",
        "## Modes as measured",
        "## Skew: ShardedByS3Key",
        "## Volume size per host",
        "## Recommended input mode",
        "## What-ifs (model)",
        "## Startup against file count",
        "## Assumptions",
    ):
        assert heading in text
    summary = small_run.summary
    # Dataset figures and the measured job figures come from the run.
    assert f"| objects | {summary['dataset']['objects']:,} |" in text
    assert f"{summary['dataset']['bytes']:,} bytes" in text
    for mode in ("file", "pipe", "fastfile"):
        assert f"| {mode} | 3 |" in text
    # The straggler is the slowest live File-mode host.
    hosts = small_run.hosts
    file_hosts = hosts[hosts["mode"] == "file"]
    slowest = int(file_hosts.loc[file_hosts["startup_s"].idxmax(), "host"])
    assert f"Straggler (live, File mode): host {slowest}**" in text
    # The assumptions name the ShardedByS3Key rule and the embedded endpoint.
    assert summary["assumptions"][0] in text
    url = summary["environment"]["endpoint"]["url"]
    assert f"the measured figures come from the S3 server at {url} on this machine" in text
    # The volume follows the arithmetic from the largest shard and the default allowances.
    sizing = size_volume(int(file_hosts["bytes"].max()), Allowances())
    assert f"{sizing.volume_gb} GB for File mode" in text
    assert "Recommended: " in text
    for what_if in ("repack", "byte-balanced layout", "hosts × 2", "faster instance"):
        assert f"| {what_if} |" in text


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.svgs = 0
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.sources.append(attributes.get("src") or "")
        elif tag == "svg":
            self.svgs += 1
        elif tag in ("link", "script") and (attributes.get("href") or attributes.get("src")):
            self.links.append(attributes.get("href") or attributes.get("src"))


def test_report_places_the_run_in_the_platforms_job_phases(small_run, written):
    """The same phases as run's Answers block: billable = downloading + training + uploading."""
    import re

    text = (small_run.run_dir / "report.md").read_text()
    assert "## In the platform's job phases (sagemaker)" in text
    section = text.split("## In the platform's job phases (sagemaker)", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| File")]
    assert len(rows) == 1
    numbers = [float(cell.replace(",", "")) for cell in re.findall(r"[\d.,]+", rows[0])]
    starting, downloading, training, uploading, billable = numbers[:5]
    assert starting > 0  # the profile's Starting: not measured, not billed
    assert billable == pytest.approx(downloading + training + uploading, rel=0.02)


def test_html_parses_and_carries_its_own_images(small_run, written):
    parser = _Images()
    parser.feed((small_run.run_dir / "report.html").read_text())
    parser.close()
    assert parser.links == []  # nothing fetched from elsewhere
    assert len(parser.sources) + parser.svgs >= 5
    for source in parser.sources:
        head, _, data = source.partition(",")
        assert head == "data:image/png;base64"
        assert base64.b64decode(data, validate=True)[:8] == PNG_MAGIC


def test_report_command_writes_and_names_the_files(small_run, written, capsys):
    from bench.cli import main

    assert main(["report", str(small_run.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "report.md" in out and "report.html" in out


def test_report_command_refuses_a_folder_it_cannot_read(tmp_path, capsys):
    from bench.cli import main

    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 99}))
    assert main(["report", str(tmp_path)]) == 2
    assert "schema_version 99" in capsys.readouterr().err


def test_sizes_recovered_from_events_match_the_dataset(small_run):
    from bench.run.dataset import build_dataset

    sizes, how = sizes_from_events(small_run.events, small_run.summary["dataset"]["objects"])
    scenario = load_run(small_run.run_dir).scenario
    expected = build_dataset(scenario.dataset).sizes
    assert "GET events" in how
    np.testing.assert_array_equal(np.sort(sizes), np.sort(expected))


def test_report_section_of_the_scenario_sets_the_allowances(small_run, tmp_path):
    summary = json.loads((small_run.run_dir / "summary.json").read_text())
    summary["scenario"]["config"]["report"] = {"model_gb": 10, "headroom": 0.5}
    run_dir = tmp_path / "copy"
    run_dir.mkdir()
    for name in ("hosts.csv", "epochs.csv", "events.parquet"):
        (run_dir / name).write_bytes((small_run.run_dir / name).read_bytes())
    (run_dir / "summary.json").write_text(json.dumps(summary))
    run = load_run(run_dir)
    assert run.settings.allowances == Allowances(model_gb=10, headroom=0.5)
    assert run.settings.given == ("model_gb", "headroom")
    summary["scenario"]["config"]["report"] = {"model_gigs": 10}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ScenarioError, match="report.model_gigs.*allowed in \\[report\\]"):
        load_run(run_dir)


def test_load_run_refuses_a_missing_folder(tmp_path):
    with pytest.raises(ResultsError, match="no such run folder"):
        load_run(tmp_path / "nowhere")


# --- volume arithmetic ----------------------------------------------------------------------


def test_volume_is_shard_plus_allowances_plus_headroom_rounded_up():
    allowances = Allowances(model_gb=1, checkpoint_gb=2, scratch_gb=1, headroom=0.2)
    sizing = size_volume(100 * GIB, allowances)
    # (100 + 4) × 1.2 = 124.8 -> 125
    assert sizing.needed_gb == pytest.approx(124.8)
    assert sizing.volume_gb == 125
    assert sizing.throughput_bps == 128 * 1024**2
    assert "= 125 GB" in sizing.formula()


def test_volume_exactly_whole_is_not_rounded_up_by_float_noise():
    sizing = size_volume(
        6 * GIB, Allowances(model_gb=2, checkpoint_gb=1, scratch_gb=1, headroom=0.25)
    )
    assert sizing.volume_gb == 13  # (6 + 4) × 1.25 = 12.5 -> 13
    whole = size_volume(
        16 * GIB, Allowances(model_gb=0, checkpoint_gb=0, scratch_gb=0, headroom=0.25)
    )
    assert whole.volume_gb == 20


def test_pipe_and_fastfile_volume_holds_allowances_only():
    sizing = size_volume(0, Allowances())
    assert sizing.volume_gb == math.ceil((1 + 2 + 1) * 1.2)
    assert size_volume(0, Allowances(0, 0, 0, 0)).volume_gb == 1  # a volume is at least 1 GB


@pytest.mark.parametrize(
    ("data_gib", "mib_per_s"),
    [(100, 128), (250, None), (400, 250), (2000, 250)],
)
def test_volume_throughput_follows_the_gp2_rule(data_gib, mib_per_s):
    sizing = size_volume(data_gib * GIB, Allowances(0, 0, 0, 0))
    rate = sizing.throughput_bps / 1024**2
    if mib_per_s is None:  # between 170 and 334 GiB: linear between the corners
        assert 128 < rate < 250
        assert rate == pytest.approx(128 + (250 - 170) / (334 - 170) * (250 - 128))
    else:
        assert rate == mib_per_s


def test_local_nvme_too_small_is_a_warning():
    assert capacity.local_disk_warning(300, "ml.g5.xlarge", 250) is not None
    assert "250 GiB" in capacity.local_disk_warning(300, "ml.g5.xlarge", 250)
    assert capacity.local_disk_warning(200, "ml.g5.xlarge", 250) is None
    assert capacity.local_disk_warning(5000, "ml.m5.xlarge", 0) is None  # EBS: sized to fit


def test_report_settings_validate_values():
    settings = report_settings({"scratch_gb": 5, "container_size": "256MiB"}, where="s.toml")
    assert settings.allowances.scratch_gb == 5
    assert settings.container_bytes == 256 * 1024**2
    with pytest.raises(ScenarioError, match="report.headroom"):
        report_settings({"headroom": -1}, where="s.toml")
    with pytest.raises(ScenarioError, match="report.model_gb"):
        report_settings({"model_gb": "lots"}, where="s.toml")


# --- input-mode rules on hand-built figures ---------------------------------------------------


def figures(
    modes, *, data_gib=10.0, limit_gb=16384.0, median=100_000, epochs=1, access="sequential"
):
    sizing = size_volume(int(data_gib * GIB), Allowances())
    return DecisionFigures(
        data_per_host_bytes=int(data_gib * GIB),
        file_volume_gb=sizing.volume_gb,
        volume_limit_gb=limit_gb,
        volume_limit_source="test limit",
        median_object_bytes=median,
        epochs=epochs,
        access=access,
        modes=modes,
        get_price_per_1000=0.0004,
        list_price_per_1000=0.005,
    )


def test_many_small_files_and_a_short_job_is_not_file():
    modes = {
        "file": JobFigures(startup_s=600, end_s=700, au=0.95, gets=1_000_000),
        "pipe": JobFigures(startup_s=2, end_s=150, au=0.7, gets=1_000_000),
        "fastfile": JobFigures(startup_s=40, end_s=260, au=0.5, gets=1_000_000, lists=1000),
    }
    recommendation = recommend_mode(figures(modes, median=64 * 1024, epochs=1))
    assert recommendation.mode in ("pipe", "fastfile")
    assert recommendation.mode == "pipe"  # the fastest of the two
    assert "small objects" in recommendation.ruled_out["file"]
    assert "86%" in recommendation.ruled_out["file"]  # 600 of 700 s is startup


def test_data_larger_than_any_volume_is_pipe_or_fastfile():
    modes = {
        "file": JobFigures(startup_s=900, end_s=5000, au=0.99, gets=20_000),
        "pipe": JobFigures(startup_s=1, end_s=5200, au=0.9, gets=200_000),
        "fastfile": JobFigures(startup_s=5, end_s=6000, au=0.8, gets=400_000, lists=20),
    }
    recommendation = recommend_mode(figures(modes, data_gib=500, limit_gb=250, median=500e6))
    assert recommendation.mode in ("pipe", "fastfile")
    assert "250 GB" in recommendation.ruled_out["file"]


def test_data_larger_than_any_volume_with_only_file_measured_names_what_to_measure():
    modes = {"file": JobFigures(startup_s=900, end_s=5000, au=0.99, gets=20_000)}
    recommendation = recommend_mode(figures(modes, data_gib=500, limit_gb=250, median=500e6))
    assert recommendation.mode is None
    assert recommendation.candidates == ("pipe", "fastfile")
    assert "Pipe or FastFile" in recommendation.headline()


def test_small_dataset_and_long_job_is_file():
    # Startup is 1.5 % of the job; Pipe is a hair faster but streams every epoch again.
    modes = {
        "file": JobFigures(startup_s=30, end_s=2030, au=0.98, gets=5_000),
        "pipe": JobFigures(startup_s=1, end_s=2010, au=0.93, gets=100_000),
        "fastfile": JobFigures(startup_s=3, end_s=2600, au=0.75, gets=100_000, lists=100),
    }
    recommendation = recommend_mode(figures(modes, data_gib=2, median=10_000, epochs=20))
    assert recommendation.mode == "file"
    assert "file" not in recommendation.ruled_out
    assert any("paid once" in reason for reason in recommendation.reasons)


def test_random_access_rules_out_pipe_and_prefers_file_over_fastfile():
    modes = {
        "file": JobFigures(startup_s=100, end_s=1100, au=0.95, gets=5_000, epoch_s=100),
        "pipe": JobFigures(startup_s=1, end_s=900, au=0.9, gets=50_000, epoch_s=90),
        "fastfile": JobFigures(startup_s=3, end_s=3000, au=0.3, gets=400_000, epoch_s=300),
    }
    recommendation = recommend_mode(figures(modes, median=200e6, epochs=10, access="random"))
    assert recommendation.mode == "file"
    assert "no seek" in recommendation.ruled_out["pipe"]
    assert "on demand" in recommendation.ruled_out["fastfile"]


def test_pipe_reason_counts_the_gets_of_every_epoch():
    modes = {
        "file": JobFigures(startup_s=100, end_s=130, au=0.9, gets=1_000),
        "pipe": JobFigures(startup_s=1, end_s=60, au=0.9, gets=5_000),
    }
    recommendation = recommend_mode(figures(modes, median=10_000, epochs=5))
    assert recommendation.mode == "pipe"
    assert any("5,000 GETs over 5 epoch(s)" in reason for reason in recommendation.reasons)


# --- what-if helpers ------------------------------------------------------------------------


def test_repack_conserves_bytes_and_packs_to_about_the_container_size():
    sizes = np.random.default_rng(3).integers(1, 2_000_000, size=5000)
    packed = repack(sizes, 128 * 1024**2)
    assert packed.sum() == sizes.sum()
    assert packed.size == pytest.approx(sizes.sum() / (128 * 1024**2), abs=1.5)


def test_snake_layout_balances_round_robin_shards():
    from bench.core import sharding

    sizes = np.random.default_rng(4).lognormal(12, 2, size=4001).astype(np.int64) + 1
    laid_out = snake_layout(sizes, 8)
    assert np.array_equal(np.sort(laid_out), np.sort(sizes))
    before, counts_before = sharding.loads("sharded-by-s3-key", sizes, 8)
    after, counts_after = sharding.loads("sharded-by-s3-key", laid_out, 8)
    assert np.array_equal(counts_before, counts_after)  # still 1/n of the objects each
    assert after.max() / after.mean() < before.max() / before.mean()


def test_change_words():
    assert describe_change(2.0, 1.0, "time") == "2.00x faster"
    assert describe_change(1.0, 1.2, "time") == "1.20x slower"
    assert describe_change(10.0, 18.0, "rate") == "1.80x faster"
    assert describe_change(0.5, 0.6, "level") == "1.20x higher"
    assert describe_change(100, 100, "count") == "same"
