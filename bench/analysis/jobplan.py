"""A plan for a whole SageMaker training job: every S3 channel planned from the model
(``bench.analysis.plan``), combined into the job's time, cost and volume, with a recommended
``InputMode`` per channel, ``VolumeSizeInGB`` and, for a host sweep, ``InstanceCount``.

How channels combine (``job_totals``), stated in every plan as ``ASSUMPTIONS``:

- every File channel is copied to the volume before training starts, one after another on the
  host's one network link, so their downloads add to the time to the first step;
- Pipe and FastFile channels start streaming at once: only the training channel's own first
  records (its modelled startup) stand before the first step;
- the training channel drives training time (its modelled time after startup);
- every other channel is read once per epoch, after that epoch's training (a validation pass),
  at the sidecar's ``training.compute_rate``; its data path's modelled time adds to the job
  (a File channel's copy before the first step, a streaming channel's listing and first reads
  with its passes), as a live run of a scenario with [[channels]] plays it
  (``bench.live.channels``; ``bench.analysis.channels`` models it host by host).

The volume holds every File channel's largest shard plus model, checkpoint and scratch
(``capacity.size_volume``); when all File channels together do not fit the instance's volume
limit, the channel with the largest shard is switched to its faster streaming mode until they do.

A library: no printing, no argument parsing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.plan import AU_TARGET, HostsAnswer, PlanContext
from bench.config.job import (
    SAGEMAKER_MODES,
    ChannelScenario,
    TrainingJob,
    training_channel_name,
)
from bench.report.capacity import MODE_NAMES, Allowances, VolumeSizing, size_volume
from bench.units import format_seconds

if TYPE_CHECKING:
    from bench.analysis.jobcheck import Finding
    from bench.progress import Progress

SCHEMA_VERSION = 1

ASSUMPTIONS = (
    "File channels are all copied before training starts, one after another: their downloads "
    "add to the time to the first step",
    "Pipe and FastFile channels start streaming at once: only the training channel's first "
    "records stand before the first step",
    "the training channel drives training time",
    "every other channel is read once per epoch after that epoch's training (one validation "
    "pass per epoch) at the same training.compute_rate, and its time adds to the job; a "
    "streaming one's listing and first reads are counted with its passes",
    "each channel is modelled on its own on the job's hosts; channels read at the same time "
    "do not share bandwidth in the model",
)


@dataclass(frozen=True)
class ChannelPlan:
    """One channel's plan at every host count planned."""

    name: str
    is_training: bool
    given_mode: str  # stagebench's spelling: file, pipe, fastfile
    context: PlanContext
    answers: Mapping[int, HostsAnswer]  # host count → the plan's answer


@dataclass(frozen=True)
class JobTotals:
    """The job's figures at one host count with one input mode per channel."""

    hosts: int
    modes: Mapping[str, str]  # channel → stagebench mode
    downloads_s: Mapping[str, float]  # File channels: their copy before training
    first_step_s: float
    training_s: float
    validation_s: float
    job_s: float
    au: float  # the training channel's accelerator utilisation in its mode
    gets: int
    instance_usd: float
    request_usd: float
    file_shards: Mapping[str, int]  # File channels: the largest shard's bytes
    volume: VolumeSizing

    @property
    def cost_usd(self) -> float:
        return self.instance_usd + self.request_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": self.hosts,
            "input_modes": {name: SAGEMAKER_MODES[mode] for name, mode in self.modes.items()},
            "downloads_s": dict(self.downloads_s),
            "first_step_s": self.first_step_s,
            "training_s": self.training_s,
            "validation_s": self.validation_s,
            "job_s": self.job_s,
            "au": self.au if math.isfinite(self.au) else None,
            "gets": self.gets,
            "instance_usd": self.instance_usd,
            "request_usd": self.request_usd,
            "cost_usd": self.cost_usd,
            "file_shard_bytes": dict(self.file_shards),
            "volume_size_gb": self.volume.volume_gb,
            "volume_formula": self.volume.formula(),
        }


