"""SageMaker training jobs in and out: a job's JSON → a typed ``TrainingJob`` → scenarios, and a
recommendation → the same JSON with its input modes and volume replaced.

Three forms of a job are read, told apart by their keys (``detect_kind``):

- a ``CreateTrainingJob`` request (what ``Estimator.fit`` sends, what
  ``aws sagemaker create-training-job --cli-input-json`` reads, what CloudFormation holds);
- a ``TrainingJobDefinition`` (``TrainingInputMode`` at the top, no ``AlgorithmSpecification``);
- a ``DescribeTrainingJob`` output (``TrainingJobArn``, ``TrainingJobStatus``, ...).

Each is checked against botocore's own SageMaker service model (the shapes
``CreateTrainingJobRequest``, ``TrainingJobDefinition``, ``DescribeTrainingJobResponse``):
required members, unknown members, types, and every ``min``, ``max``, ``enum`` and ``pattern``
the model states (botocore's own request validator checks only ``min``). A few limits the model
does not carry are added with their source (``VolumeSizeInGB`` 1 to 16,384: gp2's range; at
least one instance and one channel, which a plan needs). Every problem is one line naming its
JSON path, e.g. ``InputDataConfig[2].DataSource.S3DataSource.S3Uri``; all of them are raised
together as one ``JobError`` (exit 2).

What the job does not say comes from an optional TOML beside it, ``JOB.stagebench.toml``
(``load_sidecar``): scenario sections (``[training]``, ``[cluster]`` without ``hosts`` and
``instance``, ``[report]``, ...), ``[job] training_channel`` and one ``[channels.<name>]`` table
per channel saying where its object sizes come from: ``sizes_from`` (a key,size manifest, an S3
Inventory manifest.json or a saved ``aws s3 ls`` listing, read by ``bench.sources.read_sizes``)
or a synthetic ``objects`` and ``sizes``. A channel with neither is listed from its ``S3Uri``.

Channels and time. ``channel_scenarios`` makes one stagebench ``Scenario`` per S3 channel,
which ``stagebench plan JOB.json`` plans and combines (``bench.analysis.jobplan``);
``job_scenario`` makes the whole job one scenario of several channels (``[[channels]]``), which
``stagebench run JOB.json`` plays live: the training channel
(``TrainingJob.training_channel``) every step, the others in one validation pass per epoch.

Out. ``recommended_job`` returns the input job with ``InputDataConfig[*].InputMode``,
``ResourceConfig.VolumeSizeInGB`` (and ``InstanceCount`` when asked) replaced, and one line per
change saying what and why. A ``DescribeTrainingJob`` output becomes a ``CreateTrainingJob``
request (its read-only fields dropped), so the result is ready for
``aws sagemaker create-training-job --cli-input-json file://recommended-job.json``.

Sources (SageMaker API reference, shipped as botocore's service model ``sagemaker``):
``InputDataConfig`` min 1, max 20; ``Channel.InputMode`` "If you don't set a value for
InputMode, SageMaker uses the value set for TrainingInputMode"; ``StoppingCondition``
"The default value is 1 day. The maximum value is 28 days."
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ScenarioError, StagebenchError
from bench.units import shown
from bench.vocabulary import MODES

if TYPE_CHECKING:
    import numpy as np

    from bench.config.scenario import Scenario

CREATE = "CreateTrainingJob"
DEFINITION = "TrainingJobDefinition"
DESCRIBE = "DescribeTrainingJob"
KINDS = (CREATE, DEFINITION, DESCRIBE)

# The service model's shape for each kind of job.
_SHAPES = {
    CREATE: "CreateTrainingJobRequest",
    DEFINITION: "TrainingJobDefinition",
    DESCRIBE: "DescribeTrainingJobResponse",
}

# Keys only a DescribeTrainingJob output has: its read-only status fields.
_DESCRIBE_KEYS = ("TrainingJobArn", "TrainingJobStatus", "SecondaryStatus", "ModelArtifacts")

SAGEMAKER_MODES = {"file": "File", "pipe": "Pipe", "fastfile": "FastFile"}
"""stagebench's mode names → SageMaker's ``TrainingInputMode`` values."""
STAGEBENCH_MODES = {value: key for key, value in SAGEMAKER_MODES.items()}

DEFAULT_DISTRIBUTION = "FullyReplicated"
"""``S3DataDistributionType`` when a channel leaves it out (SageMaker's and the SDK's default)."""

DEFAULT_MAX_RUNTIME_S = 86_400
MAX_RUNTIME_LIMIT_S = 28 * 86_400
RUNTIME_SOURCE = (
    "StoppingCondition.MaxRuntimeInSeconds: 'The default value is 1 day. The maximum value is "
    "28 days.' (SageMaker API reference)"
)

VOLUME_MIN_GB = 1
VOLUME_MAX_GB = 16_384
VOLUME_RANGE_SOURCE = (
    "SageMaker provisions gp2 ML storage volumes ('SageMaker supports only the General Purpose "
    "SSD (gp2) storage volume type'), and gp2 volumes range from 1 GiB to 16 TiB (Amazon EBS "
    "User Guide); the service model itself gives only a minimum"
)

TRAINING_CHANNEL_NAMES = ("train", "training")
"""Channel names taken as the training channel when the sidecar does not name one."""

MAX_PROBLEM_LINES = 30
"""A file with more problems shows this many and the count of the rest."""

SIDECAR_SUFFIX = ".stagebench.toml"

# Scenario sections a sidecar may hold, and the keys in them the job itself decides.
_SIDECAR_SCENARIO_SECTIONS = (
    "scenario",
    "cluster",
    "distribution",
    "storage",
    "modes",
    "execution",
    "pipe",
    "fastfile",
    "training",
    "report",
)
_SET_BY_JOB = {
    "cluster.hosts": "ResourceConfig.InstanceCount",
    "cluster.instance": "ResourceConfig.InstanceType",
    "distribution.type": "InputDataConfig[*].DataSource.S3DataSource.S3DataDistributionType",
}
_CHANNEL_KEYS = ("sizes_from", "objects", "sizes", "seed", "unsafe_keys")


class JobError(ScenarioError):
    """A training job's JSON (or its sidecar TOML) that cannot be read or does not validate.

    ``problems`` holds one line per problem, each naming its JSON path."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [message])


