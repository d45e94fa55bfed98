"""Scenario files: parse (TOML) → fill defaults → validate → frozen config objects.

Every problem is a ScenarioError of one line naming the file, the key, the value and what is
allowed, so a typo never surfaces as a traceback from deep inside a run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.sizes import MAX_OBJECT_SIZE
from bench.errors import ScenarioError
from bench.units import format_bytes, parse_rate, parse_size, shown
from bench.vocabulary import ASSIGNMENTS, DISTRIBUTIONS, MODES

CHECKSUM_SETTINGS = ("when_required", "when_supported")
ACCESS_PATTERNS = ("sequential", "random")


# --- numeric ranges: what a real job can need, and why the bound is where it is ------------
# Every number of a scenario is checked against this table at load time, for every command, so
# an absurd value (inf, nan, 1e400, 10**12 epochs) is one line naming the field and its range,
# never a traceback, a hang or a run that exhausts the machine.

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Range:
    """Allowed values of one numeric field: ``low`` … ``high`` (or exactly 0 with ``zero``)."""

    low: float
    high: float
    unit: str  # "bytes" and "bytes/s" are shown with binary units
    why: str
    zero: str = ""  # what 0 means when 0 is allowed below ``low`` (e.g. "uncapped")

    def allows(self, value: float) -> bool:
        return (self.zero and value == 0) or self.low <= value <= self.high

    def text(self) -> str:
        def show(number: float) -> str:
            if self.unit.startswith("bytes") and number >= KIB:
                per = "/s" if self.unit == "bytes/s" else ""
                return f"{number:.0f} ({format_bytes(number)}{per})"
            return f"{number:g}" if isinstance(number, float) else str(number)

        unit = {"bytes": " bytes", "bytes/s": " bytes/s"}.get(self.unit, f" {self.unit}")
        span = f">= {show(self.low)} and <= {show(self.high)}{unit.rstrip()}"
        return f"0 ({self.zero}) or {span}" if self.zero else span


SEED_MAX = 2**64 - 1
RATE_MAX = 10**12  # bytes/s: the fastest EC2 NIC is 3,200 Gbit/s (400 GB/s)

RANGES: dict[str, Range] = {
    "dataset.objects": Range(1, 10_000_000, "objects", "startup sweeps go to 10^7 files"),
    "dataset.seed": Range(0, SEED_MAX, "", "a 64-bit seed"),
    "cluster.hosts": Range(1, 10_000, "hosts", "beyond the largest training clusters"),
    "cluster.concurrency": Range(1, 1024, "connections", "one host's connection pool"),
    "cluster.nic_bandwidth": Range(
        1000, RATE_MAX, "bytes/s", "the fastest EC2 NIC is 400 GB/s", zero="uncapped"
    ),
    "cluster.first_byte_latency_ms": Range(
        0.0, 60_000.0, "ms", "botocore gives up on a read after 60 s"
    ),
    "cluster.hourly_price": Range(0.0, 10_000.0, "USD/h", "the dearest instance is far below"),
    "storage.max_attempts": Range(1, 100, "attempts", "more only hides a broken endpoint"),
    "pipe.prefetch": Range(1, 1024, "objects", "each prefetched object holds chunks in memory"),
    "pipe.chunk_size": Range(KIB, GIB, "bytes", "a chunk is held in memory"),
    "fastfile.part_size": Range(KIB, 5 * GIB, "bytes", "S3's largest part is 5 GiB"),
    "fastfile.read_ahead": Range(0, 64, "parts", "each part read ahead is held in memory"),
    "fastfile.record_size": Range(1, GIB, "bytes", "a record is held in memory"),
    "fastfile.reads_per_file": Range(1, 100_000, "reads", "a row per read is logged"),
    "training.epochs": Range(1, 1000, "epochs", "every epoch repeats every read"),
    "training.compute_rate": Range(
        1000, RATE_MAX, "bytes/s", "no accelerator eats data faster", zero="no compute"
    ),
    "training.step_bytes": Range(1, 4 * GIB, "bytes", "a step's data is held in memory"),
    "training.shuffle_seed": Range(0, SEED_MAX, "", "a 64-bit seed"),
    "report.model_gb": Range(0.0, 65_536.0, "GiB", "the largest EBS volume is 64 TiB"),
    "report.checkpoint_gb": Range(0.0, 65_536.0, "GiB", "the largest EBS volume is 64 TiB"),
    "report.scratch_gb": Range(0.0, 65_536.0, "GiB", "the largest EBS volume is 64 TiB"),
    "report.headroom": Range(0.0, 10.0, "fraction", "10 is 1000% spare"),
    "report.container_size": Range(
        MIB, MAX_OBJECT_SIZE, "bytes", "the largest S3 object is 48.8 TiB"
    ),
}
"""Allowed values of every numeric scenario field; the README's range table mirrors it."""

OBJECT_SIZE = Range(1, MAX_OBJECT_SIZE, "bytes", "the largest S3 object is 48.8 TiB")
"""Sizes in ``[dataset.sizes]`` (size, min, max, median): one object each."""

# What a live run may hold in memory: requests are logged as a row each (a few hundred bytes),
# and a consumer step is an await however small.
MAX_LIVE_EVENTS = 20_000_000
MAX_LIVE_STEPS = 50_000_000


