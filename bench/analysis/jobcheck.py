"""A SageMaker training job checked as SageMaker would run it: pure functions over a
``TrainingJob`` and each channel's object sizes, returning findings with their numbers.

- ``check_volume``: the ML storage volume holds, on the busiest host, every File-mode channel's
  shard plus the model, checkpoints and scratch (``VOLUME_SENTENCE``), or by how much it falls
  short; on an instance with local NVMe the local disk is the volume.
- ``check_local_disk``: on an NVMe instance a ``VolumeSizeInGB`` above the local disk is refused
  by SageMaker (``LOCAL_DISK_SENTENCE``).
- ``check_runtime``: a job time (planned by ``stagebench plan``, or a lower bound) against
  ``MaxRuntimeInSeconds`` (1 day when unset).
- ``check_sharding``: ShardedByS3Key with more instances than objects (hosts left empty and
  billed, ``EMPTY_HOSTS_SENTENCE``) and with skewed sizes (``SKEW_SENTENCE``), with the numbers.

Channels are checked one by one against the same hosts; only the volume adds them up, since
File mode copies every File channel before training starts. Every quoted sentence is read from
botocore's SageMaker service model, the API reference as shipped.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.config.job import (
    DEFAULT_MAX_RUNTIME_S,
    MAX_RUNTIME_LIMIT_S,
    RUNTIME_SOURCE,
    ChannelScenario,
    TrainingJob,
    documented_sentence,
    local_disk_gib,
    training_channel_name,
)
from bench.core import metrics, sharding
from bench.units import GIB, format_bytes, format_seconds
from bench.vocabulary import Assignment, Distribution, Strategy

if TYPE_CHECKING:
    from bench.report.capacity import Allowances

SKEW_WARN_RATIO = 1.10
"""Busiest host over the mean bytes above which skew is flagged: a host reading 10 % more than
an even share keeps the whole cluster waiting at least that much longer for its data."""

ERROR, WARNING, OK, NOTE = "error", "warning", "ok", "note"
SEVERITIES = (ERROR, WARNING, OK, NOTE)


@dataclass(frozen=True)
class Finding:
    """One check's result: how bad, about which part of the job, in one line with numbers."""

    check: str  # volume | local-disk | runtime | empty-hosts | skew | channel
    severity: str  # error: SageMaker refuses or stops the job; warning: it runs, badly
    subject: str  # the JSON path (or channel) it is about
    message: str
    figures: Mapping[str, float] = field(default_factory=dict)
    source: str = ""  # the documented sentence it rests on

    def line(self) -> str:
        return f"{self.severity:>7}  {self.subject}: {self.message}"


@functools.cache
def _sentence(shape: str, member: str, start: str, end: str | None = None) -> str:
    text = documented_sentence(shape, member, start, through=end)
    return f'"{text}" ({shape}.{member}, SageMaker API reference)'


def volume_sentence() -> str:
    return _sentence(
        "TrainingJobDefinition",
        "TrainingInputMode",
        "You must provision the ML storage volume",
        "also stores the output model",
    )


def local_disk_sentence() -> str:
    return _sentence(
        "HyperParameterTuningResourceConfig",
        "VolumeSizeInGB",
        "Some instance types have a fixed total local storage size",
        "cannot be greater than this total size",
    )


def skew_sentence() -> str:
    return _sentence("TrainingJobDefinition", "TrainingInputMode", "If the object sizes are skewed")


def empty_hosts_sentence() -> str:
    return _sentence(
        "S3DataSource",
        "S3DataDistributionType",
        "Don't choose more ML compute instances",
        "aren't getting any training data",
    )


# --- per-host bytes -------------------------------------------------------------------------


