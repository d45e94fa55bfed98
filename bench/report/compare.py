"""Two sets of runs side by side: for each mode and run-level figure, B against A in words.

The unit of evidence is the **run**, not the host: hosts inside one run share the server, the
network and the machine, so they move together and are not independent samples (two identical
runs compared host by host once gave 5 of 16 figures "significant"). Each side is therefore a
set of repeated runs of one scenario (``stagebench run SCENARIO --repeat 3``), and each figure
is one value per run: the job figures of ``summary.json`` and the first-byte percentiles of the
run's GETs in ``events.parquet``.

Per figure:

- the change is said the way a reader asks it ("1.80x faster", "1.20x slower", "same"), from
  the means of the two sides;
- the **noise floor** is each side's run-to-run coefficient of variation (sample standard
  deviation over the mean): a change inside it is what repeating the same run gives;
- whether the change is real is Welch's t-test on the run values (unequal variances), and the
  p values of all figures tested are corrected together with Holm–Bonferroni, so that testing
  many figures does not make one of them "significant" by chance. A corrected p of at least
  ``ALPHA`` is "not significant".

A test needs at least ``MIN_RUNS`` runs per side: it weighs the difference against each side's
run-to-run spread, and fewer runs give no spread (one run) or one too rough to trust (two).
With fewer runs the ratios are still shown, marked as not tested.

Request counts (GETs, LISTs) are set by the scenario, not by chance; they are shown, not tested.
Runs that did not finish, runs of different datasets, and sets with no mode in common cannot
be compared: ``compare_sets`` raises ``StagebenchError`` naming what differs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.core.figures import JobFigures
from bench.errors import StagebenchError
from bench.run.summary import DatasetRecord, RunSummary

if TYPE_CHECKING:
    import pandas as pd

ALPHA = 0.05
MIN_RUNS = 3


@dataclass(frozen=True)
class Figure:
    """A run-level figure and how a change in it is said.

    ``kind``: "time" (lower is faster), "rate" (higher is faster), "level" (higher/lower),
    "count" (more/fewer; shown, never tested).
    """

    name: str
    kind: str


FIGURES: tuple[Figure, ...] = (
    Figure("startup_s", "time"),
    Figure("tail_s", "time"),
    Figure("epoch_s", "time"),
    Figure("stall_s", "time"),
    Figure("end_s", "time"),
    Figure("au", "level"),
    Figure("mb_per_s", "rate"),
    Figure("fb_p50_ms", "time"),
    Figure("fb_p99_ms", "time"),
    Figure("gets", "count"),
    Figure("lists", "count"),
)

# Settings that are not part of what was measured: the endpoint is compared in the environment
# (an embedded server gets a new port every run).
_SETTINGS_NOT_COMPARED = ("storage.endpoint",)


@dataclass(frozen=True)
class RunRecord:
    """What ``compare`` needs of one run folder."""

    path: Path
    summary: RunSummary
    figures: dict[str, dict[str, float]]  # mode -> figure -> value
    settings: dict[str, Any]  # effective scenario settings, "section.key" -> value
    environment: dict[str, Any]  # flattened summary["environment"]

    @property
    def dataset(self) -> tuple[int, int]:
        dataset = self.summary.dataset or DatasetRecord()
        return dataset.objects, dataset.bytes


@dataclass(frozen=True)
class Comparison:
    """The figures table and the setup differences of two sets of runs."""

    runs_a: tuple[RunRecord, ...]
    runs_b: tuple[RunRecord, ...]
    table: pd.DataFrame
    settings: list[str]
    environment: list[str]

    @property
    def tested(self) -> bool:
        return min(len(self.runs_a), len(self.runs_b)) >= MIN_RUNS


def load_run(run_dir: Path) -> RunRecord:
    """Read a run folder; refuses (``ResultsError``) a summary schema this version does not read."""
    from bench.config.scenario import effective_settings

    run_dir = Path(run_dir)
    summary = RunSummary.read(run_dir)
    try:
        settings = effective_settings(
            summary.config, path=Path(summary.scenario_path or "scenario.toml")
        )
    except StagebenchError as exc:
        raise StagebenchError(f"{run_dir}: its recorded scenario does not load: {exc}") from exc
    figures = {mode: _measured(job) for mode, job in summary.modes.items()}
    for mode, latency in _first_byte_percentiles(run_dir).items():
        figures.setdefault(mode, {}).update(latency)
    return RunRecord(run_dir, summary, figures, settings, _flatten(dict(summary.environment)))


def _measured(job: JobFigures) -> dict[str, float]:
    """The job figures this run has (a NaN one had nothing to measure)."""
    values = {figure.name: getattr(job, figure.name, None) for figure in FIGURES}
    return {
        name: float(value)
        for name, value in values.items()
        if value is not None and not math.isnan(value)
    }


def _first_byte_percentiles(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per mode, the p50 and p99 of the run's GET first-byte latency in ms."""
    import pandas as pd

    try:
        events = pd.read_parquet(
            run_dir / "events.parquet", columns=["mode", "op", "start_s", "first_byte_s"]
        )
    except (FileNotFoundError, ValueError, OSError):
        return {}
    gets = events[events["op"] == "GET"]
    latency_ms = (gets["first_byte_s"] - gets["start_s"]) * 1e3
    out: dict[str, dict[str, float]] = {}
    for mode, values in latency_ms.groupby(gets["mode"], sort=False):
        values = values.dropna()
        if len(values):
            out[str(mode)] = {
                "fb_p50_ms": float(values.quantile(0.5)),
                "fb_p99_ms": float(values.quantile(0.99)),
            }
    return out


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p value of Welch's t-test of ``a`` against ``b`` (NaN: fewer than 2 each).

    Two constant sides cannot be weighed against a spread: equal they are p = 1, different
    they are a difference no noise explains (p = 0).
    """
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings():
        # Nearly equal sides make scipy warn about precision; the p value is still right (≈ 1).
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p values (NaN stays NaN and is not counted as a test).

    The i-th smallest of m p values is multiplied by m - i + 1; adjusted values are kept
    monotone so a smaller raw p never gets a larger adjusted one.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if not m:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Run-to-run spread: sample standard deviation over the mean (NaN with fewer than 2)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan")
    mean = float(values.mean())
    spread = float(values.std(ddof=1))
    if mean == 0:
        return 0.0 if spread == 0 else float("inf")
    return spread / abs(mean)


def describe_change(a: float, b: float, kind: str) -> str:
    """B against A in words: "1.80x faster", "1.20x slower", "1.10x higher", "same"."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    if a == b:
        return "same"
    if a == 0 or b == 0:
        return f"{a:.4g} -> {b:.4g}"
    if kind == "time":
        return f"{a / b:.2f}x faster" if b < a else f"{b / a:.2f}x slower"
    if kind == "rate":
        return f"{b / a:.2f}x faster" if b > a else f"{a / b:.2f}x slower"
    if kind == "count":
        return f"{b / a:.2f}x more" if b > a else f"{a / b:.2f}x fewer"
    return f"{b / a:.2f}x higher" if b > a else f"{a / b:.2f}x lower"


