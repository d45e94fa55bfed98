"""A job's platform phases: what a training service adds around the modelled data path.

SageMaker reports a job as ``Starting`` (instances provisioned; not billed), ``Downloading``
(File mode's copy; other modes pass through it briefly), ``Training`` (the training image
starts, then the training code runs) and ``Uploading`` (SecondaryStatusTransitions in
DescribeTrainingJob). Billable time is Downloading + Training + Uploading ("the data downloading
time from the data channels is counted to the billable time", developer guide,
model-train-storage). ``phases`` places the timeline model's answer (``startup_s``: job start
to the first step; ``training_s``: from there to the end of training) inside those phases:

- **File**: SageMaker's own downloader copies each host's shard before the image starts:
  ``fixed + objects × per_object + bytes / min(downloader, volume, NIC)`` for the slowest host.
  It replaces the model's File startup, which is stagebench's reader at ``cluster.concurrency``.
- **Pipe**: a fixed Downloading; the first byte (the model's startup) comes after the image.
- **FastFile**: the mount's fixed part and the listing of the channel's keys at the platform's
  rate are Downloading; the model's own listing is taken out of its startup, the first read
  stays after the image.

With the platform ``none`` (plain EC2 or EKS) nothing is added: Downloading is the model's
startup, Training the rest, nothing is billed before or after. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.config.platform import Platform
from bench.units import MIB
from bench.vocabulary import MODES

GP3_BASELINE_BPS = 125 * MIB
"""gp3's baseline throughput, 125 MiB/s at any size (EBS User Guide, 'General Purpose SSD
volumes', gp3); more must be provisioned, which SageMaker's VolumeSizeInGB cannot ask for."""


@dataclass(frozen=True)
class Phases:
    """One mode's job in platform phases, in seconds. ``first_step_s`` is wall-clock time from
    the job's creation to the first training step; ``billable_s`` what an instance is billed
    for (× instances for the job's bill)."""

    mode: str
    starting_s: float
    downloading_s: float
    training_s: float
    uploading_s: float
    first_step_s: float

    @property
    def billable_s(self) -> float:
        return self.downloading_s + self.training_s + self.uploading_s

    @property
    def wall_s(self) -> float:
        """Creation to completion: what the user waits for."""
        return self.starting_s + self.billable_s

    def as_dict(self) -> dict[str, float]:
        return {
            "starting_s": self.starting_s,
            "downloading_s": self.downloading_s,
            "training_s": self.training_s,
            "uploading_s": self.uploading_s,
            "billable_s": self.billable_s,
            "first_step_s": self.first_step_s,
            "wall_s": self.wall_s,
        }


def volume_throughput_bps(kind: str, volume_gb: float, *, local_nvme_gib: float = 0.0) -> float:
    """The throughput of the volume File mode writes to (0: no cap from the volume).

    An instance with local NVMe trains on it whatever the platform's volume kind (SageMaker
    provisions no EBS there; the NVMe is far faster than the NIC)."""
    from bench.config.profile import gp2_throughput_bps

    if local_nvme_gib > 0 or kind in ("nvme", "none"):
        return 0.0
    if kind == "gp2":
        return gp2_throughput_bps(volume_gb)
    if kind == "gp3":
        return GP3_BASELINE_BPS
    raise ValueError(f"volume kind {kind!r}: allowed: gp2, gp3, nvme, none")


def file_download_s(
    platform: Platform,
    objects: np.ndarray | int,
    bytes_per_host: np.ndarray | float,
    *,
    volume_bps: float = 0.0,
    nic_bps: float = 0.0,
) -> float:
    """File mode's Downloading on ``platform``: its slowest host's copy, fixed part included."""
    objects_arr = np.asarray(objects, dtype=np.float64)
    bytes_arr = np.asarray(bytes_per_host, dtype=np.float64)
    caps = [c for c in (platform.file_bandwidth_bps, volume_bps, nic_bps) if c > 0]
    per_byte = 1.0 / min(caps) if caps else 0.0
    per_host = objects_arr * platform.file_per_object_s + bytes_arr * per_byte
    slowest = float(per_host.max()) if per_host.size else 0.0
    return platform.file_fixed_s + slowest


def phases(
    mode: str,
    *,
    startup_s: float,
    training_s: float,
    objects: np.ndarray | int,
    bytes_per_host: np.ndarray | float,
    channel_objects: int,
    platform: Platform,
    listing_s: float = 0.0,
    volume_bps: float = 0.0,
    nic_bps: float = 0.0,
    upload_bytes: float = 0.0,
    listed_objects: int | None = None,
) -> Phases:
    """``mode``'s job in platform phases.

    ``startup_s`` and ``training_s`` are the model's (job start to the slowest host's first
    step; from there to the end of training); ``listing_s`` the part of a FastFile startup that
    is the model's own listing. ``objects`` and ``bytes_per_host`` are per host (an array, or
    the largest shard as numbers); ``channel_objects`` the keys under the channel's prefix (what
    FastFile lists on every host). ``volume_bps`` is the File volume's throughput
    (``volume_throughput_bps``; 0 = no cap), ``nic_bps`` the instance's; ``upload_bytes`` what
    Uploading sends (model and output). ``listed_objects`` are the keys FastFile lists before
    the first step (default: ``channel_objects`` in FastFile mode, none in the others; a job of
    several channels: those of every channel that plays FastFile, whatever the job's mode), and
    ``listing_s`` is then the model's listing of them all.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: allowed: {', '.join(MODES)}")
    for name, value in (
        ("startup_s", startup_s),
        ("training_s", training_s),
        ("listing_s", listing_s),
        ("upload_bytes", upload_bytes),
    ):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} = {value!r}: must be a finite number >= 0")
    if not platform.phased:
        return Phases(mode, 0.0, startup_s, training_s, 0.0, startup_s)
    image_s = platform.image_s
    if listed_objects is None:
        listed_objects = channel_objects if mode == "fastfile" else 0
    listing = own_listing = 0.0
    if listed_objects or mode == "fastfile":
        # The platform's listing stands in Downloading for the model's own.
        rate = platform.fastfile_list_keys_per_s
        listing = listed_objects / rate if rate > 0 else listing_s
        own_listing = listing_s
    if mode == "file":
        downloading = listing + file_download_s(
            platform, objects, bytes_per_host, volume_bps=volume_bps, nic_bps=nic_bps
        )
        before_first_step = image_s
    elif mode == "pipe":
        downloading = platform.pipe_fixed_s + listing
        before_first_step = image_s + max(0.0, startup_s - own_listing)
    else:
        downloading = platform.fastfile_fixed_s + listing
        before_first_step = image_s + max(0.0, startup_s - own_listing)
    uploading = platform.uploading_fixed_s
    if upload_bytes and platform.uploading_bandwidth_bps > 0:
        uploading += upload_bytes / platform.uploading_bandwidth_bps
    return Phases(
        mode=mode,
        starting_s=platform.starting_s,
        downloading_s=downloading,
        training_s=before_first_step + training_s,
        uploading_s=uploading,
        first_step_s=platform.starting_s + downloading + before_first_step,
    )


def upload_allowance_bytes(report: Any) -> float:
    """What Uploading sends when no figure is given: the report's model allowance
    (``report.model_gb``)."""
    from bench.units import GIB

    return report.model_gb * GIB


@dataclass(frozen=True)
class ModelledMode:
    """One mode of a scenario as the model and the platform see it."""

    phases: Phases
    result: Any  # bench.core.model.ModeResult: the job's (its channels composed)
    volume_gb: int  # the volume File writes to (asked for, or recommended)
    volume_bps: float  # its throughput (0: not a cap, e.g. local NVMe)
    channels: Any = None  # bench.core.model.ChannelsResult of a job of several channels


def scenario_phases(
    scenario: Any,
    sizes: np.ndarray,
    *,
    profile: Any,
    platform: Platform | None = None,
    upload_bytes: float | None = None,
    instance: Any = None,
    channel_sizes: Mapping[str, np.ndarray] | None = None,
) -> dict[str, ModelledMode]:
    """Every mode of ``scenario`` on storage ``profile``, placed in ``platform``'s phases
    (default: the scenario's, ``bench.config.platform.scenario_platform``).

    The model runs with the instance's NIC (``instance``, default the ``instances.toml`` preset
    of ``cluster.instance``) and, for File, the volume the user asks for
    (``cluster.volume_size_gb``) or else the recommended one, whose gp2 throughput caps the
    copy; ``upload_bytes`` defaults to ``upload_allowance_bytes``.

    With ``channel_sizes`` (each channel's sizes by name) a scenario of several channels is the
    job that plays them all (``bench.analysis.channels.model_channels``): the composed job is
    placed in the phases, File's copy and volume hold every channel that plays File, and
    FastFile's listing lists every channel that plays FastFile."""
    from bench.analysis.channels import file_shard_bytes, largest_shard_bytes
    from bench.config.platform import scenario_platform

    platform = platform or scenario_platform(scenario)
    sizes = np.asarray(sizes, dtype=np.int64)
    sent = upload_allowance_bytes(scenario.report) if upload_bytes is None else upload_bytes
    if channel_sizes and scenario.several_channels:
        file_bytes = file_shard_bytes(scenario, channel_sizes, "file")
        model = _ModelStorage.of(scenario, profile, platform, instance, file_bytes)
        return _channels_phases(scenario, channel_sizes, model, platform, sent)
    file_bytes = largest_shard_bytes(scenario, sizes)
    model = _ModelStorage.of(scenario, profile, platform, instance, file_bytes)
    from bench.analysis.inputs import model_arguments
    from bench.core.model import model_job

    storage = model.storage_for(scenario, int(sizes.size))
    results = model_job(storage=storage, **model_arguments(scenario, sizes))
    out = {}
    for mode, result in results.items():
        out[mode] = model.placed(
            mode,
            result,
            objects=result.objects,
            bytes_per_host=result.bytes,
            channel_objects=int(sizes.size),
            platform=platform,
            upload_bytes=sent,
        )
    return out


def _channels_phases(
    scenario: Any,
    channel_sizes: Mapping[str, np.ndarray],
    model: _ModelStorage,
    platform: Platform,
    upload_bytes: float,
) -> dict[str, ModelledMode]:
    """The job of several channels, composed by the model, in the platform's phases."""
    from bench.analysis.channels import model_channels

    composed = model_channels(scenario, channel_sizes, model.storage_for)
    out = {}
    for mode, job in composed.items():
        playing = list(zip(scenario.channels, job.channels, strict=True))
        copied = [result for channel, result in playing if channel.mode_in(mode) == "file"]
        hosts = np.shape(job.job.objects)
        listed = sum(
            int(np.size(channel_sizes[channel.name]))
            for channel, _ in playing
            if channel.mode_in(mode) == "fastfile"
        )
        placed = model.placed(
            mode,
            job.job,
            objects=np.sum([r.objects for r in copied], axis=0) if copied else np.zeros(hosts),
            bytes_per_host=np.sum([r.bytes for r in copied], axis=0) if copied else np.zeros(hosts),
            channel_objects=int(np.size(channel_sizes[scenario.channels[0].name])),
            listed_objects=listed,
            platform=platform,
            upload_bytes=upload_bytes,
        )
        out[mode] = dataclasses.replace(placed, channels=job)
    return out


@dataclass(frozen=True)
class _ModelStorage:
    """The storage the model of a scenario's channels sees: the profile capped by the
    instance's NIC, and the File volume's throughput."""

    scenario: Any
    profile: Any
    nic_bps: float
    volume_gb: int
    volume_bps: float

    @classmethod
    def of(
        cls, scenario: Any, profile: Any, platform: Platform, instance: Any, file_bytes: int
    ) -> _ModelStorage:
        """For ``scenario`` whose File volume holds ``file_bytes`` of data per host."""
        from bench.config.profile import load_instances
        from bench.report.capacity import Allowances, asked_volume, size_volume

        instance = instance or load_instances().get(scenario.cluster.instance)
        nic = scenario.cluster.nic_bandwidth_bps or (instance.nic_bps if instance else 0.0)
        nvme = instance.local_nvme_gib if instance else 0.0
        report = scenario.report
        allowances = Allowances(
            report.model_gb, report.checkpoint_gb, report.scratch_gb, report.headroom
        )
        volume_gb, _, _ = asked_volume(
            scenario.cluster.volume_size_gb, size_volume(file_bytes, allowances)
        )
        kind = platform.volume_kind if platform.phased else profile.volume_kind
        volume_bps = volume_throughput_bps(kind, volume_gb, local_nvme_gib=nvme)
        return cls(scenario, profile, nic, volume_gb, volume_bps)

    @property
    def link_bps(self) -> float:
        """The NIC the model reads through: the profile's, the scenario's and the instance's
        (the same for every channel: the cap does not depend on the bucket)."""
        return float(self.storage_for(self.scenario, 1).nic_bps)

    def storage_for(self, scenario: Any, keys_in_bucket: int) -> Any:
        """The storage a one-channel ``scenario`` sees with ``keys_in_bucket`` in its bucket."""
        from bench.analysis.inputs import scenario_storage

        storage = scenario_storage(self.profile, scenario, keys_in_bucket=keys_in_bucket)
        return dataclasses.replace(
            storage,
            nic_bps=min([c for c in (storage.nic_bps, self.nic_bps) if c > 0], default=0.0),
            volume_write_bps=self.volume_bps,
            volume_read_bps=self.volume_bps,
        )

    def placed(self, mode: str, result: Any, **placement: Any) -> ModelledMode:
        """One mode's model result in the platform's phases (``phases``' other arguments)."""
        job = result.job()
        return ModelledMode(
            phases=phases(
                mode,
                startup_s=job.startup_s,
                training_s=max(0.0, job.end_s - job.startup_s),
                listing_s=float(result.listing_s.max()) if result.listing_s.size else 0.0,
                volume_bps=self.volume_bps,
                nic_bps=self.link_bps,
                **placement,
            ),
            result=result,
            volume_gb=self.volume_gb,
            volume_bps=self.volume_bps,
        )
