"""The ``skew`` subcommand's library side: how much skewed object sizes cost each strategy.

Functions take arrays and output paths and return tables or written files; reading scenarios
and creating run folders is the command's job. pandas and matplotlib are imported inside the
functions so that importing this module (and ``stagebench --help``) stays instant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.core import metrics, sharding
from bench.core.sizes import sample_sizes
from bench.units import format_bytes

if TYPE_CHECKING:
    import pandas as pd

SWEEP_STRATEGIES: tuple[str, ...] = ("sharded-by-s3-key", "bytes-balanced", "uniform")
"""What the sweep compares: SageMaker's sharding, the whole-object fix, the byte-range ideal."""

DEFAULT_SWEEP_HOSTS: tuple[int, ...] = tuple(2**power for power in range(1, 11))
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(sigma) for sigma in np.linspace(0.0, 3.0, 13))
DEFAULT_ALPHAS: tuple[float, ...] = (4.0, 3.0, 2.5, 2.0, 1.75, 1.5, 1.25, 1.1, 1.0)

PLOTTED_STRATEGIES: tuple[str, ...] = ("sharded-by-s3-key", "bytes-balanced", "uniform")

# Above this many hosts bars become unreadable; sorted step lines show the shape instead.
_MAX_BAR_HOSTS = 64
_LINE_STYLES = {"sharded-by-s3-key": "-", "bytes-balanced": "--", "uniform": ":"}


def skew_table(
    sizes: np.ndarray, hosts: int, *, throughput_bps: float, hourly_price: float
) -> pd.DataFrame:
    """One row per strategy in ``sharding.STRATEGIES`` with the skew metrics of its loads.

    Columns: strategy, hosts, objects, total_bytes, gini_sizes, the keys of
    ``metrics.skew_metrics`` and max_objects_per_host (for uniform: byte-range pieces).
    """
    import pandas as pd

    sizes = np.asarray(sizes)
    size_gini = metrics.gini(sizes)
    total_bytes = int(sizes.sum(dtype=np.int64)) if sizes.size else 0
    rows = []
    for strategy in sharding.STRATEGIES:
        bytes_per_host, objects_per_host = sharding.loads(strategy, sizes, hosts)
        row: dict[str, Any] = {
            "strategy": strategy,
            "objects": int(sizes.size),
            "total_bytes": total_bytes,
            "gini_sizes": size_gini,
        }
        row.update(
            metrics.skew_metrics(
                bytes_per_host,
                objects_per_host,
                throughput_bps=throughput_bps,
                hourly_price=hourly_price,
            )
        )
        row["max_objects_per_host"] = int(objects_per_host.max())
        rows.append(row)
    table = pd.DataFrame(rows)
    leading = ["strategy", "hosts", "objects", "total_bytes", "gini_sizes"]
    return table[leading + [column for column in table.columns if column not in leading]]


def plot_bytes_per_host(sizes: np.ndarray, hosts: int, path_stem: Path) -> list[Path]:
    """Bytes per host under sharded-by-s3-key, bytes-balanced and uniform, as PNG and SVG.

    Up to 64 hosts: one bar panel per strategy, hosts in index order, so the straggler shows
    where it sits. More hosts: sorted bytes per host as step lines on one axes, largest first,
    so the tail is visible at any cluster size.
    """
    from matplotlib.figure import Figure

    sizes = np.asarray(sizes)
    per_strategy = {
        strategy: sharding.loads(strategy, sizes, hosts)[0] for strategy in PLOTTED_STRATEGIES
    }
    mean_bytes = float(sizes.sum(dtype=np.float64)) / hosts
    largest = max(float(bytes_per_host.max()) for bytes_per_host in per_strategy.values())

    if hosts <= _MAX_BAR_HOSTS:
        figure = Figure(figsize=(8, 7), layout="constrained")
        axes = figure.subplots(len(per_strategy), 1, sharex=True, sharey=True)
        for axis, (strategy, bytes_per_host) in zip(axes, per_strategy.items(), strict=True):
            axis.bar(np.arange(hosts), bytes_per_host, color="tab:blue", width=0.8)
            axis.axhline(mean_bytes, color="black", linewidth=0.8, linestyle="--", label="mean")
            axis.set_title(f"{strategy}: max/mean {_ratio(bytes_per_host):.3f}", fontsize=10)
            _bytes_axis(axis, largest)
        axes[-1].set_xlabel("host")
        axes[0].legend(loc="upper right", fontsize=8)
    else:
        figure = Figure(figsize=(8, 5), layout="constrained")
        axis = figure.subplots()
        rank = np.arange(1, hosts + 1)
        for strategy, bytes_per_host in per_strategy.items():
            axis.step(
                rank,
                np.sort(bytes_per_host)[::-1],
                where="mid",
                linestyle=_LINE_STYLES[strategy],
                label=f"{strategy} (max/mean {_ratio(bytes_per_host):.3f})",
            )
        axis.axhline(mean_bytes, color="black", linewidth=0.8, linestyle="--", label="mean")
        axis.set_xscale("log")
        axis.set_xlabel("host rank by bytes (1 = most loaded)")
        _bytes_axis(axis, largest)
        axis.legend(fontsize=8)
    figure.supylabel("bytes per host")
    figure.suptitle(f"Bytes per host: {sizes.size:,} objects on {hosts:,} hosts")
    return _save(figure, path_stem)


