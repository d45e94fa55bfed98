"""A plan: the capacity answer for a dataset and a cluster from the model alone, no data moved.

For a scenario, a storage profile, an instance and a training platform it answers, per input
mode: the platform's job phases (Starting, Downloading, Training, Uploading) and billable time,
time to the first training step, job time, accelerator utilisation (AU), requests and cost, the
recommended mode (``bench.report.capacity.recommend_mode``) and ``VolumeSizeInGB`` per host.
The numbers come from the timeline model placed in the platform's phases
(``bench.analysis.platform.scenario_phases``, which runs ``bench.core.model.model_job`` on
``bench.analysis.inputs``); the decision rules and costs are the capacity report's.
``plan_hosts`` is the one place a host count becomes an answer.

Dataset sizes come from ``plan_sizes``: synthetic and manifest datasets are read locally; an
``s3://`` dataset is listed once and kept as a Parquet cache under ``<results>/.listings/``.

A library: no printing, no argument parsing. Progress goes through a callback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.platform import Phases
from bench.config.platform import NONE, Platform
from bench.config.scenario import Scenario
from bench.core.figures import JobFigures
from bench.errors import StagebenchError
from bench.report import capacity
from bench.report.capacity import (
    Allowances,
    DecisionFigures,
    Recommendation,
    VolumeSizing,
)
from bench.vocabulary import MODES

if TYPE_CHECKING:
    from bench.config.profile import Instance, Profile
    from bench.progress import Progress

SCHEMA_VERSION = 1
AU_TARGET = 0.90
AU_TARGET_SOURCE = (
    "MLPerf Storage benchmark rules (mlcommons/storage, Storage_Rules): a storage system "
    "passes a training workload when it keeps accelerator utilisation at or above 90 % "
    "(3D U-Net, ResNet-50; 70 % for CosmoFlow)"
)
LISTINGS_DIR = ".listings"
DEFAULT_PLATFORM = "sagemaker"
"""The platform a plan assumes unless ``--platform`` or the scenario names another."""

Say = Callable[[str], None]


# --- dataset sizes --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanSizes:
    """Object sizes in key order and where they came from."""

    sizes: np.ndarray  # int64
    source: str  # a sentence for the report
    listing: Path | None = None  # the Parquet cache of an s3:// listing
    listing_age_s: float | None = None  # how old that listing is (0 when just made)


def listing_cache_path(results_root: Path, scenario: Scenario) -> Path:
    """Where the listing of the scenario's ``s3://`` dataset is kept: one file per endpoint,
    bucket and prefix."""
    ds = scenario.dataset
    key = f"{scenario.storage.endpoint}\n{ds.bucket}\n{ds.prefix}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(results_root) / LISTINGS_DIR / f"{ds.bucket}-{digest}.parquet"


def plan_sizes(
    scenario: Scenario,
    *,
    results_root: Path,
    relist: bool = False,
    progress: Progress | bool = False,
    aws_profile: str | None = None,
) -> PlanSizes:
    """The dataset's sizes in key order. Only ``dataset.uri`` contacts an endpoint, and only
    when it has no listing cached (or ``relist``)."""
    ds = scenario.dataset
    if ds.source != "s3":
        from bench.run.dataset import dataset_sizes

        sizes = dataset_sizes(scenario)
        if ds.source == "synthetic":
            spec = ", ".join(f"{k} {v}" for k, v in ds.sizes.items())
            how = f"synthetic ({spec}; seed {ds.seed})"
        else:
            how = f"read from {ds.manifest}"
        return PlanSizes(sizes, how)
    cache = listing_cache_path(results_root, scenario)
    if cache.exists() and not relist:
        sizes, listed_at = _read_listing(cache)
        age = max(0.0, time.time() - listed_at)
        how = (
            f"listed from s3://{ds.bucket}/{ds.prefix} {_age(age)} ago, kept in {cache} "
            "(--relist lists again)"
        )
        return PlanSizes(sizes, how, cache, age)
    keys, sizes = _list_live(scenario, progress=progress, aws_profile=aws_profile)
    _write_listing(cache, scenario, keys, sizes)
    how = f"listed from s3://{ds.bucket}/{ds.prefix} just now, kept in {cache}"
    return PlanSizes(np.asarray(sizes, dtype=np.int64), how, cache, 0.0)


def plan_channel_sizes(
    scenario: Scenario,
    *,
    results_root: Path,
    relist: bool = False,
    progress: Progress | bool = False,
    aws_profile: str | None = None,
) -> dict[str, PlanSizes]:
    """Every channel's sizes by channel name, training channel first: ``plan_sizes`` of the
    scenario narrowed to each channel."""
    return {
        channel.name: plan_sizes(
            scenario.channel_scenario(channel),
            results_root=results_root,
            relist=relist,
            progress=progress,
            aws_profile=aws_profile,
        )
        for channel in scenario.channels
    }


def _list_live(
    scenario: Scenario, *, progress: Progress | bool, aws_profile: str | None
) -> tuple[list[str], np.ndarray]:
    import asyncio

    from bench.run.dataset import list_existing
    from bench.s3.endpoint import open_storage_endpoint

    with open_storage_endpoint(scenario.storage, profile=aws_profile) as endpoint:
        dataset = asyncio.run(list_existing(endpoint, scenario, progress=progress))
    return dataset.keys, dataset.sizes


def _write_listing(path: Path, scenario: Scenario, keys: list[str], sizes: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.errors import ResultsError
    from bench.run import results as results_io

    ds = scenario.dataset
    table = pa.table({"key": keys, "size": pa.array(sizes, pa.int64())})
    table = table.replace_schema_metadata(
        {
            "endpoint": scenario.storage.endpoint,
            "bucket": ds.bucket,
            "prefix": ds.prefix,
            "listed_at": repr(time.time()),
        }
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        results_io.atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except (OSError, ResultsError) as exc:
        cause = exc if isinstance(exc, OSError) else exc.__cause__  # atomic_write's OSError
        why = getattr(cause, "strerror", None) or str(exc)
        raise ResultsError(
            f"cannot keep the listing in {path}: {why}; choose a writable --results"
        ) from exc


def _read_listing(path: Path) -> tuple[np.ndarray, float]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["size"])
        metadata = pq.read_schema(path).metadata or {}
        listed_at = float(metadata.get(b"listed_at", b"nan"))
    except (OSError, ValueError) as exc:
        raise StagebenchError(
            f"{path}: unreadable listing cache ({exc}); run with --relist to list again"
        ) from exc
    if not math.isfinite(listed_at):
        listed_at = path.stat().st_mtime
    return table["size"].to_numpy().astype(np.int64, copy=False), listed_at


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- the answer for one host count ----------------------------------------------------------


@dataclass(frozen=True)
class ModeAnswer:
    """One mode's answer, in seconds from the job's start (on SageMaker: CreateTrainingJob).

    Platform phases (``bench.analysis.platform.phases``; with the platform ``none``
    ``starting_s`` = ``uploading_s`` = 0 and Downloading is the data path's startup):

    - ``starting_s``: instances provisioned (``Starting``; not billed);
    - ``downloading_s``: ``Downloading`` (File: the platform's copy of each host's shard);
    - ``training_phase_s``: ``Training``: the image's start, whatever of the data path's
      startup comes after it (Pipe's first byte, FastFile's first read), then training;
    - ``uploading_s``: ``Uploading`` (model and output);
    - ``billable_s`` = Downloading + Training + Uploading: what each instance is billed for.

    The job as the user sees it: ``startup_s`` is job start to the slowest host's first
    training step, the platform's phases before it included (Starting + Downloading + the
    image's start + the rest of the data path's startup); ``training_s`` from there to the last
    host's end of training; ``job_s`` = ``startup_s`` + ``training_s`` (Uploading follows it).
    Cost is hosts × ``billable_s`` × hourly price + requests. ``model`` holds the data path's
    own figures, before any platform phase (what the what-ifs compare)."""

    starting_s: float
    downloading_s: float
    startup_s: float
    training_s: float
    job_s: float
    billable_s: float
    au: float
    gets: int
    lists: int
    instance_usd: float
    request_usd: float
    volume_size_gb: int
    epoch_s: float = math.nan
    training_phase_s: float = math.nan
    uploading_s: float = 0.0
    model: JobFigures | None = field(default=None, compare=False)

    @property
    def cost_usd(self) -> float:
        return self.instance_usd + self.request_usd

    def figures(self) -> JobFigures:
        """What the capacity rules read: times from the end of Starting, which every mode waits
        for alike and which is not billed, so "File's download" is its Downloading and the
        image's start, not the instances' provisioning."""
        return JobFigures(
            startup_s=self.startup_s - self.starting_s,
            end_s=self.job_s - self.starting_s,
            au=self.au,
            gets=self.gets,
            lists=self.lists,
            epoch_s=self.epoch_s,
        )

    def model_figures(self) -> JobFigures:
        """The data path's own figures (no platform phases), else ``figures()``."""
        return self.model if self.model is not None else self.figures()

    def to_json(self) -> dict[str, Any]:
        """Keys: starting_s, downloading_s, training_phase_s, uploading_s, billable_s,
        startup_s, training_s, job_s, au, gets, lists, cost_usd, instance_usd, request_usd,
        volume_size_gb."""
        return {
            "starting_s": self.starting_s,
            "downloading_s": self.downloading_s,
            "training_phase_s": _json_number(self.training_phase_s),
            "uploading_s": self.uploading_s,
            "billable_s": self.billable_s,
            "startup_s": self.startup_s,
            "training_s": self.training_s,
            "job_s": self.job_s,
            "au": _json_number(self.au),
            "gets": self.gets,
            "lists": self.lists,
            "cost_usd": self.cost_usd,
            "instance_usd": self.instance_usd,
            "request_usd": self.request_usd,
            "volume_size_gb": self.volume_size_gb,
        }


