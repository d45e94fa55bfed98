"""One benchmark run, in three steps: prepare (the dataset on the endpoint, each host's shard),
play (each mode on the engine), write (the run folder).

Whatever has been measured is written even when a later step fails or the user interrupts;
``summary.json`` then says ``status`` = "failed" or "interrupted" and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.scenario import Scenario, with_compute_rate
from bench.errors import (
    ObjectError,
    StagebenchError,
    describe_failure,
    first_error,
    leaf_errors,
)
from bench.live.base import EVENT_COLUMNS, EventLog, HostOutcome, HostPlan, integrity_checks
from bench.live.engine import Engine, open_engine
from bench.progress import NO_PROGRESS, Phase, Progress, as_progress
from bench.run import results as results_io
from bench.run.dataset import (
    Dataset,
    build_dataset,
    left_out_note,
    list_existing,
    populate_dataset,
    screen_dataset,
)
from bench.run.summary import DatasetRecord, RunSummary
from bench.run.tables import (
    channel_of_keys,
    epoch_table,
    host_table,
    job_figures,
    job_outcomes,
)
from bench.s3.client import Endpoint
from bench.s3.endpoint import open_endpoint

__all__ = [
    "Prepared",
    "RunResult",
    "epoch_table",
    "host_table",
    "job_figures",
    "prepare",
    "prepare_dataset",
    "run_on_endpoint",
    "run_scenario",
    "shard_plans",
]

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
    run_summary: RunSummary
    error: BaseException | None = field(default=None, repr=False)

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` as its dict (NaN where the file has null)."""
        return self.run_summary.to_dict()


# --- entry points -----------------------------------------------------------------------------


def run_scenario(
    scenario: Scenario,
    *,
    results_root: Path,
    endpoint_spec: str | None = None,
    profile: str | None = None,
    progress: Progress | bool = True,
    keep_volumes: bool = False,
    say: Callable[[str], None] = print,
    confirm: Callable[[str], bool] | None = None,
) -> RunResult:
    """Open the scenario's endpoint (or ``endpoint_spec``), run every mode on the scenario's
    engine and write the run folder. Raises nothing the user cannot read: a StagebenchError
    propagates after the partial results are written."""
    spec = endpoint_spec or scenario.storage.endpoint
    storage = scenario.storage
    run = _Run.begin(scenario, results_root, endpoint=(spec, None, storage.region))
    opened = open_endpoint(
        spec,
        region=storage.region,
        profile=profile or storage.profile,
        unsigned=not storage.sign_requests,
    )
    with run.recording(), opened as endpoint:
        _prepare_and_play(run, endpoint, None, as_progress(progress), keep_volumes, say, confirm)
    return run.write()


def run_on_endpoint(
    scenario: Scenario,
    endpoint: Endpoint,
    engine: Engine | None = None,
    *,
    results_root: Path,
    progress: Progress | bool = True,
    keep_volumes: bool = False,
    say: Callable[[str], None] = print,
    confirm: Callable[[str], bool] | None = None,
) -> RunResult:
    """``run_scenario`` on an endpoint the caller has open, with its ``engine`` (default: the
    one ``execution.engine`` names, opened once the dataset is ready)."""
    run = _Run.begin(scenario, results_root, endpoint=endpoint.record)
    with run.recording():
        _prepare_and_play(run, endpoint, engine, as_progress(progress), keep_volumes, say, confirm)
    return run.write()