# --- the service model ----------------------------------------------------------------------


@functools.cache
def service_model() -> Any:
    """botocore's SageMaker service model (shipped with botocore; no network)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def botocore_version() -> str:
    import botocore

    return botocore.__version__


def _member_doc(shape_name: str, member: str) -> str:
    """A member's documentation in the service model, as plain text."""
    text = service_model().shape_for(shape_name).members[member].documentation or ""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def documented_sentence(
    shape_name: str, member: str, start: str, through: str | None = None
) -> str:
    """The sentence of a member's documentation that begins with ``start`` (for citing the API
    reference word for word), or with ``through`` the sentences from it to the end of the later
    one containing ``through``; ValueError when the model no longer says ``start``."""
    text = _member_doc(shape_name, member)
    begin = text.find(start)
    if begin < 0:
        raise ValueError(f"{shape_name}.{member}: the service model no longer says {start!r}")
    end = text.find(". ", begin)
    sentence = text[begin : end + 1 if end >= 0 else len(text)]
    if through:
        stop = text.find(through, begin)
        if stop >= 0:
            stop = text.find(".", stop + len(through) - 1)
            sentence = text[begin : stop + 1]
    return sentence


# --- validation against the model -----------------------------------------------------------


def _path(name: str) -> str:
    """botocore's parameter name ('.InputDataConfig[2].DataSource') as a JSON path."""
    return name[1:] if name.startswith(".") else (name or "(top level)")


