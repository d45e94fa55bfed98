"""``stagebench compare``: sets of real runs, Welch's t-test with Holm, effective settings."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.config.scenario import effective_settings
from bench.errors import ResultsError
from bench.report.compare import (
    ALPHA,
    MIN_RUNS,
    compare_sets,
    format_comparison,
    holm,
    welch_p,
)
from bench.run.results import SCHEMA_VERSION

REPEATS = 6


@pytest.fixture(scope="module")
def repeated_runs(tmp_path_factory, embedded) -> tuple[list[Path], str]:
    """One small scenario run ``REPEATS`` times by ``stagebench run --repeat``, and its output."""
    tmp_path = tmp_path_factory.mktemp("compare")
    scenario = tmp_path / "aa.toml"
    scenario.write_text(
        f"""
[scenario]
name = "aa"
[dataset]
objects = 24
bucket = "stagebench-tests"
prefix = "t-{uuid.uuid4().hex[:10]}/"
seed = 5
sizes = {{ distribution = "lognormal", median = "16KiB", sigma = 1.0 }}
[cluster]
hosts = 3
concurrency = 4
[distribution]
type = "ShardedByS3Key"
[storage]
endpoint = "{embedded.url}"
volume_root = "{tmp_path / "vol"}"
[modes]
run = ["file", "pipe"]
[training]
compute_rate = "50MB/s"
"""
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "run",
                str(scenario),
                "--repeat",
                str(REPEATS),
                "--no-report",
                "--results",
                str(tmp_path / "results"),
            ]
        )
    assert code == 0
    text = out.getvalue()
    runs = [Path(word) for word in text.split("runs: ", 1)[1].splitlines()[0].split()]
    return runs, text


def test_run_repeat_makes_one_folder_per_run_and_prints_each(repeated_runs):
    runs, text = repeated_runs
    printed = re.findall(r"^results: (.+)$", text, flags=re.MULTILINE)
    assert [Path(p) for p in printed] == runs
    assert len(set(runs)) == REPEATS
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "ok"
        assert set(summary["modes"]) == {"file", "pipe"}
    assert f"stagebench compare {' '.join(map(str, runs))} -- OTHER_RUNS" in text


def test_an_a_a_comparison_is_not_significant_anywhere(repeated_runs, capsys):
    runs, _ = repeated_runs
    # Interleaved (1, 3, 5 against 2, 4, 6), as one would split repeats of one scenario, so a
    # change in the machine's load during the test lands on both sides.
    runs_a, runs_b = runs[0::2], runs[1::2]
    comparison = compare_sets(runs_a, runs_b)
    table = comparison.table
    assert comparison.tested
    assert set(table["mode"]) == {"file", "pipe"}
    tested = table[table["kind"] != "count"]
    expected = {"startup_s", "epoch_s", "stall_s", "au", "mb_per_s", "fb_p50_ms", "fb_p99_ms"}
    assert expected <= set(tested["figure"])
    assert tested["p_value"].notna().all() and tested["p_holm"].notna().all()
    assert not table["significant"].any(), table[["mode", "figure", "p_value", "p_holm"]]
    assert comparison.settings == [] and comparison.environment == []

    assert main(["compare", *map(str, runs_a), "--", *map(str, runs_b)]) == 0
    out = capsys.readouterr().out
    figure_lines = [line for line in out.splitlines() if re.match(r"  (?!gets|lists)\w+ ", line)]
    assert len(figure_lines) == len(tested)
    assert all("not significant" in line for line in figure_lines)
    assert f"0 of {len(tested)} figures differ significantly" in out
    assert "noise floor: median run-to-run CV" in out
    assert "Holm-corrected" in out


def test_two_runs_are_a_quick_look_without_a_test(repeated_runs, capsys):
    runs, _ = repeated_runs
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    out = capsys.readouterr().out
    assert f"A: 1 run of aa: {runs[0]}" in out
    assert "cannot test significance with 1 run in A and 1 in B" in out
    assert f"at least {MIN_RUNS} runs per side" in out
    assert "significant" not in out.replace("cannot test significance", "")
    assert re.search(r"startup_s .* (\d+\.\d\dx (faster|slower)|same)", out)


def test_a_difference_in_real_runs_of_other_settings_is_listed(repeated_runs, tmp_path):
    runs, _ = repeated_runs
    other = tmp_path / "other"
    shutil.copytree(runs[0], other)
    summary = json.loads((other / "summary.json").read_text())
    summary["scenario"]["config"]["cluster"]["concurrency"] = 16
    (other / "summary.json").write_text(json.dumps(summary))
    comparison = compare_sets([runs[0]], [other])
    assert comparison.settings == ["cluster.concurrency: 4 in A, 16 in B"]


# --- synthetic run folders: known differences, known p values ---------------------------------

CONFIG = {
    "scenario": {"name": "synthetic"},
    "dataset": {
        "objects": 24,
        "prefix": "p/",
        "sizes": {"distribution": "lognormal", "median": "16KiB", "sigma": 1.0},
    },
    "cluster": {"hosts": 4},
    "modes": {"run": ["file", "pipe"]},
}
ENVIRONMENT = {
    "endpoint": {"kind": "embedded", "url": "http://127.0.0.1:40001", "region": "us-east-1"},
    "python": "3.11.7",
    "packages": {"stagebench": "0.1.0", "botocore": "1.43.117"},
    "machine": {"platform": "Linux", "processor": "x86_64", "cpus": 2},
}


def synthetic_run(
    root: Path,
    modes: dict[str, dict[str, float]],
    *,
    config: dict | None = None,
    environment: dict | None = None,
    status: str = "ok",
    objects: int = 24,
) -> Path:
    run = root / f"synthetic-{uuid.uuid4().hex[:8]}"
    run.mkdir(parents=True)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "error": None if status == "ok" else "endpoint unreachable",
        "scenario": {"name": "synthetic", "path": "synthetic.toml", "config": config or CONFIG},
        "environment": environment or ENVIRONMENT,
        "dataset": {"source": "synthetic", "objects": objects, "bytes": 500_000},
        "modes": {mode: {"hosts": 4, **figures} for mode, figures in modes.items()},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def figures(rng: np.random.Generator, startup_s: float) -> dict[str, float]:
    """One run's job figures: noise of a few per cent around fixed centres."""
    noisy = lambda centre: float(centre * (1 + rng.normal(0, 0.03)))  # noqa: E731
    return {
        "startup_s": noisy(startup_s),
        "epoch_s": noisy(2.0),
        "stall_s": noisy(0.5),
        "end_s": noisy(3.0),
        "au": noisy(0.8),
        "mb_per_s": noisy(40.0),
        "gets": 24,
        "lists": 0,
    }


