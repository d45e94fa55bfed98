"""Scenario files: parse (TOML) → fill defaults → validate → frozen config objects.

Every problem is a ScenarioError of one line naming the file, the key, the value and what is
allowed, so a typo never surfaces as a traceback from deep inside a run.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError
from bench.units import parse_rate, parse_size
from bench.vocabulary import ASSIGNMENTS, DISTRIBUTIONS, MODES

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
    compute_bps: float  # 0 = read as fast as data arrives
    step_bytes: int
    shuffle_seed: int | None  # None: key order every epoch
    barrier: bool  # a global step waits for the slowest host
    verify: bool  # hash every byte the consumer takes (costs client CPU)


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
        "compute_rate": (_rate, 0),
        "step_bytes": (_size(1), 1024 * 1024),
        "shuffle_seed": (_optional_int, None),
        "barrier": (_bool, True),
        "verify": (_bool, False),
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
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    settings["dataset.prefix"] = prefix
    settings["scenario.name"] = settings["scenario.name"] or path.stem
    return settings


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

    if cl["volume_size_gb"] > 16 * 1024:
        raise _fail(
            path, "cluster.volume_size_gb", cl["volume_size_gb"], "gp2 volumes are 1 to 16384 GB"
        )
    name = sections["scenario"]["name"] or path.stem
    volume_root = st["volume_root"]
    tr = sections["training"]
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
            unsafe_keys=ds["unsafe_keys"],
        ),
        cluster=ClusterConfig(
            hosts=cl["hosts"],
            concurrency=cl["concurrency"],
            nic_bandwidth_bps=cl["nic_bandwidth"],
            first_byte_latency_s=cl["first_byte_latency_ms"] / 1000.0,
            instance=cl["instance"],
            hourly_price=cl["hourly_price"],
            volume_size_gb=cl["volume_size_gb"],
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
            compute_bps=tr["compute_rate"],
            step_bytes=tr["step_bytes"],
            shuffle_seed=tr["shuffle_seed"],
            barrier=tr["barrier"],
            verify=tr["verify"],
        ),
        execution=ExecutionConfig(**sections["execution"]),
        report=_report(raw, sections["report"]),
        platform=sections["platform"]["name"],
        raw=raw,
    )
