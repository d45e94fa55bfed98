"""The capacity arithmetic of the report: each host's volume size, and which input mode fits.

Pure functions over small frozen dataclasses, no I/O: every rule can be checked on hand-built
figures, and the report only feeds them what a run (or the model) measured.

Volume size. File mode copies a host's whole shard onto its ML storage volume before training,
and the volume also holds the model, checkpoints and scratch space, so::

    VolumeSizeInGB = ceil((largest shard + model + checkpoint + scratch) × (1 + headroom))

in GiB, which is what EBS (and so ``VolumeSizeInGB``) counts. A job of several channels holds
every File channel at once: the largest shard is then the sum over its File channels
(``size_channels_volume``). Pipe and FastFile keep no copy:
their volume holds the allowances alone. The throughput that size implies follows the gp2 rule
(``GP2_RULE``, from ``GP2_SOURCE``); on instances with local NVMe the disk is fixed and
``VolumeSizeInGB`` does not apply, so the only question is whether the data fits.

Input mode. ``recommend_mode`` applies, in order:

1. File must fit: data per host plus allowances above the largest volume available (the
   instance's fixed NVMe, or gp2's maximum) rules File out.
2. Random access: Pipe is a FIFO read once in order, so it is ruled out; FastFile fetches every
   record on demand and is ruled out while File remains.
3. Many small files and a short job: with a median object under ``SMALL_OBJECT_BYTES`` (AWS
   guidance: smaller files add per-file overhead) and File's startup at least
   ``STARTUP_DOMINATES`` of its job, File is ruled out while another mode remains.
4. Of what is left, the modes whose job time is within ``NEAR_FASTEST`` of the fastest are
   equals; among them the one with the cheapest requests wins (Pipe and FastFile fetch the data
   again every epoch, File once), then the highest accelerator utilisation (AU).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.core.figures import JobFigures
from bench.units import GIB, format_number, format_seconds, format_size
from bench.vocabulary import MODES

MODE_NAMES = {"file": "File", "pipe": "Pipe", "fastfile": "FastFile"}

GP2_MAX_GIB = 16 * 1024
"""gp2 volumes range from 1 GiB to 16 TiB (``GP2_SOURCE``)."""
GP2_RULE = (
    "gp2 throughput: 128 MiB/s up to 170 GiB, 250 MiB/s from 334 GiB, linear between (the "
    "baseline of 3 IOPS/GiB at 256 KiB per I/O; a volume there bursts to 250 MiB/s while it "
    "has I/O credits)"
)
GP2_SOURCE = (
    "Amazon EBS User Guide, 'General Purpose SSD volumes' (gp2): 3 IOPS per GiB, 128 MiB/s up "
    "to 170 GiB, 250 MiB/s from 334 GiB, sizes 1 GiB to 16 TiB"
)

SMALL_OBJECT_BYTES = 50 * 1000**2
"""AWS guidance for File mode: objects under ~50 MB add per-file overhead; pack them."""
STARTUP_DOMINATES = 0.5
"""File's download at least this share of its job time: a short job, startup dominates."""
NEAR_FASTEST = 1.05
"""Job times within 5 % of the fastest count as equal; cheaper requests then decide."""


# --- volume size ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowances:
    """What a host's volume holds besides the data, in GiB, and the headroom on top (fraction)."""

    model_gb: float = 1.0
    checkpoint_gb: float = 2.0
    scratch_gb: float = 1.0
    headroom: float = 0.2

    def __post_init__(self) -> None:
        for name in ("model_gb", "checkpoint_gb", "scratch_gb", "headroom"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"report.{name} = {value!r}: must be a number >= 0")

    @property
    def artifacts_gb(self) -> float:
        return self.model_gb + self.checkpoint_gb + self.scratch_gb


@dataclass(frozen=True)
class VolumeSizing:
    """One host's volume: what goes on it, the size to ask for, the throughput that implies."""

    data_bytes: int
    allowances: Allowances
    needed_gb: float  # before rounding up
    volume_gb: int  # whole GiB, at least 1
    throughput_bps: float  # gp2 at volume_gb

    @property
    def data_gb(self) -> float:
        return self.data_bytes / GIB

    def formula(self) -> str:
        """The arithmetic in one line, with the numbers that went into it."""
        a = self.allowances
        parts = [f"{self.data_gb:.3f} data"] if self.data_bytes else []
        parts += [f"{a.model_gb:g} model", f"{a.checkpoint_gb:g} checkpoint"]
        parts += [f"{a.scratch_gb:g} scratch"]
        return (
            f"ceil(({' + '.join(parts)}) GiB × (1 + {a.headroom:g} headroom)) = "
            f"ceil({self.needed_gb:.3f}) = {self.volume_gb} GB"
        )


