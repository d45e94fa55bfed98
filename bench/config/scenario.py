"""Scenario files: parse (TOML) → fill defaults → validate → frozen config objects.

Every problem is a ScenarioError of one line naming the file, the key, the value and what is
allowed, so a typo never surfaces as a traceback from deep inside a run.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError
from bench.units import parse_rate, parse_size

MODES = ("file", "pipe", "fastfile")
DISTRIBUTIONS = ("ShardedByS3Key", "FullyReplicated")
ASSIGNMENTS = ("round-robin", "contiguous")
CHECKSUM_SETTINGS = ("when_required", "when_supported")
ACCESS_PATTERNS = ("sequential", "random")


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


@dataclass(frozen=True)
class ClusterConfig:
    hosts: int
    concurrency: int
    nic_bandwidth_bps: float  # 0 = uncapped
    first_byte_latency_s: float
    instance: str
    hourly_price: float
    local_nvme_gib: float | None = None  # None: the instance preset's
    given: tuple[str, ...] = ()  # keys the scenario set; the rest are defaults


@dataclass(frozen=True)
class DistributionConfig:
    type: str
    assignment: str


@dataclass(frozen=True)
class StorageConfig:
    endpoint: str  # "embedded" | "aws" | URL
    region: str
    profile: str | None
    checksum_validation: str
    max_attempts: int
    verify_etag: bool  # MD5 of whole single-part objects against their ETag
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
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


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
                if not rate > 0:
                    raise ValueError("objects/s must be > 0")
                return "objects/s", rate
    try:
        return "bytes/s", _rate(value)
    except ValueError as exc:
        raise ValueError(
            f'{exc}; or give objects per second per host, e.g. "1500 objects/s"'
        ) from exc


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
    "scenario": {"name": (_text, None), "description": (_text, "")},
    "dataset": {
        "objects": (_int(1), None),
        "bucket": (_bucket, "stagebench"),
        "prefix": (_text, None),
        "channel": (_text, "train"),
        "seed": (_int(0), 0),
        "sizes": (_anything, None),
        "manifest": (_text, None),
        "uri": (_text, None),
    },
    "cluster": {
        "hosts": (_int(1), 1),
        "concurrency": (_int(1), 8),
        "nic_bandwidth": (_rate, 0),
        "first_byte_latency_ms": (_number(0), 0.0),
        "instance": (_text, "ml.m5.xlarge"),
        "hourly_price": (_number(0), 0.0),
        "local_nvme_gib": (_number(0), None),
    },
    "distribution": {
        "type": (_choice(*DISTRIBUTIONS), "FullyReplicated"),
        "assignment": (_choice(*ASSIGNMENTS), "round-robin"),
    },
    "storage": {
        "endpoint": (_text, None),
        "region": (_text, "us-east-1"),
        "profile": (_text, None),
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
    },
    "report": {
        "model_gb": (_number(0), 1.0),
        "checkpoint_gb": (_number(0), 2.0),
        "scratch_gb": (_number(0), 1.0),
        "headroom": (_number(0), 0.2),
        "container_size": (_size(1024 * 1024), 128 * 1024 * 1024),
        "model_profile": (_text, "aws-s3-standard"),
    },
}


def _fail(path: Path, where: str, value: Any, why: str) -> ScenarioError:
    return ScenarioError(f"{path}: {where} = {value!r}: {why}")


def _section(path: Path, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Validate one section against the schema and fill its defaults."""
    given = raw.get(name, {})
    if not isinstance(given, dict):
        raise _fail(path, f"[{name}]", given, "must be a table, e.g. [" + name + "]")
    schema = _SCHEMA[name]
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ScenarioError(
            f"{path}: unknown key {name}.{unknown[0]}; allowed in [{name}]: {', '.join(schema)}"
        )
    clean: dict[str, Any] = {}
    for key, (validator, default) in schema.items():
        if key not in given or given[key] is None:
            clean[key] = default
            continue
        try:
            clean[key] = validator(given[key])
        except ValueError as exc:
            raise _fail(path, f"{name}.{key}", given[key], str(exc)) from exc
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
                raise _fail(path, f"{where}.{key}", value, str(exc)) from exc
    return out


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split "s3://bucket/prefix" into (bucket, prefix); ValueError when it is not one."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ValueError("must look like s3://bucket/prefix/")
    bucket, _, prefix = uri[5:].partition("/")
    _bucket(bucket)
    return bucket, prefix


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
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return build_scenario(raw, path=path, overrides=overrides)


