"""Validation: the live data paths and the model on the same scenario.

The scenario runs live (``bench.run.runner.run_scenario``), then the model runs on the same sizes,
sharding, data-path settings and training with the endpoint's calibrated profile, and the error
``(model - live) / live`` is printed and written to ``validate.csv`` in the run folder, per mode
and metric, for the job (its slowest host, as ``job_figures``) and for the median host.

Two model columns: with the profile alone, and *pinned*: the profile with the two figures that
drift most on a shared local server measured right before the run — one LIST page of the
scenario's prefix (moto's page time grows with the bucket) and the small-GET ceiling (the
embedded server shares the CPU with whatever else runs). The pinned error is the one that says
whether the model's semantics hold; the profile error says how far a stale profile is off.

Live times on a shared machine swing from one run to the next, so the scenario runs
``--repeat`` times (3 by default), each after its own pinning, and the live figures and pinned
measurements are the medians over the runs; ``live_min`` and ``live_max`` show the spread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bench.analysis.inputs import scenario_storage
from bench.config.scenario import Scenario
from bench.core.figures import JobFigures
from bench.errors import StagebenchError
from bench.run import results as results_io
from bench.vocabulary import LIST_PAGE_KEYS

TARGET_ERROR = 0.15
METRICS = ("startup_s", "epoch_s", "end_s")
PIN_SECONDS = 1.5
PIN_CONCURRENCY = 16
PIN_MIN_LARGE_BYTES = 1024 * 1024
CSV_COLUMNS = (
    "scenario",
    "mode",
    "metric",
    "scope",
    "live",
    "live_min",
    "live_max",
    "model",
    "error",
    "model_profile",
    "error_profile",
)


@dataclasses.dataclass(frozen=True)
class Pinned:
    list_page_s: float
    list_parallel: float  # pages served at once when every host lists together
    get_per_s: float
    bytes_per_s: float  # the largest objects with PIN_CONCURRENCY connections


async def pin_endpoint(
    endpoint: Any, bucket: str, prefix: str, small: list[str], large: list[str], *, hosts: int
) -> Pinned:
    """LIST cost of the prefix (alone and with every host at once), then the GET/s of
    ``PIN_CONCURRENCY`` connections over the scenario's smallest objects and the bytes/s over
    its largest, ``PIN_SECONDS`` each."""
    from bench.analysis.calibrate import list_parallel, sweep_level

    page_s, parallel = await list_parallel(endpoint, bucket, prefix, hosts)
    rate, _ = await sweep_level(endpoint, bucket, small, PIN_CONCURRENCY, PIN_SECONDS)
    _, bandwidth = await sweep_level(endpoint, bucket, large, PIN_CONCURRENCY, PIN_SECONDS)
    return Pinned(page_s, parallel, rate, bandwidth)


def _relative_error(model: float, live: float) -> float:
    if not (math.isfinite(model) and math.isfinite(live)) or live == 0:
        return float("nan")
    return (model - live) / live


def error_table(
    scenario_name: str, runs: list[tuple[Any, Mapping[str, JobFigures]]], pinned: Any, profiled: Any
) -> Any:
    """A row per (mode, metric, scope): live (median over ``runs``, each a pair of its hosts
    table and its job figures per mode, and their spread), model (pinned), model (profile
    alone), errors."""
    import pandas as pd

    rows = []
    for mode in runs[0][1]:
        for metric in METRICS:
            for scope in ("job", "host median"):
                if scope == "job":
                    values = [float(getattr(modes[mode], metric)) for _, modes in runs]
                    model = float(getattr(pinned[mode].job(), metric))
                    alone = float(getattr(profiled[mode].job(), metric))
                else:
                    if metric not in runs[0][0]:
                        continue
                    values = [
                        float(hosts.loc[hosts["mode"] == mode, metric].median())
                        for hosts, _ in runs
                    ]
                    model = _host_median(pinned[mode], metric)
                    alone = _host_median(profiled[mode], metric)
                live = float(np.median(values))
                rows.append(
                    {
                        "scenario": scenario_name,
                        "mode": mode,
                        "metric": metric,
                        "scope": scope,
                        "live": live,
                        "live_min": min(values),
                        "live_max": max(values),
                        "model": model,
                        "error": _relative_error(model, live),
                        "model_profile": alone,
                        "error_profile": _relative_error(alone, live),
                    }
                )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def _host_median(result: Any, metric: str) -> float:
    if metric == "epoch_s":
        return float(np.median(np.nanmean(result.epoch_s, axis=0)))
    return float(np.median(getattr(result, metric)))


def explain(
    table: Any, *, pinned: Pinned | None, profile: Any, live_modes: Mapping[str, JobFigures]
) -> list[str]:
    """Plain words for every (mode, metric) the model misses by more than the target."""
    lines = []
    core = table[table["metric"].isin(["startup_s", "epoch_s"])]
    for _, row in core.iterrows():
        error = row["error"]
        if not math.isfinite(error) or abs(error) <= TARGET_ERROR:
            continue
        mode, metric = row["mode"], row["metric"]
        direction = "over" if error > 0 else "under"
        why = _reason(mode, metric, error)
        lines.append(
            f"{mode} {metric} ({row['scope']}): model {direction}estimates by "
            f"{abs(error) * 100:.0f}% ({row['model']:.3f} s vs {row['live']:.3f} s live): {why}"
        )
    for mode, figures in live_modes.items():
        span = figures.end_s
        if span > 0 and pinned is not None:
            rate = figures.gets / span
            lines.append(
                f"{mode}: live {rate:.0f} GET/s over the run; ceiling measured before it "
                f"{pinned.get_per_s:.0f} GET/s, profile {profile.endpoint_get_per_s:.0f} GET/s"
            )
    return lines


def _reason(mode: str, metric: str, error: float) -> str:
    if mode == "fastfile" and metric == "startup_s":
        return (
            "FastFile startup is one LIST pass; moto's page time varies with load and "
            "bucket size (pinned from one measurement)"
        )
    if mode == "pipe" and metric == "startup_s":
        return (
            "every host opens `prefetch` requests at once; the model charges the burst's first "
            "answer (calibrated: the first of 32 GETs issued together) and then the endpoint's "
            "answers in issue order at its pinned GET/s, but the embedded server's order and "
            "spread of answers vary from run to run; tens of ms either way"
        )
    if mode == "pipe" and error > 0:
        return (
            "the model serves each host 1/hosts of the endpoint for the whole epoch, while "
            "live hosts that finish early leave the server to the others"
        )
    if mode == "pipe":
        return (
            "the live reader pays client CPU per chunk (FIFO writes, the consumer) on the same 2 "
            "cores as the server, which the model does not price"
        )
    if mode == "file" and metric == "epoch_s":
        return (
            "the live consumer's steps wake late on the event loop it shares with the other "
            "hosts; the model adds the calibrated timer tick and wake-up of an idle loop only"
        )
    if error < 0:
        return (
            "live readers and the embedded server share 2 cores (client CPU per request and per "
            "chunk is not in the profile, only the MD5 check), and other work slows both"
        )
    return (
        "the fixed 1/hosts share of the endpoint: the straggler does not speed up when "
        "other hosts finish, which live it does"
    )


@dataclasses.dataclass(frozen=True)
class Validation:
    """The error table of a validation and what explains it."""

    table: Any
    pinned: Pinned
    profile: Any
    results: list[Any]
    model_s: float

    @property
    def median_error(self) -> float:
        """Median |error| of startup_s and epoch_s, the figure held to ``TARGET_ERROR``."""
        core = self.table[self.table["metric"].isin(["startup_s", "epoch_s"])]
        return float(np.nanmedian(np.abs(core["error"].to_numpy(dtype=float))))


def _pin_line(pin: Pinned, profile: Any, *, objects: int, hosts: int) -> str:
    """What was pinned, beside what the profile says, in one line."""
    first_page_keys = min(objects, LIST_PAGE_KEYS)
    first_page_s = profile.list_page_s(objects) - (
        max(0, LIST_PAGE_KEYS - objects) * profile.list_key_s
    )
    return (
        f"LIST page {pin.list_page_s:.3f} s (profile, its {first_page_keys} keys in a "
        f"bucket of {objects}: {first_page_s:.3f} s), "
        f"{pin.list_parallel:.1f} pages at once with {hosts} hosts, "
        f"{pin.get_per_s:.0f} small GET/s and "
        f"{pin.bytes_per_s / 1e6:.0f} MB/s at C={PIN_CONCURRENCY} (profile "
        f"{profile.endpoint_get_per_s:.0f} GET/s, {profile.endpoint_bps / 1e6:.0f} MB/s)"
    )


def pinned_profile(storage: Any, pinned: Pinned, sizes: np.ndarray, *, embedded: bool) -> Any:
    """The profile's storage with the figures measured right before the runs."""
    # The pinned page is the prefix's first page, short when it has fewer than 1,000 keys:
    # the model prices a page of k keys as a full page less what the missing keys save. A
    # server slower (or faster) than when it was calibrated is so for every key it lists, so
    # the page and its per-key part are scaled alike: a listing's short last page keeps its
    # share of a full one.
    short_by = max(0, LIST_PAGE_KEYS - int(sizes.size))
    profiled_page_s = storage.list_page_s - short_by * storage.list_key_s
    scale = pinned.list_page_s / profiled_page_s if profiled_page_s > 0 else 1.0
    pinned_storage = dataclasses.replace(
        storage,
        list_page_s=storage.list_page_s * scale,
        list_key_s=storage.list_key_s * scale,
        list_parallel=pinned.list_parallel,
    )
    if storage.requests_per_s > 0 or embedded:
        pinned_storage = dataclasses.replace(pinned_storage, requests_per_s=pinned.get_per_s)
    # Bandwidth is pinned only from objects large enough to be bandwidth-bound.
    large_enough = float(np.sort(sizes)[-16:].min()) >= PIN_MIN_LARGE_BYTES
    if large_enough and (storage.endpoint_bps > 0 or embedded):
        pinned_storage = dataclasses.replace(pinned_storage, endpoint_bps=pinned.bytes_per_s)
    return pinned_storage