MODE_JSON_KEYS = (
    "starting_s", "downloading_s", "training_phase_s", "uploading_s", "billable_s", "startup_s",
    "training_s", "job_s", "au", "gets", "lists", "cost_usd", "instance_usd", "request_usd",
    "volume_size_gb",
)  # fmt: skip
"""The keys of every mode in the plan JSON (``ModeAnswer.to_json``)."""


def phased_answer(
    phased: Phases,
    model: JobFigures,
    *,
    instance_usd: float,
    request_usd: float,
    volume_size_gb: int,
) -> ModeAnswer:
    """A mode's answer from its platform phases and the data path's figures: the one place
    phases become startup and job time. ``instance_usd`` is for ``phased.billable_s``."""
    training_s = max(0.0, model.end_s - model.startup_s)
    startup_s = phased.first_step_s
    return ModeAnswer(
        starting_s=phased.starting_s,
        downloading_s=phased.downloading_s,
        startup_s=startup_s,
        training_s=training_s,
        job_s=startup_s + training_s,
        billable_s=phased.billable_s,
        au=model.au,
        gets=model.gets,
        lists=model.lists,
        instance_usd=instance_usd,
        request_usd=request_usd,
        volume_size_gb=volume_size_gb,
        epoch_s=model.epoch_s,
        training_phase_s=phased.training_s,
        uploading_s=phased.uploading_s,
        model=model,
    )