class _Problems:
    """Collects what the validator reports, as (json path, reason, details)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, dict[str, Any]]] = []

    def report(self, name: str, reason: str, **details: Any) -> None:
        self.found.append((_path(name), reason, details))

    def has_errors(self) -> bool:
        return bool(self.found)


def _model_validator() -> Any:
    """botocore's ParamValidator, extended with the model's ``max``, ``enum`` and ``pattern``
    (botocore checks only ``min``, leaving the rest to the service)."""
    from botocore.validate import ParamValidator

    class ModelValidator(ParamValidator):  # type: ignore[misc]
        def validate(self, params: Any, shape: Any) -> _Problems:  # type: ignore[override]
            problems = _Problems()
            self._validate(params, shape, problems, name="")
            return problems

        def _validate_string(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            before = len(errors.found)
            super()._validate_string(param, shape, errors, name)
            if len(errors.found) > before:  # a wrong type: nothing more to say about it
                return
            meta = shape.metadata
            if "max" in meta and len(param) > meta["max"]:
                errors.report(name, "too long", param=param, max=meta["max"])
            if shape.enum and param not in shape.enum:
                errors.report(name, "not in enum", param=param, shape=shape)
            pattern = meta.get("pattern")
            if pattern and not shape.enum and not _matches(pattern, param):
                errors.report(name, "pattern", param=param, pattern=pattern, shape=shape)

        def _validate_list(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            super()._validate_list(param, shape, errors, name)
            limit = shape.metadata.get("max")
            if isinstance(param, list | tuple) and limit is not None and len(param) > limit:
                errors.report(name, "too many", param=param, max=shape.metadata["max"])

        def _validate_map(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            super()._validate_map(param, shape, errors, name)
            limit = shape.metadata.get("max")
            if isinstance(param, dict) and limit is not None and len(param) > limit:
                errors.report(name, "too many", param=param, max=shape.metadata["max"])

        def _validate_integer(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            before = len(errors.found)
            super()._validate_integer(param, shape, errors, name)
            limit = shape.metadata.get("max")
            if len(errors.found) == before and limit is not None and param > limit:
                errors.report(name, "too large", param=param, max=shape.metadata["max"])

        _validate_long = _validate_integer

        def _type_check_datetime(self, value: Any) -> bool:
            try:
                return bool(super()._type_check_datetime(value))
            except (RuntimeError, OverflowError, OSError):  # dateutil on absurd epoch numbers
                return False

    return ModelValidator()


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the service checks it, we cannot
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


def _describe_problem(path: str, reason: str, details: Mapping[str, Any]) -> str:
    """One line for one problem the validator found."""
    value = details.get("param")
    if reason == "missing required field":
        where = f"{path}.{details['required_name']}" if path != "(top level)" else ""
        return f"{where or details['required_name']}: missing; it is required"
    if reason == "unknown field":
        where = (
            details["unknown_param"]
            if path == "(top level)"
            else f"{path}.{details['unknown_param']}"
        )
        return (
            f"{where}: unknown field (not in botocore {botocore_version()}'s SageMaker model); "
            f"allowed: {', '.join(details['valid_names'])}"
        )
    if reason == "invalid type":
        kinds = " or ".join(
            re.sub(r"<class '(\w+)'>", r"\1", kind) for kind in details["valid_types"]
        )
        return f"{path} = {shown(value)}: must be of type {kinds}"
    if reason == "invalid range":
        return f"{path} = {shown(value)}: must be >= {details['min_allowed']}"
    if reason == "invalid length":
        length = len(value) if hasattr(value, "__len__") else value
        noun = "items" if isinstance(value, list | tuple | dict) else "characters"
        return f"{path}: {length} {noun}; at least {details['min_allowed']} needed"
    if reason == "too long":
        return f"{path}: {len(value)} characters; at most {details['max']} allowed"
    if reason == "too many":
        return f"{path}: {len(value)} items; at most {details['max']} allowed"
    if reason == "too large":
        return f"{path} = {shown(value)}: must be <= {details['max']}"
    if reason == "not in enum":
        shape = details["shape"]
        allowed = shape.enum if len(shape.enum) <= 12 else [*shape.enum[:6], "…"]
        hint = f"; see {shape.name} in the SageMaker API reference" if len(shape.enum) > 12 else ""
        return (
            f"{path} = {shown(value)}: not a valid {shape.name}; "
            f"allowed: {', '.join(allowed)}{hint}"
        )
    if reason == "pattern":
        example = " such as s3://bucket/prefix/" if details["shape"].name == "S3Uri" else ""
        return (
            f"{path} = {shown(value)}: not a valid {details['shape'].name}{example} "
            f"(the pattern {details['pattern']})"
        )
    return f"{path}: {reason}"


def detect_kind(raw: Mapping[str, Any]) -> str:
    """Which form of a job ``raw`` is, from its keys; JobError when it is none of them."""
    if not isinstance(raw, Mapping):
        raise JobError(
            f"a training job is a JSON object, not {type(raw).__name__}; give a "
            "CreateTrainingJob request, a TrainingJobDefinition or a DescribeTrainingJob output"
        )
    if any(key in raw for key in _DESCRIBE_KEYS):
        return DESCRIBE
    if "TrainingInputMode" in raw and "AlgorithmSpecification" not in raw:
        return DEFINITION
    if any(key in raw for key in ("AlgorithmSpecification", "TrainingJobName", "RoleArn")):
        return CREATE
    keys = ", ".join(list(raw)[:8]) or "none"
    raise JobError(
        "not a SageMaker training job: expected the keys of a CreateTrainingJob request "
        "(TrainingJobName, AlgorithmSpecification, InputDataConfig, ...), a "
        "TrainingJobDefinition (TrainingInputMode, InputDataConfig, ResourceConfig, ...) or a "
        f"DescribeTrainingJob output (TrainingJobArn, TrainingJobStatus, ...); found keys: {keys}"
    )


def job_problems(raw: Mapping[str, Any], kind: str) -> list[str]:
    """Every problem of ``raw`` read as ``kind``: one line each, naming its JSON path."""
    shape = service_model().shape_for(_SHAPES[kind])
    body = {k: v for k, v in raw.items() if k != "ResponseMetadata"} if kind == DESCRIBE else raw
    found = _model_validator().validate(dict(body), shape).found
    lines = []
    for path, reason, details in found:
        if (
            kind == DESCRIBE
            and path == "(top level)"
            and reason
            in (
                "missing required field",
                "unknown field",
            )
        ):
            # A describe of a running job lacks ModelArtifacts, and a newer API adds output
            # fields: neither matters to a plan, and a Create request drops them anyway.
            continue
        lines.append(_describe_problem(path, reason, details))
    lines += _stagebench_problems(body, kind)
    return list(dict.fromkeys(lines))


def _stagebench_problems(raw: Mapping[str, Any], kind: str) -> list[str]:
    """Limits the model does not state but SageMaker (or a plan) needs."""
    lines: list[str] = []
    channels = raw.get("InputDataConfig")
    if channels is None:
        lines.append(
            "InputDataConfig: missing; a plan needs the job's input channels (1 to 20), "
            "each with its DataSource.S3DataSource.S3Uri"
        )
    elif isinstance(channels, list):
        seen: dict[str, int] = {}
        for index, channel in enumerate(channels):
            name = channel.get("ChannelName") if isinstance(channel, Mapping) else None
            source = channel.get("DataSource") if isinstance(channel, Mapping) else None
            if isinstance(source, Mapping) and not source:
                lines.append(
                    f"InputDataConfig[{index}].DataSource: empty; give its S3DataSource "
                    "(S3Uri, S3DataType, S3DataDistributionType)"
                )
            if isinstance(name, str):
                if name in seen:
                    lines.append(
                        f"InputDataConfig[{index}].ChannelName = {shown(name)}: the same name as "
                        f"InputDataConfig[{seen[name]}]; channel names must be unique in a job"
                    )
                seen.setdefault(name, index)
    resources = raw.get("ResourceConfig")
    if resources is None:
        lines.append("ResourceConfig: missing; a plan needs InstanceType and InstanceCount")
    elif isinstance(resources, Mapping):
        if resources.get("InstanceGroups"):
            lines.append(
                "ResourceConfig.InstanceGroups: heterogeneous clusters are not modelled; "
                "give InstanceType and InstanceCount instead"
            )
        else:
            if "InstanceType" not in resources:
                lines.append("ResourceConfig.InstanceType: missing; a plan needs it")
            count = resources.get("InstanceCount")
            if count is None:
                lines.append("ResourceConfig.InstanceCount: missing; a plan needs it (>= 1)")
            elif _is_int(count) and count < 1:
                lines.append(
                    f"ResourceConfig.InstanceCount = {count}: must be >= 1 (0 is for "
                    "heterogeneous clusters, which are not modelled)"
                )
        volume = resources.get("VolumeSizeInGB")
        if _is_int(volume) and not VOLUME_MIN_GB <= volume <= VOLUME_MAX_GB:
            lines.append(
                f"ResourceConfig.VolumeSizeInGB = {volume}: must be {VOLUME_MIN_GB} to "
                f"{VOLUME_MAX_GB:,} GB (gp2's 1 GiB to 16 TiB: the volume SageMaker provisions)"
            )
    stopping = raw.get("StoppingCondition")
    if isinstance(stopping, Mapping):
        runtime = stopping.get("MaxRuntimeInSeconds")
        if _is_int(runtime) and runtime > MAX_RUNTIME_LIMIT_S:
            lines.append(
                f"StoppingCondition.MaxRuntimeInSeconds = {runtime}: must be <= "
                f"{MAX_RUNTIME_LIMIT_S:,} (28 days; {RUNTIME_SOURCE})"
            )
    return lines


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_job(raw: Mapping[str, Any], *, source: str = "job") -> str:
    """The kind of ``raw`` when it is a valid job; else one JobError listing every problem."""
    kind = detect_kind(raw)
    problems = job_problems(raw, kind)
    if len(problems) == 1:
        raise JobError(f"{source}: {problems[0]}", problems)
    if problems:
        shown_lines = problems[:MAX_PROBLEM_LINES]
        more = len(problems) - len(shown_lines)
        lines = [f"{source}: {line}" for line in shown_lines]
        if more:
            lines.append(f"{source}: … and {more} more problems")
        header = (
            f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in this {kind} "
            f"(checked against botocore {botocore_version()}'s SageMaker model)"
        )
        raise JobError("\n".join([header, *lines]), problems)
    return kind


# --- the typed job --------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One entry of ``InputDataConfig``, its input mode resolved."""

    index: int
    name: str
    source: str  # "S3" | "FileSystem" | "Dataset": which DataSource member is set
    s3_uri: str | None
    data_type: str | None  # S3Prefix | ManifestFile | AugmentedManifestFile | Converse
    distribution: str  # FullyReplicated | ShardedByS3Key
    input_mode: str  # File | Pipe | FastFile
    mode_given: bool  # set on the channel, not taken from TrainingInputMode

    @property
    def path(self) -> str:
        return f"InputDataConfig[{self.index}]"

    @property
    def mode(self) -> str:
        """The input mode as stagebench spells it (file, pipe, fastfile)."""
        return STAGEBENCH_MODES[self.input_mode]

    @property
    def bucket_and_prefix(self) -> tuple[str, str] | None:
        """(bucket, key prefix) of an ``s3://`` URI; None for https URIs or other sources."""
        if not self.s3_uri or not self.s3_uri.startswith("s3://"):
            return None
        bucket, _, prefix = self.s3_uri[5:].partition("/")
        return bucket, prefix