@dataclass(frozen=True)
class DatasetConfig:
    source: str  # "synthetic" | "manifest" | "s3"
    bucket: str
    prefix: str
    channel: str
    objects: int
    seed: int
    sizes: Mapping[str, Any]
    manifest: Path | None
    unsafe_keys: str = "error"  # "error" | "skip": keys that cannot be files safely


@dataclass(frozen=True)
class ClusterConfig:
    hosts: int
    concurrency: int
    nic_bandwidth_bps: float  # 0 = uncapped
    first_byte_latency_s: float
    instance: str
    hourly_price: float
    volume_size_gb: int = 0  # VolumeSizeInGB the user will ask for; 0 = the recommended size
    local_nvme_gib: float | None = None  # None: the instance preset's
    given: tuple[str, ...] = ()  # keys the scenario set; the rest are defaults


@dataclass(frozen=True)
class DistributionConfig:
    type: str
    assignment: str


# SageMaker's InputDataConfig holds 1 to 20 channels (CreateTrainingJob API reference).
MAX_CHANNELS = 20
# How the consumer reads a channel: "train" every step of every epoch; "validation" one whole
# pass after each epoch's training, as a training loop's evaluation does.
CHANNEL_ROLES = ("train", "validation")


@dataclass(frozen=True)
class Channel:
    """One input channel: its data, how it is split over hosts, and how it is read."""

    name: str
    role: str  # one of CHANNEL_ROLES
    input_mode: str | None  # None: the mode the run plays (the job's TrainingInputMode)
    dataset: DatasetConfig
    distribution: DistributionConfig

    def mode_in(self, job_mode: str) -> str:
        """The data path this channel plays when the job plays ``job_mode``."""
        return self.input_mode or job_mode


@dataclass(frozen=True)
class StorageConfig:
    endpoint: str  # "embedded" | "aws" | URL
    region: str | None  # None: the AWS chain (AWS_REGION, AWS_DEFAULT_REGION, the profile)
    profile: str | None
    sign_requests: bool  # false: anonymous requests, for public datasets
    checksum_validation: str
    max_attempts: int
    verify_etag: bool  # whole objects: stored checksum, else MD5 against a single-part ETag
    volume_root: Path | None


@dataclass(frozen=True)
class PipeConfig:
    prefetch: int
    chunk_size: int


@dataclass(frozen=True)
class FastFileConfig:
    part_size: int
    read_ahead: int
    access: str
    record_size: int
    reads_per_file: int


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    compute_bps: float  # 0 = read as fast as data arrives (or the rate is in objects)
    step_bytes: int
    shuffle_seed: int | None  # None: key order every epoch
    barrier: bool  # a global step waits for the slowest host
    verify: bool  # hash every byte the consumer takes (costs client CPU)
    readers: int  # files the consumer reads at once in FastFile mode (a data loader's workers)
    # Compute in objects: "N objects/s" per host, or batch_objects per step_time. The model
    # turns it into bytes/s through the dataset's mean object size (``compute_bps_for``).
    compute_objects_per_s: float = 0.0
    compute_unit: str = "none"  # "bytes/s" | "objects/s" | "step_time" | "none"
    step_time_s: float = 0.0
    batch_objects: int = 0

    def compute_bps_for(self, mean_object_bytes: float) -> float:
        """Bytes/s per host: as given, or objects/s x the dataset's mean object size."""
        if self.compute_objects_per_s > 0:
            return self.compute_objects_per_s * float(mean_object_bytes)
        return self.compute_bps

    def describe(self) -> str:
        """The compute rate in the unit the scenario gave it."""
        if self.compute_unit == "step_time":
            return (
                f"training.step_time = {self.step_time_s * 1e3:g} ms with training.batch_objects"
                f" = {self.batch_objects} ({self.compute_objects_per_s:,.1f} objects/s per host)"
            )
        if self.compute_unit == "objects/s":
            return f"training.compute_rate = {self.compute_objects_per_s:g} objects/s per host"
        if self.compute_unit == "bytes/s":
            return f"training.compute_rate = {self.compute_bps / 1e6:g} MB/s per host"
        return "no training.compute_rate: the consumer takes data as fast as it arrives (default)"


@dataclass(frozen=True)
class ExecutionConfig:
    engine: str  # "local" (asyncio in this process) | "dask"
    dask: str  # scheduler address "tcp://host:8786", or "local:N" for a LocalCluster


