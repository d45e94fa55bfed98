"""Two runs side by side: for each mode and job metric, B against A in words.

The ratio is said the way a reader asks it ("1.80x faster", "1.20x slower", "1.10x higher AU",
"same"), from the job figures in each run's ``summary.json``.

Whether a difference is real is decided from the per-host values in ``hosts.csv`` with a
two-sided Mann-Whitney U test (rank-sum; ties get mid-ranks), without scipy:

- exact: the null distribution of the rank sum is counted over every way of choosing A's
  hosts among all hosts (a dynamic programme over mid-ranks, so ties are exact too) when there
  are at most ``EXACT_MAX_VALUES`` values in all;
- otherwise the normal approximation with the tie correction of the variance.

A difference with p >= ``ALPHA`` is "not significant": the hosts of the two runs overlap as much
as chance would make them. Identical host values give p = 1. With few hosts the test cannot
reach significance at all (3 against 3 hosts: the smallest p is 0.1; 4 against 4: 0.029), so
"not significant" there means "cannot tell", and more hosts or repeated runs are the remedy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

ALPHA = 0.05
EXACT_MAX_VALUES = 60


@dataclass(frozen=True)
class Metric:
    """A job metric, its per-host column and how a change in it is said."""

    name: str
    host_column: str
    kind: str  # "time": lower is faster; "rate": higher is faster; "level": higher/lower;
    # "count": more/fewer


METRICS: tuple[Metric, ...] = (
    Metric("startup_s", "startup_s", "time"),
    Metric("epoch_s", "epoch_s", "time"),
    Metric("stall_s", "stall_s", "time"),
    Metric("end_s", "end_s", "time"),
    Metric("au", "au", "level"),
    Metric("mb_per_s", "mb_per_s", "rate"),
    Metric("gets", "gets", "count"),
    Metric("lists", "lists", "count"),
)


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test of ``a`` against ``b`` (see module doc)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return 1.0
    values = np.concatenate((a, b))
    ranks = _midranks(values)
    total = n1 + n2
    observed = float(ranks[:n1].sum())
    centre = n1 * (total + 1) / 2.0
    distance = abs(observed - centre)
    if distance < 1e-9:
        return 1.0
    if total <= EXACT_MAX_VALUES:
        return _exact_p(ranks, n1, distance, centre)
    ties = np.unique(values, return_counts=True)[1]
    variance = (
        n1 * n2 / 12.0 * ((total + 1) - float((ties**3 - ties).sum()) / (total * (total - 1)))
    )
    if variance <= 0:
        return 1.0
    z = (distance - 0.5) / math.sqrt(variance)  # continuity correction
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0))))


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        stop = start
        while stop + 1 < values.size and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return ranks


def _exact_p(ranks: np.ndarray, n1: int, distance: float, centre: float) -> float:
    """P(|R - centre| >= distance) for the rank sum R of n1 values drawn from ``ranks``.

    Mid-ranks are halves at worst, so doubled ranks are whole numbers: ``count[k][s]`` is the
    number of k-subsets whose doubled rank sum is s, built one value at a time.
    """
    doubled = np.rint(ranks * 2).astype(np.int64)
    top = int(doubled.sum())
    count = np.zeros((n1 + 1, top + 1))
    count[0, 0] = 1.0
    for rank in doubled:
        # Largest k first, so each value is used at most once per subset.
        count[1:, rank:] += count[:-1, : top + 1 - rank]
    sums = np.arange(top + 1) / 2.0
    subsets = count[n1]
    extreme = np.abs(sums - centre) >= distance - 1e-9
    return float(min(1.0, subsets[extreme].sum() / subsets.sum()))


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


def compare_runs(run_a: Path, run_b: Path) -> pd.DataFrame:
    """One row per (mode, metric) in both runs: A, B, the change in words, p, significant.

    Refuses (``ResultsError``) a folder whose summary schema this version does not read.
    """
    import pandas as pd

    from bench.run import results as results_io

    summary_a, summary_b = results_io.read_summary(run_a), results_io.read_summary(run_b)
    hosts_a, hosts_b = _hosts(run_a), _hosts(run_b)
    modes_a, modes_b = summary_a.get("modes") or {}, summary_b.get("modes") or {}
    rows: list[dict[str, Any]] = []
    for mode in [m for m in modes_a if m in modes_b]:
        for metric in METRICS:
            a = modes_a[mode].get(metric.name)
            b = modes_b[mode].get(metric.name)
            if a is None or b is None:
                continue
            a, b = float(a), float(b)
            values_a = _host_values(hosts_a, mode, metric.host_column)
            values_b = _host_values(hosts_b, mode, metric.host_column)
            p = mann_whitney_p(values_a, values_b)
            rows.append(
                {
                    "mode": mode,
                    "metric": metric.name,
                    "a": a,
                    "b": b,
                    "change": describe_change(a, b, metric.kind),
                    "p_value": p,
                    "significant": bool(p < ALPHA),
                    "hosts_a": int(values_a.size),
                    "hosts_b": int(values_b.size),
                }
            )
    return pd.DataFrame(rows)


def verdict(row: Any) -> str:
    """The change as a reader takes it: the words, or "not significant" and why not."""
    if row["change"] in ("n/a", "same"):
        return str(row["change"])
    p = float(row["p_value"])
    if not row["significant"]:
        detail = row["change"] if p >= 1 else f"{row['change']}, p={p:.2f}"
        return f"not significant ({detail})"
    return f"{row['change']} (p={p:.3f})"


def format_comparison(table: pd.DataFrame, run_a: Path, run_b: Path) -> str:
    """Text for the terminal: a block per mode, a line per metric."""
    lines = [f"A: {run_a}", f"B: {run_b}"]
    if not len(table):
        return "\n".join(lines + ["no mode ran in both: nothing to compare"])
    for mode, group in table.groupby("mode", sort=False):
        hosts_a, hosts_b = int(group["hosts_a"].max()), int(group["hosts_b"].max())
        lines += ["", f"{mode} ({hosts_a} hosts in A, {hosts_b} in B): B against A"]
        width = max(len(m) for m in group["metric"])
        for row in group.to_dict("records"):
            lines.append(
                f"  {row['metric']:<{width}}  {row['a']:>10.4g} -> {row['b']:<10.4g}  "
                f"{verdict(row)}"
            )
    return "\n".join(lines)


def differences(run_a: Path, run_b: Path) -> list[str]:
    """What differs between the two runs' setups: scenario keys and endpoint, one line each."""
    from bench.run import results as results_io

    summary_a, summary_b = results_io.read_summary(run_a), results_io.read_summary(run_b)
    flat_a = _flatten(summary_a.get("scenario", {}).get("config") or {})
    flat_b = _flatten(summary_b.get("scenario", {}).get("config") or {})
    lines = [
        f"{key}: {flat_a.get(key, '(unset)')!r} in A, {flat_b.get(key, '(unset)')!r} in B"
        for key in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(key) != flat_b.get(key) and not key.startswith("storage.endpoint")
    ]
    kind_a = summary_a.get("environment", {}).get("endpoint", {}).get("kind")
    kind_b = summary_b.get("environment", {}).get("endpoint", {}).get("kind")
    if kind_a != kind_b:
        lines.append(f"endpoint: {kind_a} in A, {kind_b} in B")
    return lines


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _hosts(run_dir: Path) -> pd.DataFrame:
    import pandas as pd

    path = Path(run_dir) / "hosts.csv"
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=["mode", "host"])


def _host_values(hosts: pd.DataFrame, mode: str, column: str) -> np.ndarray:
    if column not in hosts.columns:
        return np.array([])
    return hosts.loc[hosts["mode"] == mode, column].to_numpy(dtype=float)