def file_bytes_per_host(
    job: TrainingJob,
    sizes_by_channel: Mapping[str, np.ndarray],
    *,
    modes: Mapping[str, str] | None = None,
    assignment: str = Assignment.ROUND_ROBIN,
) -> tuple[np.ndarray, dict[str, int]]:
    """Bytes File mode copies onto each host's volume, all File channels together, and each
    File channel's share on the busiest host. ``modes`` (channel → mode) replaces the job's."""
    hosts = job.instance_count
    total = np.zeros(hosts, dtype=np.int64)
    per_channel: dict[str, np.ndarray] = {}
    for channel in job.channels:
        mode = (modes or {}).get(channel.name, channel.mode).lower()
        if channel.source != "S3" or mode != "file" or channel.name not in sizes_by_channel:
            continue
        loads, _ = sharding.distribution_loads(
            np.asarray(sizes_by_channel[channel.name]), hosts, channel.distribution, assignment
        )
        per_channel[channel.name] = loads
        total += loads
    busiest = int(np.argmax(total)) if total.size else 0
    return total, {name: int(loads[busiest]) for name, loads in per_channel.items()}


# --- the checks -----------------------------------------------------------------------------


def check_volume(
    job: TrainingJob,
    sizes_by_channel: Mapping[str, np.ndarray],
    allowances: Allowances,
    *,
    modes: Mapping[str, str] | None = None,
    volume_size_gb: int | None = None,
    assignment: str = Assignment.ROUND_ROBIN,
) -> Finding:
    """Does the volume hold the busiest host's File-mode data plus model, checkpoint and
    scratch? ``volume_size_gb`` and ``modes`` check another setting than the job's own."""
    from bench.report.capacity import size_volume

    per_host, shares = file_bytes_per_host(
        job, sizes_by_channel, modes=modes, assignment=assignment
    )
    data = int(per_host.max()) if per_host.size else 0
    needed_gib = data / GIB + allowances.artifacts_gb
    advised = size_volume(data, allowances).volume_gb
    disk = local_disk_gib(job.instance_type)
    given = volume_size_gb if volume_size_gb is not None else job.volume_size_gb
    parts = [f"{name} {share / GIB:.2f}" for name, share in shares.items()]
    parts += [
        f"model {allowances.model_gb:g}",
        f"checkpoint {allowances.checkpoint_gb:g}",
        f"scratch {allowances.scratch_gb:g}",
    ]
    what = f"the busiest host needs {' + '.join(parts)} = {needed_gib:.2f} GiB"
    if not shares:
        what += " (no File-mode channel: nothing is copied)"
    figures = {
        "data_bytes": float(data),
        "needed_gib": needed_gib,
        "advised_gb": float(advised),
        "local_disk_gib": disk,
    }
    ask = f"ask for {advised} GB (with {allowances.headroom:.0%} headroom)"

    def finding(severity: str, message: str) -> Finding:
        subject = "ResourceConfig.VolumeSizeInGB"
        return Finding("volume", severity, subject, message, figures, volume_sentence())

    if disk > 0:
        capacity, where = disk, f"{job.instance_type}'s local NVMe of {disk:g} GiB"
    elif given is None:
        no_disk = f"not set, and {job.instance_type} has no local disk"
        return finding("error", f"{no_disk}: {what}; {ask}")
    else:
        capacity, where = float(given), f"VolumeSizeInGB {given}"
    figures["capacity_gib"] = capacity
    spare = capacity - needed_gib
    figures["spare_gib"] = spare
    if spare >= 0:
        return finding("ok", f"{where} holds it: {what}, {spare:.2f} GiB spare")
    fix = (
        ask
        if disk <= 0
        else "use Pipe or FastFile for the large channels, more hosts (smaller shards) or an "
        "instance with a larger local disk"
    )
    return finding("error", f"{where} falls short by {-spare:.2f} GiB: {what}; {fix}")