def _prepare_and_play(
    run: _Run,
    endpoint: Endpoint,
    engine: Engine | None,
    progress: Progress,
    keep_volumes: bool,
    say: Callable[[str], None],
    confirm: Callable[[str], bool] | None,
) -> None:
    run.endpoint = endpoint.record
    say(f"endpoint: {endpoint.describe()}")
    started = time.perf_counter()
    prepared = prepare(endpoint, run.scenario, progress=progress, confirm=confirm)
    run.dataset, run.extra = prepared.dataset, prepared.extra
    if run.scenario.several_channels:
        run.measured.prefixes = {name: d.prefix for name, d in prepared.datasets.items()}
        run.datasets = prepared.datasets
    # A compute rate given in objects becomes bytes/s for this dataset's sizes.
    run.scenario = with_compute_rate(run.scenario, prepared.dataset.sizes)
    ready_s = time.perf_counter() - started
    for name, dataset in prepared.datasets.items():
        label = f"channel {name}" if run.scenario.several_channels else "dataset"
        extra = prepared.extra.get("channels", {}).get(name, prepared.extra)
        say(
            f"{label}: {dataset.objects} objects, {dataset.total_bytes / 1e6:.1f} MB at "
            f"s3://{dataset.bucket}/{dataset.prefix} (ready in {ready_s:.1f} s)"
            + left_out_note(extra)
        )
    with contextlib.ExitStack() as stack:
        if engine is None:
            engine = stack.enter_context(open_engine(run.scenario, endpoint, say=say))
        play(
            run.scenario,
            prepared,
            engine,
            endpoint,
            run.measured,
            keep_volumes=keep_volumes,
            progress=progress,
            say=say,
        )


# --- prepare ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A dataset the endpoint holds, each host's shard of it, and where the volumes go. In a
    job of several channels, ``plans`` holds every channel's shares (the training channel's
    first), ``datasets`` each channel's data and ``dataset`` the training channel's."""

    dataset: Dataset
    extra: dict[str, Any]  # what preparing it reported, for summary.json
    plans: list[HostPlan]
    volume_root: Path
    datasets: dict[str, Dataset] = field(default_factory=dict)


def shard_plans(
    dataset: Dataset, hosts: int, distribution: str, assignment: str, *, channel: str = ""
) -> list[HostPlan]:
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
            channel=channel,
        )
        for h, idx in enumerate(per_host)
    ]


def prepare(
    endpoint: Endpoint,
    scenario: Scenario,
    *,
    progress: Progress | bool,
    confirm: Callable[[str], bool] | None = None,
) -> Prepared:
    """The volume root, then the dataset on the endpoint and its shard plans (computed once),
    refusing before any byte moves a run that would not fit the volumes or the machine."""
    root = _volume_root(scenario)
    if scenario.several_channels:
        return _prepare_channels(endpoint, scenario, root, progress, confirm)

    def check(dataset: Dataset, plans: list[HostPlan]) -> None:
        if "file" in scenario.modes:
            _check_disk(root, sum(p.total_bytes for p in plans))
        scenario.check_live(dataset.sizes)

    dataset, extra, plans = _prepare(endpoint, scenario, progress, confirm, check)
    return Prepared(dataset, extra, plans, root, {scenario.dataset.channel: dataset})


def _prepare_channels(
    endpoint: Endpoint,
    scenario: Scenario,
    root: Path,
    progress: Progress | bool,
    confirm: Callable[[str], bool] | None,
) -> Prepared:
    """Every channel's dataset on the endpoint and its shares, channel by channel; the File
    channels of every mode the run plays must fit the volumes together."""
    on_volumes = [0]  # bytes of the File channels so far
    datasets: dict[str, Dataset] = {}
    extras: dict[str, Any] = {}
    plans: list[HostPlan] = []
    for channel in scenario.channels:
        alone = scenario.channel_scenario(channel)
        on_file = any(channel.mode_in(mode) == "file" for mode in scenario.modes)

        def check(
            dataset: Dataset,
            shares: list[HostPlan],
            alone: Scenario = alone,
            on_file: bool = on_file,
        ) -> None:
            if on_file:
                on_volumes[0] += sum(p.total_bytes for p in shares)
                _check_disk(root, on_volumes[0])
            alone.check_live(dataset.sizes)

        dataset, extra, shares = _prepare(endpoint, alone, progress, confirm, check)
        datasets[channel.name] = dataset
        extras[channel.name] = extra
        plans += [dataclasses.replace(p, channel=channel.name) for p in shares]
    first = scenario.channels[0].name
    return Prepared(datasets[first], {"channels": extras}, plans, root, datasets)


def prepare_dataset(
    endpoint: Endpoint,
    scenario: Scenario,
    *,
    progress: Progress | bool = NO_PROGRESS,
    confirm: Callable[[str], bool] | None = None,
    check: Callable[[Dataset], None] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Build the dataset and make sure the endpoint holds it.

    On AWS, the run's requests and cost are estimated first and ``confirm`` is asked when they
    pass ``CONFIRM_ABOVE_USD``.
    """
    dataset, extra, _ = _prepare(
        endpoint, scenario, progress, confirm, None if check is None else lambda d, _: check(d)
    )
    return dataset, extra