def size_volume(data_bytes: int, allowances: Allowances) -> VolumeSizing:
    """The ``VolumeSizeInGB`` for a host holding ``data_bytes`` (0 for Pipe and FastFile)."""
    from bench.config.profile import gp2_throughput_bps

    if data_bytes < 0:
        raise ValueError(f"data_bytes = {data_bytes!r}: must be >= 0")
    needed = (data_bytes / GIB + allowances.artifacts_gb) * (1.0 + allowances.headroom)
    # A hair of tolerance so that 20.000000001 from float arithmetic is not 21 GB.
    volume_gb = max(1, math.ceil(needed - 1e-9))
    return VolumeSizing(
        data_bytes=int(data_bytes),
        allowances=allowances,
        needed_gb=needed,
        volume_gb=volume_gb,
        throughput_bps=gp2_throughput_bps(volume_gb),
    )


@dataclass(frozen=True)
class ChannelShard:
    """One input channel's part of a host's volume when the job plays one mode: the data path
    the channel plays then, and its largest per-host shard (a FullyReplicated channel: its
    whole dataset)."""

    name: str
    data_path: str  # "file" | "pipe" | "fastfile"
    largest_shard_bytes: int


def size_channels_volume(
    shards: Sequence[ChannelShard], allowances: Allowances
) -> tuple[VolumeSizing, tuple[ChannelShard, ...]]:
    """The ``VolumeSizeInGB`` of a job of several channels, and the channels it counts.

    SageMaker downloads every File channel onto the same ML storage volume before training
    and keeps them there, so the volume holds the sum of the File channels' largest shards
    (each channel's busiest host, which may differ: a bound that holds on every host); Pipe
    and FastFile channels keep no copy."""
    counted = tuple(shard for shard in shards if shard.data_path == "file")
    data_bytes = sum(shard.largest_shard_bytes for shard in counted)
    return size_volume(data_bytes, allowances), counted


def asked_volume(asked_gb: int, sizing: VolumeSizing) -> tuple[int, float, str | None]:
    """The volume File mode writes to: ``cluster.volume_size_gb`` when the user sets it (0: the
    recommended ``sizing``), its gp2 throughput (which caps File's download), and a warning
    when it cannot hold what File needs."""
    from bench.config.profile import gp2_throughput_bps

    if asked_gb <= 0:
        return sizing.volume_gb, sizing.throughput_bps, None
    warning = None
    if asked_gb < sizing.volume_gb:
        warning = (
            f"cluster.volume_size_gb = {asked_gb}: File mode needs {sizing.volume_gb} GB per host "
            f"({sizing.formula()}); ask for at least that, or use Pipe or FastFile"
        )
    return asked_gb, gp2_throughput_bps(asked_gb), warning


def local_disk_warning(volume_gb: int, instance: str, local_nvme_gib: float) -> str | None:
    """A warning when the instance's fixed local NVMe cannot hold what File mode needs."""
    if local_nvme_gib <= 0 or volume_gb <= local_nvme_gib:
        return None
    return (
        f"{instance} trains on its local NVMe of {format_number(local_nvme_gib)} GiB, fixed in "
        f"size, but File mode needs {volume_gb} GB per host: use Pipe or FastFile, more hosts "
        "(smaller shards) or an instance with a larger local disk"
    )


# --- input mode -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionFigures:
    """What the input-mode rules look at; every field comes from a run or the model."""

    data_per_host_bytes: int
    file_volume_gb: int  # what File needs per host (see ``size_volume``)
    volume_limit_gb: float  # the largest volume File's copy can go on
    volume_limit_source: str  # e.g. "local NVMe of ml.g5.xlarge", "gp2 maximum"
    median_object_bytes: float
    epochs: int
    access: str  # "sequential" | "random"
    modes: Mapping[str, JobFigures]
    get_price_per_1000: float = 0.0
    list_price_per_1000: float = 0.0

    def request_usd(self, mode: str) -> float:
        figures = self.modes[mode]
        return (
            figures.gets * self.get_price_per_1000 + figures.lists * self.list_price_per_1000
        ) / 1000


@dataclass(frozen=True)
class Recommendation:
    """The mode to use (None when no measured mode fits), why, and why not the others."""

    mode: str | None
    reasons: tuple[str, ...]
    ruled_out: Mapping[str, str] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()  # unmeasured modes worth measuring when mode is None

    def headline(self) -> str:
        if self.mode is not None:
            return MODE_NAMES[self.mode]
        if self.candidates:
            names = " or ".join(MODE_NAMES[m] for m in self.candidates)
            return f"{names} (not measured in this run)"
        return "none of the modes measured"