def check_local_disk(job: TrainingJob, *, volume_size_gb: int | None = None) -> Finding:
    """On an instance with local NVMe, a ``VolumeSizeInGB`` above the disk is refused."""
    given = volume_size_gb if volume_size_gb is not None else job.volume_size_gb
    disk = local_disk_gib(job.instance_type)
    figures = {"local_disk_gib": disk, "volume_size_gb": float(given or 0)}
    subject = "ResourceConfig.VolumeSizeInGB"
    from bench.config.profile import load_instances

    if job.instance_type not in load_instances():
        return Finding(
            "local-disk",
            "note",
            "ResourceConfig.InstanceType",
            f"{job.instance_type} is not among the instance presets (bench/profiles/"
            "instances.toml): whether it has a fixed local NVMe is not known here; "
            "VolumeSizeInGB is taken as its volume",
            figures,
        )
    if disk <= 0:
        return Finding(
            "local-disk",
            "ok",
            "ResourceConfig.InstanceType",
            f"{job.instance_type} has no local NVMe: SageMaker provisions a gp2 volume of "
            "VolumeSizeInGB",
            figures,
        )
    if given is not None and given > disk:
        return Finding(
            "local-disk",
            "error",
            subject,
            f"{given} GB is above {job.instance_type}'s fixed local NVMe of {disk:g} GiB, "
            f"which SageMaker refuses; ask for at most {math.floor(disk)} (the disk is used "
            "whole whatever the value)",
            figures,
            local_disk_sentence(),
        )
    return Finding(
        "local-disk",
        "ok",
        subject,
        f"{job.instance_type} trains on its fixed local NVMe of {disk:g} GiB; VolumeSizeInGB "
        f"{given if given is not None else '(unset)'} does not size it",
        figures,
        local_disk_sentence(),
    )


def check_runtime(job: TrainingJob, job_s: float, *, basis: str) -> Finding:
    """A job time (``basis`` says where it comes from) against ``MaxRuntimeInSeconds``."""
    limit = job.max_runtime_effective_s
    given = "" if job.max_runtime_s is not None else " (unset: the 1-day default)"
    figures = {"job_s": float(job_s), "max_runtime_s": float(limit)}
    subject = "StoppingCondition.MaxRuntimeInSeconds"
    if job_s <= limit:
        return Finding(
            "runtime",
            "ok",
            subject,
            f"{format_seconds(job_s)} ({basis}) within {limit:,} s{given}, "
            f"{format_seconds(limit - job_s)} to spare",
            figures,
            RUNTIME_SOURCE,
        )
    needed = math.ceil(job_s)
    fix = (
        f"raise it to at least {needed:,}"
        if needed <= MAX_RUNTIME_LIMIT_S
        else f"it cannot go past {MAX_RUNTIME_LIMIT_S:,} (28 days): shorten the job (more hosts, "
        "fewer epochs, another input mode)"
    )
    return Finding(
        "runtime",
        "error",
        subject,
        f"SageMaker would stop this job: {format_seconds(job_s)} ({basis}) is past "
        f"{limit:,} s{given}; {fix}",
        figures,
        RUNTIME_SOURCE,
    )


