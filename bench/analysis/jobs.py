"""A platform profile fitted to a team's own training jobs.

Input: what ``aws sagemaker describe-training-job --training-job-name NAME`` prints, one JSON
file per job (SecondaryStatusTransitions, InputDataConfig, ResourceConfig,
AlgorithmSpecification.TrainingInputMode, BillableTimeInSeconds), and beside each a sidecar
``<file stem>.channels.toml`` (or ``.json``) giving each channel's object count and bytes, or a
manifest (CSV/Parquet of ``key,size``) to count them from::

    [channels.train]
    objects = 500
    bytes = 50_000_000_000      # or: manifest = "train.csv"
    [output]
    bytes = 2_000_000_000       # optional: what Uploading sent

Each job's phases are the durations of its status transitions. The platform's numbers are the
least-squares fit (``numpy.linalg.lstsq``) of the phase model in ``bench.analysis.platform``
to them, group by group:

- Starting (Starting, LaunchingMLInstances, PreparingTrainingStack, Pending): a constant;
- the training image (DownloadingTrainingImage, where the API reports it): a constant;
- File's Downloading: ``fixed + objects × per_object + bytes / bandwidth`` per host, with the
  per-byte time of a job whose volume (gp2 by ``VolumeSizeInGB``) or NIC is slower than the
  fitted bandwidth taken from that cap instead (refitted until the capped set is stable);
- Pipe's Downloading: a constant; FastFile's: ``fixed + channel objects / listing rate``;
- Uploading: a constant, plus ``bytes / bandwidth`` when every job gives its output bytes.

A group with no jobs keeps the base platform's numbers; a group with jobs too few (or too
alike) to fit its unknowns is an error naming what is missing. Pure library: reading and
fitting, no printing.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.platform import Platform
from bench.errors import StagebenchError

INPUT_MODES = {"File": "file", "Pipe": "pipe", "FastFile": "fastfile"}
STARTING_STATUSES = ("Starting", "LaunchingMLInstances", "PreparingTrainingStack", "Pending")
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped", "Interrupted", "MaxRuntimeExceeded")


class JobRecordError(StagebenchError):
    """A job record or its sidecar that cannot be read, or records too few to fit."""


@dataclass(frozen=True)
class ChannelData:
    name: str
    objects: int
    bytes: float
    sharded: bool  # ShardedByS3Key: each host gets about 1/n of the objects


@dataclass(frozen=True)
class JobRecord:
    """One finished training job: its phases in seconds and what it read."""

    name: str
    path: Path
    mode: str
    instance: str
    hosts: int
    volume_gb: int
    starting_s: float
    downloading_s: float
    image_s: float | None  # None: the record has no DownloadingTrainingImage transition
    training_s: float
    uploading_s: float
    billable_s: float | None
    channels: tuple[ChannelData, ...]
    output_bytes: float | None = None

    @property
    def objects_per_host(self) -> float:
        """What one host downloads in File mode: a sharded channel's share, every object of a
        replicated one (ShardedByS3Key deals about 1/n of the objects to each host)."""
        return sum(c.objects / self.hosts if c.sharded else c.objects for c in self.channels)

    @property
    def bytes_per_host(self) -> float:
        """Bytes one host downloads, on the same rule (the mean share of a sharded channel)."""
        return sum(c.bytes / self.hosts if c.sharded else c.bytes for c in self.channels)

    @property
    def channel_objects(self) -> int:
        """Keys under the channels' prefixes: what FastFile lists on every host."""
        return sum(c.objects for c in self.channels)


# --- reading ----------------------------------------------------------------------------------


def _seconds(value: Any, where: str) -> float:
    """A timestamp as the API's JSON (epoch seconds) or the AWS CLI (ISO 8601) gives it."""
    if isinstance(value, bool):
        raise ValueError(f"{where} = {value!r}: not a timestamp")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ValueError(f"{where} = {value!r}: not a timestamp (epoch seconds or ISO 8601)")