def _prepare(
    endpoint: Endpoint,
    scenario: Scenario,
    progress: Progress | bool,
    confirm: Callable[[str], bool] | None,
    check: Callable[[Dataset, list[HostPlan]], None] | None,
) -> tuple[Dataset, dict[str, Any], list[HostPlan]]:
    if scenario.dataset.source == "s3":
        dataset = asyncio.run(list_existing(endpoint, scenario, progress=progress))
        extra: dict[str, Any] = {"populate": "read as is"}
    else:
        dataset, extra = build_dataset(scenario.dataset), {}
    # Before any byte moves: every key must be a file with a safe path (bench/s3/keys.py).
    dataset, key_counts = screen_dataset(dataset, scenario.dataset.unsafe_keys)
    extra.update(key_counts)
    plans = shard_plans(
        dataset,
        scenario.cluster.hosts,
        scenario.distribution.type,
        scenario.distribution.assignment,
    )
    if check is not None:
        check(dataset, plans)
    if endpoint.kind == "aws":
        _confirm_cost(dataset, plans, scenario, confirm)
    if scenario.dataset.source == "s3":
        return dataset, extra, plans
    report = populate_dataset(endpoint, dataset, progress=progress)
    return dataset, {"populate": report.__dict__}, plans


def mode_phase(progress: Progress, mode: str, plans: list[HostPlan], scenario: Scenario) -> Phase:
    """The live line of one mode's play across hosts: objects and bytes read of those the
    mode will read (every epoch for Pipe and FastFile, once for File), over every channel."""
    paths = {c.name: c.mode_in(mode) for c in scenario.channels}
    path_of = [paths.get(p.channel, mode) for p in plans]
    hosts = len({p.host for p in plans})
    channels = len({p.channel for p in plans})
    label = f"{mode} ({hosts} hosts" + (f", {channels} channels)" if channels > 1 else ")")
    if "fastfile" in path_of and scenario.fastfile.access != "sequential":
        # Random reads fetch an unknown share of each file: count requests, no total.
        return progress.phase(label, unit="GET")
    passes = [1 if path == "file" else scenario.training.epochs for path in path_of]
    return progress.phase(
        label,
        total_objects=sum(n * len(p.keys) for n, p in zip(passes, plans, strict=True)),
        total_bytes=sum(n * p.total_bytes for n, p in zip(passes, plans, strict=True)),
    )


def follow_requests(log: EventLog, phase: Phase, *, by_request: bool) -> None:
    """Advance ``phase`` as ``log`` records GETs: an object when its first byte range ends."""

    def on_add(op: str, offset: int, nbytes: int) -> None:
        if op == "GET":
            phase.advance(objects=1 if by_request or offset == 0 else 0, nbytes=nbytes)

    log.on_add = on_add


def _confirm_cost(
    dataset: Dataset,
    plans: list[HostPlan],
    scenario: Scenario,
    confirm: Callable[[str], bool] | None,
) -> None:
    from bench.cost import CONFIRM_ABOVE_USD, estimate_run

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


def _volume_root(scenario: Scenario) -> Path:
    root = scenario.storage.volume_root or Path(tempfile.gettempdir())
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StagebenchError(
            f"storage.volume_root {root}: cannot create it ({exc.strerror}); "
            "choose a writable folder"
        ) from exc
    return root


# --- play -------------------------------------------------------------------------------------