def check_sharding(
    job: TrainingJob,
    sizes_by_channel: Mapping[str, np.ndarray],
    *,
    assignment: str = Assignment.ROUND_ROBIN,
    download_bps: float | None = None,
    skew_ratio: float = SKEW_WARN_RATIO,
) -> list[Finding]:
    """Each ShardedByS3Key channel: hosts left without objects, and the busiest host's bytes
    against the mean and against a byte-balanced split. ``download_bps`` (one host's rate)
    turns the extra bytes into the straggler's extra seconds."""
    hosts = job.instance_count
    findings = []
    for channel in job.channels:
        if channel.distribution != Distribution.SHARDED_BY_S3_KEY:
            continue
        if channel.name not in sizes_by_channel:
            continue
        sizes = np.asarray(sizes_by_channel[channel.name])
        subject = f"{channel.path} (channel {channel.name})"
        loads, objects = sharding.distribution_loads(sizes, hosts, channel.distribution, assignment)
        empty = int(np.count_nonzero(objects == 0))
        if empty:
            findings.append(
                Finding(
                    "empty-hosts",
                    "warning",
                    subject,
                    f"ShardedByS3Key over {sizes.size:,} objects and {hosts} instances: "
                    f"{empty} hosts get no data and are billed all the same; use at most "
                    f"{sizes.size:,} instances or FullyReplicated",
                    {"objects": float(sizes.size), "hosts": float(hosts), "empty": float(empty)},
                    empty_hosts_sentence(),
                )
            )
        ratio = metrics.imbalance_ratio(loads)
        balanced, _ = sharding.loads(Strategy.BYTES_BALANCED, sizes, hosts)
        balanced_ratio = metrics.imbalance_ratio(balanced)
        busiest = int(np.argmax(loads))
        mean = float(loads.mean())
        figures = {
            "imbalance_ratio": ratio,
            "bytes_balanced_ratio": balanced_ratio,
            "busiest_host": float(busiest),
            "busiest_bytes": float(loads[busiest]),
            "mean_bytes": mean,
            "gini_sizes": metrics.gini(sizes),
        }
        delay = ""
        if download_bps:
            figures["straggler_delay_s"] = (float(loads[busiest]) - mean) / download_bps
            delay = (
                f"; at {format_bytes(download_bps)}/s it finishes "
                f"{format_seconds(figures['straggler_delay_s'])} after an even split would"
            )
        numbers = (
            f"host {busiest} reads {format_bytes(loads[busiest])} against a mean of "
            f"{format_bytes(mean)} ({ratio:.2f}× the mean; a byte-balanced split of the same "
            f"objects: {balanced_ratio:.2f}×), Gini of sizes {figures['gini_sizes']:.2f}{delay}"
        )
        if ratio > skew_ratio:
            findings.append(
                Finding(
                    "skew",
                    "warning",
                    subject,
                    f"skewed sizes overload one host: {numbers}",
                    figures,
                    skew_sentence(),
                )
            )
        else:
            findings.append(Finding("skew", "ok", subject, f"even enough: {numbers}", figures))
    return findings


def channel_notes(job: TrainingJob, training_channel: str) -> list[Finding]:
    """What is and is not modelled about the job's channels."""
    notes = []
    for channel in job.channels:
        if channel.source != "S3":
            notes.append(
                Finding(
                    "channel",
                    "note",
                    f"{channel.path} (channel {channel.name})",
                    f"reads from a {channel.source} source: not modelled, and not counted on "
                    "the volume",
                )
            )
    if len(job.channels) > 1:
        notes.append(
            Finding(
                "channel",
                "note",
                "InputDataConfig",
                f"{len(job.channels)} channels: the training channel {training_channel!r} is "
                "read every step, the others in one validation pass per epoch; every File "
                "channel counts on the volume and adds its download before the first step "
                "('stagebench plan JOB.json' models it, 'stagebench run JOB.json' plays it)",
            )
        )
    return notes


def check_job(
    job: TrainingJob,
    sizes_by_channel: Mapping[str, np.ndarray],
    allowances: Allowances,
    *,
    training_channel: str,
    job_s: float | None = None,
    job_s_basis: str = "",
    assignment: str = Assignment.ROUND_ROBIN,
    download_bps: float | None = None,
) -> list[Finding]:
    """Every check, errors first: the job as given, with its own modes and volume."""
    findings = [check_local_disk(job), check_volume(job, sizes_by_channel, allowances)]
    if job_s is not None:
        findings.append(check_runtime(job, job_s, basis=job_s_basis or "planned"))
    findings += check_sharding(
        job, sizes_by_channel, assignment=assignment, download_bps=download_bps
    )
    findings += channel_notes(job, training_channel)
    order = {severity: rank for rank, severity in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda finding: order[finding.severity])


def compute_bound_s(
    job: TrainingJob,
    sizes_by_channel: Mapping[str, np.ndarray],
    *,
    training_channel: str,
    compute_bps: float,
    epochs: int,
) -> float:
    """A floor under the job's time without any model: the busiest host's share of the
    training channel, every epoch, at the accelerator's ``compute_bps``."""
    channel = job.channel(training_channel)
    loads, _ = sharding.distribution_loads(
        np.asarray(sizes_by_channel[channel.name]), job.instance_count, channel.distribution
    )
    return float(loads.max()) * epochs / compute_bps


# --- the job-check command's answer ----------------------------------------------------------