def test_a_real_difference_is_significant_after_holm(tmp_path, capsys):
    rng = np.random.default_rng(7)
    runs_a = [synthetic_run(tmp_path, {"file": figures(rng, 1.25)}) for _ in range(5)]
    runs_b = [synthetic_run(tmp_path, {"file": figures(rng, 1.0)}) for _ in range(5)]
    table = compare_sets(runs_a, runs_b).table.set_index("figure")
    startup = table.loc["startup_s"]
    assert startup["significant"] and startup["p_holm"] < ALPHA
    assert startup["p_holm"] >= startup["p_value"]
    assert re.fullmatch(r"1\.2\dx faster", startup["change"])
    others = table.drop(index="startup_s")
    assert not others["significant"].any()

    assert main(["compare", *map(str, runs_a), "--", *map(str, runs_b)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"startup_s .* 1\.2\dx faster \(p=0\.0\d\d\)$", out, flags=re.MULTILINE)
    assert "1 of 6 figures differ significantly; 5 not significant" in out


def test_many_tests_need_holm_before_a_p_counts():
    adjusted = holm([0.01, 0.04, 0.03, 0.005, float("nan")])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])  # not a test, not counted in m
    assert holm([0.5]) == pytest.approx([0.5])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.012, 0.02]) == pytest.approx([0.024, 0.024])  # monotone in the raw p