def _phase_durations(transitions: Any) -> dict[str, float]:
    """Seconds per status, summed over the transitions that hold it."""
    if not isinstance(transitions, list) or not transitions:
        raise ValueError("SecondaryStatusTransitions is missing or empty")
    spans: dict[str, float] = {}
    for index, transition in enumerate(transitions):
        where = f"SecondaryStatusTransitions[{index}]"
        if not isinstance(transition, dict) or "Status" not in transition:
            raise ValueError(f"{where} has no Status")
        status = transition["Status"]
        if status in TERMINAL_STATUSES:
            continue
        start = _seconds(transition.get("StartTime"), f"{where}.StartTime")
        if transition.get("EndTime") is not None:
            end = _seconds(transition["EndTime"], f"{where}.EndTime")
        elif index + 1 < len(transitions):
            end = _seconds(transitions[index + 1].get("StartTime"), f"{where + '+1'}.StartTime")
        else:
            raise ValueError(f"{where} ({status}) has no EndTime and no status after it")
        if end < start:
            raise ValueError(f"{where} ({status}) ends before it starts")
        spans[status] = spans.get(status, 0.0) + end - start
    return spans


def _sidecar(path: Path) -> Path:
    for suffix in (".channels.toml", ".channels.json"):
        candidate = path.with_name(path.stem + suffix)
        if candidate.exists():
            return candidate
    raise JobRecordError(
        f"{path}: no sidecar with the channels' object counts and bytes; write "
        f"{path.with_name(path.stem + '.channels.toml')} with [channels.<name>] objects = N, "
        'bytes = N (or manifest = "keys.csv")'
    )


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise JobRecordError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from exc
    if not isinstance(raw, dict) or set(raw) - {"channels", "output"}:
        extra = sorted(set(raw) - {"channels", "output"}) if isinstance(raw, dict) else ["?"]
        raise JobRecordError(f"{path}: unknown section {extra[0]!r}; allowed: channels, output")
    return raw