@dataclass(frozen=True)
class JobAnswer:
    """The recommendation at one host count: the modes chosen and why, the job's totals."""

    hosts: int
    totals: JobTotals
    reasons: Mapping[str, str]  # channel → why its mode
    switched: Mapping[str, str] = field(default_factory=dict)  # channel → why moved off File


@dataclass
class JobPlan:
    """Everything ``stagebench plan JOB.json`` answers."""

    job: TrainingJob
    training_channel: str
    channels: dict[str, ChannelPlan]
    allowances: Allowances
    counts: list[int]  # the counts asked for (the job's own when none)
    as_given: JobTotals  # the job's own modes and count
    answers: list[JobAnswer]  # one per count asked for
    chosen: JobAnswer
    findings: list[Finding] = field(default_factory=list)

    @property
    def swept(self) -> bool:
        return len(self.counts) > 1

    @property
    def training(self) -> ChannelPlan:
        return self.channels[self.training_channel]

    @property
    def total_bytes(self) -> int:
        """Every planned channel's bytes together."""
        return sum(channel.context.total_bytes for channel in self.channels.values())


# --- planning every channel -------------------------------------------------------------------


def channel_sizes(
    item: ChannelScenario,
    *,
    results_root: Path,
    relist: bool = False,
    progress: Progress | bool = False,
    aws_profile: str | None = None,
) -> tuple[np.ndarray, str]:
    """A channel's sizes in key order and where they came from: the sidecar's ``sizes_from``,
    else the plan's own reading (synthetic, or the ``S3Uri`` listed once and cached)."""
    from bench.analysis.plan import plan_sizes

    if item.sizes_from is not None:
        sizes = item.local_sizes()
        assert sizes is not None  # sizes_from always gives sizes
        return sizes, f"read from {item.sizes_from}"
    found = plan_sizes(
        item.scenario,
        results_root=results_root,
        relist=relist,
        progress=progress,
        aws_profile=aws_profile,
    )
    return found.sizes, found.source


def plan_channels(
    scenarios: Mapping[str, ChannelScenario],
    counts: Sequence[int],
    *,
    results_root: Path,
    relist: bool = False,
    progress: Progress | bool = False,
    aws_profile: str | None = None,
    storage_profile: str | None = None,
    workers: int = 2,
    on_channel: Callable[[str], None] | None = None,
) -> dict[str, ChannelPlan]:
    """Each channel planned at every count with the existing plan functions."""
    from bench.analysis.plan import plan_context, plan_hosts, plan_sweep

    plans: dict[str, ChannelPlan] = {}
    for name, item in scenarios.items():
        sizes, source = channel_sizes(
            item,
            results_root=results_root,
            relist=relist,
            progress=progress,
            aws_profile=aws_profile,
        )
        context = plan_context(item.scenario, sizes, sizes_source=source, profile=storage_profile)
        if len(counts) == 1:
            answers = [plan_hosts(context, counts[0])]
        else:
            answers = plan_sweep(context, counts, workers=workers)
        plans[name] = ChannelPlan(
            name,
            item.is_training,
            item.channel.mode,
            context,
            dict(zip(counts, answers, strict=True)),
        )
        if on_channel is not None:
            on_channel(name)
    return plans


# --- combining channels into the job ----------------------------------------------------------