@dataclass(frozen=True)
class ChannelMode:
    """One channel of a job when the job plays one mode, in seconds from the job's start (the
    Answers' clock): ``startup_s`` its first data (a File channel: the end of every copy),
    ``end_s`` the end of its last pass, ``epoch_s`` its mean pass."""

    data_path: str  # the data path the channel plays in that job mode
    startup_s: float
    epoch_s: float
    end_s: float
    gets: int
    lists: int
    bytes_fetched: int

    def to_json(self) -> dict[str, Any]:
        return {
            "data_path": self.data_path,
            "startup_s": _json_number(self.startup_s),
            "epoch_s": _json_number(self.epoch_s),
            "end_s": _json_number(self.end_s),
            "gets": self.gets,
            "lists": self.lists,
            "bytes_fetched": self.bytes_fetched,
        }


@dataclass(frozen=True)
class ChannelAnswer:
    """One channel of a job of several channels: what it is and its figures per job mode."""

    name: str
    role: str
    input_mode: str | None  # None: it plays the job's mode
    distribution: str
    objects: int
    bytes: int
    modes: dict[str, ChannelMode]

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "input_mode": self.input_mode,
            "distribution": self.distribution,
            "objects": self.objects,
            "bytes": self.bytes,
            "modes": {mode: figures.to_json() for mode, figures in self.modes.items()},
        }


@dataclass(frozen=True)
class HostsAnswer:
    """Every mode's answer at one host count, and what the capacity rules make of it."""

    hosts: int
    modes: dict[str, ModeAnswer]
    recommendation: Recommendation
    largest_shard_bytes: int
    file_volume: VolumeSizing
    artifacts_volume: VolumeSizing
    platform: str | None = None  # whose phases surround the data path; None: no platform
    channels: dict[str, ChannelAnswer] = field(default_factory=dict)  # several channels only

    @property
    def recommended_mode(self) -> str | None:
        return self.recommendation.mode

    def why(self) -> str:
        """The recommendation's reason in one line."""
        return self.recommendation.reasons[0] if self.recommendation.reasons else ""


