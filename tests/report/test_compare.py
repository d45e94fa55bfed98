"""``stagebench compare``: two real runs in words, and the rank test behind "not significant"."""

from __future__ import annotations

import itertools
import json
import shutil
import uuid

import numpy as np
import pytest

from bench.errors import ResultsError
from bench.report.compare import (
    ALPHA,
    _midranks,
    compare_runs,
    format_comparison,
    mann_whitney_p,
)
from tests.support import make_scenario, quiet_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, embedded):
    """The same small scenario run twice (the second finds its objects already there)."""
    tmp_path = tmp_path_factory.mktemp("compare")
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        f"t-{uuid.uuid4().hex[:10]}/",
        cluster={"hosts": 4},
        modes={"run": ["file", "pipe"]},
        training={"compute_rate": "50MB/s"},
    )
    first = quiet_run(scenario, tmp_path)
    second = quiet_run(scenario, tmp_path)
    assert first.status == second.status == "ok"
    return first.run_dir, second.run_dir


def test_two_real_runs_are_compared_in_words(two_runs):
    run_a, run_b = two_runs
    table = compare_runs(run_a, run_b)
    assert set(table["mode"]) == {"file", "pipe"}
    assert {"startup_s", "epoch_s", "stall_s", "au", "mb_per_s", "gets"} <= set(table["metric"])
    timings = table[table["metric"].isin(["startup_s", "end_s"])]
    assert timings["change"].str.contains(r"^\d+\.\d\dx (?:faster|slower)$|^same$").all()
    text = format_comparison(table, run_a, run_b)
    assert "B against A" in text
    assert "faster" in text or "slower" in text


def test_identical_host_distributions_are_not_significant(two_runs):
    run_a, run_b = two_runs
    table = compare_runs(run_a, run_b).set_index(["mode", "metric"])
    # Both runs give every host the same objects: GETs per host are identical.
    for mode in ("file", "pipe"):
        row = table.loc[(mode, "gets")]
        assert row["p_value"] == 1.0
        assert not row["significant"]
        assert row["change"] == "same"
    text = format_comparison(compare_runs(run_a, run_b), run_a, run_b)
    gets = [line.split() for line in text.splitlines() if line.split()[:1] == ["gets"]]
    assert gets and all(words[-1] == "same" for words in gets)


def test_a_run_against_itself_is_not_significant_anywhere(two_runs):
    run_a, _ = two_runs
    table = compare_runs(run_a, run_a)
    assert not table["significant"].any()
    assert (table["change"] == "same").all()


def test_compare_command_prints_both_runs(two_runs, capsys):
    from bench.cli import main

    run_a, run_b = two_runs
    assert main(["compare", str(run_a), str(run_b)]) == 0
    out = capsys.readouterr().out
    assert f"A: {run_a}" in out and f"B: {run_b}" in out
    assert "file (4 hosts in A, 4 in B)" in out


def test_compare_refuses_a_schema_it_does_not_read(two_runs, tmp_path, capsys):
    from bench.cli import main

    run_a, _ = two_runs
    other = tmp_path / "future"
    shutil.copytree(run_a, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["schema_version"] = 2
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ResultsError, match="schema_version 2"):
        compare_runs(run_a, other)
    assert main(["compare", str(run_a), str(other)]) == 2
    assert "use the stagebench version that wrote it" in capsys.readouterr().err


def _brute_force_p(a, b):
    values = np.concatenate((a, b)).astype(float)
    ranks = _midranks(values)
    n1 = len(a)
    centre = n1 * (len(values) + 1) / 2
    observed = abs(ranks[:n1].sum() - centre)
    sums = [
        abs(ranks[list(c)].sum() - centre) for c in itertools.combinations(range(len(values)), n1)
    ]
    return sum(s >= observed - 1e-9 for s in sums) / len(sums)


def test_exact_rank_test_matches_brute_force_with_ties():
    rng = np.random.default_rng(11)
    for _ in range(150):
        n1, n2 = rng.integers(1, 7, size=2)
        a = rng.integers(0, 4, size=n1)
        b = rng.integers(0, 6, size=n2)
        assert mann_whitney_p(a, b) == pytest.approx(_brute_force_p(a, b), abs=1e-12)


def test_rank_test_separates_what_differs_and_not_what_does_not():
    assert mann_whitney_p([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)  # 3 hosts cannot tell
    rng = np.random.default_rng(12)
    same = rng.normal(size=200)
    assert mann_whitney_p(same[:100], same[100:]) > ALPHA  # normal approximation, no shift
    assert mann_whitney_p(rng.normal(size=100), rng.normal(1.0, size=100)) < 1e-6
    assert mann_whitney_p([3, 3, 3], [3, 3, 3]) == 1.0