@dataclass
class Measured:
    """What the modes measured so far; kept whatever stops the run."""

    hosts: list[Any] = field(default_factory=list)
    epochs: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    failed_keys: list[dict[str, Any]] = field(default_factory=list)
    # The requests of the mode playing now: outside its run, so a mode that stops keeps them.
    live_log: EventLog | None = None
    # Several channels: each channel's rows per (mode, host) and per epoch, and its prefix.
    channel_hosts: list[Any] = field(default_factory=list)
    channel_epochs: list[Any] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)

    def start_mode(self) -> EventLog:
        self.live_log = EventLog(time.perf_counter())
        return self.live_log

    def end_mode(self, mode: str, outcomes: list[HostOutcome]) -> None:
        assert self.live_log is not None
        events = self.live_log.frame()
        self.live_log = None
        if any(o.channel for o in outcomes):
            events = self._end_channels(mode, outcomes, events)
            outcomes = job_outcomes(mode, outcomes)
        epochs = epoch_table(mode, outcomes)
        self.events.append(events)
        self.epochs.append(epochs)
        self.hosts.append(host_table(mode, outcomes, events, epochs))
        self.failed_keys += [
            {"mode": mode, "host": o.host, "key": key, "error": why}
            for o in outcomes
            for key, why in o.failed_keys.items()
        ]

    def _end_channels(self, mode: str, outcomes: list[HostOutcome], events: Any) -> Any:
        """Each channel's host and epoch rows; the events, marked with the job's mode and
        their channel (by the prefix of their key)."""
        events = events.assign(mode=mode, channel=channel_of_keys(events["key"], self.prefixes))
        for name in dict.fromkeys(o.channel for o in outcomes):
            mine = [o for o in outcomes if o.channel == name]
            epochs = epoch_table(mode, mine).assign(channel=name)
            hosts = host_table(mode, mine, events[events["channel"] == name], epochs)
            self.channel_epochs.append(epochs)
            self.channel_hosts.append(hosts.assign(channel=name))
        return events

    def tables(self) -> tuple[Any, Any, Any]:
        """Hosts, epochs and events, with the requests of a mode that stopped half-way."""
        import pandas as pd

        events = list(self.events)
        if self.live_log is not None and self.live_log.rows:
            events.append(self.live_log.frame())
        return (
            pd.concat(self.hosts, ignore_index=True) if self.hosts else pd.DataFrame(),
            pd.concat(self.epochs, ignore_index=True) if self.epochs else pd.DataFrame(),
            pd.concat(events, ignore_index=True)
            if events
            else pd.DataFrame(columns=list(EVENT_COLUMNS)),
        )


def play(
    scenario: Scenario,
    prepared: Prepared,
    engine: Engine,
    endpoint: Endpoint,
    measured: Measured,
    *,
    keep_volumes: bool = False,
    progress: Progress = NO_PROGRESS,
    say: Callable[[str], None] = print,
) -> None:
    """Every mode of the scenario on ``engine``, one after another, into ``measured``."""
    plans = prepared.plans
    volumes = Path(tempfile.mkdtemp(prefix="stagebench-volumes-", dir=prepared.volume_root))
    try:
        for mode in scenario.modes:
            hosts = len({p.host for p in plans})
            say(f"mode {mode}: {hosts} hosts ...")
            log = measured.start_mode()
            with mode_phase(progress, mode, plans, scenario) as phase:
                paths = {c.mode_in(mode) for c in scenario.channels} or {mode}
                random_reads = "fastfile" in paths and scenario.fastfile.access != "sequential"
                follow_requests(log, phase, by_request=random_reads)
                outcomes = engine.play(
                    mode, plans, endpoint=endpoint, scenario=scenario, volumes=volumes, log=log
                )
            measured.end_mode(mode, outcomes)
    finally:
        if not keep_volumes:
            shutil.rmtree(volumes, ignore_errors=True)


# --- write ------------------------------------------------------------------------------------