def build_scenario(
    raw: Mapping[str, Any], *, path: Path, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Validate an already-parsed scenario mapping (used by load_scenario and by tests)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ScenarioError(
            f"{path}: unknown section [{unknown[0]}]; allowed: {', '.join(_SCHEMA)}"
        )
    sections = {name: _section(path, raw, name) for name in _SCHEMA}
    ds, cl, dist, st = (sections[k] for k in ("dataset", "cluster", "distribution", "storage"))

    # Dataset: exactly one of synthetic sizes, a manifest, or an existing s3:// prefix.
    sources = [k for k in ("sizes", "manifest", "uri") if ds[k] is not None]
    if len(sources) != 1:
        raise ScenarioError(
            f"{path}: [dataset] needs exactly one of 'sizes' (synthetic), 'manifest' "
            f"(CSV/Parquet of key,size) or 'uri' (s3://bucket/prefix); got "
            f"{', '.join(sources) or 'none'}"
        )
    manifest = None
    sizes: dict[str, Any] = {}
    bucket, prefix = ds["bucket"], ds["prefix"]
    if ds["uri"] is not None:
        source = "s3"
        try:
            bucket, prefix = parse_s3_uri(ds["uri"])
        except ValueError as exc:
            raise _fail(path, "dataset.uri", ds["uri"], str(exc)) from exc
    elif ds["manifest"] is not None:
        source = "manifest"
        manifest = (path.parent / ds["manifest"]).resolve()
        if not manifest.exists():
            raise _fail(path, "dataset.manifest", ds["manifest"], f"file not found ({manifest})")
        if manifest.suffix.lower() not in (".csv", ".parquet"):
            raise _fail(path, "dataset.manifest", ds["manifest"], "must be a .csv or .parquet")
    else:
        source = "synthetic"
        if ds["objects"] is None:
            raise ScenarioError(f"{path}: dataset.objects is required for synthetic sizes")
        sizes = _convert_size_spec(path, ds["sizes"], "dataset.sizes")
        from bench.core.sizes import check_size_spec

        try:
            check_size_spec(sizes, name="dataset.sizes")
        except ValueError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
    if prefix is None:
        prefix = f"{path.stem}/"
    if prefix and not prefix.endswith("/"):
        prefix += "/"

    endpoint = st["endpoint"]
    if endpoint is None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "embedded"
    if endpoint not in ("embedded", "aws") and not endpoint.startswith(("http://", "https://")):
        raise _fail(path, "storage.endpoint", endpoint, "allowed: embedded, aws, or an http(s) URL")

    if dist["type"] == "ShardedByS3Key" and source == "synthetic" and cl["hosts"] > ds["objects"]:
        import warnings

        warnings.warn(
            f"{path}: {cl['hosts']} hosts but only {ds['objects']} objects under ShardedByS3Key: "
            f"{cl['hosts'] - ds['objects']} hosts get nothing and are still billed",
            stacklevel=2,
        )

    name = sections["scenario"]["name"] or path.stem
    volume_root = st["volume_root"]
    tr = sections["training"]
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
        compute_unit, compute_rate = "step_time", tr["batch_objects"] / tr["step_time"]
    elif compute_unit == "bytes/s" and compute_rate == 0:
        compute_unit = "none"
    objects_per_s = compute_rate if compute_unit in ("objects/s", "step_time") else 0.0
    return Scenario(
        name=name,
        path=path,
        dataset=DatasetConfig(
            source=source,
            bucket=bucket,
            prefix=prefix,
            channel=ds["channel"],
            objects=ds["objects"] or 0,
            seed=ds["seed"],
            sizes=sizes,
            manifest=manifest,
        ),
        cluster=ClusterConfig(
            hosts=cl["hosts"],
            concurrency=cl["concurrency"],
            nic_bandwidth_bps=cl["nic_bandwidth"],
            first_byte_latency_s=cl["first_byte_latency_ms"] / 1000.0,
            instance=cl["instance"],
            hourly_price=cl["hourly_price"],
            local_nvme_gib=cl["local_nvme_gib"],
            given=tuple(k for k in _SCHEMA["cluster"] if k in (raw.get("cluster") or {})),
        ),
        distribution=DistributionConfig(type=dist["type"], assignment=dist["assignment"]),
        storage=StorageConfig(
            endpoint=endpoint,
            region=st["region"],
            profile=st["profile"],
            checksum_validation=st["checksum_validation"],
            max_attempts=st["max_attempts"],
            verify_etag=st["verify_etag"],
            volume_root=Path(volume_root) if volume_root else None,
        ),
        modes=sections["modes"]["run"],
        pipe=PipeConfig(**sections["pipe"]),
        fastfile=FastFileConfig(**sections["fastfile"]),
        training=TrainingConfig(
            epochs=tr["epochs"],
            compute_bps=compute_rate if compute_unit == "bytes/s" else 0.0,
            step_bytes=tr["step_bytes"],
            shuffle_seed=tr["shuffle_seed"],
            barrier=tr["barrier"],
            verify=tr["verify"],
            compute_objects_per_s=objects_per_s,
            compute_unit=compute_unit,
            step_time_s=tr["step_time"] or 0.0,
            batch_objects=tr["batch_objects"] or 0,
        ),
        execution=ExecutionConfig(**sections["execution"]),
        report=_report(raw, sections["report"]),
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
