"""One benchmark run: endpoint → dataset → shards → each mode's live data path → result files.

Whatever has been measured is written even when a later step fails or the user interrupts;
``summary.json`` then says ``status`` = "failed" or "interrupted" and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.scenario import Scenario, with_compute_rate
from bench.errors import ObjectError, StagebenchError
from bench.live.base import EVENT_COLUMNS, EventLog, HostOutcome, HostPlan
from bench.run import results as results_io
from bench.run.dataset import Dataset, build_dataset, list_existing
from bench.s3.client import Endpoint
from bench.s3.endpoint import open_endpoint

ASSUMPTION_NOTE = (
    "ShardedByS3Key assignment: keys sorted lexicographically and dealt to hosts {assignment}; "
    "SageMaker does not document its exact rule, only that each host gets about 1/n of the objects"
)


@dataclass
class RunResult:
    run_dir: Path
    status: str
    hosts: Any  # pandas DataFrame, a row per (mode, host)
    epochs: Any  # pandas DataFrame, a row per (mode, host, epoch)
    events: Any  # pandas DataFrame, a row per request
    summary: dict[str, Any]
    error: BaseException | None = field(default=None, repr=False)


def shard_plans(dataset: Dataset, hosts: int, distribution: str, assignment: str) -> list[HostPlan]:
    """Each simulated host's objects, in key order."""
    n = dataset.objects
    if distribution == "FullyReplicated":
        per_host = [np.arange(n)] * hosts
    else:
        from bench.core.sharding import host_object_indices, sharded_by_s3_key

        host_of_object = sharded_by_s3_key(n, hosts, variant=assignment)
        per_host = host_object_indices(host_of_object, hosts)
    return [
        HostPlan(
            host=h,
            bucket=dataset.bucket,
            prefix=dataset.prefix,
            keys=[dataset.keys[i] for i in idx],
            sizes=dataset.sizes[idx],
            content_index=dataset.content_index[idx],
        )
        for h, idx in enumerate(per_host)
    ]