@dataclass
class PlanContext:
    """Everything a host count needs besides itself: the scenario, its sizes, the storage
    profile, the instance and the volume allowances."""

    scenario: Scenario
    sizes: np.ndarray
    sizes_source: str
    profile: Profile
    instance: Instance
    instances: dict[str, Instance]  # the presets, with this plan's instance as resolved
    allowances: Allowances
    container_bytes: int
    platform: Platform = NONE  # the training platform whose phases surround the data path
    notes: list[str] = field(default_factory=list)
    # A job of several channels: each channel's sizes and their source, by channel name
    # (``sizes`` and ``sizes_source`` are then the training channel's).
    channel_sizes: dict[str, np.ndarray] = field(default_factory=dict)
    channel_sources: dict[str, str] = field(default_factory=dict)

    @property
    def objects(self) -> int:
        return int(self.sizes.size)

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum()) if self.sizes.size else 0

    @property
    def several_channels(self) -> bool:
        """A job of several channels, planned as the job."""
        return self.scenario.several_channels and len(self.channel_sizes) > 1

    @property
    def job_objects(self) -> int:
        """Every channel's objects (the training channel's alone for one channel)."""
        if not self.several_channels:
            return self.objects
        return sum(int(sizes.size) for sizes in self.channel_sizes.values())

    @property
    def job_bytes(self) -> int:
        """Every channel's bytes (the training channel's alone for one channel)."""
        if not self.several_channels:
            return self.total_bytes
        return sum(int(sizes.sum()) for sizes in self.channel_sizes.values() if sizes.size)

    def file_bytes(self, scenario: Scenario, mode: str) -> int:
        """What File copies onto each host's volume when the job plays ``mode`` on
        ``scenario`` (this plan's at some host count): every channel that plays File then."""
        from bench.analysis.channels import file_shard_bytes, largest_shard_bytes

        if self.several_channels:
            return file_shard_bytes(scenario, self.channel_sizes, mode)
        return largest_shard_bytes(scenario, self.sizes) if mode == "file" else 0

    @property
    def platform_name(self) -> str | None:
        """The platform's name, or None for no platform phases."""
        return self.platform.name if self.platform.phased else None

    @property
    def volume_kind(self) -> str:
        """Where File mode's copy goes: the instance's fixed local NVMe, or a gp2 volume."""
        return "nvme" if self.instance.local_nvme_gib > 0 else "gp2"

    def at_hosts(self, hosts: int) -> Scenario:
        """The scenario on ``hosts`` hosts of this plan's instance."""
        cluster = dataclasses.replace(
            self.scenario.cluster,
            hosts=hosts,
            instance=self.instance.name,
            hourly_price=self.instance.hourly_price,
            nic_bandwidth_bps=self.instance.nic_bps,
        )
        return dataclasses.replace(self.scenario, cluster=cluster)


def plan_context(
    scenario: Scenario,
    sizes: np.ndarray,
    *,
    sizes_source: str,
    profile: str | None = None,
    instance: str | None = None,
    platform: str | Path | None = None,
    channels: Mapping[str, PlanSizes] | None = None,
) -> PlanContext:
    """Resolve the profile (``--profile-file``, else ``report.model_profile``), the instance
    (``--instance``, else ``cluster.instance``; a preset or the scenario's own figures) and the
    platform (``--platform``, else the scenario's ``platform.name``, else ``sagemaker``; a
    relative path is found from the working folder, a scenario's from its folder).
    ``channels``: each channel's sizes by name for a job of several channels (``sizes`` then
    the training channel's), as ``plan_channel_sizes`` reads them."""
    from bench.config.platform import load_platform
    from bench.config.profile import load_instances, load_profile, resolve_instance
    from bench.report.rundata import settings_from_config

    if sizes.size == 0:
        raise StagebenchError("the dataset holds no objects: nothing to plan")
    cluster = scenario.cluster
    given = set(cluster.given)
    name = instance or cluster.instance
    presets = load_instances()
    # Figures the scenario gives for its own instance; a --instance preset uses its own.
    own = instance is None or instance == cluster.instance
    resolved = resolve_instance(
        name,
        nic_bps=cluster.nic_bandwidth_bps if own and "nic_bandwidth" in given else None,
        local_nvme_gib=cluster.local_nvme_gib if own else None,
        hourly_price=cluster.hourly_price if own and "hourly_price" in given else None,
        instances=presets,
    )
    settings = settings_from_config(scenario.report)
    if platform is not None:
        resolved_platform = load_platform(platform)
    elif scenario.platform:
        resolved_platform = load_platform(scenario.platform, base=Path(scenario.path).parent)
    else:
        resolved_platform = load_platform(DEFAULT_PLATFORM)
    return PlanContext(
        scenario=scenario,
        sizes=np.asarray(sizes, dtype=np.int64),
        sizes_source=sizes_source,
        profile=load_profile(profile or scenario.report.model_profile),
        instance=resolved,
        instances={**presets, resolved.name: resolved},
        allowances=settings.allowances,
        container_bytes=settings.container_bytes,
        platform=resolved_platform,
        channel_sizes={name: found.sizes for name, found in (channels or {}).items()},
        channel_sources={name: found.source for name, found in (channels or {}).items()},
    )