def skew_sweep(
    *,
    n_objects: int = 100_000,
    median_bytes: int = 1024**2,
    hosts_list: Sequence[int] = DEFAULT_SWEEP_HOSTS,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    family: str = "lognormal",
    rng: np.random.Generator | int = 0,
) -> pd.DataFrame:
    """Imbalance ratio of each ``SWEEP_STRATEGIES`` entry against size skew and host count.

    ``family`` is ``lognormal`` (skew = sigma, over ``sigmas``) or ``pareto`` (skew = alpha,
    over ``alphas``; smaller alpha, heavier tail), both with median ``median_bytes``. Every skew
    value reuses the same underlying random numbers, so the curves move with the skew alone.
    Returns one row per (skew, hosts, strategy) with columns family, parameter, skew, objects,
    median_bytes, gini, hosts, strategy, imbalance_ratio, empty_hosts.
    """
    import pandas as pd

    if family not in ("lognormal", "pareto"):
        raise ValueError(f"family = {family!r}: unknown; use lognormal or pareto")
    generator = np.random.default_rng(rng)
    # One seed for every skew value: common random numbers across the sweep.
    seed = int(generator.integers(2**63))
    parameter = "sigma" if family == "lognormal" else "alpha"
    values = sigmas if family == "lognormal" else alphas
    rows = []
    for value in values:
        if family == "lognormal":
            spec = {"distribution": "lognormal", "median": median_bytes, "sigma": float(value)}
        else:
            # A Pareto's median is min * 2**(1/alpha).
            minimum = max(1.0, median_bytes / 2 ** (1.0 / float(value)))
            spec = {"distribution": "pareto", "alpha": float(value), "min": minimum}
        sizes = sample_sizes(spec, n_objects, np.random.default_rng(seed))
        size_gini = metrics.gini(sizes)
        for hosts in hosts_list:
            for strategy in SWEEP_STRATEGIES:
                bytes_per_host, objects_per_host = sharding.loads(strategy, sizes, int(hosts))
                mean_bytes = float(bytes_per_host.sum()) / int(hosts)
                rows.append(
                    {
                        "family": family,
                        "parameter": parameter,
                        "skew": float(value),
                        "objects": int(n_objects),
                        "median_bytes": int(median_bytes),
                        "gini": size_gini,
                        "hosts": int(hosts),
                        "strategy": strategy,
                        "imbalance_ratio": float(bytes_per_host.max()) / mean_bytes
                        if mean_bytes
                        else 1.0,
                        "empty_hosts": int(np.count_nonzero(objects_per_host == 0)),
                    }
                )
    return pd.DataFrame(rows)


def plot_sweep(df: pd.DataFrame, path_stem: Path) -> list[Path]:
    """One figure of a ``skew_sweep`` table: imbalance (log) against skew, PNG and SVG.

    Solid lines are sharded-by-s3-key, one per host count (colour); bytes-balanced is dashed in
    the same colour and uniform dotted, so the gap the two alternatives close is visible.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if df.empty:
        raise ValueError("the sweep table is empty; nothing to plot")
    host_counts = sorted(df["hosts"].unique())
    colours = colormaps["viridis"](np.linspace(0.0, 0.9, len(host_counts)))
    figure = Figure(figsize=(8, 5.5), layout="constrained")
    axis = figure.subplots()
    for colour, hosts in zip(colours, host_counts, strict=True):
        for strategy in SWEEP_STRATEGIES:
            rows = df[(df["hosts"] == hosts) & (df["strategy"] == strategy)].sort_values("skew")
            axis.plot(
                rows["skew"],
                rows["imbalance_ratio"],
                color=colour,
                linestyle=_LINE_STYLES[strategy],
                linewidth=1.6 if strategy == "sharded-by-s3-key" else 1.0,
                marker="o" if strategy == "sharded-by-s3-key" else None,
                markersize=3,
            )
    axis.set_yscale("log")
    parameter = str(df["parameter"].iloc[0])
    if parameter == "alpha":
        axis.invert_xaxis()
        axis.set_xlabel("Pareto alpha (heavier tail to the right)")
    else:
        axis.set_xlabel("lognormal sigma of object sizes")
    axis.set_ylabel("imbalance ratio (max / mean bytes per host)")
    axis.grid(True, which="both", alpha=0.3)
    host_handles = [
        Line2D([], [], color=colour, label=f"{hosts:,} hosts")
        for colour, hosts in zip(colours, host_counts, strict=True)
    ]
    style_handles = [
        Line2D([], [], color="grey", linestyle=_LINE_STYLES[strategy], label=strategy)
        for strategy in SWEEP_STRATEGIES
    ]
    axis.legend(handles=host_handles + style_handles, fontsize=8, ncol=2, loc="upper left")
    objects = int(df["objects"].iloc[0])
    median = format_bytes(int(df["median_bytes"].iloc[0]))
    axis.set_title(f"Straggler imbalance vs size skew: {objects:,} objects, median {median}")
    return _save(figure, path_stem)


def _ratio(bytes_per_host: np.ndarray) -> float:
    mean_bytes = float(bytes_per_host.mean())
    return float(bytes_per_host.max()) / mean_bytes if mean_bytes else 1.0


def _bytes_axis(axis: Any, largest: float) -> None:
    """Label a byte axis in binary units at round steps (1, 2 or 5 x KiB/MiB/GiB...)."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    unit = 1024.0 ** max(0, math.floor(math.log(max(largest, 1.0), 1024)))
    step = next(
        (
            step
            for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
            if largest / (step * unit) <= 6
        ),
        1000,
    )
    axis.yaxis.set_major_locator(MultipleLocator(step * unit))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: format_bytes(value)))


def _save(figure: Any, path_stem: Path) -> list[Path]:
    path_stem = Path(path_stem)
    # Appending rather than with_suffix keeps dots that belong to the stem ("run.v2").
    paths = [path_stem.parent / f"{path_stem.name}.{suffix}" for suffix in ("png", "svg")]
    for path in paths:
        figure.savefig(path, dpi=120)
    return paths