@dataclass(frozen=True)
class TrainingJob:
    """What stagebench needs of a SageMaker training job, with where each part came from."""

    kind: str  # CreateTrainingJob | TrainingJobDefinition | DescribeTrainingJob
    source: str  # the file (or label) it was read from
    name: str | None
    training_input_mode: str
    channels: tuple[Channel, ...]
    instance_type: str
    instance_count: int
    volume_size_gb: int | None
    max_runtime_s: int | None  # None: SageMaker's default of 1 day applies
    checkpoint_s3_uri: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def max_runtime_effective_s(self) -> int:
        return self.max_runtime_s if self.max_runtime_s is not None else DEFAULT_MAX_RUNTIME_S

    @property
    def request_kind(self) -> str:
        """The form a recommended job is written in: a DescribeTrainingJob output comes back as
        a CreateTrainingJob request, the other kinds as themselves."""
        return CREATE if self.kind == DESCRIBE else self.kind

    @property
    def short_name(self) -> str:
        """The job's name, else its file's stem: what its plan folder and report are called."""
        return self.name or Path(self.source).stem

    @property
    def heading(self) -> str:
        """Where the job came from, its kind and name, for the first line of an answer."""
        return f"{self.source}: {self.kind}{f' {self.name}' if self.name else ''}"

    def channel(self, name: str) -> Channel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        names = ", ".join(c.name for c in self.channels)
        raise JobError(f"{self.source}: no channel {name!r}; the job's channels: {names}")

    def training_channel(self, preferred: str | None = None) -> Channel:
        """The channel whose reading drives the job's time: ``preferred`` (the sidecar's
        ``[job] training_channel``), else one named train or training, else the first."""
        if preferred:
            return self.channel(preferred)
        for channel in self.channels:
            if channel.name.lower() in TRAINING_CHANNEL_NAMES:
                return channel
        return self.channels[0]