def job_totals(
    channels: Mapping[str, ChannelPlan],
    hosts: int,
    modes: Mapping[str, str],
    allowances: Allowances,
) -> JobTotals:
    """The job at ``hosts`` with ``modes`` (channel → mode), combined as ``ASSUMPTIONS`` say."""
    from bench.report import whatif

    downloads: dict[str, float] = {}
    shards: dict[str, int] = {}
    first_step = training_s = validation_s = 0.0
    au = math.nan
    gets = lists = 0
    training = next(plan for plan in channels.values() if plan.is_training)
    for name, plan in channels.items():
        mode = modes[name]
        answer = plan.answers[hosts]
        figures = answer.modes[mode]
        gets += figures.gets
        lists += figures.lists
        if plan.is_training:
            # The platform's phases (Starting, the image's start) stand before this channel's
            # first step once, in its own answer.
            first_step += figures.startup_s
            training_s = figures.training_s
            au = figures.au
            if mode == "file":
                downloads[name] = figures.startup_s
        else:
            # Another channel adds its data path alone: a File channel its copy before the
            # first step, then one pass per epoch; a streaming one its listing, first reads
            # and passes, all counted with the validation passes.
            data = figures.model
            download_s = data.startup_s if data is not None else figures.startup_s
            end_s = data.end_s if data is not None else figures.startup_s + figures.training_s
            if mode == "file":
                downloads[name] = download_s
                first_step += download_s
                validation_s += end_s - download_s
            else:
                validation_s += end_s
        if mode == "file":
            shards[name] = answer.largest_shard_bytes
    job_s = first_step + training_s + validation_s
    context = training.context
    instance_usd, request_usd = whatif.cost_usd(
        context.profile,
        hosts=hosts,
        billable_s=job_s,
        hourly_price=context.instance.hourly_price,
        gets=gets,
        lists=lists,
    )
    return JobTotals(
        hosts=hosts,
        modes=dict(modes),
        downloads_s=downloads,
        first_step_s=first_step,
        training_s=training_s,
        validation_s=validation_s,
        job_s=job_s,
        au=au,
        gets=gets,
        instance_usd=instance_usd,
        request_usd=request_usd,
        file_shards=shards,
        volume=size_volume(sum(shards.values()), allowances),
    )


def recommend_at(
    channels: Mapping[str, ChannelPlan], hosts: int, allowances: Allowances
) -> JobAnswer:
    """Each channel's mode at ``hosts``: its plan's recommendation (its own mode when the rules
    find none), then File channels moved to streaming until all of them fit the volume."""
    from bench.analysis.plan import volume_limit

    modes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for name, plan in channels.items():
        answer = plan.answers[hosts]
        if answer.recommended_mode is not None:
            modes[name] = answer.recommended_mode
            # The rules' line begins with the mode's name, which the change line already says.
            reasons[name] = answer.why().removeprefix(f"{MODE_NAMES[modes[name]]}: ")
        else:
            modes[name] = plan.given_mode
            reasons[name] = f"kept: {answer.recommendation.headline()}"
    limit, limit_source = volume_limit(next(iter(channels.values())).context.instance)
    switched: dict[str, str] = {}
    while True:
        totals = job_totals(channels, hosts, modes, allowances)
        if totals.volume.volume_gb <= limit or not totals.file_shards:
            break
        largest = max(totals.file_shards, key=lambda name: totals.file_shards[name])
        answer = channels[largest].answers[hosts]
        streaming = [m for m in ("fastfile", "pipe") if m not in answer.recommendation.ruled_out]
        streaming = streaming or ["fastfile"]
        modes[largest] = min(streaming, key=lambda m: answer.modes[m].job_s)
        why = (
            f"all File channels together need {totals.volume.volume_gb} GB per host, more than "
            f"the {limit:g} GB {limit_source}; {largest} has the largest shard, so it streams"
        )
        switched[largest] = reasons[largest] = why
    return JobAnswer(hosts, totals, reasons, switched)


def chosen_count(answers: Sequence[JobAnswer]) -> JobAnswer:
    """The largest count at which the training channel keeps AU >= 0.90 in its recommended
    mode (the MLPerf Storage criterion, as ``plan`` chooses), else the smallest count."""
    fitting = [a for a in answers if math.isfinite(a.totals.au) and a.totals.au >= AU_TARGET]
    return max(fitting, key=lambda a: a.hosts) if fitting else min(answers, key=lambda a: a.hosts)