def test_welch_p_values():
    # t = -3.674 on 4 degrees of freedom.
    assert welch_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.02131, abs=5e-5)
    assert welch_p([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert welch_p([24, 24, 24], [24, 24, 24]) == 1.0
    assert welch_p([24, 24, 24], [25, 25, 25]) == 0.0
    assert np.isnan(welch_p([1.0], [2.0, 3.0]))


def test_default_and_explicit_equal_values_are_no_difference(tmp_path):
    rng = np.random.default_rng(8)
    explicit = json.loads(json.dumps(CONFIG))
    explicit["cluster"].update(concurrency=8, nic_bandwidth=0)  # the defaults, said out loud
    explicit["pipe"] = {"chunk_size": "1MiB", "prefetch": 4}
    explicit["dataset"]["sizes"]["median"] = 16384
    explicit["storage"] = {"max_attempts": 5}
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    run_b = synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, config=explicit)
    assert compare_sets([run_a], [run_b]).settings == []

    path = Path("synthetic.toml")
    assert effective_settings(CONFIG, path=path) == effective_settings(explicit, path=path)
    assert effective_settings(CONFIG, path=path)["cluster.concurrency"] == 8

    changed = json.loads(json.dumps(explicit))
    changed["cluster"]["concurrency"] = 16
    run_c = synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, config=changed)
    assert compare_sets([run_a], [run_c]).settings == ["cluster.concurrency: 8 in A, 16 in B"]


def test_environment_differences_are_listed_but_not_an_embedded_port(tmp_path):
    rng = np.random.default_rng(9)
    other = json.loads(json.dumps(ENVIRONMENT))
    other["endpoint"]["url"] = "http://127.0.0.1:40002"  # a new embedded server, same setup
    other["packages"]["botocore"] = "1.44.0"
    other["machine"]["cpus"] = 8
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    run_b = synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, environment=other)
    comparison = compare_sets([run_a], [run_b])
    assert comparison.environment == [
        "machine.cpus: 2 in A, 8 in B",
        "packages.botocore: 1.43.117 in A, 1.44.0 in B",
    ]
    assert "environment that differs:" in format_comparison(comparison)


# --- nothing comparable: one line, exit 2 --------------------------------------------------


def _refused(capsys, *words: str) -> str:
    assert main(["compare", *words]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stagebench: error: "), captured.err
    return lines[0]


def test_different_datasets_are_not_compared(tmp_path, capsys):
    rng = np.random.default_rng(10)
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    run_b = synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, objects=48)
    line = _refused(capsys, str(run_a), str(run_b))
    assert "the datasets differ (24 objects" in line and "48 objects" in line


def test_no_common_mode_is_not_compared(tmp_path, capsys):
    rng = np.random.default_rng(11)
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    run_b = synthetic_run(tmp_path, {"pipe": figures(rng, 1.0)})
    line = _refused(capsys, str(run_a), str(run_b))
    assert "no mode ran on both sides (A: file; B: pipe)" in line


def test_a_failed_run_is_not_compared(tmp_path, capsys):
    rng = np.random.default_rng(12)
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    run_b = synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, status="failed")
    line = _refused(capsys, str(run_a), "--", str(run_b))
    assert f"{run_b}: the run is 'failed' (endpoint unreachable)" in line


def test_a_side_must_be_repeats_of_one_scenario(tmp_path, capsys):
    rng = np.random.default_rng(13)
    other = json.loads(json.dumps(CONFIG))
    other["cluster"]["hosts"] = 8
    side_a = [synthetic_run(tmp_path, {"file": figures(rng, 1.0)}) for _ in range(2)]
    side_a.append(synthetic_run(tmp_path, {"file": figures(rng, 1.0)}, config=other))
    run_b = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    line = _refused(capsys, *map(str, side_a), "--", str(run_b))
    assert "the runs of A are not repeats of one scenario: cluster.hosts is 4" in line


def test_bad_command_lines_are_refused_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(14)
    runs = [synthetic_run(tmp_path, {"file": figures(rng, 1.0)}) for _ in range(3)]
    assert "no '--'" in _refused(capsys, *map(str, runs))
    assert "a side has no run folder" in _refused(capsys, str(runs[0]), "--")
    assert "no such run folder" in _refused(capsys, str(runs[0]), str(tmp_path / "missing"))
    assert "options go before" in _refused(capsys, str(runs[0]), str(runs[1]), "--debug")
    assert "0 run folders" in _refused(capsys)


def test_compare_refuses_a_schema_it_does_not_read(tmp_path, capsys):
    rng = np.random.default_rng(15)
    run_a = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    other = synthetic_run(tmp_path, {"file": figures(rng, 1.0)})
    summary = json.loads((other / "summary.json").read_text())
    summary["schema_version"] = SCHEMA_VERSION + 1
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ResultsError, match=f"schema_version {SCHEMA_VERSION + 1}"):
        compare_sets([run_a], [other])
    assert "use the stagebench version that wrote it" in _refused(capsys, str(run_a), str(other))
