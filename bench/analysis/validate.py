"""``stagebench validate SCENARIO``: the live data paths and the model on the same scenario.

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

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from bench import results as results_io
from bench.config.scenario import Scenario
from bench.errors import StagebenchError

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


def default_profile(endpoint_kind: str) -> str:
    """The profile that describes an endpoint unless the user gives one."""
    if endpoint_kind == "embedded":
        return "embedded"
    if endpoint_kind == "aws":
        return "aws-s3-standard"
    raise StagebenchError(
        "no calibrated profile for this endpoint: run 'stagebench calibrate --endpoint URL' "
        "and pass the file with --profile-file"
    )


def model_arguments(scenario: Scenario, sizes: np.ndarray) -> dict[str, Any]:
    """The model's view of a scenario: everything but the storage."""
    from bench.core.model import PathParams, Training

    ff, training = scenario.fastfile, scenario.training
    return {
        "sizes": np.asarray(sizes, dtype=np.int64),
        "hosts": scenario.cluster.hosts,
        "distribution": scenario.distribution.type,
        "assignment": scenario.distribution.assignment,
        "params": PathParams(
            concurrency=scenario.cluster.concurrency,
            prefetch=scenario.pipe.prefetch,
            chunk_bytes=scenario.pipe.chunk_size,
            part_size=ff.part_size,
            read_ahead=ff.read_ahead,
            access=ff.access,
            record_size=ff.record_size,
            reads_per_file=ff.reads_per_file,
            verify_etag=scenario.storage.verify_etag,
        ),
        "training": Training(
            epochs=training.epochs,
            compute_bps=training.compute_bps,
            step_bytes=training.step_bytes,
            barrier=training.barrier,
            shuffle_seed=training.shuffle_seed,
        ),
        "modes": scenario.modes,
    }