def prepare_dataset(
    endpoint: Endpoint,
    scenario: Scenario,
    *,
    progress: bool,
    confirm: Callable[[str], bool] | None = None,
    check: Callable[[Dataset], None] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Build the dataset and make sure the endpoint holds it.

    On AWS, the run's requests and cost are estimated first and ``confirm`` is asked when they
    pass ``CONFIRM_ABOVE_USD``.
    """
    if scenario.dataset.source == "s3":
        dataset, extra = asyncio.run(list_existing(endpoint, scenario)), {"populate": "read as is"}
    else:
        dataset, extra = build_dataset(scenario.dataset), {}
    if check is not None:
        check(dataset)
    if endpoint.kind == "aws":
        _confirm_cost(dataset, scenario, confirm)
    if scenario.dataset.source == "s3":
        return dataset, extra
    from bench.s3.populate import populate_async

    report = asyncio.run(
        populate_async(
            endpoint,
            bucket=dataset.bucket,
            prefix=dataset.prefix,
            keys=dataset.keys,
            sizes=dataset.sizes,
            content_index=dataset.content_index,
            seed=dataset.seed,
            fingerprint=dataset.fingerprint(),
            progress=progress,
        )
    )
    return dataset, {"populate": report.__dict__}


def _confirm_cost(
    dataset: Dataset, scenario: Scenario, confirm: Callable[[str], bool] | None
) -> None:
    from bench.cost import CONFIRM_ABOVE_USD, estimate_run

    plans = shard_plans(
        dataset,
        scenario.cluster.hosts,
        scenario.distribution.type,
        scenario.distribution.assignment,
    )
    estimate = estimate_run(
        objects_per_host=[len(p.keys) for p in plans],
        bytes_per_host=[p.total_bytes for p in plans],
        modes=scenario.modes,
        epochs=scenario.training.epochs,
        populate_objects=dataset.objects if dataset.owned else 0,
        populate_bytes=dataset.total_bytes if dataset.owned else 0,
        listed_keys=dataset.objects,
    )
    worst = estimate.request_usd + estimate.egress_usd
    message = f"this run against AWS makes {estimate.describe()}"
    if worst <= CONFIRM_ABOVE_USD:
        return
    if confirm is None or not confirm(message + "; go on?"):
        raise StagebenchError(
            f"not started: {message}; pass --yes to accept or shrink the scenario"
        )


def _check_disk(volume_root: Path, needed: int) -> None:
    free = shutil.disk_usage(volume_root).free
    if needed > free * 0.95:
        raise StagebenchError(
            f"File mode needs {needed / 1e9:.2f} GB on the volumes but {volume_root} has "
            f"{free / 1e9:.2f} GB free; set storage.volume_root to a larger disk or shrink "
            "the dataset"
        )


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
                au=float(compute / busy) if busy > 0 else float("nan"),
            )
        row.update(o.extra)
        rows.append(row)
    return pd.DataFrame(rows)


def job_figures(hosts: Any, epochs: Any) -> dict[str, Any]:
    """Per mode, the job's figures: startup and end are the slowest host's (the job waits for
    it); the tail is how long the last host trails the first."""
    figures = {}
    for mode, table in hosts.groupby("mode", sort=False):
        mode_epochs = epochs[epochs["mode"] == mode] if len(epochs) else epochs
        end_s = float(table["end_s"].max())
        figure = {
            "hosts": int(len(table)),
            "startup_s": float(table["startup_s"].max()),
            "first_host_ready_s": float(table["startup_s"].min()),
            "tail_s": float(table["startup_s"].max() - table["startup_s"].min()),
            "end_s": end_s,
            "objects": int(table["objects"].sum()),
            "bytes": int(table["bytes"].sum()),
            "bytes_fetched": int(table["bytes_fetched"].sum()),
            "gets": int(table["gets"].sum()),
            "lists": int(table["lists"].sum()),
            "retries": int(table["retries"].sum()),
            "mb_per_s": float(table["bytes_fetched"].sum() / end_s / 1e6) if end_s > 0 else 0.0,
        }
        if len(mode_epochs):
            by_epoch = mode_epochs.groupby("epoch")
            compute = mode_epochs["compute_s"].sum()
            busy = compute + mode_epochs["stall_s"].sum() + mode_epochs["barrier_s"].sum()
            figure.update(
                epoch_s=float(by_epoch["end_s"].max().sub(by_epoch["start_s"].min()).mean()),
                stall_s=float(by_epoch["stall_s"].max().mean()),
                au=float(compute / busy) if busy > 0 else float("nan"),
            )
        figures[mode] = figure
    return figures


def run_scenario(
    scenario: Scenario,
    *,
    results_root: Path,
    endpoint_spec: str | None = None,
    profile: str | None = None,
    progress: bool = True,
    keep_volumes: bool = False,
    say: Callable[[str], None] = print,
    confirm: Callable[[str], bool] | None = None,
) -> RunResult:
    """Run every mode of ``scenario`` and write the run folder. Raises nothing the user
    cannot read: a StagebenchError propagates after the partial results are written."""
    import pandas as pd

    from bench.live.engine import run_mode

    run_dir = results_io.new_run_dir(results_root, scenario.name)
    started = results_io.utc_stamp()
    spec = endpoint_spec or scenario.storage.endpoint
    host_tables: list[Any] = []
    event_tables: list[Any] = []
    epoch_tables: list[Any] = []
    status, error, error_text = "ok", None, None
    extra: dict[str, Any] = {}
    failed_keys: list[dict[str, Any]] = []
    dataset: Dataset | None = None
    endpoint_info: tuple[str, str | None] = (spec, None)
    volumes: Path | None = None
    partial_log: EventLog | None = None
    try:
        with contextlib.ExitStack() as stack:
            endpoint = stack.enter_context(
                open_endpoint(
                    spec,
                    region=scenario.storage.region,
                    profile=profile or scenario.storage.profile,
                )
            )
            endpoint_info = (endpoint.kind, endpoint.url)
            say(f"endpoint: {endpoint.describe()}")
            t = time.perf_counter()
            root = scenario.storage.volume_root or Path(tempfile.gettempdir())
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StagebenchError(
                    f"storage.volume_root {root}: cannot create it ({exc.strerror}); "
                    "choose a writable folder"
                ) from exc

            def check_volumes(dataset: Dataset) -> None:
                if "file" in scenario.modes:
                    plans = shard_plans(
                        dataset,
                        scenario.cluster.hosts,
                        scenario.distribution.type,
                        scenario.distribution.assignment,
                    )
                    _check_disk(root, sum(p.total_bytes for p in plans))

            dataset, extra = prepare_dataset(
                endpoint, scenario, progress=progress, confirm=confirm, check=check_volumes
            )
            # A compute rate given in objects becomes bytes/s for this dataset's sizes.
            scenario = with_compute_rate(scenario, dataset.sizes)
            say(
                f"dataset: {dataset.objects} objects, {dataset.total_bytes / 1e6:.1f} MB at "
                f"s3://{dataset.bucket}/{dataset.prefix} (ready in {time.perf_counter() - t:.1f} s)"
            )
            plans = shard_plans(
                dataset,
                scenario.cluster.hosts,
                scenario.distribution.type,
                scenario.distribution.assignment,
            )
            volumes = Path(tempfile.mkdtemp(prefix="stagebench-volumes-", dir=root))
            dask = None
            if scenario.execution.engine == "dask":
                from bench.live.dask_engine import check_reachable, dask_client

                check_reachable(endpoint, scenario.execution.dask)
                say(f"engine: dask {scenario.execution.dask}")
                dask = stack.enter_context(dask_client(scenario.execution.dask, hosts=len(plans)))
            for mode in scenario.modes:
                say(f"mode {mode}: {len(plans)} hosts ...")
                # Events live outside the mode's run, so a failure keeps what was measured.
                partial_log = EventLog(time.perf_counter())
                if dask is not None:
                    from bench.live.dask_engine import run_mode_dask

                    outcomes = run_mode_dask(
                        dask, mode, plans, endpoint=endpoint, scenario=scenario, log=partial_log
                    )
                else:
                    outcomes, _ = asyncio.run(
                        run_mode(
                            mode,
                            plans,
                            endpoint=endpoint,
                            scenario=scenario,
                            volumes=volumes,
                            log=partial_log,
                        )
                    )
                events = partial_log.frame()
                partial_log = None
                mode_epochs = epoch_table(mode, outcomes)
                event_tables.append(events)
                epoch_tables.append(mode_epochs)
                host_tables.append(host_table(mode, outcomes, events, mode_epochs))
                failed_keys += [
                    {"mode": mode, "host": o.host, "key": key, "error": why}
                    for o in outcomes
                    for key, why in o.failed_keys.items()
                ]
    except KeyboardInterrupt as exc:
        status, error, error_text = "interrupted", exc, "interrupted by the user"
    except BaseExceptionGroup as group:
        first = _first_error(group)
        status, error, error_text = "failed", first, str(first)
    except StagebenchError as exc:
        status, error, error_text = "failed", exc, str(exc)
    finally:
        if volumes is not None and not keep_volumes:
            shutil.rmtree(volumes, ignore_errors=True)
    if failed_keys and status == "ok":
        error = _failed_keys_error(failed_keys, dataset)
        status, error_text = "failed", str(error)
    if partial_log is not None and partial_log.rows:
        event_tables.append(partial_log.frame())  # the requests of the mode that stopped

    hosts = pd.concat(host_tables, ignore_index=True) if host_tables else pd.DataFrame()
    epochs = pd.concat(epoch_tables, ignore_index=True) if epoch_tables else pd.DataFrame()
    events = (
        pd.concat(event_tables, ignore_index=True)
        if event_tables
        else pd.DataFrame(columns=list(EVENT_COLUMNS))
    )
    summary = {
        "schema_version": results_io.SCHEMA_VERSION,
        "status": status,
        "error": error_text,
        "started": started,
        "finished": results_io.utc_stamp(),
        "scenario": {"name": scenario.name, "path": str(scenario.path), "config": scenario.raw},
        "environment": results_io.environment(*endpoint_info, scenario.storage.region),
        "dataset": None
        if dataset is None
        else {
            "source": dataset.source,
            "bucket": dataset.bucket,
            "prefix": dataset.prefix,
            "objects": dataset.objects,
            "bytes": dataset.total_bytes,
        },
        "cluster": scenario.cluster.__dict__,
        "distribution": scenario.distribution.__dict__,
        "assumptions": [ASSUMPTION_NOTE.format(assignment=scenario.distribution.assignment)]
        if scenario.distribution.type == "ShardedByS3Key"
        else [],
        "training": scenario.training.__dict__,
        "execution": scenario.execution.__dict__,
        "modes": job_figures(hosts, epochs) if len(hosts) else {},
        "failed_keys": failed_keys,
        **extra,
    }
    results_io.write_parquet(run_dir / "events.parquet", events)
    results_io.write_csv(run_dir / "hosts.csv", hosts)
    results_io.write_csv(run_dir / "epochs.csv", epochs)
    results_io.write_json(run_dir / "summary.json", summary)
    return RunResult(run_dir, status, hosts, epochs, events, summary, error)


def _failed_keys_error(failed: list[dict[str, Any]], dataset: Dataset | None) -> ObjectError:
    """One line for keys that failed after their retries while the rest of the run went on."""
    first = failed[0]
    keys = dict.fromkeys(f["key"] for f in failed)
    modes = ", ".join(dict.fromkeys(f["mode"] for f in failed))
    if len(keys) == 1:
        text = f"{first['error']} (in {modes}); the other objects were read"
    else:
        text = (
            f"{len(keys)} objects failed after their retries (in {modes}), the first: "
            f"{first['error']}; summary.json lists them all"
        )
    return ObjectError(text, bucket=dataset.bucket if dataset else "", key=first["key"])


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if isinstance(exc, StagebenchError):
            return exc
    return group.exceptions[0]