def validate_scenario(
    scenario: Scenario,
    profile: Any,
    *,
    repeat: int,
    results_root: Any,
    aws_profile: str | None,
    say: Callable[[str], None],
) -> Validation:
    """Run the scenario live ``repeat`` times, each pinned before (every channel's prefix and
    objects), then the model on the same datasets; write ``validate.csv`` into the last run's
    folder. A job of several channels is compared as a job (``bench.analysis.channels``)."""
    from bench.run.runner import prepare_dataset, run_on_endpoint
    from bench.s3.endpoint import open_storage_endpoint

    hosts = scenario.cluster.hosts
    with open_storage_endpoint(scenario.storage, profile=aws_profile) as endpoint:
        say(f"endpoint: {endpoint.describe()}; profile: {profile.name}")
        datasets = {
            c.name: prepare_dataset(endpoint, scenario.channel_scenario(c))[0]
            for c in scenario.channels
        }
        pins: dict[str, list[Pinned]] = {name: [] for name in datasets}
        results = []
        for run_number in range(repeat):
            for name, dataset in datasets.items():
                pin = asyncio.run(_pin_dataset(endpoint, dataset, hosts))
                pins[name].append(pin)
                where = f" ({name})" if scenario.several_channels else ""
                say(
                    f"run {run_number + 1}/{repeat}, pinned before it{where}: "
                    + _pin_line(pin, profile, objects=dataset.objects, hosts=hosts)
                )
            result = run_on_endpoint(
                scenario, endpoint, results_root=results_root, progress=False, say=say
            )
            if result.status != "ok":
                raise StagebenchError(
                    f"live run {result.status}: {result.error}; partial results in {result.run_dir}"
                )
            results.append(result)
    pinned = {name: _median_pin(runs) for name, runs in pins.items()}
    sizes = {name: dataset.sizes for name, dataset in datasets.items()}
    embedded = endpoint.kind == "embedded"
    started = time.perf_counter()
    model_pinned = _job_model(scenario, sizes, profile, pinned, embedded=embedded)
    model_profiled = _job_model(scenario, sizes, profile, None, embedded=embedded)
    model_s = time.perf_counter() - started
    runs = [(r.hosts, r.run_summary.modes) for r in results]
    table = error_table(scenario.name, runs, model_pinned, model_profiled)
    results_io.write_csv(results[-1].run_dir / "validate.csv", table)
    return Validation(table, pinned[scenario.channels[0].name], profile, results, model_s)