def scenario_storage(profile: Any, scenario: Scenario, *, keys_in_bucket: int) -> Any:
    """The profile resolved for this scenario's hosts (NIC cap, emulated latency)."""
    return profile.storage(
        keys_in_bucket=keys_in_bucket,
        nic_bps=scenario.cluster.nic_bandwidth_bps,
        extra_latency_s=scenario.cluster.first_byte_latency_s,
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
    from bench.analysis.calibrate import _sweep_level, list_parallel

    page_s, parallel = await list_parallel(endpoint, bucket, prefix, hosts)
    rate, _ = await _sweep_level(endpoint, bucket, small, PIN_CONCURRENCY, PIN_SECONDS)
    _, bandwidth = await _sweep_level(endpoint, bucket, large, PIN_CONCURRENCY, PIN_SECONDS)
    return Pinned(page_s, parallel, rate, bandwidth)


@contextlib.contextmanager
def _embedded_credentials() -> Iterator[None]:
    """run_scenario reaches an already running server by URL through the standard credential
    chain; give it the embedded server's dummy keys for the length of the run."""
    from bench.s3.server import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY

    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict(zip(names, (EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY), strict=True)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _relative_error(model: float, live: float) -> float:
    if not (math.isfinite(model) and math.isfinite(live)) or live == 0:
        return float("nan")
    return (model - live) / live


def error_table(
    scenario_name: str, runs: list[tuple[Any, dict[str, Any]]], pinned: Any, profiled: Any
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
                    values = [float(modes[mode].get(metric, float("nan"))) for _, modes in runs]
                    model = float(pinned[mode].job()[metric])
                    alone = float(profiled[mode].job()[metric])
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


def format_errors(table: Any) -> str:
    view = table.drop(columns=["scenario"]).copy()
    if (view["live_min"] == view["live_max"]).all():
        view = view.drop(columns=["live_min", "live_max"])
    for column in ("error", "error_profile"):
        view[column] = view[column].map(lambda v: f"{v * 100:+.1f}%" if math.isfinite(v) else "-")
    return view.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def explain(
    table: Any, *, pinned: Pinned | None, profile: Any, live_modes: dict[str, Any]
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
        span = figures.get("end_s", 0.0)
        if span > 0 and pinned is not None:
            rate = figures.get("gets", 0) / span
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


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "modes", None):
        overrides["modes.run"] = [m.strip() for m in args.modes.split(",") if m.strip()]
    if getattr(args, "endpoint", None):
        overrides["storage.endpoint"] = args.endpoint
    return overrides


def run_validate_command(args: argparse.Namespace) -> int:
    from bench.config.profile import load_profile
    from bench.config.scenario import load_scenario
    from bench.core.model import model_job
    from bench.run.runner import prepare_dataset, run_scenario
    from bench.s3.endpoint import open_endpoint

    scenario = load_scenario(args.scenario, overrides=_overrides(args))
    spec = scenario.storage.endpoint
    kind = spec if spec in ("embedded", "aws") else "url"
    profile = load_profile(args.profile_file or default_profile(kind))

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with open_endpoint(
        spec, region=scenario.storage.region, profile=getattr(args, "profile", None)
    ) as endpoint:
        say(f"endpoint: {endpoint.describe()}; profile: {profile.name}")
        dataset, _ = prepare_dataset(endpoint, scenario, progress=False)
        by_size = np.argsort(dataset.sizes, kind="stable")
        small = [dataset.keys[i] for i in by_size[:200]]
        large = [dataset.keys[i] for i in by_size[-16:]]
        pins: list[Pinned] = []
        results = []
        first_page_s = profile.list_page_s(dataset.objects) - (
            max(0, 1000 - dataset.objects) * profile.list_key_s
        )
        for repeat in range(args.repeat):
            pin = asyncio.run(
                pin_endpoint(
                    endpoint,
                    dataset.bucket,
                    dataset.prefix,
                    small,
                    large,
                    hosts=scenario.cluster.hosts,
                )
            )
            pins.append(pin)
            say(
                f"run {repeat + 1}/{args.repeat}, pinned before it: LIST page "
                f"{pin.list_page_s:.3f} s (profile, its {min(dataset.objects, 1000)} keys in a "
                f"bucket of {dataset.objects}: {first_page_s:.3f} s), "
                f"{pin.list_parallel:.1f} pages at once with {scenario.cluster.hosts} hosts, "
                f"{pin.get_per_s:.0f} small GET/s and "
                f"{pin.bytes_per_s / 1e6:.0f} MB/s at C={PIN_CONCURRENCY} (profile "
                f"{profile.endpoint_get_per_s:.0f} GET/s, {profile.endpoint_bps / 1e6:.0f} MB/s)"
            )
            embedded = endpoint.kind == "embedded"
            with _embedded_credentials() if embedded else contextlib.nullcontext():
                result = run_scenario(
                    scenario,
                    results_root=args.results,
                    endpoint_spec=endpoint.url if endpoint.kind != "aws" else "aws",
                    profile=getattr(args, "profile", None),
                    progress=False,
                    say=say,
                )
            if result.status != "ok":
                raise StagebenchError(
                    f"live run {result.status}: {result.error}; partial results in {result.run_dir}"
                )
            results.append(result)
    pinned = Pinned(
        *(float(np.median([getattr(p, f.name) for p in pins])) for f in dataclasses.fields(Pinned))
    )
    arguments = model_arguments(scenario, dataset.sizes)
    profiled_storage = scenario_storage(profile, scenario, keys_in_bucket=dataset.objects)
    # The pinned page is the prefix's first page, short when it has fewer than 1,000 keys:
    # the model prices a page of k keys as a full page less what the missing keys save.
    short_by = max(0, 1000 - dataset.objects)
    pinned_storage = dataclasses.replace(
        profiled_storage,
        list_page_s=pinned.list_page_s + short_by * profiled_storage.list_key_s,
        list_parallel=pinned.list_parallel,
    )
    if profiled_storage.requests_per_s > 0 or endpoint.kind == "embedded":
        pinned_storage = dataclasses.replace(pinned_storage, requests_per_s=pinned.get_per_s)
    # Bandwidth is pinned only from objects large enough to be bandwidth-bound.
    large_enough = float(np.sort(dataset.sizes)[-16:].min()) >= PIN_MIN_LARGE_BYTES
    if large_enough and (profiled_storage.endpoint_bps > 0 or endpoint.kind == "embedded"):
        pinned_storage = dataclasses.replace(pinned_storage, endpoint_bps=pinned.bytes_per_s)
    started = time.perf_counter()
    model_pinned = model_job(storage=pinned_storage, prefix_objects=dataset.objects, **arguments)
    model_profiled = model_job(
        storage=profiled_storage, prefix_objects=dataset.objects, **arguments
    )
    model_s = time.perf_counter() - started
    runs = [(r.hosts, r.summary["modes"]) for r in results]
    table = error_table(scenario.name, runs, model_pinned, model_profiled)
    run_dir = results[-1].run_dir
    results_io.write_csv(run_dir / "validate.csv", table)
    median_of = f"medians of {len(results)} runs" if len(results) > 1 else "one run"
    print(
        f"{scenario.name}: live ({median_of}) vs model ({profile.name}; model {model_s:.2f} s), "
        "error = (model - live) / live"
    )
    print(format_errors(table))
    core = table[table["metric"].isin(["startup_s", "epoch_s"])]
    median_error = float(np.nanmedian(np.abs(core["error"].to_numpy(dtype=float))))
    verdict = "within" if median_error <= TARGET_ERROR else "OUTSIDE"
    print(
        f"median |error| of startup_s and epoch_s: {median_error * 100:.1f}% "
        f"({verdict} the {TARGET_ERROR * 100:.0f}% target)"
    )
    live_modes = results[-1].summary["modes"]
    for line in explain(table, pinned=pinned, profile=profile, live_modes=live_modes):
        print(f"  {line}")
    for result in results[:-1]:
        print(f"run:     {result.run_dir}")
    print(f"results: {run_dir} (validate.csv)")
    return 0