def plan_job(
    job: TrainingJob,
    scenarios: Mapping[str, ChannelScenario],
    *,
    counts: Sequence[int] | None = None,
    results_root: Path,
    relist: bool = False,
    progress: Progress | bool = False,
    aws_profile: str | None = None,
    storage_profile: str | None = None,
    workers: int = 2,
    on_channel: Callable[[str], None] | None = None,
) -> JobPlan:
    """Plan every channel at the counts asked for (and the job's own, for the job as given),
    combine them, recommend, and check the job as given with its modelled time."""
    from bench.analysis.jobcheck import check_job
    from bench.report.rundata import settings_from_config

    asked = sorted(set(counts or [job.instance_count]))
    planned = sorted({*asked, job.instance_count})
    channels = plan_channels(
        scenarios,
        planned,
        results_root=results_root,
        relist=relist,
        progress=progress,
        aws_profile=aws_profile,
        storage_profile=storage_profile,
        workers=workers,
        on_channel=on_channel,
    )
    training = training_channel_name(scenarios)
    first = scenarios[training].scenario
    allowances = settings_from_config(first.report).allowances
    given_modes = {name: plan.given_mode for name, plan in channels.items()}
    as_given = job_totals(channels, job.instance_count, given_modes, allowances)
    answers = [recommend_at(channels, hosts, allowances) for hosts in asked]
    chosen = chosen_count(answers) if len(answers) > 1 else answers[0]
    sizes = {name: plan.context.sizes for name, plan in channels.items()}
    findings = check_job(
        job,
        sizes,
        allowances,
        training_channel=training,
        job_s=as_given.job_s,
        job_s_basis=f"modelled on {channels[training].context.profile.name}, the job as given",
        assignment=first.distribution.assignment,
    )
    return JobPlan(job, training, channels, allowances, asked, as_given, answers, chosen, findings)


# --- the answer back ------------------------------------------------------------------------


def recommendation_inputs(plan: JobPlan) -> dict[str, Any]:
    """The keyword arguments of ``bench.config.job.recommended_job`` for this plan."""
    from bench.config.job import local_disk_gib

    chosen = plan.chosen
    totals = chosen.totals
    reasons: dict[str, str] = {name: why for name, why in chosen.reasons.items()}
    volume: int | None = totals.volume.volume_gb
    disk = local_disk_gib(plan.job.instance_type)
    if disk > 0:
        # The local NVMe is the volume, used whole: VolumeSizeInGB does not size it, and one
        # above the disk is refused, so only such a value changes.
        volume = None
        given = plan.job.volume_size_gb
        if given is not None and given > disk:
            volume = math.floor(disk)
            reasons["VolumeSizeInGB"] = (
                f"{plan.job.instance_type} trains on its fixed local NVMe of {disk:g} GiB, and "
                "SageMaker refuses a VolumeSizeInGB above it"
            )
    else:
        files = ", ".join(totals.file_shards) or "none"
        reasons["VolumeSizeInGB"] = f"File channels ({files}): {totals.volume.formula()}"
    count = None
    if chosen.hosts != plan.job.instance_count:
        count = chosen.hosts
        reasons["InstanceCount"] = (
            f"the largest of {', '.join(map(str, plan.counts))} at which the training channel "
            f"keeps AU >= {AU_TARGET:.2f} ({totals.au:.2f}), the MLPerf Storage criterion"
            if math.isfinite(totals.au) and totals.au >= AU_TARGET
            else f"no count keeps AU >= {AU_TARGET:.2f}: the smallest asked for"
        )
    return {
        "input_modes": dict(totals.modes),
        "volume_size_gb": volume,
        "instance_count": count,
        "reasons": reasons,
    }


def recommend_job(
    plan: JobPlan, job_json: Mapping[str, Any], *, source: str
) -> tuple[dict[str, Any], list[str]]:
    """The job's JSON with the plan's recommendation written into it, and one line per change
    (``bench.config.job.recommended_job``)."""
    from bench.config.job import recommended_job

    return recommended_job(job_json, source=source, **recommendation_inputs(plan))


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check,
        "severity": finding.severity,
        "subject": finding.subject,
        "message": finding.message,
        "figures": dict(finding.figures),
        "source": finding.source,
    }