def _number(value: Any, where: str, *, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JobRecordError(f"{where} = {value!r}: must be a finite number >= 0")
    if value < 0 or (whole and value != int(value)):
        raise JobRecordError(
            f"{where} = {value!r}: must be a {'whole ' if whole else ''}number >= 0"
        )
    return float(value)


def _channel_counts(sidecar: Path, name: str, spec: Any) -> tuple[int, float]:
    where = f"{sidecar}: channels.{name}"
    if not isinstance(spec, dict):
        raise JobRecordError(f"{where} must be a table with objects and bytes, or manifest")
    extra = sorted(set(spec) - {"objects", "bytes", "manifest"})
    if extra:
        raise JobRecordError(f"{where}.{extra[0]}: unknown key; allowed: objects, bytes, manifest")
    if "manifest" in spec:
        from bench.run.dataset import read_manifest

        manifest = sidecar.parent / str(spec["manifest"])
        if not manifest.exists():
            raise JobRecordError(f"{where}.manifest = {spec['manifest']!r}: file not found")
        _, sizes = read_manifest(manifest)
        return int(sizes.size), float(sizes.sum())
    if "objects" not in spec or "bytes" not in spec:
        raise JobRecordError(f"{where}: give objects and bytes, or manifest")
    objects = _number(spec["objects"], f"{where}.objects", whole=True)
    return int(objects), _number(spec["bytes"], f"{where}.bytes")


def read_job(path: Path) -> JobRecord:
    """One DescribeTrainingJob JSON and its sidecar."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobRecordError(f"{path}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise JobRecordError(f"{path}: not a DescribeTrainingJob JSON: {exc}") from exc
    if not isinstance(raw, dict) or "TrainingJobName" not in raw:
        raise JobRecordError(
            f"{path}: not a DescribeTrainingJob JSON (no TrainingJobName); save what "
            "'aws sagemaker describe-training-job --training-job-name NAME' prints"
        )
    name = str(raw["TrainingJobName"])
    if raw.get("TrainingJobStatus", "Completed") != "Completed":
        raise JobRecordError(
            f"{path}: job {name} is {raw.get('TrainingJobStatus')}, not Completed; "
            "fit only finished jobs"
        )
    try:
        spans = _phase_durations(raw.get("SecondaryStatusTransitions"))
    except ValueError as exc:
        raise JobRecordError(f"{path}: {exc}") from exc
    algorithm = raw.get("AlgorithmSpecification") or {}
    resources = raw.get("ResourceConfig") or {}
    inputs = raw.get("InputDataConfig") or []
    job_mode = algorithm.get("TrainingInputMode", "File")
    modes = {c.get("InputMode", job_mode) for c in inputs if isinstance(c, dict)} or {job_mode}
    if len(modes) > 1 or next(iter(modes)) not in INPUT_MODES:
        raise JobRecordError(
            f"{path}: input mode(s) {sorted(modes)}: fit jobs whose channels all use one of "
            f"{', '.join(INPUT_MODES)}"
        )
    sidecar = _sidecar(path)
    extra = _read_sidecar(sidecar)
    given = extra.get("channels") or {}
    channels = []
    for channel in inputs:
        channel_name = channel.get("ChannelName", "")
        if channel_name not in given:
            raise JobRecordError(
                f"{sidecar}: no [channels.{channel_name}]; give its objects and bytes"
            )
        objects, nbytes = _channel_counts(sidecar, channel_name, given[channel_name])
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        sharded = source.get("S3DataDistributionType") == "ShardedByS3Key"
        channels.append(ChannelData(channel_name, objects, nbytes, sharded))
    if not channels:
        raise JobRecordError(f"{path}: InputDataConfig has no channels")
    output = extra.get("output") or {}
    output_bytes = (
        _number(output["bytes"], f"{sidecar}: output.bytes") if "bytes" in output else None
    )
    hosts = int(resources.get("InstanceCount", 1) or 1)
    billable = raw.get("BillableTimeInSeconds")
    return JobRecord(
        name=name,
        path=path,
        mode=INPUT_MODES[next(iter(modes))],
        instance=str(resources.get("InstanceType", "")),
        hosts=max(1, hosts),
        volume_gb=int(resources.get("VolumeSizeInGB", 0) or 0),
        starting_s=sum(spans.get(s, 0.0) for s in STARTING_STATUSES),
        downloading_s=spans.get("Downloading", 0.0),
        image_s=spans.get("DownloadingTrainingImage"),
        training_s=spans.get("Training", 0.0),
        uploading_s=spans.get("Uploading", 0.0),
        billable_s=float(billable) if billable is not None else None,
        channels=tuple(channels),
        output_bytes=output_bytes,
    )


def read_jobs(paths: Sequence[Path]) -> list[JobRecord]:
    if not paths:
        raise JobRecordError("no job records given: pass DescribeTrainingJob JSON files")
    jobs = [read_job(Path(p)) for p in paths]
    names = [j.name for j in jobs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise JobRecordError(f"job {repeated[0]} is given twice; give each job once")
    return jobs


# --- fitting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedGroup:
    """One group's least-squares fit: its numbers, and each job's residual (model − record)."""

    group: str
    values: dict[str, float]  # platform key ("file.fixed_s") -> fitted value, in file units
    jobs: tuple[str, ...]
    residuals_s: np.ndarray
    note: str = ""

    @property
    def rms_s(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_s**2))) if self.residuals_s.size else 0.0


@dataclass
class JobFit:
    platform: Platform
    groups: list[FittedGroup] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # groups left at the base, and why
    billable_gaps_s: dict[str, float] = field(default_factory=dict)


def _lstsq(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, x @ coef - y


def _need(group: str, jobs: list[JobRecord], x: np.ndarray, unknowns: str) -> None:
    """Refuse a fit with fewer jobs than unknowns + 1, or jobs too alike to tell them apart."""
    needed = x.shape[1] + 1
    if len(jobs) < needed:
        raise JobRecordError(
            f"{len(jobs)} {group} job(s): too few to fit {unknowns}; give at least {needed}"
        )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise JobRecordError(
            f"{len(jobs)} {group} jobs are too alike to fit {unknowns}: give jobs that differ "
            "in object count and bytes per host"
        )


def _caps_bps(job: JobRecord, platform: Platform, instances: dict[str, Any]) -> float:
    """The slowest of the job's volume and NIC (0: neither caps it)."""
    from bench.analysis.platform import volume_throughput_bps

    instance = instances.get(job.instance)
    nvme = instance.local_nvme_gib if instance is not None else 0.0
    nic = instance.nic_bps if instance is not None else 0.0
    volume = volume_throughput_bps(platform.volume_kind, job.volume_gb, local_nvme_gib=nvme)
    caps = [c for c in (volume, nic) if c > 0]
    return min(caps) if caps else 0.0


def _fit_file(jobs: list[JobRecord], platform: Platform, instances: dict[str, Any]) -> FittedGroup:
    objects = np.array([j.objects_per_host for j in jobs])
    nbytes = np.array([j.bytes_per_host for j in jobs])
    y = np.array([j.downloading_s for j in jobs])
    caps = np.array([_caps_bps(j, platform, instances) for j in jobs])
    ones = np.ones(len(jobs))
    _need("File", jobs, np.column_stack([ones, objects, nbytes]), "fixed, per-object and per-byte")
    capped = np.zeros(len(jobs), dtype=bool)
    note = ""
    for _ in range(len(jobs) + 2):
        free = ~capped
        per_byte_free = np.where(free, nbytes, 0.0)
        known = np.where(capped, nbytes / np.where(caps > 0, caps, 1.0), 0.0)
        columns = [ones, objects] + ([per_byte_free] if free.any() else [])
        x = np.column_stack(columns)
        if np.linalg.matrix_rank(x) < x.shape[1]:
            x = np.column_stack([ones, objects])
        coef, residuals = _lstsq(x, y - known)
        per_byte = float(coef[2]) if coef.size > 2 else 0.0
        bandwidth = 1.0 / per_byte if per_byte > 0 else 0.0
        now = (caps > 0) & ((bandwidth == 0) | (caps < bandwidth))
        if np.array_equal(now, capped):
            break
        capped = now
    if capped.all():
        note = "every job was capped by its volume or NIC: the downloader's bandwidth is unseen"
        bandwidth = platform.file_bandwidth_bps
    return FittedGroup(
        "File downloading",
        {
            "file.fixed_s": float(coef[0]),
            "file.per_object_ms": float(coef[1]) * 1e3,
            "file.bandwidth": bandwidth,
        },
        tuple(j.name for j in jobs),
        residuals,
        note,
    )


def _fit_constant(group: str, key: str, jobs: list[JobRecord], y: np.ndarray) -> FittedGroup:
    x = np.ones((len(jobs), 1))
    _need(group, jobs, x, key)
    coef, residuals = _lstsq(x, y)
    return FittedGroup(group, {key: float(coef[0])}, tuple(j.name for j in jobs), residuals)


def _fit_fastfile(jobs: list[JobRecord]) -> FittedGroup:
    listed = np.array([float(j.channel_objects) for j in jobs])
    x = np.column_stack([np.ones(len(jobs)), listed])
    _need("FastFile", jobs, x, "the mount's fixed part and the listing rate")
    coef, residuals = _lstsq(x, np.array([j.downloading_s for j in jobs]))
    rate = 1.0 / coef[1] if coef[1] > 0 else 0.0
    return FittedGroup(
        "FastFile downloading",
        {"fastfile.fixed_s": float(coef[0]), "fastfile.list_keys_per_s": float(rate)},
        tuple(j.name for j in jobs),
        residuals,
        "" if rate else "listing time does not grow with the keys here: no rate fitted (0)",
    )


def _fit_uploading(jobs: list[JobRecord]) -> FittedGroup:
    y = np.array([j.uploading_s for j in jobs])
    if all(j.output_bytes is not None for j in jobs):
        sent = np.array([float(j.output_bytes or 0.0) for j in jobs])
        x = np.column_stack([np.ones(len(jobs)), sent])
        if len(jobs) >= 3 and np.linalg.matrix_rank(x) == 2:
            coef, residuals = _lstsq(x, y)
            return FittedGroup(
                "Uploading",
                {
                    "uploading.fixed_s": float(coef[0]),
                    "uploading.bandwidth": 1.0 / coef[1] if coef[1] > 0 else 0.0,
                },
                tuple(j.name for j in jobs),
                residuals,
            )
    return _fit_constant("Uploading", "uploading.fixed_s", jobs, y)


_KEY_FIELDS = {
    "starting.seconds": ("starting_s", 1.0),
    "training.image_s": ("image_s", 1.0),
    "file.fixed_s": ("file_fixed_s", 1.0),
    "file.per_object_ms": ("file_per_object_s", 1e-3),
    "file.bandwidth": ("file_bandwidth_bps", 1.0),
    "pipe.fixed_s": ("pipe_fixed_s", 1.0),
    "fastfile.fixed_s": ("fastfile_fixed_s", 1.0),
    "fastfile.list_keys_per_s": ("fastfile_list_keys_per_s", 1.0),
    "uploading.fixed_s": ("uploading_fixed_s", 1.0),
    "uploading.bandwidth": ("uploading_bandwidth_bps", 1.0),
}


def fit_platform(
    jobs: Sequence[JobRecord],
    base: Platform,
    *,
    name: str = "fitted",
    instances: dict[str, Any] | None = None,
) -> JobFit:
    """Fit ``base``'s numbers to ``jobs`` (see the module docstring); what no job shows stays."""
    if instances is None:
        from bench.config.profile import load_instances

        instances = load_instances()
    jobs = list(jobs)
    if len(jobs) < 2:
        raise JobRecordError(
            f"{len(jobs)} job record(s): too few to fit a platform; give at least 2 (and 4 "
            "File jobs, 2 Pipe, 3 FastFile to fit those modes' downloads)"
        )
    fit = JobFit(platform=base)
    fit.groups.append(
        _fit_constant("Starting", "starting.seconds", jobs, np.array([j.starting_s for j in jobs]))
    )
    with_image = [j for j in jobs if j.image_s is not None]
    if len(with_image) >= 2:
        fit.groups.append(
            _fit_constant(
                "Training image",
                "training.image_s",
                with_image,
                np.array([j.image_s for j in with_image], dtype=float),
            )
        )
    else:
        fit.kept.append("training.image_s: the records have no DownloadingTrainingImage phase")
    by_mode = {m: [j for j in jobs if j.mode == m] for m in INPUT_MODES.values()}
    if by_mode["file"]:
        fit.groups.append(_fit_file(by_mode["file"], base, instances))
    else:
        fit.kept.append("file.*: no File jobs")
    if by_mode["pipe"]:
        fit.groups.append(
            _fit_constant(
                "Pipe downloading",
                "pipe.fixed_s",
                by_mode["pipe"],
                np.array([j.downloading_s for j in by_mode["pipe"]]),
            )
        )
    else:
        fit.kept.append("pipe.*: no Pipe jobs")
    if by_mode["fastfile"]:
        fit.groups.append(_fit_fastfile(by_mode["fastfile"]))
    else:
        fit.kept.append("fastfile.*: no FastFile jobs")
    fit.groups.append(_fit_uploading(jobs))
    changes: dict[str, float] = {}
    for group in fit.groups:
        for key, value in group.values.items():
            attribute, factor = _KEY_FIELDS[key]
            changes[attribute] = max(0.0, value) * factor
    fit.platform = replace(
        base,
        name=name,
        description=f"fitted to {len(jobs)} training jobs by least squares, base {base.name}",
        path=None,
        **changes,
    )
    for job in jobs:
        if job.billable_s is not None:
            fit.billable_gaps_s[job.name] = job.billable_s - (
                job.downloading_s + (job.image_s or 0.0) + job.training_s + job.uploading_s
            )
    return fit


def fitted_comments(fit: JobFit) -> dict[str, str]:
    """A comment per fitted key for the TOML: the group, its jobs and its residuals."""
    notes: dict[str, str] = {}
    for group in fit.groups:
        line = (
            f"{group.group}: least squares over {len(group.jobs)} jobs, residual RMS "
            f"{group.rms_s:.3g} s, largest {np.abs(group.residuals_s).max():.3g} s"
        )
        if group.note:
            line += f"\n{group.note}"
        for key in group.values:
            notes[key] = line
    for kept in fit.kept:
        key = kept.split(":")[0]
        notes[key.replace(".*", ".fixed_s")] = f"kept from the base platform ({kept})"
    return notes