@dataclass(frozen=True)
class ReportConfig:
    """What the capacity report adds to the measurements (GiB allowances, headroom fraction)."""

    model_gb: float
    checkpoint_gb: float
    scratch_gb: float
    headroom: float
    container_size: int  # what the repack what-if packs small objects into
    model_profile: str  # storage profile (preset or .toml) the what-ifs are modelled on
    given: tuple[str, ...] = ()  # keys the scenario set; the rest are defaults


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    dataset: DatasetConfig
    cluster: ClusterConfig
    distribution: DistributionConfig
    storage: StorageConfig
    modes: tuple[str, ...]
    pipe: PipeConfig
    fastfile: FastFileConfig
    training: TrainingConfig
    execution: ExecutionConfig
    report: ReportConfig
    platform: str | None = None  # platform preset or .toml; None = by instance (config.platform)
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    # Every channel, the training one first; ``dataset`` and ``distribution`` are the training
    # channel's. A scenario without [[channels]] has the one channel of its [dataset].
    channels: tuple[Channel, ...] = ()

    @property
    def several_channels(self) -> bool:
        return len(self.channels) > 1

    def channel_scenario(self, channel: Channel, mode: str | None = None) -> Scenario:
        """This scenario with ``channel`` as its only channel (playing ``mode`` when given):
        how one channel of a job is prepared, played and modelled on its own."""
        import dataclasses

        modes = (channel.mode_in(mode),) if mode else self.modes
        return dataclasses.replace(
            self,
            dataset=channel.dataset,
            distribution=channel.distribution,
            modes=modes,
            channels=(channel,),
        )

    def check_live(self, sizes: Any, *, memory_bytes: int | None = None) -> None:
        """Refuse, in one line naming what to change, a live run over objects of ``sizes`` that
        would log more requests, take more consumer steps or hold more buffers at once than
        this machine (``memory_bytes``, default its physical memory) can give it.

        Each field is in range on its own; this checks their products before anything is
        allocated: objects × hosts × epochs of event rows, hosts × prefetch × chunk_size of
        Pipe buffers, and so on.
        """
        import numpy as np

        sizes = np.asarray(sizes, dtype=np.int64)
        hosts, epochs = self.cluster.hosts, self.training.epochs
        # Copies of each object read per epoch: every host reads all of a replicated dataset.
        copies = 1 if self.distribution.type == "ShardedByS3Key" else hosts
        objects, largest = int(sizes.size), int(sizes.max(initial=0))
        total = float(sizes.sum(dtype=np.float64))
        step = self.training.step_bytes
        held_step = min(step, max(largest, 1))
        ff, pipe = self.fastfile, self.pipe
        events: dict[str, float] = {}
        steps: dict[str, float] = {}
        buffers: dict[str, tuple[float, str]] = {}
        for mode in self.modes:
            read_bytes = total * copies * epochs
            if mode == "file":
                events[mode] = objects * copies  # downloaded once, trained from the volume
                held = hosts * (self.cluster.concurrency * MIB + held_step)
                buffers[mode] = (held, "cluster.concurrency or training.step_bytes")
            elif mode == "pipe":
                events[mode] = objects * copies * epochs
                held = hosts * (pipe.prefetch * 3 * pipe.chunk_size + min(held_step, 8 * MIB))
                buffers[mode] = (held, "pipe.prefetch or pipe.chunk_size")
            elif ff.access == "random":
                events[mode] = objects * copies * epochs * ff.reads_per_file
                read_bytes = events[mode] * min(ff.record_size, max(largest, 1))
                held = hosts * 2 * min(ff.record_size, max(largest, 1))
                buffers[mode] = (held, "fastfile.record_size")
            else:
                parts = float(np.ceil(sizes / ff.part_size).sum())
                events[mode] = parts * copies * epochs
                held = hosts * ((ff.read_ahead + 1) * ff.part_size + 2 * held_step)
                buffers[mode] = (held, "fastfile.read_ahead, fastfile.part_size")
            steps[mode] = read_bytes / step
        where = f"{self.path}: a live run"
        if sum(events.values()) > MAX_LIVE_EVENTS:
            detail = ", ".join(f"{m} {n:,.0f}" for m, n in events.items())
            raise ScenarioError(
                f"{where} would log {sum(events.values()):,.0f} requests ({detail}; "
                f"{objects:,} objects × {copies:,} copies × {epochs:,} epochs), more than the "
                f"{MAX_LIVE_EVENTS:,} it keeps in memory; lower training.epochs, dataset.objects "
                "or cluster.hosts, or use the model ('stagebench startup --no-live')"
            )
        mode = max(steps, key=steps.__getitem__)
        if steps[mode] > MAX_LIVE_STEPS:
            raise ScenarioError(
                f"{where} would take {steps[mode]:,.0f} training steps in {mode} mode "
                f"({format_bytes(total)} × {copies:,} copies × {epochs:,} epochs in steps of "
                f"{format_bytes(step)}), more than {MAX_LIVE_STEPS:,}; raise training.step_bytes"
            )
        if memory_bytes is None:
            try:
                memory_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError):
                return  # no figure on this platform: nothing to compare against
        mode = max(buffers, key=lambda m: buffers[m][0])
        held, knobs = buffers[mode]
        if held > memory_bytes / 2:
            raise ScenarioError(
                f"{where} would hold {format_bytes(held)} of buffers at once in {mode} mode "
                f"({hosts:,} hosts), more than half of this machine's "
                f"{format_bytes(memory_bytes)}; lower {knobs}, or cluster.hosts"
            )


# --- validators: each takes the raw value and returns the clean one or raises ValueError -----