def job_plan_json(
    plan: JobPlan, *, changes: Sequence[str] = (), recommended_path: str | None = None
) -> dict[str, Any]:
    """The whole job plan as one JSON object: the job's totals as given and as recommended,
    each channel's plan (``plan_json``'s shape), the findings and the changes."""
    from bench.analysis.plan import plan_json

    job = plan.job
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "job": {
            "source": job.source,
            "kind": job.kind,
            "name": job.name,
            "instance": job.instance_type,
            "hosts": job.instance_count,
            "volume_size_gb": job.volume_size_gb,
            "max_runtime_s": job.max_runtime_effective_s,
        },
        "training_channel": plan.training_channel,
        "hosts": plan.chosen.hosts,
        "profile": plan.training.context.profile.name,
        "as_given": plan.as_given.to_json(),
        "recommended": {
            **plan.chosen.totals.to_json(),
            "reasons": dict(plan.chosen.reasons),
        },
        "channels": {},
        "findings": [finding_json(f) for f in plan.findings],
        "changes": list(changes),
        "recommended_job": recommended_path,
        "assumptions": list(ASSUMPTIONS),
    }
    for name, channel in plan.channels.items():
        sweep = [channel.answers[h] for h in plan.counts] if plan.swept else []
        document = plan_json(channel.context, channel.answers[plan.chosen.hosts], sweep)
        document["is_training"] = channel.is_training
        document["given_mode"] = channel.given_mode
        out["channels"][name] = document
    if plan.swept:
        out["sweep"] = [answer.totals.to_json() for answer in plan.answers]
    return out


def channel_rows(plan: JobPlan) -> list[dict[str, Any]]:
    """One row per channel at the chosen count: its size, mode as given and as recommended,
    and the figures of the recommended mode."""
    hosts = plan.chosen.hosts
    rows = []
    for name, channel in plan.channels.items():
        mode = plan.chosen.totals.modes[name]
        figures = channel.answers[hosts].modes[mode]
        rows.append(
            {
                "channel": name + (" *" if channel.is_training else ""),
                "objects": channel.context.objects,
                "GB": channel.context.total_bytes / 1e9,
                "given": MODE_NAMES[channel.given_mode],
                "recommended": MODE_NAMES[mode],
                "first_step_s": figures.startup_s,
                "reading_s": figures.training_s,
                "AU": figures.au,
                "GETs": figures.gets,
            }
        )
    return rows


def totals_rows(plan: JobPlan) -> list[dict[str, Any]]:
    """The job as given and as recommended, side by side."""
    rows = []
    for label, totals in (("as given", plan.as_given), ("recommended", plan.chosen.totals)):
        rows.append(
            {
                "job": label,
                "hosts": totals.hosts,
                "first_step_s": totals.first_step_s,
                "training_s": totals.training_s,
                "validation_s": totals.validation_s,
                "job_s": totals.job_s,
                "cost_usd": totals.cost_usd,
                "volume_needed_gb": totals.volume.volume_gb,
            }
        )
    return rows


def sweep_rows(plan: JobPlan) -> list[dict[str, Any]]:
    rows = []
    for answer in plan.answers:
        totals = answer.totals
        rows.append(
            {
                "hosts": answer.hosts,
                "modes": ", ".join(f"{n} {MODE_NAMES[m]}" for n, m in totals.modes.items()),
                "first_step_s": totals.first_step_s,
                "job_s": totals.job_s,
                "training_AU": totals.au,
                "cost_usd": totals.cost_usd,
                "VolumeSizeInGB": totals.volume.volume_gb,
            }
        )
    return rows


def first_step_line(totals: JobTotals) -> str:
    """How the time to the first step adds up, in words."""
    parts = [f"{name} download {format_seconds(s)}" for name, s in totals.downloads_s.items()]
    streamed = [n for n, m in totals.modes.items() if m != "file"]
    if streamed:
        parts.append(f"{', '.join(streamed)} streaming")
    return f"first step after {format_seconds(totals.first_step_s)} ({'; '.join(parts)})"
