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