def _int(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number >= {minimum}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return check


def _number(minimum: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number >= {minimum}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        if isinstance(value, int) and value > 2**1000:  # beyond a float: out of every range
            raise ValueError("is too large")
        return float(value)

    return check


def _size(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        size = parse_size(value)
        if size < minimum:
            raise ValueError(f"must be at least {minimum} bytes")
        return size

    return check


def _rate(value: Any) -> float:
    rate = parse_rate(value)
    if rate < 0:
        raise ValueError("must be >= 0 (0 means uncapped)")
    return rate


# Our own bound on objects/s per host, far beyond what one training host consumes.
MAX_OBJECTS_PER_S = 1e9
_OBJECT_RATE_UNITS = ("objects/s", "object/s", "samples/s", "sample/s", "images/s")


def _compute_rate(value: Any) -> tuple[str, float]:
    """("bytes/s", rate) from "200MB/s" or a number; ("objects/s", rate) from "1500 objects/s"."""
    if isinstance(value, str):
        text = value.strip().lower()
        for unit in _OBJECT_RATE_UNITS:
            if text.endswith(unit):
                try:
                    rate = float(text[: -len(unit)].strip())
                except ValueError:
                    raise ValueError(
                        'must be bytes/s ("200MB/s") or objects per second per host '
                        '("1500 objects/s")'
                    ) from None
                if not 0 < rate <= MAX_OBJECTS_PER_S:
                    raise ValueError(f"objects/s must be > 0 and <= {MAX_OBJECTS_PER_S:g}")
                return "objects/s", rate
    try:
        rate = _rate(value)
    except ValueError as exc:
        raise ValueError(
            f'{exc}; or give objects per second per host, e.g. "1500 objects/s"'
        ) from exc
    _check_range("training.compute_rate", rate)
    return "bytes/s", rate


_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(us|ms|s|min)?\s*$")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, None: 1.0}


def _duration(value: Any) -> float:
    """Seconds from a number (seconds) or "120ms", "0.12s", "1.5 min"."""
    if isinstance(value, bool):
        raise ValueError('must be a duration such as "120ms" or "0.12s"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ValueError('must be a duration such as "120ms", "0.12s" or "1.5min"')
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not seconds > 0:
        raise ValueError("must be > 0")
    return seconds


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"allowed: {', '.join(allowed)}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _channel(value: Any) -> str:
    # SageMaker's rule for ChannelName (1-64 of A-Za-z0-9 . - _); it names a folder, so not
    # "." or ".." either.
    text = _text(value)
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    if not 1 <= len(text) <= 64 or not set(text) <= allowed or text in (".", ".."):
        raise ValueError(
            "must be one folder name: 1-64 letters, digits, '.', '-', '_' (not '.' or '..')"
        )
    return text


def _run_name(value: Any) -> str:
    # The run folder is "<name>-<time>" inside --results: one folder name, room for the time.
    text = _text(value)
    if (
        not text
        or text in (".", "..")
        or "/" in text
        or "\\" in text
        or "\0" in text
        or len(text.encode("utf-8", "surrogatepass")) > 200
    ):
        raise ValueError("must be usable as one folder name: no '/', '\\' or NUL, 1-200 bytes")
    return text


def _bucket(value: Any) -> str:
    text = _text(value)
    if not 3 <= len(text) <= 63 or not all(c.islower() or c.isdigit() or c in ".-" for c in text):
        raise ValueError("must be an S3 bucket name: 3-63 lowercase letters, digits, '.', '-'")
    return text


def _modes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a non-empty list drawn from {', '.join(MODES)}")
    for mode in value:
        if mode not in MODES:
            raise ValueError(f"{mode!r} is not a mode; allowed: {', '.join(MODES)}")
    return tuple(dict.fromkeys(value))


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    return _int(0)(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _anything(value: Any) -> Any:
    return value


# section -> key -> (validator, default). A default of _REQUIRED means the key must be given.
_REQUIRED = object()
_SCHEMA: dict[str, dict[str, tuple[Callable[[Any], Any], Any]]] = {
    "scenario": {"name": (_run_name, None), "description": (_text, "")},
    "dataset": {
        "objects": (_int(1), None),
        "bucket": (_bucket, "stagebench"),
        "prefix": (_text, None),
        "channel": (_channel, "train"),
        "seed": (_int(0), 0),
        "sizes": (_anything, None),
        "manifest": (_text, None),
        "uri": (_text, None),
        "unsafe_keys": (_choice("error", "skip"), "error"),
    },
    "cluster": {
        "hosts": (_int(1), 1),
        "concurrency": (_int(1), 8),
        "nic_bandwidth": (_rate, 0),
        "first_byte_latency_ms": (_number(0), 0.0),
        "instance": (_text, "ml.m5.xlarge"),
        "hourly_price": (_number(0), 0.0),
        "volume_size_gb": (_int(0), 0),
        "local_nvme_gib": (_number(0), None),
    },
    "distribution": {
        "type": (_choice(*DISTRIBUTIONS), "FullyReplicated"),
        "assignment": (_choice(*ASSIGNMENTS), "round-robin"),
    },
    "storage": {
        "endpoint": (_text, None),
        "region": (_text, None),
        "profile": (_text, None),
        "sign_requests": (_bool, True),
        "checksum_validation": (_choice(*CHECKSUM_SETTINGS), "when_required"),
        "max_attempts": (_int(1), 5),
        "verify_etag": (_bool, True),
        "volume_root": (_text, None),
    },
    "modes": {"run": (_modes, ("file",))},
    "execution": {
        "engine": (_choice("local", "dask"), "local"),
        "dask": (_text, "local:2"),
    },
    "pipe": {
        "prefetch": (_int(1), 4),
        "chunk_size": (_size(1024), 1024 * 1024),
    },
    "fastfile": {
        "part_size": (_size(1024), 8 * 1024 * 1024),
        "read_ahead": (_int(0), 2),
        "access": (_choice(*ACCESS_PATTERNS), "sequential"),
        "record_size": (_size(1), 64 * 1024),
        "reads_per_file": (_int(1), 4),
    },
    "training": {
        "epochs": (_int(1), 1),
        "compute_rate": (_compute_rate, ("none", 0.0)),
        "step_time": (_duration, None),
        "batch_objects": (_int(1), None),
        "step_bytes": (_size(1), 1024 * 1024),
        "shuffle_seed": (_optional_int, None),
        "barrier": (_bool, True),
        "verify": (_bool, False),
        # A data loader's parallel readers: PyTorch DataLoader(num_workers=...), tf.data
        # interleave(cycle_length=...); 4 is one GPU host's usual share (README, scenario keys).
        "readers": (_int(1), 4),
    },
    "platform": {"name": (_text, None)},
    "report": {
        "model_gb": (_number(0), 1.0),
        "checkpoint_gb": (_number(0), 2.0),
        "scratch_gb": (_number(0), 1.0),
        "headroom": (_number(0), 0.2),
        "container_size": (_size(1024 * 1024), 128 * 1024 * 1024),
        "model_profile": (_text, "aws-s3-standard"),
    },
}


def defaults(section: str) -> dict[str, Any]:
    """The defaults of one section, for code that plays a data path without a scenario file
    (tests, benchmarks): the table above stays the one place a default is written."""
    return {key: default for key, (_, default) in _SCHEMA[section].items()}


def _fail(path: Path, where: str, value: Any, why: str) -> ScenarioError:
    return ScenarioError(f"{path}: {where} = {shown(value)}: {why}")


def _check_range(where: str, value: Any) -> None:
    """The validate stage for numbers: ValueError unless ``value`` is in the field's range."""
    allowed = RANGES.get(where)
    if allowed is None or not isinstance(value, int | float):
        return
    if not allowed.allows(value):  # NaN fails every comparison, so it lands here too
        finite = "finite, " if isinstance(value, float) and not math.isfinite(value) else ""
        raise ValueError(f"must be {finite}{allowed.text()} ({allowed.why})")


def _with_range(where: str, why: str) -> str:
    """A type error's message with the field's range added, so one line says what to write."""
    allowed = RANGES.get(where)
    if allowed is None or why.startswith("must be finite") or allowed.text() in why:
        return why
    return f"{why}; allowed: {allowed.text()}"


def _section(
    path: Path, raw: Mapping[str, Any], name: str, *, label: str | None = None
) -> dict[str, Any]:
    """Validate one section against the schema and fill its defaults; ``label`` is how errors
    name it when it is not ``[name]`` itself (a ``[[channels]]`` table)."""
    given = raw.get(name, {})
    label = label or name
    if not isinstance(given, dict):
        raise _fail(path, f"[{label}]", given, "must be a table, e.g. [" + label + "]")
    schema = _SCHEMA[name]
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ScenarioError(
            f"{path}: unknown key {label}.{unknown[0]}; allowed in [{label}]: {', '.join(schema)}"
        )
    clean: dict[str, Any] = {}
    for key, (validator, default) in schema.items():
        if key not in given or given[key] is None:
            clean[key] = default
            continue
        try:
            clean[key] = validator(given[key])
            _check_range(f"{name}.{key}", clean[key])
        except ValueError as exc:
            why = _with_range(f"{name}.{key}", str(exc))
            raise _fail(path, f"{label}.{key}", given[key], why) from exc
    return clean


def _report(raw: Mapping[str, Any], clean: Mapping[str, Any]) -> ReportConfig:
    given = raw.get("report") or {}
    return ReportConfig(**clean, given=tuple(k for k in _SCHEMA["report"] if k in given))


def report_config(section: Mapping[str, Any] | None, *, path: Path) -> ReportConfig:
    """Validate a ``[report]`` table on its own (a run whose other sections no longer load)."""
    raw = {"report": dict(section or {})}
    return _report(raw, _section(path, raw, "report"))


def _convert_size_spec(path: Path, spec: Any, where: str) -> dict[str, Any]:
    """Turn "64KiB"-style strings in a size spec into byte counts, recursing into mixtures."""
    if not isinstance(spec, dict):
        raise _fail(path, where, spec, "must be a table with 'distribution' and its parameters")
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "components":
            if not isinstance(value, list) or not value:
                raise _fail(path, f"{where}.components", value, "must be a non-empty list")
            out[key] = [
                _convert_size_spec(path, comp, f"{where}.components[{i}]")
                for i, comp in enumerate(value)
            ]
        elif key in ("distribution",) or key in ("sigma", "alpha", "weight"):
            out[key] = value
        else:
            try:
                out[key] = parse_size(value)
            except ValueError as exc:
                why = f"{exc}; allowed: {OBJECT_SIZE.text()} ({OBJECT_SIZE.why})"
                raise _fail(path, f"{where}.{key}", value, why) from exc
    return out


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split "s3://bucket/prefix" into (bucket, prefix); ValueError when it is not one."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ValueError("must look like s3://bucket/prefix/")
    bucket, _, prefix = uri[5:].partition("/")
    _bucket(bucket)
    return bucket, prefix


def effective_settings(raw: Mapping[str, Any], *, path: Path) -> dict[str, Any]:
    """Every setting of a parsed scenario as "section.key": the value a run uses.

    Defaults are filled and units parsed, so a scenario that leaves ``cluster.concurrency``
    unset and one that sets it to its default of 8, or "1MiB" against 1048576, compare equal.
    Synthetic size specs are spread into ``dataset.sizes.<key>``.
    """
    settings: dict[str, Any] = {}
    for name in _SCHEMA:
        for key, value in _section(path, raw, name).items():
            if name == "dataset" and key == "sizes" and value is not None:
                spec = _convert_size_spec(path, value, "dataset.sizes")
                settings.update({f"dataset.sizes.{k}": v for k, v in spec.items()})
            else:
                settings[f"{name}.{key}"] = value
    prefix = settings["dataset.prefix"]
    if prefix is None and settings["dataset.uri"] is None:
        prefix = f"{path.stem}/"
    settings["dataset.prefix"] = dataset_prefix(prefix) if prefix else prefix
    settings["scenario.name"] = settings["scenario.name"] or path.stem
    return settings


def dataset_prefix(prefix: str) -> str:
    """A prefix as every command treats it: "" (the whole bucket) or a folder ending in "/"."""
    return prefix if not prefix or prefix.endswith("/") else f"{prefix}/"


def load_scenario(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, default and validate a scenario file.

    ``overrides`` maps "section.key" to values given on the command line; they win over the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: no such scenario file; see scenarios/ for examples") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror}") from exc
    try:
        raw = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ScenarioError(f"{path}: not valid TOML: {exc}".splitlines()[0]) from exc
    return build_scenario(raw, path=path, overrides=overrides)


def _merged(
    raw: Mapping[str, Any], path: Path, overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The parsed scenario with command-line ``overrides`` laid over it; only known sections."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    unknown = sorted(set(raw) - set(_SCHEMA) - {"channels"})
    if unknown:
        raise ScenarioError(
            f"{path}: unknown section [{unknown[0]}]; allowed: {', '.join(_SCHEMA)}"
        )
    return raw


def _s3_location(path: Path, uri: str, label: str) -> tuple[str, str]:
    try:
        return parse_s3_uri(uri)
    except ValueError as exc:
        raise _fail(path, f"{label}.uri", uri, str(exc)) from exc


def _manifest_file(path: Path, manifest: str, label: str) -> Path:
    """The manifest's path, relative to the scenario file's folder."""
    resolved = (path.parent / manifest).resolve()
    if not resolved.exists():
        raise _fail(path, f"{label}.manifest", manifest, f"file not found ({resolved})")
    # A key,size .csv/.parquet, an S3 Inventory manifest.json (or its folder) or a saved
    # 'aws s3 ls --recursive' listing: bench.sources tells them apart when it reads them.
    return resolved


def _synthetic_sizes(path: Path, ds: Mapping[str, Any], label: str) -> dict[str, Any]:
    if ds["objects"] is None:
        raise ScenarioError(f"{path}: {label}.objects is required for synthetic sizes")
    sizes = _convert_size_spec(path, ds["sizes"], f"{label}.sizes")
    from bench.core.sizes import check_size_spec

    try:
        check_size_spec(sizes, name=f"{label}.sizes")
    except ValueError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return sizes


def _dataset(
    path: Path, ds: Mapping[str, Any], *, label: str = "dataset", default_prefix: str = ""
) -> DatasetConfig:
    """Exactly one of synthetic sizes, a manifest, or an existing s3:// prefix."""
    sources = [k for k in ("sizes", "manifest", "uri") if ds[k] is not None]
    if len(sources) != 1:
        raise ScenarioError(
            f"{path}: [{label}] needs exactly one of 'sizes' (synthetic), 'manifest' "
            f"(CSV/Parquet of key,size) or 'uri' (s3://bucket/prefix); got "
            f"{', '.join(sources) or 'none'}"
        )
    manifest = None
    sizes: dict[str, Any] = {}
    bucket, prefix = ds["bucket"], ds["prefix"]
    if ds["uri"] is not None:
        source = "s3"
        bucket, prefix = _s3_location(path, ds["uri"], label)
    elif ds["manifest"] is not None:
        source = "manifest"
        manifest = _manifest_file(path, ds["manifest"], label)
    else:
        source = "synthetic"
        sizes = _synthetic_sizes(path, ds, label)
    if prefix is None:
        prefix = default_prefix or f"{path.stem}/"
    return DatasetConfig(
        source=source,
        bucket=bucket,
        prefix=dataset_prefix(prefix),
        channel=ds["channel"],
        objects=ds["objects"] or 0,
        seed=ds["seed"],
        sizes=sizes,
        manifest=manifest,
        unsafe_keys=ds["unsafe_keys"],
    )


def _channels(
    path: Path, raw: Mapping[str, Any], sections: Mapping[str, dict[str, Any]]
) -> tuple[Channel, ...]:
    """The scenario's channels, the training one first: its [[channels]] tables, or the one
    channel of its [dataset] and [distribution]."""
    dist = sections["distribution"]
    given = raw.get("channels")
    if given is None:
        one = DistributionConfig(type=dist["type"], assignment=dist["assignment"])
        dataset = _dataset(path, sections["dataset"])
        return (Channel(dataset.channel, "train", None, dataset, one),)
    if not isinstance(given, list) or not all(isinstance(t, dict) for t in given):
        raise ScenarioError(f"{path}: channels must be [[channels]] tables, one per channel")
    if not 1 <= len(given) <= MAX_CHANNELS:
        raise ScenarioError(
            f"{path}: {len(given)} [[channels]]; a job has 1 to {MAX_CHANNELS} channels"
        )
    if raw.get("dataset"):
        raise ScenarioError(
            f"{path}: [dataset] and [[channels]] both given; put each channel's data in its "
            "[[channels]] table"
        )
    channels = [_one_channel(path, i, table, dist) for i, table in enumerate(given)]
    if not any(c.role == "train" for c in channels):
        # Unless a channel says it trains, the first one without a role of its own does.
        first = next((c for c in channels if c.role == ""), None)
        channels = [dataclasses.replace(c, role="train") if c is first else c for c in channels]
    channels = [c if c.role else dataclasses.replace(c, role="validation") for c in channels]
    _check_channels(path, channels)
    # The training channel leads: its epoch opens every epoch, and it is the job's dataset.
    return tuple(sorted(channels, key=lambda c: c.role != "train"))


def _one_channel(
    path: Path, index: int, table: Mapping[str, Any], dist: Mapping[str, Any]
) -> Channel:
    label = f"channels[{index}]"
    checks: dict[str, Callable[[Any], Any]] = {
        "name": _channel,
        "role": _choice(*CHANNEL_ROLES),
        "input_mode": _choice(*MODES),
        "distribution": _choice(*DISTRIBUTIONS),
    }
    allowed = [*checks, *(k for k in _SCHEMA["dataset"] if k != "channel")]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ScenarioError(
            f"{path}: unknown key {label}.{unknown[0]}; allowed in [[channels]]: "
            f"{', '.join(allowed)}"
        )
    values: dict[str, Any] = {}
    for key, check in checks.items():
        if table.get(key) is not None:
            try:
                values[key] = check(table[key])
            except ValueError as exc:
                raise _fail(path, f"{label}.{key}", table[key], str(exc)) from exc
    if "name" not in values:
        raise ScenarioError(f'{path}: {label}.name is required, e.g. name = "validation"')
    name = values["name"]
    data = {k: v for k, v in table.items() if k not in checks}
    dataset_keys = _section(path, {"dataset": data}, "dataset", label=label)
    dataset_keys["channel"] = name
    dataset = _dataset(path, dataset_keys, label=label, default_prefix=f"{path.stem}/{name}/")
    return Channel(
        name=name,
        role=values.get("role", ""),  # "": the default, settled once every channel is read
        input_mode=values.get("input_mode"),
        dataset=dataset,
        distribution=DistributionConfig(
            type=values.get("distribution", dist["type"]), assignment=dist["assignment"]
        ),
    )


def _check_channels(path: Path, channels: list[Channel]) -> None:
    """One training channel, unique names, and no channel's data inside another's prefix
    (a FastFile listing of one would hold the other's objects)."""
    trainers = [c.name for c in channels if c.role == "train"]
    if len(trainers) != 1:
        raise ScenarioError(
            f'{path}: {len(trainers)} channels have role = "train" '
            f"({', '.join(trainers) or 'none'}); exactly one channel is trained on every step"
        )
    names = [c.name for c in channels]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ScenarioError(f"{path}: two channels are named {twice[0]!r}; names must differ")
    for a in channels:
        for b in channels:
            inside = b.dataset.prefix.startswith(a.dataset.prefix)
            if a is not b and a.dataset.bucket == b.dataset.bucket and inside:
                raise ScenarioError(
                    f"{path}: channel {b.name}'s prefix s3://{b.dataset.bucket}/"
                    f"{b.dataset.prefix} is inside channel {a.name}'s "
                    f"s3://{a.dataset.bucket}/{a.dataset.prefix}; give each channel its own prefix"
                )


def _storage(path: Path, st: Mapping[str, Any]) -> StorageConfig:
    endpoint = st["endpoint"]
    if endpoint is None:
        from bench.s3.endpoint import default_endpoint_spec

        endpoint = default_endpoint_spec(st["profile"])
    if endpoint not in ("embedded", "aws") and not endpoint.startswith(("http://", "https://")):
        raise _fail(path, "storage.endpoint", endpoint, "allowed: embedded, aws, or an http(s) URL")
    volume_root = st["volume_root"]
    return StorageConfig(
        endpoint=endpoint,
        region=st["region"],
        profile=st["profile"],
        sign_requests=st["sign_requests"],
        checksum_validation=st["checksum_validation"],
        max_attempts=st["max_attempts"],
        verify_etag=st["verify_etag"],
        volume_root=Path(volume_root) if volume_root else None,
    )


def _warn_idle_hosts(
    path: Path, dataset: DatasetConfig, cl: Mapping[str, Any], dist: DistributionConfig
) -> None:
    sharded = dist.type == "ShardedByS3Key" and dataset.source == "synthetic"
    if not sharded or cl["hosts"] <= dataset.objects:
        return
    import warnings

    # stacklevel 3: the warning points at build_scenario's caller.
    warnings.warn(
        f"{path}: {cl['hosts']} hosts but only {dataset.objects} objects under "
        f"ShardedByS3Key in channel {dataset.channel}: {cl['hosts'] - dataset.objects} hosts "
        "get nothing and are still billed",
        stacklevel=3,
    )


def _cluster(path: Path, cl: Mapping[str, Any], raw: Mapping[str, Any]) -> ClusterConfig:
    if cl["volume_size_gb"] > 16 * 1024:
        raise _fail(
            path, "cluster.volume_size_gb", cl["volume_size_gb"], "gp2 volumes are 1 to 16384 GB"
        )
    return ClusterConfig(
        hosts=cl["hosts"],
        concurrency=cl["concurrency"],
        nic_bandwidth_bps=cl["nic_bandwidth"],
        first_byte_latency_s=cl["first_byte_latency_ms"] / 1000.0,
        instance=cl["instance"],
        hourly_price=cl["hourly_price"],
        volume_size_gb=cl["volume_size_gb"],
        local_nvme_gib=cl["local_nvme_gib"],
        given=tuple(k for k in _SCHEMA["cluster"] if k in (raw.get("cluster") or {})),
    )


def _compute(path: Path, tr: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[str, float]:
    """(unit, rate) of the training compute: bytes/s, objects/s, step_time or none."""
    compute_unit, compute_rate = tr["compute_rate"]
    training_given = raw.get("training") or {}
    if tr["step_time"] is not None or tr["batch_objects"] is not None:
        if tr["step_time"] is None or tr["batch_objects"] is None:
            raise ScenarioError(
                f"{path}: training.step_time and training.batch_objects go together (a step of "
                'batch_objects objects every step_time), e.g. step_time = "120ms", '
                "batch_objects = 64"
            )
        if training_given.get("compute_rate") is not None:
            raise ScenarioError(
                f"{path}: give training.compute_rate or training.step_time with "
                "training.batch_objects, not both"
            )
        return "step_time", tr["batch_objects"] / tr["step_time"]
    if compute_unit == "bytes/s" and compute_rate == 0:
        return "none", compute_rate
    return compute_unit, compute_rate


def _training(path: Path, tr: Mapping[str, Any], raw: Mapping[str, Any]) -> TrainingConfig:
    compute_unit, compute_rate = _compute(path, tr, raw)
    objects_per_s = compute_rate if compute_unit in ("objects/s", "step_time") else 0.0
    return TrainingConfig(
        epochs=tr["epochs"],
        compute_bps=compute_rate if compute_unit == "bytes/s" else 0.0,
        step_bytes=tr["step_bytes"],
        shuffle_seed=tr["shuffle_seed"],
        barrier=tr["barrier"],
        verify=tr["verify"],
        readers=tr["readers"],
        compute_objects_per_s=objects_per_s,
        compute_unit=compute_unit,
        step_time_s=tr["step_time"] or 0.0,
        batch_objects=tr["batch_objects"] or 0,
    )


def build_scenario(
    raw: Mapping[str, Any], *, path: Path, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Validate an already-parsed scenario mapping (used by load_scenario and by tests)."""
    raw = _merged(raw, path, overrides)
    sections = {name: _section(path, raw, name) for name in _SCHEMA}
    channels = _channels(path, raw, sections)
    storage = _storage(path, sections["storage"])
    for channel in channels:
        _warn_idle_hosts(path, channel.dataset, sections["cluster"], channel.distribution)
    cluster = _cluster(path, sections["cluster"], raw)
    return Scenario(
        name=sections["scenario"]["name"] or path.stem,
        path=path,
        dataset=channels[0].dataset,
        cluster=cluster,
        distribution=channels[0].distribution,
        channels=channels,
        storage=storage,
        modes=sections["modes"]["run"],
        pipe=PipeConfig(**sections["pipe"]),
        fastfile=FastFileConfig(**sections["fastfile"]),
        training=_training(path, sections["training"], raw),
        execution=ExecutionConfig(**sections["execution"]),
        report=_report(raw, sections["report"]),
        platform=sections["platform"]["name"],
        raw=raw,
    )


def with_compute_rate(scenario: Scenario, sizes: Any) -> Scenario:
    """The scenario with its compute rate in bytes/s for this dataset (a rate given in objects
    is turned into bytes through the mean object size); unchanged when it is already bytes."""
    import dataclasses

    import numpy as np

    training = scenario.training
    if training.compute_objects_per_s <= 0:
        return scenario
    sizes = np.asarray(sizes)
    mean = float(sizes.mean()) if sizes.size else 0.0
    resolved = dataclasses.replace(training, compute_bps=training.compute_bps_for(mean))
    return dataclasses.replace(scenario, training=resolved)