async def _pin_dataset(endpoint: Any, dataset: Any, hosts: int) -> Pinned:
    """``pin_endpoint`` on a dataset: its prefix, its 200 smallest and 16 largest objects."""
    by_size = np.argsort(dataset.sizes, kind="stable")
    small = [dataset.keys[i] for i in by_size[:200]]
    large = [dataset.keys[i] for i in by_size[-16:]]
    return await pin_endpoint(endpoint, dataset.bucket, dataset.prefix, small, large, hosts=hosts)


def _median_pin(pins: list[Pinned]) -> Pinned:
    return Pinned(
        *(float(np.median([getattr(p, f.name) for p in pins])) for f in dataclasses.fields(Pinned))
    )


def _job_model(
    scenario: Scenario,
    sizes: Mapping[str, np.ndarray],
    profile: Any,
    pinned: Mapping[str, Pinned] | None,
    *,
    embedded: bool,
) -> dict[str, Any]:
    """The model of every mode's job (its one channel, or its channels composed) on the
    profile, with each channel's figures pinned when ``pinned`` is given."""
    from bench.analysis.channels import model_channels

    def storage_for(alone: Scenario, keys_in_bucket: int) -> Any:
        storage = scenario_storage(profile, alone, keys_in_bucket=keys_in_bucket)
        if pinned is None:
            return storage
        name = alone.dataset.channel
        return pinned_profile(storage, pinned[name], sizes[name], embedded=embedded)

    return {mode: job.job for mode, job in model_channels(scenario, sizes, storage_for).items()}
