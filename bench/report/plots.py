"""The report's figures from a run's tables, each written as PNG and SVG beside the results.

Every function takes tables (pandas) or arrays and a path stem, writes ``<stem>.png`` and
``<stem>.svg`` and returns both paths. matplotlib is imported inside the functions (Agg, through
``matplotlib.figure.Figure``, which needs no display), so importing this module stays instant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.units import format_bytes, format_number
from bench.vocabulary import MODE_COLOURS

if TYPE_CHECKING:
    import pandas as pd

PHASE_COLOURS = {
    "download": "tab:blue",
    "stream": "tab:orange",
    "list": "tab:purple",
    "fetch": "tab:green",
    "compute": "tab:gray",
    "stall": "tab:red",
    "barrier": "gold",
}
# Above this many hosts bars become unreadable; sorted step lines show the shape instead.
MAX_BAR_HOSTS = 16
_LINE_STYLES = {"sharded-by-s3-key": "-", "bytes-balanced": "--", "uniform": ":"}
# Above this many hosts a timeline shows the slowest ones only: bars stay readable.
MAX_TIMELINE_HOSTS = 24
THROUGHPUT_BINS = 60


def save(figure: Any, path_stem: Path) -> list[Path]:
    """Write ``figure`` as PNG and SVG next to each other; return both paths."""
    path_stem = Path(path_stem)
    paths = [path_stem.parent / f"{path_stem.name}.{suffix}" for suffix in ("png", "svg")]
    figure.savefig(paths[0], dpi=110)
    # The layout is in figure fractions, the same for both formats: keep the one the PNG
    # worked out rather than solving it again (it is much of a figure's drawing time).
    figure.set_layout_engine("none")
    figure.savefig(paths[1], dpi=110)
    return paths


def host_timeline(
    hosts: pd.DataFrame, epochs: pd.DataFrame, events: pd.DataFrame, path_stem: Path
) -> list[Path]:
    """Per mode, one lane pair per host: what moved data (download, stream, list, fetch) above,
    the epochs below, split into compute, stall and barrier wait.

    The epoch bars show each phase's total within the epoch, not when it happened: the run
    records a step's compute and stall as sums per epoch.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    modes = list(dict.fromkeys(hosts["mode"])) if len(hosts) else []
    if not modes:
        raise ValueError("no hosts in this run: nothing to draw")
    shown = {mode: _timeline_hosts(hosts[hosts["mode"] == mode]) for mode in modes}
    heights = [max(1.6, 0.45 * len(ids) + 0.8) for ids in shown.values()]
    figure = Figure(figsize=(9, sum(heights) + 0.6), layout="constrained")
    # One time scale for every mode, so bars compare across modes.
    axes = np.atleast_1d(
        figure.subplots(len(modes), 1, height_ratios=heights, sharex=True, squeeze=False)[:, 0]
    )
    for axis, mode in zip(axes, modes, strict=True):
        host_ids = shown[mode]
        mode_events = events[events["mode"] == mode] if len(events) else events
        mode_epochs = epochs[epochs["mode"] == mode] if len(epochs) else epochs
        for lane, host in enumerate(host_ids):
            y = lane * 2
            for phase, spans in _data_spans(mode, host, hosts, mode_events).items():
                axis.broken_barh(spans, (y + 0.15, 0.8), color=PHASE_COLOURS[phase])
            if len(mode_epochs):
                for row in mode_epochs[mode_epochs["host"] == host].itertuples():
                    start = float(row.start_s)
                    for phase in ("compute", "stall", "barrier"):
                        width = float(getattr(row, f"{phase}_s"))
                        if width > 0:
                            axis.broken_barh(
                                [(start, width)], (y + 1.05, 0.8), color=PHASE_COLOURS[phase]
                            )
                            start += width
        axis.set_yticks([lane * 2 + 1 for lane in range(len(host_ids))])
        axis.set_yticklabels([f"host {h}" for h in host_ids], fontsize=8)
        axis.set_ylim(0, max(2, 2 * len(host_ids)))
        axis.invert_yaxis()
        axis.set_title(f"{mode}", fontsize=10, loc="left")
        axis.grid(True, axis="x", alpha=0.3)
    axes[-1].set_xlabel("seconds from the job's start")
    used = ["download", "stream", "list", "fetch", "compute", "stall", "barrier"]
    figure.legend(
        handles=[Patch(color=PHASE_COLOURS[p], label=p) for p in used],
        loc="outside lower center",
        ncol=len(used),
        fontsize=8,
    )
    figure.suptitle("Per-host timeline: data movement (upper bar), epoch phases (lower bar)")
    return save(figure, path_stem)