def parse_job(raw: Mapping[str, Any], *, source: str = "job") -> TrainingJob:
    """Validate ``raw`` (a parsed job JSON) and return it typed; JobError listing every
    problem otherwise."""
    kind = validate_job(raw, source=source)
    if kind == DEFINITION:
        default_mode = raw["TrainingInputMode"]
    else:
        algorithm = raw.get("AlgorithmSpecification")
        if not algorithm:
            raise JobError(
                f"{source}: AlgorithmSpecification: missing; a plan needs its TrainingInputMode"
            )
        default_mode = algorithm["TrainingInputMode"]
    channels = []
    for index, entry in enumerate(raw["InputDataConfig"]):
        data_source = entry["DataSource"]
        s3 = data_source.get("S3DataSource")
        if s3 is not None:
            source_kind = "S3"
        elif "FileSystemDataSource" in data_source:
            source_kind = "FileSystem"
        else:
            source_kind = "Dataset"
        channels.append(
            Channel(
                index=index,
                name=entry["ChannelName"],
                source=source_kind,
                s3_uri=s3["S3Uri"] if s3 else None,
                data_type=s3["S3DataType"] if s3 else None,
                distribution=(s3 or {}).get("S3DataDistributionType", DEFAULT_DISTRIBUTION),
                input_mode=entry.get("InputMode", default_mode),
                mode_given="InputMode" in entry,
            )
        )
    resources = raw["ResourceConfig"]
    stopping = raw.get("StoppingCondition") or {}
    checkpoint = raw.get("CheckpointConfig") or {}
    return TrainingJob(
        kind=kind,
        source=source,
        name=raw.get("TrainingJobName"),
        training_input_mode=default_mode,
        channels=tuple(channels),
        instance_type=resources["InstanceType"],
        instance_count=resources["InstanceCount"],
        volume_size_gb=resources.get("VolumeSizeInGB"),
        max_runtime_s=stopping.get("MaxRuntimeInSeconds"),
        checkpoint_s3_uri=checkpoint.get("S3Uri"),
        raw=raw,
    )


def read_job_json(path: str | Path) -> dict[str, Any]:
    """The parsed JSON of a job file; JobError (one line) when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise JobError(f"{path}: no such job file; see scenarios/jobs/ for examples") from exc
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise JobError(f"{path}: cannot read the job: {why}") from exc
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise JobError(f"{path}: not valid JSON: {exc}".splitlines()[0]) from exc
    return raw


def load_job(path: str | Path) -> TrainingJob:
    """Read, detect and validate a job file."""
    return parse_job(read_job_json(path), source=str(path))


# --- the sidecar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSizes:
    """Where one channel's object sizes come from, as the sidecar says."""

    sizes_from: Path | str | None = None  # for bench.sources.read_sizes
    synthetic: Mapping[str, Any] | None = None  # dataset keys: objects, sizes, seed
    unsafe_keys: str | None = None


@dataclass(frozen=True)
class Sidecar:
    """What a job does not say: scenario sections, the training channel, channel sizes."""

    path: Path | None  # None when there is no sidecar file
    scenario: Mapping[str, Any]  # scenario sections, validated by build_scenario later
    training_channel: str | None
    channels: Mapping[str, ChannelSizes]


def sidecar_path(job_path: str | Path) -> Path:
    """``JOB.stagebench.toml`` beside ``JOB.json``."""
    job_path = Path(job_path)
    return job_path.with_name(job_path.stem + SIDECAR_SUFFIX)


def load_sidecar(job_path: str | Path, *, path: str | Path | None = None) -> Sidecar:
    """The sidecar of the job at ``job_path`` (``path`` to give another file); an empty one
    when the default file does not exist."""
    given = path is not None
    path = Path(path) if given else sidecar_path(job_path)
    if not path.exists():
        if given:
            raise JobError(f"{path}: no such sidecar file")
        return Sidecar(None, {}, None, {})
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobError(f"{path}: cannot read: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: not valid TOML: {exc}".splitlines()[0]) from exc
    return parse_sidecar(raw, path=path)


def parse_sidecar(raw: Mapping[str, Any], *, path: Path) -> Sidecar:
    """Check a sidecar's shape: known sections, nothing the job decides, one sizes source per
    channel. The scenario sections' values are checked by ``build_scenario``."""
    allowed = ("job", "channels", *_SIDECAR_SCENARIO_SECTIONS)
    for section, table in raw.items():
        if section not in allowed:
            raise JobError(
                f"{path}: unknown section [{section}]; allowed: {', '.join(allowed)} "
                "(the dataset of each channel goes in [channels.<name>])"
            )
        if not isinstance(table, dict):
            raise JobError(f"{path}: [{section}] must be a table")
        for key in table:
            decided_by = _SET_BY_JOB.get(f"{section}.{key}")
            if decided_by:
                raise JobError(
                    f"{path}: {section}.{key} is set by the job's {decided_by}; change it there"
                )
    job_table = raw.get("job", {})
    unknown = sorted(set(job_table) - {"training_channel"})
    if unknown:
        raise JobError(f"{path}: unknown key job.{unknown[0]}; allowed in [job]: training_channel")
    training_channel = job_table.get("training_channel")
    if training_channel is not None and not isinstance(training_channel, str):
        raise JobError(f"{path}: job.training_channel must be a channel name")
    channels: dict[str, ChannelSizes] = {}
    for name, table in raw.get("channels", {}).items():
        where = f"channels.{name}"
        if not isinstance(table, dict):
            raise JobError(f"{path}: [{where}] must be a table")
        unknown = sorted(set(table) - set(_CHANNEL_KEYS))
        if unknown:
            raise JobError(
                f"{path}: unknown key {where}.{unknown[0]}; allowed: {', '.join(_CHANNEL_KEYS)}"
            )
        synthetic = {k: table[k] for k in ("objects", "sizes", "seed") if k in table}
        if "sizes_from" in table and synthetic:
            raise JobError(
                f"{path}: [{where}] gives both sizes_from and synthetic sizes "
                f"({', '.join(synthetic)}); keep one"
            )
        if synthetic and not {"objects", "sizes"} <= set(synthetic):
            raise JobError(
                f"{path}: [{where}] synthetic sizes need both 'objects' and 'sizes' "
                '(e.g. sizes = {distribution = "lognormal", median = "1MiB", sigma = 1.0})'
            )
        sizes_from: Path | str | None = None
        if "sizes_from" in table:
            text = table["sizes_from"]
            if not isinstance(text, str) or not text:
                raise JobError(f"{path}: {where}.sizes_from must be a path or an s3:// URI")
            sizes_from = text if text.startswith("s3://") else (path.parent / text).resolve()
        channels[name] = ChannelSizes(sizes_from, synthetic or None, table.get("unsafe_keys"))
    scenario = {k: v for k, v in raw.items() if k in _SIDECAR_SCENARIO_SECTIONS}
    return Sidecar(path, scenario, training_channel, channels)


