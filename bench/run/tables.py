"""A run's tables: a row per (mode, host, epoch), a row per (mode, host), and the job's
figures per mode (``bench.core.figures.JobFigures``, the type the model gives too)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.core.figures import JobFigures
from bench.live.base import HostOutcome
from bench.live.consumer import EpochStats


def epoch_table(mode: str, outcomes: list[HostOutcome]) -> Any:
    """A row per (mode, host, epoch): time, compute, stall, barrier wait, AU, bytes."""
    import pandas as pd

    rows = [
        {
            "mode": mode,
            "host": o.host,
            "epoch": e.epoch,
            "start_s": e.start_s,
            "end_s": e.end_s,
            "epoch_s": e.epoch_s,
            "compute_s": e.compute_s,
            "stall_s": e.stall_s,
            "barrier_s": e.barrier_s,
            "au": e.au,
            "bytes": e.bytes,
            "steps": e.steps,
            "source": e.source,
            "sha256": e.sha256,
        }
        for o in outcomes
        for e in o.epochs
    ]
    return pd.DataFrame(rows)


def host_table(mode: str, outcomes: list[HostOutcome], events: Any, epochs: Any) -> Any:
    """A row per host: shard, startup, epoch time, stall, AU, requests, first-byte latency."""
    import pandas as pd

    gets = events[events["op"] == "GET"]
    latency_ms = (
        gets.assign(latency_ms=(gets["first_byte_s"] - gets["start_s"]) * 1e3)
        .groupby("host")["latency_ms"]
        .quantile([0.5, 0.9, 0.99])
        .unstack()
        if len(gets)
        else None
    )
    per_epoch = epochs.groupby("host") if len(epochs) else None
    rows = []
    for o in outcomes:
        host_gets = gets[gets["host"] == o.host]
        row = {
            "mode": mode,
            "host": o.host,
            "objects": o.objects,
            "bytes": o.bytes,
            "startup_s": o.startup_s,
            "end_s": o.end_s,
            "bytes_fetched": int(host_gets["bytes"].sum()),
            "gets": len(host_gets),
            "lists": int(((events["op"] == "LIST") & (events["host"] == o.host)).sum()),
            "retries": int((host_gets["attempts"] - 1).clip(lower=0).sum()),
            "failed": len(o.failed_keys),
        }
        download_s = o.startup_s if mode == "file" else o.end_s
        row["mb_per_s"] = row["bytes_fetched"] / download_s / 1e6 if download_s > 0 else 0.0
        if latency_ms is not None and o.host in latency_ms.index:
            q = latency_ms.loc[o.host].to_numpy()
            row.update(fb_p50_ms=q[0], fb_p90_ms=q[1], fb_p99_ms=q[2])
        if per_epoch is not None and o.host in per_epoch.groups:
            mine = per_epoch.get_group(o.host)
            compute, stall, barrier = (
                mine["compute_s"].sum(),
                mine["stall_s"].sum(),
                mine["barrier_s"].sum(),
            )
            busy = compute + stall + barrier
            row.update(
                epoch_s=float(mine["epoch_s"].mean()),
                compute_s=float(compute),
                stall_s=float(stall),
                barrier_s=float(barrier),
                au=float(compute / busy) if compute > 0 and busy > 0 else float("nan"),
            )
        row.update(o.extra)
        rows.append(row)
    return pd.DataFrame(rows)


def job_figures(hosts: Any, epochs: Any) -> dict[str, JobFigures]:
    """Per mode, the job's figures from the host and epoch tables of a run."""
    figures = {}
    for mode, table in hosts.groupby("mode", sort=False):
        mode_epochs = epochs[epochs["mode"] == mode] if len(epochs) else epochs
        per_epoch = {
            column: _per_epoch(mode_epochs, column, table["host"])
            for column in ("start_s", "end_s", "compute_s", "stall_s", "barrier_s")
        }
        figures[mode] = JobFigures.of_hosts(
            startup_s=table["startup_s"].to_numpy(dtype=float),
            end_s=table["end_s"].to_numpy(dtype=float),
            objects=table["objects"].to_numpy(),
            bytes=table["bytes"].to_numpy(),
            bytes_fetched=table["bytes_fetched"].to_numpy(),
            gets=table["gets"].to_numpy(),
            lists=table["lists"].to_numpy(),
            retries=table["retries"].to_numpy(),
            epoch_start_s=per_epoch["start_s"],
            epoch_end_s=per_epoch["end_s"],
            compute_s=per_epoch["compute_s"],
            stall_s=per_epoch["stall_s"],
            barrier_s=per_epoch["barrier_s"],
        )
    return figures


def _per_epoch(epochs: Any, column: str, hosts: Any) -> np.ndarray:
    """``column`` as an ``(epochs, hosts)`` array, NaN where a host has no such epoch."""
    if not len(epochs):
        return np.empty((0, len(hosts)))
    grid = epochs.pivot(index="epoch", columns="host", values=column)
    return grid.reindex(columns=hosts.to_numpy()).to_numpy(dtype=float)


# --- a job of several channels ------------------------------------------------------------------


def job_outcomes(mode: str, outcomes: list[HostOutcome]) -> list[HostOutcome]:
    """Each host's job from its channels' outcomes (``bench.live.channels``; the training
    channel first): startup is the training channel's, the end the last channel's; an epoch
    runs from its training pass's start to its last pass's end, and its compute, stall,
    barrier wait, bytes and steps are the sums over its passes."""
    by_host: dict[int, list[HostOutcome]] = {}
    for outcome in outcomes:
        by_host.setdefault(outcome.host, []).append(outcome)
    jobs = []
    for host, mine in by_host.items():
        train = mine[0]
        epochs = []
        for number in range(len(train.epochs)):
            passes = [o.epochs[number] for o in mine if number < len(o.epochs)]
            epochs.append(
                EpochStats(
                    epoch=number,
                    start_s=passes[0].start_s,
                    end_s=max(p.end_s for p in passes),
                    first_byte_s=passes[0].first_byte_s,
                    bytes=sum(p.bytes for p in passes),
                    compute_s=sum(p.compute_s for p in passes),
                    stall_s=sum(p.stall_s for p in passes),
                    barrier_s=sum(p.barrier_s for p in passes),
                    steps=sum(p.steps for p in passes),
                    source="+".join(p.source for p in passes if p.source),
                )
            )
        jobs.append(
            HostOutcome(
                host=host,
                mode=mode,
                startup_s=train.startup_s,
                end_s=max(o.end_s for o in mine),
                objects=sum(o.objects for o in mine),
                bytes=sum(o.bytes for o in mine),
                epochs=epochs,
                failed_keys={k: v for o in mine for k, v in o.failed_keys.items()},
            )
        )
    return jobs


def channel_of_keys(keys: Any, prefixes: dict[str, str]) -> Any:
    """The channel of each event's key (a GET's key, a LIST's prefix): the channel whose
    prefix it starts with, the longest first; "" for none."""
    import pandas as pd

    keys = pd.Series(keys, dtype=object)
    channel = pd.Series("", index=keys.index, dtype=object)
    for name, prefix in sorted(prefixes.items(), key=lambda item: -len(item[1])):
        channel = channel.where((channel != "") | ~keys.str.startswith(prefix), name)
    return channel.to_numpy()
