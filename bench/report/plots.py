"""The report's figures from a run's tables, each written as PNG and SVG beside the results.

Every function takes tables (pandas) or arrays and a path stem, writes ``<stem>.png`` and
``<stem>.svg`` and returns both paths. matplotlib is imported inside the functions (Agg, through
``matplotlib.figure.Figure``, which needs no display), so importing this module stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
# Above this many hosts a timeline shows the slowest ones only: bars stay readable.
MAX_TIMELINE_HOSTS = 24
THROUGHPUT_BINS = 60


def save(figure: Any, path_stem: Path) -> list[Path]:
    """Write ``figure`` as PNG and SVG next to each other; return both paths."""
    path_stem = Path(path_stem)
    paths = [path_stem.parent / f"{path_stem.name}.{suffix}" for suffix in ("png", "svg")]
    for path in paths:
        figure.savefig(path, dpi=110)
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
    axes = np.atleast_1d(figure.subplots(len(modes), 1, height_ratios=heights))
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
    axis.set_xlabel("files in the channel")
    axis.set_ylabel("job startup (s)")
    axis.set_title("Startup against file count")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    return save(figure, path_stem)