def recommend_mode(figures: DecisionFigures) -> Recommendation:
    """Apply the module's rules, in order, to measured or modelled figures."""
    measured = {m: figures.modes[m] for m in MODES if m in figures.modes}
    ruled_out: dict[str, str] = {}
    file = measured.get("file")

    if figures.file_volume_gb > figures.volume_limit_gb:
        ruled_out["file"] = (
            f"File copies {_gib(figures.data_per_host_bytes)} per host, {figures.file_volume_gb} "
            f"GB with the allowances, more than the {figures.volume_limit_gb:g} GB "
            f"{figures.volume_limit_source}"
        )
    if figures.access == "random":
        ruled_out["pipe"] = (
            "the training reads at random offsets, and Pipe is a FIFO read once, in order, "
            "with no seek"
        )
        if "file" not in ruled_out:
            fast = measured.get("fastfile")
            detail = ""
            if fast is not None and file is not None:
                detail = (
                    f": epoch {format_seconds(fast.epoch_s)} "
                    f"against File's {format_seconds(file.epoch_s)}"
                )
            ruled_out["fastfile"] = (
                "random reads make FastFile fetch each record on demand, slower than File's "
                f"local copy{detail}"
            )
    remaining = [m for m in measured if m not in ruled_out]
    if (
        file is not None
        and "file" in remaining
        and len(remaining) > 1
        and figures.median_object_bytes < SMALL_OBJECT_BYTES
        and file.end_s > 0
        and file.startup_s / file.end_s >= STARTUP_DOMINATES
    ):
        others = ", ".join(
            f"{MODE_NAMES[m]} starts in {format_seconds(measured[m].startup_s)}"
            for m in remaining
            if m != "file"
        )
        ruled_out["file"] = (
            f"many small objects (median {format_size(figures.median_object_bytes)}, under the "
            f"{format_size(SMALL_OBJECT_BYTES)} AWS suggests for File) and a short job: File's "
            f"download takes {format_seconds(file.startup_s)}, "
            f"{file.startup_s / file.end_s:.0%} of its "
            f"{format_seconds(file.end_s)} job; {others}"
        )
        remaining.remove("file")

    if not remaining:
        unmeasured = tuple(m for m in MODES if m not in measured and m not in ruled_out)
        why = "no measured mode fits this job"
        if unmeasured:
            names = " and ".join(MODE_NAMES[m] for m in unmeasured)
            why += f"; measure {names} (add them to modes.run)"
        return Recommendation(None, (why,), ruled_out, unmeasured)

    fastest = min(remaining, key=lambda m: measured[m].end_s)
    near = [m for m in remaining if measured[m].end_s <= measured[fastest].end_s * NEAR_FASTEST]
    pick = min(near, key=lambda m: (figures.request_usd(m), -_finite(measured[m].au)))
    chosen = measured[pick]
    reasons = [_job_line(pick, chosen, measured, remaining)]
    if pick != fastest:
        reasons.append(
            f"{MODE_NAMES[fastest]} is {format_seconds(measured[fastest].end_s)}, within "
            f"{NEAR_FASTEST - 1:.0%} of {MODE_NAMES[pick]}; {MODE_NAMES[pick]} makes "
            f"{chosen.gets:,} GETs against {measured[fastest].gets:,} "
            f"(${figures.request_usd(pick):.4f} against ${figures.request_usd(fastest):.4f})"
        )
    reasons.append(_mode_line(pick, chosen, figures, measured))
    return Recommendation(pick, tuple(reasons), ruled_out)


def _job_line(
    pick: str, chosen: JobFigures, measured: Mapping[str, JobFigures], remaining: list[str]
) -> str:
    line = (
        f"{MODE_NAMES[pick]}: starts in {format_seconds(chosen.startup_s)}, "
        f"job {format_seconds(chosen.end_s)}, AU "
        f"{_finite(chosen.au):.2f}"
    )
    others = [
        f"{MODE_NAMES[m]} {format_seconds(measured[m].startup_s)} / "
        f"{format_seconds(measured[m].end_s)} / "
        f"{_finite(measured[m].au):.2f}"
        for m in remaining
        if m != pick
    ]
    if others:
        line += " (startup / job / AU: " + "; ".join(others) + ")"
    return line


def _mode_line(
    pick: str, chosen: JobFigures, figures: DecisionFigures, measured: Mapping[str, JobFigures]
) -> str:
    epochs = figures.epochs
    if pick == "file":
        share = chosen.startup_s / chosen.end_s if chosen.end_s > 0 else float("nan")
        line = (
            f"File's download is {share:.0%} of its job, paid once; "
            + (
                f"the other {epochs - 1} epoch(s) read the local volume"
                if epochs > 1
                else "with more epochs it is amortised further, since epochs read the local volume"
            )
            + f" ({chosen.gets:,} GETs in all)"
        )
        return line
    if pick == "pipe":
        line = (
            f"Pipe streams the data again every epoch: {chosen.gets:,} GETs over {epochs} "
            f"epoch(s), ${figures.request_usd('pipe'):.4f} in requests"
        )
        if "file" in measured:
            line += f" (File: {measured['file'].gets:,} GETs, once)"
        return line + "; the volume holds only the allowances"
    return (
        f"FastFile lists the prefix ({chosen.lists:,} LIST pages) and reads on demand: "
        f"{chosen.gets:,} GETs over {epochs} epoch(s), ${figures.request_usd('fastfile'):.4f} "
        "in requests; the volume holds only the allowances"
    )


def _finite(value: float) -> float:
    return value if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.3f} GiB"