def check_sidecar_against(job: TrainingJob, sidecar: Sidecar) -> None:
    """Every channel the sidecar names must be one of the job's."""
    names = [c.name for c in job.channels]
    where = sidecar.path or "sidecar"
    for name in sidecar.channels:
        if name not in names:
            raise JobError(
                f"{where}: [channels.{name}] names no channel of the job; its channels: "
                f"{', '.join(names)}"
            )
    if sidecar.training_channel and sidecar.training_channel not in names:
        raise JobError(
            f"{where}: job.training_channel = {sidecar.training_channel!r} is no channel of the "
            f"job; its channels: {', '.join(names)}"
        )


# --- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelScenario:
    """One channel as a stagebench scenario, and where its sizes come from.

    ``sizes_from`` set: read the sizes with ``bench.sources.read_sizes`` (``local_sizes``);
    otherwise the scenario's own dataset holds them (synthetic, or ``dataset.uri`` = the
    channel's ``S3Uri``, listed the way ``plan`` lists any ``s3://`` dataset).
    """

    channel: Channel
    scenario: Scenario
    sizes_from: Path | str | None
    is_training: bool

    def local_sizes(self) -> np.ndarray | None:
        """Sizes in key order without listing S3: from ``sizes_from`` or the synthetic spec;
        None when the channel's ``S3Uri`` must be listed."""
        if self.sizes_from is not None:
            from bench.sources import read_sizes

            prefix = _prefix_for_sizes(self.channel)
            return read_sizes(self.sizes_from, prefix=prefix, keys=False).sizes
        if self.scenario.dataset.source != "s3":
            from bench.run.dataset import dataset_sizes

            return dataset_sizes(self.scenario)
        return None


def training_channel_name(scenarios: Mapping[str, ChannelScenario]) -> str:
    """The channel of ``channel_scenarios``' answer whose reading drives the job's time."""
    return next(name for name, item in scenarios.items() if item.is_training)


def _prefix_for_sizes(channel: Channel) -> str:
    located = channel.bucket_and_prefix
    if located is None or channel.data_type != "S3Prefix":
        return ""  # a manifest channel's objects may be anywhere in the bucket
    return located[1]


def channel_scenarios(
    job: TrainingJob, sidecar: Sidecar, *, overrides: Mapping[str, Any] | None = None
) -> dict[str, ChannelScenario]:
    """One ``Scenario`` per S3 channel (channel name → scenario), through ``build_scenario``.

    Each scenario has the job's hosts (``InstanceCount``) and instance, the channel's S3Uri,
    distribution and dataset, the sidecar's other sections, and all three modes with the
    channel's own mode first (a plan compares them); ``job_scenario`` joins them into one job.
    FileSystem and Dataset channels are left out.
    """
    from bench.config.scenario import build_scenario

    check_sidecar_against(job, sidecar)
    training = job.training_channel(sidecar.training_channel)
    where = sidecar.path or Path(job.source)
    result: dict[str, ChannelScenario] = {}
    for channel in job.channels:
        if channel.source != "S3":
            continue
        sizes = sidecar.channels.get(channel.name, ChannelSizes())
        raw: dict[str, Any] = {k: dict(v) for k, v in sidecar.scenario.items()}
        raw.setdefault("scenario", {}).setdefault("name", f"{job.short_name}-{channel.name}")
        cluster = raw.setdefault("cluster", {})
        cluster["hosts"] = job.instance_count
        cluster["instance"] = job.instance_type
        raw.setdefault("distribution", {})["type"] = channel.distribution
        modes = raw.setdefault("modes", {})
        modes.setdefault("run", [channel.mode, *(m for m in MODES if m != channel.mode)])
        raw["dataset"] = _channel_dataset(job, channel, sizes, where)
        scenario = build_scenario(raw, path=Path(where), overrides=overrides)
        result[channel.name] = ChannelScenario(
            channel, scenario, sizes.sizes_from, channel.name == training.name
        )
    if not result:
        raise JobError(
            f"{job.source}: no S3 channel; stagebench plans channels read from S3 "
            "(FileSystemDataSource and DatasetSource channels are not modelled)"
        )
    return result