def model_context(context: PlanContext, hosts: int, volume_gb: int) -> Any:
    """The what-if machinery's view of this plan at ``hosts``."""
    from bench.report import whatif

    return whatif.ModelContext(
        profile=context.profile,
        instances=context.instances,
        scenario=context.at_hosts(hosts),
        volume_gb=volume_gb,
    )


def baseline_variant(context: PlanContext, hosts: int, *, name: str = "as planned") -> Any:
    from bench.report import whatif

    scenario = context.scenario
    return whatif.Variant(
        name,
        f"{context.objects:,} objects on {hosts} × {context.instance.name}",
        context.sizes,
        hosts,
        context.instance.name,
        context.instance.hourly_price,
        context.instance.nic_bps,
        scenario.distribution.type,
        scenario.distribution.assignment,
    )


def plan_hosts(context: PlanContext, hosts: int) -> HostsAnswer:
    """Every mode's answer at ``hosts`` hosts: the model's timeline placed in the platform's
    phases (``bench.analysis.platform.scenario_phases``), cost for the billable time, volume
    size and the recommended mode. The one place a host count becomes an answer.

    A job of several channels is answered as the job: its channels modelled and composed, the
    File volume holding every channel that plays File (``PlanContext.file_bytes``), and each
    channel's own figures on the job's clock in ``HostsAnswer.channels``."""
    from bench.analysis.platform import scenario_phases
    from bench.report import whatif

    # A plan answers every mode, whatever modes the scenario plays.
    scenario = dataclasses.replace(context.at_hosts(hosts), modes=MODES)
    # What File copies per host; Pipe and FastFile keep only channels pinned to File.
    volumes = {
        mode: capacity.size_volume(context.file_bytes(scenario, mode), context.allowances)
        for mode in ("file", "pipe")
    }
    file_volume, artifacts_volume = volumes["file"], volumes["pipe"]
    modelled = scenario_phases(
        scenario,
        context.sizes,
        profile=context.profile,
        platform=context.platform,
        instance=context.instance,
        channel_sizes=context.channel_sizes if context.several_channels else None,
    )
    modes: dict[str, ModeAnswer] = {}
    for mode in MODES:
        model = modelled[mode].result.job()
        phased = modelled[mode].phases
        instance_usd, request_usd = whatif.cost_usd(
            context.profile,
            hosts=hosts,
            billable_s=phased.billable_s,
            hourly_price=context.instance.hourly_price,
            gets=model.gets,
            lists=model.lists,
        )
        volume = file_volume if mode == "file" else artifacts_volume
        modes[mode] = phased_answer(
            phased,
            model,
            instance_usd=instance_usd,
            request_usd=request_usd,
            volume_size_gb=volume.volume_gb,
        )
    largest = file_volume.data_bytes
    recommendation = capacity.recommend_mode(
        decision_figures(context, largest, file_volume, {m: a.figures() for m, a in modes.items()})
    )
    return HostsAnswer(
        hosts,
        modes,
        recommendation,
        largest,
        file_volume,
        artifacts_volume,
        platform=context.platform_name,
        channels=channel_answers(context, modelled, modes) if context.several_channels else {},
    )


def channel_answers(
    context: PlanContext, modelled: dict[str, Any], modes: dict[str, ModeAnswer]
) -> dict[str, ChannelAnswer]:
    """Each channel of a job of several channels, per job mode, on the job's clock: the
    model's composed timeline shifted so that the job's first step falls where the mode's
    answer puts it (after the platform's phases)."""
    out: dict[str, ChannelAnswer] = {}
    for index, channel in enumerate(context.scenario.channels):
        per_mode: dict[str, ChannelMode] = {}
        for mode, answer in modes.items():
            composed = modelled[mode].channels
            figures = composed.channels[index].job()
            shift = answer.startup_s - answer.model_figures().startup_s
            per_mode[mode] = ChannelMode(
                data_path=channel.mode_in(mode),
                startup_s=figures.startup_s + shift,
                epoch_s=figures.epoch_s,
                end_s=figures.end_s + shift,
                gets=figures.gets,
                lists=figures.lists,
                bytes_fetched=figures.bytes_fetched,
            )
        sizes = context.channel_sizes[channel.name]
        out[channel.name] = ChannelAnswer(
            name=channel.name,
            role=channel.role,
            input_mode=channel.input_mode,
            distribution=channel.distribution.type,
            objects=int(sizes.size),
            bytes=int(sizes.sum()) if sizes.size else 0,
            modes=per_mode,
        )
    return out