@dataclass(frozen=True)
class JobCheck:
    """A job checked as given, without a plan: each channel's sizes and where they came from,
    and the findings (errors first)."""

    job: TrainingJob
    training_channel: str
    sizes: Mapping[str, np.ndarray]
    origins: Mapping[str, str]  # channel → where its sizes came from
    findings: list[Finding]
    runtime_checked: bool  # False without a compute rate: no floor under the job's time

    @property
    def refused(self) -> bool:
        """Would SageMaker refuse or stop the job as given?"""
        return any(finding.severity == ERROR for finding in self.findings)

    def channel_rows(self) -> list[dict[str, Any]]:
        """One row per channel of the job: its mode, distribution, objects, size and where the
        sizes came from (the training channel starred)."""
        rows = []
        for channel in self.job.channels:
            sizes = self.sizes.get(channel.name)
            star = " *" if channel.name == self.training_channel else ""
            rows.append(
                {
                    "channel": channel.name + star,
                    "mode": channel.input_mode + ("" if channel.mode_given else " (job)"),
                    "distribution": channel.distribution,
                    "objects": int(sizes.size) if sizes is not None else None,
                    "GB": float(sizes.sum()) / 1e9 if sizes is not None else None,
                    "sizes": self.origins.get(channel.name, f"{channel.source}: not modelled"),
                    "s3_uri": channel.s3_uri or "",
                }
            )
        return rows


def read_channel_sizes(
    scenarios: Mapping[str, ChannelScenario],
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each channel's sizes and where they came from: the sidecar's ``sizes_from`` or synthetic
    spec, else a listing of the channel's ``S3Uri`` at the scenario's endpoint."""
    sizes: dict[str, np.ndarray] = {}
    origins: dict[str, str] = {}
    for name, item in scenarios.items():
        local = item.local_sizes()
        if local is not None:
            sizes[name] = local
            origins[name] = str(item.sizes_from) if item.sizes_from else "synthetic"
        else:
            from bench.run.dataset import dataset_sizes

            sizes[name] = dataset_sizes(item.scenario)
            origins[name] = f"listed at {item.scenario.storage.endpoint}"
    return sizes, origins


def compute_floor(
    job: TrainingJob,
    training: ChannelScenario,
    sizes_by_channel: Mapping[str, np.ndarray],
) -> tuple[float | None, str]:
    """``compute_bound_s`` at the training channel's ``training.compute_rate``, and the words
    saying what it is; (None, "") when the sidecar sets no compute rate."""
    settings = training.scenario.training
    if settings.compute_bps <= 0:
        return None, ""
    floor_s = compute_bound_s(
        job,
        sizes_by_channel,
        training_channel=training.channel.name,
        compute_bps=settings.compute_bps,
        epochs=settings.epochs,
    )
    basis = (
        f"compute alone at {settings.compute_bps / 1e6:g} MB/s per host × {settings.epochs} "
        "epochs: a floor, reading the data only adds to it"
    )
    return floor_s, basis


def check_job_channels(job: TrainingJob, scenarios: Mapping[str, ChannelScenario]) -> JobCheck:
    """The job as given checked against its channels' sizes (``channel_scenarios``' answer),
    with a compute floor under its time when the sidecar gives a compute rate."""
    from bench.report.rundata import settings_from_config

    training = training_channel_name(scenarios)
    first = scenarios[training].scenario
    sizes, origins = read_channel_sizes(scenarios)
    job_s, basis = compute_floor(job, scenarios[training], sizes)
    findings = check_job(
        job,
        sizes,
        settings_from_config(first.report).allowances,
        training_channel=training,
        job_s=job_s,
        job_s_basis=basis,
        assignment=first.distribution.assignment,
    )
    return JobCheck(job, training, sizes, origins, findings, runtime_checked=job_s is not None)


__all__ = [
    "DEFAULT_MAX_RUNTIME_S",
    "Finding",
    "JobCheck",
    "SKEW_WARN_RATIO",
    "channel_notes",
    "check_job",
    "check_local_disk",
    "check_runtime",
    "check_sharding",
    "check_job_channels",
    "check_volume",
    "compute_bound_s",
    "compute_floor",
    "file_bytes_per_host",
    "read_channel_sizes",
]