def job_scenario(
    job: TrainingJob, sidecar: Sidecar, *, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """The job as one scenario of several channels (``[[channels]]``), for a live run.

    The job plays its ``TrainingInputMode`` (the sidecar's ``[modes] run`` may ask for more);
    a channel with its own ``InputMode`` keeps it whatever the job plays. Each channel has its
    ``S3Uri``, distribution and sizes as ``channel_scenarios`` gives them; the training channel
    is trained on every step, the others read in one validation pass per epoch.
    """
    from bench.config.scenario import build_scenario

    items = channel_scenarios(job, sidecar, overrides=overrides)
    training = items[training_channel_name(items)]
    raw: dict[str, Any] = {
        name: dict(section)
        for name, section in training.scenario.raw.items()
        if name not in ("dataset", "distribution", "modes")
    }
    raw["scenario"] = {**raw.get("scenario", {}), "name": job.short_name}
    default_mode = STAGEBENCH_MODES[job.training_input_mode]
    raw["modes"] = {"run": sidecar.scenario.get("modes", {}).get("run", [default_mode])}
    raw["channels"] = [
        {
            **{k: v for k, v in item.scenario.raw["dataset"].items() if k != "channel"},
            "name": name,
            "role": "train" if item.is_training else "validation",
            "distribution": item.channel.distribution,
            **({"input_mode": item.channel.mode} if item.channel.mode_given else {}),
        }
        for name, item in items.items()
    ]
    return build_scenario(raw, path=training.scenario.path, overrides=overrides)


def _channel_dataset(
    job: TrainingJob, channel: Channel, sizes: ChannelSizes, where: Path | str
) -> dict[str, Any]:
    dataset: dict[str, Any] = {"channel": channel.name}
    if sizes.unsafe_keys is not None:
        dataset["unsafe_keys"] = sizes.unsafe_keys
    located = channel.bucket_and_prefix
    if sizes.synthetic:
        dataset.update(sizes.synthetic)
        if located:
            dataset["bucket"], dataset["prefix"] = located
        return dataset
    fix = (
        f'give [channels.{channel.name}] sizes_from = "<manifest, inventory or listing>" or '
        f"objects and sizes in {sidecar_path(job.source).name}"
    )
    if located is None:
        raise JobError(
            f"{job.source}: {channel.path}.DataSource.S3DataSource.S3Uri = "
            f"{shown(channel.s3_uri)}: only s3:// URIs are listed; {fix}"
        )
    if channel.data_type != "S3Prefix":
        if sizes.sizes_from is None:
            raise JobError(
                f"{job.source}: {channel.path} (channel {channel.name}) is a "
                f"{channel.data_type}: its objects are not under one prefix to list; {fix}"
            )
        # The scenario needs a location to be well-formed: the manifest's folder. Its sizes
        # come from sizes_from; a live run of a manifest channel is not supported.
        bucket, key = located
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        dataset["uri"] = f"s3://{bucket}/{folder}"
        return dataset
    dataset["uri"] = channel.s3_uri
    return dataset


# --- the answer back, in the job's own language ---------------------------------------------


def _project(value: Any, shape: Any) -> tuple[Any, list[str]]:
    """``value`` with every member ``shape`` does not have removed (recursively); the paths of
    what was removed."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        kept: dict[str, Any] = {}
        dropped: list[str] = []
        for key, member in value.items():
            if key not in shape.members:
                dropped.append(key)
                continue
            kept[key], inner = _project(member, shape.members[key])
            dropped += [f"{key}{'' if path.startswith('[') else '.'}{path}" for path in inner]
        return kept, dropped
    if shape.type_name == "list" and isinstance(value, list):
        items, dropped = [], []
        for index, item in enumerate(value):
            projected, inner = _project(item, shape.member)
            items.append(projected)
            dropped += [f"[{index}]{'' if path.startswith('[') else '.'}{path}" for path in inner]
        return items, dropped
    return value, []


def _mode_value(mode: str, channel: str) -> str:
    if mode in SAGEMAKER_MODES:
        return SAGEMAKER_MODES[mode]
    if mode in STAGEBENCH_MODES:
        return mode
    allowed = ", ".join([*SAGEMAKER_MODES.values(), *SAGEMAKER_MODES])
    raise StagebenchError(f"input mode {mode!r} for channel {channel!r}: allowed: {allowed}")


def recommended_job(
    job_json: Mapping[str, Any],
    *,
    input_modes: Mapping[str, str],
    volume_size_gb: int | None,
    instance_count: int | None = None,
    reasons: Mapping[str, str] | None = None,
    source: str = "job",
) -> tuple[dict[str, Any], list[str]]:
    """The job with the recommendation written into it, and one line per change.

    ``input_modes`` maps channel names to a mode (``file`` or ``File``, ...): each becomes that
    channel's ``InputMode`` where it differs from the mode the channel has now (its own, or
    ``TrainingInputMode``). ``volume_size_gb`` replaces ``ResourceConfig.VolumeSizeInGB``
    (None keeps it), ``instance_count`` ``ResourceConfig.InstanceCount`` (None keeps it).
    ``reasons`` gives the why of each line, keyed by channel name, ``VolumeSizeInGB`` or
    ``InstanceCount``.

    A DescribeTrainingJob output comes back as a CreateTrainingJob request (its read-only
    fields dropped); a CreateTrainingJob request or a TrainingJobDefinition comes back in its
    own form. On an instance with local NVMe a volume above the disk is refused, as SageMaker
    refuses it. The result is checked against the model before it is returned.
    """
    job = parse_job(job_json, source=source)
    reasons = reasons or {}
    out = copy.deepcopy({k: v for k, v in job_json.items() if k != "ResponseMetadata"})
    lines: list[str] = []
    if job.kind == DESCRIBE:
        out, lines = _describe_as_create(out)
    lines += _set_input_modes(out, job, input_modes, reasons)
    resources = out.setdefault("ResourceConfig", {})
    if volume_size_gb is not None:
        _check_volume_size(job, volume_size_gb)
        lines += _set_resource(resources, "VolumeSizeInGB", volume_size_gb, reasons, "(unset)")
    if instance_count is not None:
        if not _is_int(instance_count) or instance_count < 1:
            raise StagebenchError(
                f"instance_count = {instance_count!r}: must be a whole number >= 1"
            )
        lines += _set_resource(resources, "InstanceCount", instance_count, reasons)
    if not any(line.startswith(("InputDataConfig", "ResourceConfig")) for line in lines):
        lines.append("no change: the job already matches the recommendation")
    _refuse_invalid_request(out, job.request_kind, source)
    return out, lines


def _change_line(path: str, before: Any, after: Any, why: str | None) -> str:
    return f"{path}: {before} → {after}" + (f": {why}" if why else "")


def _describe_as_create(out: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A DescribeTrainingJob output cut down to a CreateTrainingJob request, and the lines
    saying what was dropped and what to change before sending it."""
    create_shape = service_model().shape_for(_SHAPES[CREATE])
    out, dropped = _project(out, create_shape)
    top = [p for p in dropped if "." not in p and "[" not in p]
    inner = [p for p in dropped if p not in top]
    lines = [
        f"DescribeTrainingJob → CreateTrainingJob request: dropped {len(dropped)} fields "
        f"CreateTrainingJob does not take ({', '.join(top[:8])}"
        f"{', …' if len(top) > 8 else ''}{'; ' + ', '.join(inner[:4]) if inner else ''})",
        f"TrainingJobName: kept {out.get('TrainingJobName')!r}; a name already used in the "
        "account and Region is refused: change it before create-training-job",
    ]
    return out, lines


