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
) -> Phases:
    """``mode``'s job in platform phases.

    ``startup_s`` and ``training_s`` are the model's (job start to the slowest host's first
    step; from there to the end of training); ``listing_s`` the part of a FastFile startup that
    is the model's own listing. ``objects`` and ``bytes_per_host`` are per host (an array, or
    the largest shard as numbers); ``channel_objects`` the keys under the channel's prefix (what
    FastFile lists on every host). ``volume_bps`` is the File volume's throughput
    (``volume_throughput_bps``; 0 = no cap), ``nic_bps`` the instance's; ``upload_bytes`` what
    Uploading sends (model and output).
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
    if mode == "file":
        downloading = file_download_s(
            platform, objects, bytes_per_host, volume_bps=volume_bps, nic_bps=nic_bps
        )
        before_first_step = image_s
    elif mode == "pipe":
        downloading = platform.pipe_fixed_s
        before_first_step = image_s + startup_s
    else:
        rate = platform.fastfile_list_keys_per_s
        listing = channel_objects / rate if rate > 0 else listing_s
        downloading = platform.fastfile_fixed_s + listing
        before_first_step = image_s + max(0.0, startup_s - listing_s)
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
    result: Any  # bench.core.model.ModeResult
    volume_gb: int  # the volume File writes to (asked for, or recommended)
    volume_bps: float  # its throughput (0: not a cap, e.g. local NVMe)


def scenario_phases(
    scenario: Any,
    sizes: np.ndarray,
    *,
    profile: Any,
    platform: Platform | None = None,
    upload_bytes: float | None = None,
    instance: Any = None,
) -> dict[str, ModelledMode]:
    """Every mode of ``scenario`` on storage ``profile``, placed in ``platform``'s phases
    (default: the scenario's, ``bench.config.platform.scenario_platform``).

    The model runs with the instance's NIC (``instance``, default the ``instances.toml`` preset
    of ``cluster.instance``) and, for File, the volume the user asks for
    (``cluster.volume_size_gb``) or else the recommended one, whose gp2 throughput caps the
    copy; ``upload_bytes`` defaults to ``upload_allowance_bytes``."""
    import dataclasses

    from bench.analysis.inputs import model_arguments, scenario_storage
    from bench.config.platform import scenario_platform
    from bench.config.profile import load_instances
    from bench.core.model import model_job
    from bench.core.sharding import loads
    from bench.report.capacity import Allowances, asked_volume, size_volume

    platform = platform or scenario_platform(scenario)
    sizes = np.asarray(sizes, dtype=np.int64)
    instance = instance or load_instances().get(scenario.cluster.instance)
    nic = scenario.cluster.nic_bandwidth_bps or (instance.nic_bps if instance else 0.0)
    nvme = instance.local_nvme_gib if instance else 0.0
    hosts = scenario.cluster.hosts
    if scenario.distribution.type == "FullyReplicated":
        largest = int(sizes.sum())
    else:
        from bench.vocabulary import sharded_strategy

        per_host, _ = loads(sharded_strategy(scenario.distribution.assignment), sizes, hosts)
        largest = int(per_host.max())
    report = scenario.report
    allowances = Allowances(
        report.model_gb, report.checkpoint_gb, report.scratch_gb, report.headroom
    )
    volume_gb, _, _ = asked_volume(
        scenario.cluster.volume_size_gb, size_volume(largest, allowances)
    )
    kind = platform.volume_kind if platform.phased else profile.volume_kind
    volume_bps = volume_throughput_bps(kind, volume_gb, local_nvme_gib=nvme)
    storage = scenario_storage(profile, scenario, keys_in_bucket=int(sizes.size))
    storage = dataclasses.replace(
        storage,
        nic_bps=min([c for c in (storage.nic_bps, nic) if c > 0], default=0.0),
        volume_write_bps=volume_bps,
        volume_read_bps=volume_bps,
    )
    results = model_job(storage=storage, **model_arguments(scenario, sizes))
    sent = upload_allowance_bytes(report) if upload_bytes is None else upload_bytes
    out = {}
    for mode, result in results.items():
        job = result.job()
        out[mode] = ModelledMode(
            phases=phases(
                mode,
                startup_s=job.startup_s,
                training_s=max(0.0, job.end_s - job.startup_s),
                objects=result.objects,
                bytes_per_host=result.bytes,
                channel_objects=int(sizes.size),
                platform=platform,
                listing_s=float(result.listing_s.max()) if result.listing_s.size else 0.0,
                volume_bps=volume_bps,
                nic_bps=storage.nic_bps,
                upload_bytes=sent,
            ),
            result=result,
            volume_gb=volume_gb,
            volume_bps=volume_bps,
        )
    return out