@dataclass
class _Run:
    """A run in progress: its folder, what it has learnt and measured, and how it ended."""

    scenario: Scenario
    run_dir: Path
    started: str
    # kind (or the spec, until it is open), URL and region
    endpoint: tuple[str, str | None, str | None]
    measured: Measured = field(default_factory=Measured)
    dataset: Dataset | None = None
    datasets: dict[str, Dataset] = field(default_factory=dict)  # several channels: each one's
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: BaseException | None = None
    error_text: str | None = None

    @classmethod
    def begin(
        cls, scenario: Scenario, results_root: Path, *, endpoint: tuple[str, str | None, str | None]
    ) -> _Run:
        run_dir = results_io.new_run_dir(results_root, scenario.name)
        return cls(scenario, run_dir, results_io.utc_stamp(), endpoint)

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Whatever stops the run becomes its status and one line; the measured stays."""
        try:
            yield
        except BaseException as exc:
            if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaf_errors(exc)):
                self.status, self.error = "interrupted", exc
                self.error_text = "interrupted by the user"
            elif not isinstance(exc, Exception):
                raise  # SystemExit and the like: not a failure of the run
            else:
                self.status, self.error = "failed", first_error(exc)
                self.error_text = describe_failure(exc)

    def write(self) -> RunResult:
        """The run folder's files, whatever the status; the result the caller gets."""
        failed_keys = self.measured.failed_keys
        if failed_keys and self.status == "ok":
            self.error = _failed_keys_error(failed_keys, self.dataset)
            self.status, self.error_text = "failed", str(self.error)
        hosts, epochs, events = self.measured.tables()
        summary = self.summary(
            job_figures(hosts, epochs) if len(hosts) else {}, integrity_checks(events)
        )
        results_io.write_parquet(self.run_dir / "events.parquet", events)
        results_io.write_csv(self.run_dir / "hosts.csv", hosts)
        results_io.write_csv(self.run_dir / "epochs.csv", epochs)
        if self.scenario.several_channels:
            self._write_channels()
            summary = dataclasses.replace(summary, extra={**summary.extra, **self.extra})
        summary.write(self.run_dir)
        return RunResult(self.run_dir, self.status, hosts, epochs, events, summary, self.error)

    def _write_channels(self) -> None:
        """``channels.csv`` and ``channel_epochs.csv`` (the rows of each channel), and each
        channel's figures per mode into ``summary.json``'s ``channels``."""
        import pandas as pd

        measured = self.measured
        hosts = (
            pd.concat(measured.channel_hosts, ignore_index=True)
            if measured.channel_hosts
            else pd.DataFrame()
        )
        epochs = (
            pd.concat(measured.channel_epochs, ignore_index=True)
            if measured.channel_epochs
            else pd.DataFrame()
        )
        results_io.write_csv(self.run_dir / "channels.csv", hosts)
        results_io.write_csv(self.run_dir / "channel_epochs.csv", epochs)
        populated = self.extra.get("channels", {})
        channels: dict[str, Any] = {}
        for channel in self.scenario.channels:
            mine = hosts[hosts["channel"] == channel.name] if len(hosts) else hosts
            their_epochs = epochs[epochs["channel"] == channel.name] if len(epochs) else epochs
            dataset = self.datasets.get(channel.name)
            channels[channel.name] = {
                "role": channel.role,
                "input_mode": channel.input_mode,
                "distribution": channel.distribution.type,
                "dataset": None
                if dataset is None
                else DatasetRecord(
                    dataset.source,
                    dataset.bucket,
                    dataset.prefix,
                    dataset.objects,
                    dataset.total_bytes,
                ).__dict__,
                "prepared": populated.get(channel.name, {}),
                "modes": {
                    mode: figures.to_dict()
                    for mode, figures in (
                        job_figures(mine, their_epochs) if len(mine) else {}
                    ).items()
                },
            }
        self.extra = {**self.extra, "channels": channels}

    def summary(self, modes: dict[str, Any], checks: dict[str, dict[str, int]]) -> RunSummary:
        scenario, dataset = self.scenario, self.dataset
        sharded = scenario.distribution.type == "ShardedByS3Key"
        return RunSummary(
            status=self.status,
            error=self.error_text,
            started=self.started,
            finished=results_io.utc_stamp(),
            scenario_name=scenario.name,
            scenario_path=str(scenario.path),
            config=scenario.raw,
            environment=results_io.environment(*self.endpoint),
            dataset=None
            if dataset is None
            else DatasetRecord(
                dataset.source, dataset.bucket, dataset.prefix, dataset.objects, dataset.total_bytes
            ),
            cluster=scenario.cluster.__dict__,
            distribution=scenario.distribution.__dict__,
            assumptions=(ASSUMPTION_NOTE.format(assignment=scenario.distribution.assignment),)
            if sharded
            else (),
            training=scenario.training.__dict__,
            execution=scenario.execution.__dict__,
            modes=modes,
            failed_keys=tuple(self.measured.failed_keys),
            integrity_checks=checks,
            extra=self.extra,
        )


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