def _set_input_modes(
    out: dict[str, Any],
    job: TrainingJob,
    input_modes: Mapping[str, str],
    reasons: Mapping[str, str],
) -> list[str]:
    """Write each channel's wanted mode into ``out`` where it differs; one line per change."""
    unknown = sorted(set(input_modes) - {c.name for c in job.channels})
    if unknown:
        names = ", ".join(c.name for c in job.channels)
        raise StagebenchError(f"input_modes names no channel {unknown[0]!r}; channels: {names}")
    lines = []
    for channel in job.channels:
        if channel.name not in input_modes:
            continue
        wanted = _mode_value(input_modes[channel.name], channel.name)
        if wanted == channel.input_mode:
            continue
        out["InputDataConfig"][channel.index]["InputMode"] = wanted
        before = (
            channel.input_mode
            if channel.mode_given
            else f"{channel.input_mode} (from {_default_mode_path(job)})"
        )
        path = f"{channel.path}.InputMode (channel {channel.name})"
        lines.append(_change_line(path, before, wanted, reasons.get(channel.name)))
    return lines


def _check_volume_size(job: TrainingJob, volume_size_gb: int) -> None:
    """Refuse a volume outside the model's range or above the instance's fixed local disk."""
    if not _is_int(volume_size_gb) or not VOLUME_MIN_GB <= volume_size_gb <= VOLUME_MAX_GB:
        raise StagebenchError(
            f"volume_size_gb = {volume_size_gb!r}: must be a whole number "
            f"{VOLUME_MIN_GB} to {VOLUME_MAX_GB:,}"
        )
    disk = local_disk_gib(job.instance_type)
    if disk and volume_size_gb > disk:
        raise StagebenchError(
            f"VolumeSizeInGB {volume_size_gb} is above {job.instance_type}'s fixed local "
            f"NVMe of {disk:g} GiB, which SageMaker refuses; ask for at most {math.floor(disk)}"
        )


def _set_resource(
    resources: dict[str, Any],
    key: str,
    value: int,
    reasons: Mapping[str, str],
    unset: str | None = None,
) -> list[str]:
    """Set ``ResourceConfig.<key>`` to ``value``: the change's line, or none when it is so
    already. ``unset`` is how the line shows a key the job did not have."""
    if resources.get(key) == value:
        return []
    before = resources.get(key, unset)
    resources[key] = value
    return [_change_line(f"ResourceConfig.{key}", before, value, reasons.get(key))]


def _refuse_invalid_request(out: Mapping[str, Any], kind: str, source: str) -> None:
    problems = job_problems(out, kind)
    if problems:
        # A describe output may lack what a request needs (a trimmed copy); anything else
        # would be a request we built wrongly, and is reported the same way rather than emitted.
        lines = [f"{source}: {line}" for line in problems[:MAX_PROBLEM_LINES]]
        raise JobError(
            "\n".join([f"{source}: the recommended {kind} request would not validate:", *lines]),
            problems,
        )


def _default_mode_path(job: TrainingJob) -> str:
    if job.kind == DEFINITION:
        return "TrainingInputMode"
    return "AlgorithmSpecification.TrainingInputMode"


def dump_job(job_json: Mapping[str, Any]) -> str:
    """A job as the JSON text ``--cli-input-json file://...`` reads."""
    return json.dumps(job_json, indent=2, ensure_ascii=False) + "\n"


def local_disk_gib(instance_type: str) -> float:
    """The fixed local NVMe of an instance preset (``instances.toml``); 0 when it has none or
    the preset is unknown."""
    from bench.config.profile import load_instances

    instance = load_instances().get(instance_type)
    return instance.local_nvme_gib if instance else 0.0