def decision_figures(
    context: PlanContext,
    largest_shard_bytes: int,
    file_volume: VolumeSizing,
    modes: dict[str, JobFigures],
) -> DecisionFigures:
    from bench.report import whatif

    limit, limit_source = volume_limit(context.instance)
    get_price, list_price = whatif.prices(context.profile)
    return DecisionFigures(
        data_per_host_bytes=largest_shard_bytes,
        file_volume_gb=file_volume.volume_gb,
        volume_limit_gb=limit,
        volume_limit_source=limit_source,
        median_object_bytes=float(np.median(context.sizes)),
        epochs=context.scenario.training.epochs,
        access=context.scenario.fastfile.access,
        modes=modes,
        get_price_per_1000=get_price,
        list_price_per_1000=list_price,
    )


def volume_limit(instance: Instance) -> tuple[float, str]:
    """The largest volume File mode's copy can go on, and what it is."""
    if instance.local_nvme_gib > 0:
        return instance.local_nvme_gib, f"local NVMe of {instance.name} (fixed)"
    return float(capacity.GP2_MAX_GIB), "gp2 maximum volume size"


# --- host sweep -------------------------------------------------------------------------------


def _plan_in_worker(context: PlanContext, work: tuple[int, int]) -> tuple[int, HostsAnswer]:
    index, hosts = work
    return index, plan_hosts(context, hosts)


def plan_sweep(
    context: PlanContext,
    host_counts: Sequence[int],
    *,
    workers: int = 2,
    on_done: Callable[[int], None] | None = None,
) -> list[HostsAnswer]:
    """``plan_hosts`` at each count, on up to ``workers`` processes (the model is numpy on one
    core; two counts at once use both of a small machine's). Answers in the order given."""
    counts = list(host_counts)
    if workers <= 1 or len(counts) <= 1:
        answers = []
        for hosts in counts:
            answers.append(plan_hosts(context, hosts))
            if on_done is not None:
                on_done(hosts)
        return answers
    from functools import partial

    from bench.workers import worker_pool

    # Largest counts first: they take longest, so the two workers finish together.
    order = sorted(range(len(counts)), key=lambda i: -counts[i])
    results: dict[int, HostsAnswer] = {}
    with worker_pool(min(workers, len(counts))) as pool:
        work = [(i, counts[i]) for i in order]
        for index, answer in pool.imap_unordered(partial(_plan_in_worker, context), work):
            results[index] = answer
            if on_done is not None:
                on_done(counts[index])
    return [results[i] for i in range(len(counts))]


def max_hosts_for_au(answers: Sequence[HostsAnswer], mode: str) -> int | None:
    """The largest host count whose AU in ``mode`` stays at or above ``AU_TARGET``."""
    fitting = [
        a.hosts
        for a in answers
        if math.isfinite(a.modes[mode].au) and a.modes[mode].au >= AU_TARGET - 1e-12
    ]
    return max(fitting) if fitting else None


def sweep_table(answers: Sequence[HostsAnswer]) -> Any:
    """One row per (hosts, mode): startup, job time, AU, cost."""
    import pandas as pd

    rows = []
    for answer in answers:
        for mode, figures in answer.modes.items():
            rows.append(
                {
                    "hosts": answer.hosts,
                    "mode": mode,
                    "startup_s": figures.startup_s,
                    "job_s": figures.job_s,
                    "au": figures.au,
                    "cost_usd": figures.cost_usd,
                    "volume_size_gb": figures.volume_size_gb,
                    "recommended": answer.recommended_mode == mode,
                }
            )
    return pd.DataFrame(rows)