def _timeline_hosts(mode_hosts: pd.DataFrame) -> list[int]:
    order = mode_hosts.sort_values("host")
    if len(order) > MAX_TIMELINE_HOSTS:
        key = "end_s" if "end_s" in order.columns else "startup_s"
        order = order.nlargest(MAX_TIMELINE_HOSTS, key).sort_values("host")
    return [int(h) for h in order["host"]]


def _data_spans(
    mode: str, host: int, hosts: pd.DataFrame, events: pd.DataFrame
) -> dict[str, list[tuple[float, float]]]:
    """(start, width) spans of data movement for one host: File's download up to its startup,
    Pipe's stream and FastFile's fetches per epoch, FastFile's listing."""
    mine = events[events["host"] == host] if len(events) else events
    spans: dict[str, list[tuple[float, float]]] = {}
    if mode == "file":
        row = hosts[(hosts["mode"] == mode) & (hosts["host"] == host)]
        gets = mine[mine["op"] == "GET"] if len(mine) else mine
        start = float(gets["start_s"].min()) if len(gets) else 0.0
        if len(row):
            spans["download"] = [(start, max(0.0, float(row["startup_s"].iloc[0]) - start))]
        return spans
    if not len(mine):
        return spans
    lists = mine[mine["op"] == "LIST"]
    if len(lists):
        spans["list"] = [(float(lists["start_s"].min()), float(np.ptp(_span(lists))))]
    gets = mine[mine["op"] == "GET"]
    phase = "stream" if mode == "pipe" else "fetch"
    spans[phase] = [
        (float(group["start_s"].min()), float(group["end_s"].max() - group["start_s"].min()))
        for _, group in gets.groupby("epoch")
    ]
    return spans


def _span(frame: pd.DataFrame) -> np.ndarray:
    return np.array([frame["start_s"].min(), frame["end_s"].max()], dtype=float)


def throughput_over_time(events: pd.DataFrame, path_stem: Path) -> list[Path]:
    """MB/s completed per time bin for each mode: a request's bytes count in the bin where it
    ended, so the curve is what the readers finished, as the run saw it."""
    from matplotlib.figure import Figure

    gets = events[events["op"] == "GET"] if len(events) else events
    if not len(gets):
        raise ValueError("no GET events: nothing to draw")
    figure = Figure(figsize=(8, 4), layout="constrained")
    axis = figure.subplots()
    for mode, group in gets.groupby("mode", sort=False):
        end = float(group["end_s"].max())
        if end <= 0:
            continue
        edges = np.linspace(0.0, end, THROUGHPUT_BINS + 1)
        totals, _ = np.histogram(group["end_s"], bins=edges, weights=group["bytes"])
        width = edges[1] - edges[0]
        axis.step(
            edges[:-1],
            totals / width / 1e6,
            where="post",
            label=str(mode),
            color=MODE_COLOURS.get(str(mode)),
        )
    axis.set_xlabel("seconds from the mode's start")
    axis.set_ylabel("MB/s completed (all hosts)")
    axis.set_title("Throughput over time")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    return save(figure, path_stem)


def first_byte_cdf(events: pd.DataFrame, path_stem: Path) -> list[Path]:
    """Empirical CDF of GET first-byte latency per mode (time from request to first byte)."""
    from matplotlib.figure import Figure

    gets = events[events["op"] == "GET"] if len(events) else events
    if not len(gets):
        raise ValueError("no GET events: nothing to draw")
    figure = Figure(figsize=(8, 4), layout="constrained")
    axis = figure.subplots()
    for mode, group in gets.groupby("mode", sort=False):
        latency_ms = np.sort((group["first_byte_s"] - group["start_s"]).to_numpy() * 1e3)
        latency_ms = np.maximum(latency_ms, 1e-3)  # a log axis needs positive values
        fraction = np.arange(1, latency_ms.size + 1) / latency_ms.size
        p50 = float(np.median(latency_ms))
        axis.step(
            latency_ms,
            fraction,
            where="post",
            label=f"{mode} (p50 {p50:.1f} ms, n={latency_ms.size:,})",
            color=MODE_COLOURS.get(str(mode)),
        )
    axis.set_xscale("log")
    _label_log_axis(axis.xaxis)
    axis.set_xlabel("first-byte latency (ms)")
    axis.set_ylabel("fraction of GETs")
    axis.set_ylim(0, 1.01)
    axis.set_title("First-byte latency CDF")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    return save(figure, path_stem)