def compare_sets(
    runs_a: Sequence[Path], runs_b: Sequence[Path], *, alpha: float = ALPHA
) -> Comparison:
    """Compare two sets of run folders; raises ``StagebenchError`` when nothing is comparable."""
    import pandas as pd

    if not runs_a or not runs_b:
        raise StagebenchError("give at least one run folder on each side: A1 [A2 ...] -- B1 [...]")
    side_a = tuple(load_run(path) for path in runs_a)
    side_b = tuple(load_run(path) for path in runs_b)
    _check_comparable(side_a, side_b)
    modes = _common_modes(side_a, side_b)
    rows: list[dict[str, Any]] = []
    for mode in modes:
        for figure in FIGURES:
            values_a = [run.figures[mode].get(figure.name, math.nan) for run in side_a]
            values_b = [run.figures[mode].get(figure.name, math.nan) for run in side_b]
            if all(math.isnan(v) for v in values_a + values_b):
                continue
            mean_a, mean_b = _mean(values_a), _mean(values_b)
            tested = figure.kind != "count" and min(len(side_a), len(side_b)) >= MIN_RUNS
            rows.append(
                {
                    "mode": mode,
                    "figure": figure.name,
                    "kind": figure.kind,
                    "a": mean_a,
                    "b": mean_b,
                    "cv_a": coefficient_of_variation(values_a),
                    "cv_b": coefficient_of_variation(values_b),
                    "change": describe_change(mean_a, mean_b, figure.kind),
                    "p_value": welch_p(values_a, values_b) if tested else math.nan,
                    "runs_a": len(side_a),
                    "runs_b": len(side_b),
                    "hosts_a": _hosts(side_a, mode),
                    "hosts_b": _hosts(side_b, mode),
                }
            )
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"]) if len(table) else []
    table["significant"] = table["p_holm"] < alpha
    return Comparison(
        side_a,
        side_b,
        table,
        _settings_differences(side_a, side_b),
        _environment_differences(side_a, side_b),
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _hosts(side: Sequence[RunRecord], mode: str) -> int:
    job = side[0].summary.modes.get(mode)
    return job.hosts if job is not None else 0


def _check_comparable(side_a: Sequence[RunRecord], side_b: Sequence[RunRecord]) -> None:
    """Refuse, in one line naming what differs, what no figure could be compared over."""
    for run in (*side_a, *side_b):
        status = run.summary.status
        if status != "ok":
            reason = run.summary.error or "no reason recorded"
            raise StagebenchError(
                f"{run.path}: the run is {status!r} ({reason}), its figures are partial; "
                "compare only runs that finished"
            )
        if not run.figures:
            raise StagebenchError(f"{run.path}: no mode was measured; nothing to compare")
    for label, side in (("A", side_a), ("B", side_b)):
        first = side[0]
        for run in side[1:]:
            key = _first_difference(first.settings, run.settings)
            if key is not None:
                raise StagebenchError(
                    f"the runs of {label} are not repeats of one scenario: {key} is "
                    f"{first.settings.get(key)!r} in {first.path} and "
                    f"{run.settings.get(key)!r} in {run.path}; put repeats of one scenario "
                    "on each side"
                )
    reference = side_a[0]
    for run in (*side_a, *side_b):
        if run.dataset != reference.dataset:
            raise StagebenchError(
                f"nothing to compare: the datasets differ ({_dataset_words(reference)} in "
                f"{reference.path}, {_dataset_words(run)} in {run.path}); compare runs of one "
                "dataset"
            )


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    for key in sorted(set(a) | set(b)):
        if key not in _SETTINGS_NOT_COMPARED and a.get(key) != b.get(key):
            return key
    return None


def _dataset_words(run: RunRecord) -> str:
    objects, size = run.dataset
    return f"{objects} objects, {size / 1e6:.3f} MB"


def _common_modes(side_a: Sequence[RunRecord], side_b: Sequence[RunRecord]) -> list[str]:
    modes_a = [m for m in side_a[0].figures if all(m in run.figures for run in side_a)]
    modes_b = {m for m in side_b[0].figures if all(m in run.figures for run in side_b)}
    common = [m for m in modes_a if m in modes_b]
    if not common:
        raise StagebenchError(
            f"nothing to compare: no mode ran on both sides (A: {', '.join(modes_a) or 'none'}; "
            f"B: {', '.join(sorted(modes_b)) or 'none'}); run the same modes with --modes"
        )
    return common


def _settings_differences(side_a: Sequence[RunRecord], side_b: Sequence[RunRecord]) -> list[str]:
    """Effective settings that differ between the sides (each side is one scenario)."""
    a, b = side_a[0].settings, side_b[0].settings
    return [
        f"{key}: {a.get(key)!r} in A, {b.get(key)!r} in B"
        for key in sorted(set(a) | set(b))
        if key not in _SETTINGS_NOT_COMPARED and a.get(key) != b.get(key)
    ]


def _environment_differences(side_a: Sequence[RunRecord], side_b: Sequence[RunRecord]) -> list[str]:
    """Endpoint, Python, package versions and machine where the sides' recorded values differ."""

    def values(side: Sequence[RunRecord], key: str) -> list[Any]:
        seen = [_environment_value(run, key) for run in side]
        return list(dict.fromkeys(str(v) for v in seen))

    keys = sorted({key for run in (*side_a, *side_b) for key in run.environment})
    lines = []
    for key in keys:
        in_a, in_b = values(side_a, key), values(side_b, key)
        if in_a != in_b:
            lines.append(f"{key}: {' / '.join(in_a)} in A, {' / '.join(in_b)} in B")
    return lines


def _environment_value(run: RunRecord, key: str) -> Any:
    # An embedded server listens on a fresh port every run: its URL says nothing about the setup.
    if key == "endpoint.url" and run.environment.get("endpoint.kind") == "embedded":
        return "(embedded server)"
    return run.environment.get(key)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def verdict(row: Any, *, tested: bool) -> str:
    """The change as a reader takes it: the words, "not significant", or why it was not tested."""
    change = str(row["change"])
    if row["kind"] == "count":
        return change if change in ("same", "n/a") else f"{change} (a count: not tested)"
    if not tested:
        return f"{change} (not tested)"
    p = float(row["p_holm"])
    if not math.isfinite(p):
        return f"{change} (not tested: too few values)"
    if not row["significant"]:
        return "not significant" if change == "same" else f"not significant ({change}, p={p:.2f})"
    return f"{change} (p={p:.3f})"


def format_comparison(comparison: Comparison, *, alpha: float = ALPHA) -> str:
    """Text for the terminal: the sides, how they were tested, a block per mode, the setup."""
    table = comparison.table
    n_a, n_b = len(comparison.runs_a), len(comparison.runs_b)
    lines = [_side_line("A", comparison.runs_a), _side_line("B", comparison.runs_b)]
    tested = table[table["p_value"].notna()] if len(table) else table
    if comparison.tested:
        lines.append(
            f"Welch's t-test on run-level figures, {len(tested)} tests Holm-corrected at "
            f"alpha {alpha:g}; ± is the run-to-run coefficient of variation (the noise floor)"
        )
    else:
        lines += [
            f"cannot test significance with {n_a} run{'s' * (n_a != 1)} in A and {n_b} in B: "
            f"a test needs at least {MIN_RUNS} runs per side,",
            "  because it weighs a difference against the run-to-run spread, which one run does "
            "not show and two show too roughly;",
            "  hosts inside one run share the server and machine, so they are no substitute. "
            f"Make repeats with 'stagebench run SCENARIO --repeat {MIN_RUNS}'",
        ]
    for mode, group in table.groupby("mode", sort=False):
        hosts_a, hosts_b = int(group["hosts_a"].max()), int(group["hosts_b"].max())
        lines += ["", f"{mode} ({hosts_a} hosts in A, {hosts_b} in B): B against A"]
        cells = [
            (
                row["figure"],
                _mean_cell(row["a"], row["cv_a"]),
                _mean_cell(row["b"], row["cv_b"]),
                verdict(row, tested=comparison.tested),
            )
            for row in group.to_dict("records")
        ]
        widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
        for name, cell_a, cell_b, words in cells:
            lines.append(
                f"  {name:<{widths[0]}}  {cell_a:>{widths[1]}} -> {cell_b:<{widths[2]}}  {words}"
            )
    if comparison.tested and len(tested):
        significant = int(tested["significant"].sum())
        lines += [
            "",
            f"{significant} of {len(tested)} figures differ significantly; "
            f"{len(tested) - significant} not significant",
            f"noise floor: median run-to-run CV {_percent(tested['cv_a'])} in A, "
            f"{_percent(tested['cv_b'])} in B; a change inside it is what repeating a run gives",
        ]
    for title, differences in (
        ("settings that differ (effective values, defaults filled):", comparison.settings),
        ("environment that differs:", comparison.environment),
    ):
        if differences:
            lines += ["", title] + [f"  {line}" for line in differences]
    return "\n".join(lines)


def _side_line(label: str, runs: Sequence[RunRecord]) -> str:
    name = runs[0].settings.get("scenario.name", "?")
    count = f"{len(runs)} run{'s' * (len(runs) != 1)}"
    return f"{label}: {count} of {name}: {', '.join(str(run.path) for run in runs)}"


def _percent(cvs: Any) -> str:
    finite = [float(cv) for cv in cvs if math.isfinite(cv)]
    return f"{np.median(finite) * 100:.1f}%" if finite else "-"


def _mean_cell(mean: float, cv: float) -> str:
    if not math.isfinite(mean):
        return "-"
    text = f"{mean:.4g}"
    if math.isfinite(cv):
        text += f" ±{cv * 100:.1f}%"
    elif cv == math.inf:
        text += " ±inf"
    return text