def plot_sweep(answers: Sequence[HostsAnswer], path_stem: Path) -> list[Path]:
    """Job time and cost against hosts, a line per mode (log-log), as PNG and SVG."""
    from matplotlib.figure import Figure

    from bench.report import plots

    figure = Figure(figsize=(10, 4.2), layout="constrained")
    time_axis, cost_axis = figure.subplots(1, 2)
    hosts = [a.hosts for a in answers]
    for mode in MODES:
        colour = plots.MODE_COLOURS.get(mode)
        job_s = [a.modes[mode].job_s for a in answers]
        time_axis.plot(hosts, job_s, "o-", color=colour, label=mode)
        cost_axis.plot(
            hosts, [a.modes[mode].cost_usd for a in answers], "o-", color=colour, label=mode
        )
    for axis, label in ((time_axis, "job time (s)"), (cost_axis, "cost ($)")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("hosts")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    time_axis.set_title("Job time against hosts")
    cost_axis.set_title("Cost against hosts")
    return plots.save(figure, path_stem)


# --- JSON -------------------------------------------------------------------------------------


def answer_json(context: PlanContext, answer: HostsAnswer) -> dict[str, Any]:
    """The plan's answer at one host count in the published shape (schema_version 1); a job of
    several channels adds ``channels``: each channel's figures per job mode."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "hosts": answer.hosts,
        "instance": context.instance.name,
        "profile": context.profile.name,
        "platform": context.platform_name,
        "dataset": {"objects": context.objects, "bytes": context.total_bytes},
        "recommended_mode": answer.recommended_mode,
        "why": answer.why(),
        "volume_type": context.volume_kind,
        "modes": {mode: figures.to_json() for mode, figures in answer.modes.items()},
    }
    if answer.channels:
        # A job of several channels: "modes" are the job's, "dataset" its training channel's.
        out["channels"] = {name: channel.to_json() for name, channel in answer.channels.items()}
    return out


def plan_json(
    context: PlanContext, answer: HostsAnswer, sweep: Sequence[HostsAnswer] = ()
) -> dict[str, Any]:
    """The whole plan as one JSON object: the chosen host count's answer at the top level and,
    for a sweep, every count's answer and the largest count that keeps AU >= 0.90."""
    out = answer_json(context, answer)
    out["compute"] = context.scenario.training.describe()
    out["dataset"]["source"] = context.sizes_source
    if sweep:
        out["sweep"] = [
            {
                "hosts": a.hosts,
                "recommended_mode": a.recommended_mode,
                "modes": {m: f.to_json() for m, f in a.modes.items()},
            }
            for a in sweep
        ]
        out["max_hosts_au_0_90"] = {m: max_hosts_for_au(sweep, m) for m in MODES}
    return out


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- a run's measured figures as the same answer ----------------------------------------------


def measured_answer(
    scenario: Scenario,
    summary: dict[str, Any],
    hosts_table: Any,
    sizes: np.ndarray,
    *,
    platform: Platform | None = None,
    volumes: Mapping[str, VolumeSizing] | None = None,
) -> tuple[HostsAnswer, Instance]:
    """A live run's job figures per mode in the plan's shape, with the same rules and costs
    (instance time at the preset or ``cluster.hourly_price`` for the billable time; requests at
    S3 list prices). ``volumes`` (mode → sizing) is each mode's volume when the caller knows
    it better than the host table's largest shard (a job of several channels); Pipe and
    FastFile otherwise keep no copy.

    The measured startup and training are placed in ``platform``'s phases (default: the
    scenario's, ``scenario_platform``) as a plan's modelled ones are: File's Downloading is
    then the platform's copy, not the run's reader. A run records no listing time apart, so a
    FastFile startup keeps its own listing besides the platform's."""
    from bench.config.platform import scenario_platform
    from bench.report.rundata import settings_from_config

    platform = platform or scenario_platform(scenario)
    instance = _run_instance(scenario)
    allowances = settings_from_config(scenario.report).allowances
    if volumes is None:
        largest = 0
        if len(hosts_table) and "bytes" in hosts_table.columns:
            largest = int(hosts_table.groupby("mode")["bytes"].max().max())
        none = capacity.size_volume(0, allowances)
        volumes = {
            "file": capacity.size_volume(largest, allowances),
            "pipe": none,
            "fastfile": none,
        }
    file_volume = volumes["file"]
    largest = file_volume.data_bytes
    artifacts_volume = max(
        (sizing for mode, sizing in volumes.items() if mode != "file"), key=lambda v: v.volume_gb
    )
    place = _MeasuredPlacement(
        scenario=scenario,
        platform=platform,
        instance=instance,
        hosts_table=hosts_table,
        channel_objects=int(np.asarray(sizes).size)
        or int((summary.get("dataset") or {}).get("objects", 0) or 0),
        volume_bps=_run_volume_bps(platform, file_volume, instance),
    )
    modes: dict[str, ModeAnswer] = {}
    for mode, job in (summary.get("modes") or {}).items():
        modes[mode] = place.answer(mode, job, volumes[mode].volume_gb)
    answer = HostsAnswer(
        scenario.cluster.hosts,
        modes,
        capacity.recommend_mode(
            measured_decision_figures(scenario, instance, sizes, largest, file_volume, modes)
        ),
        largest,
        file_volume,
        artifacts_volume,
        platform=platform.name if platform.phased else None,
    )
    return answer, instance


def _run_instance(scenario: Scenario) -> Instance:
    """The run's instance: the preset with the scenario's own figures, or those figures alone."""
    from bench.config.profile import Instance, resolve_instance
    from bench.errors import ScenarioError

    cluster = scenario.cluster
    given = set(cluster.given)
    try:
        return resolve_instance(
            cluster.instance,
            nic_bps=cluster.nic_bandwidth_bps if "nic_bandwidth" in given else None,
            local_nvme_gib=cluster.local_nvme_gib,
            hourly_price=cluster.hourly_price if "hourly_price" in given else None,
        )
    except ScenarioError:
        # A run needs no price to measure; its cost then counts requests only.
        return Instance(
            cluster.instance,
            cluster.nic_bandwidth_bps,
            cluster.local_nvme_gib or 0.0,
            cluster.hourly_price,
            source="scenario (not a preset)",
        )


def _run_volume_bps(platform: Platform, file_volume: VolumeSizing, instance: Instance) -> float:
    from bench.analysis.platform import volume_throughput_bps

    kind = platform.volume_kind if platform.phased else "gp2"
    return volume_throughput_bps(
        kind, file_volume.volume_gb, local_nvme_gib=instance.local_nvme_gib
    )


@dataclass(frozen=True)
class _MeasuredPlacement:
    """What placing one mode's measured figures in the platform's phases needs of the run."""

    scenario: Scenario
    platform: Platform
    instance: Instance
    hosts_table: Any
    channel_objects: int
    volume_bps: float

    def answer(self, mode: str, job: dict[str, Any], volume_gb: int) -> ModeAnswer:
        """One mode's summary figures as a plan's answer, placed in the platform's phases."""
        from bench import cost
        from bench.analysis.platform import phases, upload_allowance_bytes

        model = JobFigures(
            startup_s=float(job.get("startup_s", math.nan)),
            end_s=float(job.get("end_s", math.nan)),
            au=float(job.get("au", math.nan)),
            gets=int(job.get("gets", 0)),
            lists=int(job.get("lists", 0)),
            epoch_s=float(job.get("epoch_s", math.nan)),
        )
        hosts = int(job.get("hosts", self.scenario.cluster.hosts))
        shard = _shards(self.hosts_table, mode)
        request_usd = cost.requests_usd(model.gets, model.lists)
        if not (math.isfinite(model.startup_s) and math.isfinite(model.end_s)):
            # A mode with nothing measured has no phases to place.
            return ModeAnswer(
                math.nan, math.nan, model.startup_s, math.nan, model.end_s, math.nan,
                model.au, model.gets, model.lists, math.nan, request_usd, volume_gb,
                model.epoch_s, model=model,
            )  # fmt: skip
        phased = phases(
            mode,
            startup_s=model.startup_s,
            training_s=max(0.0, model.end_s - model.startup_s),
            objects=shard[0],
            bytes_per_host=shard[1],
            channel_objects=self.channel_objects,
            platform=self.platform,
            volume_bps=self.volume_bps,
            nic_bps=self.instance.nic_bps,
            upload_bytes=upload_allowance_bytes(self.scenario.report),
        )
        return phased_answer(
            phased,
            model,
            instance_usd=cost.instance_usd(hosts, phased.billable_s, self.instance.hourly_price),
            request_usd=request_usd,
            volume_size_gb=volume_gb,
        )


def measured_decision_figures(
    scenario: Scenario,
    instance: Instance,
    sizes: np.ndarray,
    largest: int,
    file_volume: VolumeSizing,
    modes: dict[str, ModeAnswer],
) -> DecisionFigures:
    """The recommendation's inputs for a run: its figures, at S3 list prices."""
    from bench import cost

    limit, limit_source = volume_limit(instance)
    return DecisionFigures(
        data_per_host_bytes=largest,
        file_volume_gb=file_volume.volume_gb,
        volume_limit_gb=limit,
        volume_limit_source=limit_source,
        median_object_bytes=float(np.median(sizes)) if np.asarray(sizes).size else 0.0,
        epochs=scenario.training.epochs,
        access=scenario.fastfile.access,
        modes={m: a.figures() for m, a in modes.items()},
        get_price_per_1000=cost.GET_PER_1000,
        list_price_per_1000=cost.LIST_PER_1000,
    )


def _shards(hosts_table: Any, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(objects, bytes) per host of ``mode`` in a run's host table (empty when not recorded)."""
    empty = np.zeros(0, dtype=np.float64)
    if not len(hosts_table) or not {"mode", "objects", "bytes"} <= set(hosts_table.columns):
        return empty, empty
    mine = hosts_table[hosts_table["mode"] == mode]
    return mine["objects"].to_numpy(np.float64), mine["bytes"].to_numpy(np.float64)