def startup_vs_files(
    sweep: pd.DataFrame,
    path_stem: Path,
    *,
    live: pd.DataFrame | None = None,
    live_label: str = "live",
    title: str = "Startup against file count",
) -> list[Path]:
    """Startup per mode against file count (log-log): the model's sweep as lines, live points
    as markers. ``sweep`` and ``live`` have columns mode, files, startup_s."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axis = figure.subplots()
    for mode, group in sweep.groupby("mode", sort=False):
        group = group.sort_values("files")
        axis.plot(
            group["files"],
            group["startup_s"],
            label=f"{mode} (model)",
            color=MODE_COLOURS.get(str(mode)),
        )
    if live is not None and len(live):
        for mode, group in live.groupby("mode", sort=False):
            axis.plot(
                group["files"],
                group["startup_s"],
                "o",
                label=f"{mode} ({live_label})",
                color=MODE_COLOURS.get(str(mode)),
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    _label_log_axis(axis.xaxis)
    _label_log_axis(axis.yaxis)
    axis.set_xlabel("files in the channel")
    axis.set_ylabel("job startup (s, slowest host)")
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    return save(figure, path_stem)


def bytes_per_host(sizes: np.ndarray, hosts: int, path_stem: Path) -> list[Path]:
    """Bytes per host under sharded-by-s3-key, bytes-balanced and uniform, as PNG and SVG.

    Up to 16 hosts: one bar panel per strategy, hosts in index order, so the straggler shows
    where it sits. More hosts: sorted bytes per host as step lines on one axes, largest first,
    so the tail is visible at any cluster size.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from bench.core import sharding
    from bench.core.metrics import imbalance_ratio

    sizes = np.asarray(sizes)
    per_strategy = {
        strategy: sharding.loads(strategy, sizes, hosts)[0] for strategy in _LINE_STYLES
    }
    mean_bytes = float(sizes.sum(dtype=np.float64)) / hosts
    largest = max(float(bytes_per_host.max()) for bytes_per_host in per_strategy.values())

    if hosts <= MAX_BAR_HOSTS:
        figure = Figure(figsize=(8, 7), layout="constrained")
        axes = figure.subplots(len(per_strategy), 1, sharex=True, sharey=True)
        for axis, (strategy, loads) in zip(axes, per_strategy.items(), strict=True):
            axis.bar(np.arange(hosts), loads, color="tab:blue", width=0.8)
            axis.axhline(mean_bytes, color="black", linewidth=0.8, linestyle="--", label="mean")
            axis.set_title(f"{strategy}: max/mean {imbalance_ratio(loads):.3f}", fontsize=10)
            _bytes_axis(axis, largest)
        axes[-1].set_xlabel("host")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
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
                label=f"{strategy} (max/mean {imbalance_ratio(bytes_per_host):.3f})",
            )
        axis.axhline(mean_bytes, color="black", linewidth=0.8, linestyle="--", label="mean")
        axis.set_xscale("log")
        _label_log_axis(axis.xaxis)
        axis.set_xlabel("host rank by bytes (1 = most loaded)")
        _bytes_axis(axis, largest)
        axis.legend(fontsize=8)
    figure.supylabel("bytes per host")
    figure.suptitle(f"Bytes per host: {sizes.size:,} objects on {hosts:,} hosts")
    return save(figure, path_stem)


def imbalance_vs_skew(
    df: pd.DataFrame, path_stem: Path, *, dataset_sigma: float | None = None
) -> list[Path]:
    """One figure of a ``skew_sweep`` table: imbalance (log) against skew, PNG and SVG.

    Solid lines are sharded-by-s3-key, one per host count (colour); bytes-balanced is dashed in
    the same colour and uniform dotted, so the gap the two alternatives close is visible. With
    ``dataset_sigma`` (a lognormal sweep), a vertical line marks where the dataset itself sits.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from bench.analysis.skew import SWEEP_STRATEGIES

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
    _label_log_axis(axis.yaxis)
    parameter = str(df["parameter"].iloc[0])
    if parameter == "alpha":
        axis.invert_xaxis()
        axis.set_xlabel("Pareto alpha (heavier tail to the right)")
    else:
        axis.set_xlabel("lognormal sigma of object sizes")
    marker_handles = []
    if dataset_sigma is not None and np.isfinite(dataset_sigma) and parameter != "alpha":
        marker_handles.append(
            axis.axvline(
                dataset_sigma,
                color="tab:red",
                linewidth=1.0,
                label=f"this dataset (sigma {dataset_sigma:.2f})",
            )
        )
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
    axis.legend(
        handles=host_handles + style_handles + marker_handles, fontsize=8, ncol=2, loc="upper left"
    )
    objects = int(df["objects"].iloc[0])
    median = format_bytes(int(df["median_bytes"].iloc[0]))
    axis.set_title(f"Straggler imbalance vs size skew: {objects:,} objects, median {median}")
    return save(figure, path_stem)


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


def _label_log_axis(axis: Any) -> None:
    """Ticks at 1, 2 and 5 of every decade, labelled as plain numbers: a log axis that names
    only 10^0 and 10^1 cannot be read."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _position: format_number(value)))
    axis.set_minor_formatter(NullFormatter())
