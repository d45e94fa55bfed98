"""Platform profiles: the fixed phases a managed training service adds around the data path.

A storage profile (``bench.config.profile``) says how fast an endpoint answers; a platform
profile says what the training service does before, around and after the first step: how long
its instances take to start (``Starting``, not billed), the fixed part of its ``Downloading``
phase per input mode, its own File-mode downloader, FastFile's listing rate, the training
image's start, ``Uploading``, and the kind of volume it attaches. Presets ship in
``bench/profiles/`` (every number with its public source or a stated assumption);
``stagebench calibrate --from-jobs`` fits new ones from a team's own job records.

Parse → validate (every number finite and within its bounds) → a frozen ``Platform``. Every
problem is one line naming the file, the key, the value and what is allowed. The platform
``none`` (plain EC2 or EKS jobs) has no phases: stagebench's own readers are the data path.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError

PLATFORM_VERSION = 1
PLATFORM_PRESETS = ("sagemaker",)
"""Platform presets shipped in ``bench/profiles/`` (``none`` is built in)."""
NO_PLATFORM = "none"
VOLUME_KINDS = ("gp2", "gp3", "nvme", "none")
DAY_S = 86_400.0

# section -> key -> (minimum, maximum). Every key is optional: a missing one
# is 0 (no such cost). ``*_ms`` keys are stored in seconds, bandwidths in bytes/s.
_SCHEMA: dict[str, dict[str, tuple[float, float]]] = {
    "platform": {"version": (1, 1)},
    "starting": {"seconds": (0.0, DAY_S)},
    "training": {"image_s": (0.0, DAY_S)},
    "file": {"fixed_s": (0.0, DAY_S), "per_object_ms": (0.0, 60_000.0), "bandwidth": (0.0, 1e12)},
    "pipe": {"fixed_s": (0.0, DAY_S)},
    "fastfile": {"fixed_s": (0.0, DAY_S), "list_keys_per_s": (0.0, 1e9)},
    "uploading": {"fixed_s": (0.0, DAY_S), "bandwidth": (0.0, 1e12)},
    "volume": {},
}
_TEXT = {("platform", "name"), ("platform", "description"), ("volume", "kind")}


class PlatformError(ScenarioError):
    """A platform file that cannot be read or does not validate."""


@dataclass(frozen=True)
class Platform:
    """A training platform's fixed phases. Times in seconds, rates in bytes/s or keys/s; a rate
    of 0 means the platform adds no limit of its own."""

    name: str
    description: str = ""
    path: Path | None = None
    phased: bool = True  # False: no platform phases at all (plain EC2/EKS)
    starting_s: float = 0.0
    image_s: float = 0.0
    file_fixed_s: float = 0.0
    file_per_object_s: float = 0.0
    file_bandwidth_bps: float = 0.0
    pipe_fixed_s: float = 0.0
    fastfile_fixed_s: float = 0.0
    fastfile_list_keys_per_s: float = 0.0
    uploading_fixed_s: float = 0.0
    uploading_bandwidth_bps: float = 0.0
    volume_kind: str = "none"

    def fixed_download_s(self, mode: str) -> float:
        """The fixed part of ``Downloading`` in ``mode`` (File's per-object and per-byte parts
        come on top)."""
        return {
            "file": self.file_fixed_s,
            "pipe": self.pipe_fixed_s,
            "fastfile": self.fastfile_fixed_s,
        }[mode]

    def to_toml(self, *, comments: dict[str, str] | None = None) -> str:
        """The platform as a TOML file this module reads back; ``comments`` maps
        "section.key" to a line written above the key (where its number came from)."""
        notes = comments or {}
        values: dict[str, dict[str, Any]] = {
            "platform": {
                "version": PLATFORM_VERSION,
                "name": self.name,
                "description": self.description,
            },
            "starting": {"seconds": self.starting_s},
            "training": {"image_s": self.image_s},
            "file": {
                "fixed_s": self.file_fixed_s,
                "per_object_ms": self.file_per_object_s * 1e3,
                "bandwidth": self.file_bandwidth_bps,
            },
            "pipe": {"fixed_s": self.pipe_fixed_s},
            "fastfile": {
                "fixed_s": self.fastfile_fixed_s,
                "list_keys_per_s": self.fastfile_list_keys_per_s,
            },
            "uploading": {
                "fixed_s": self.uploading_fixed_s,
                "bandwidth": self.uploading_bandwidth_bps,
            },
            "volume": {"kind": self.volume_kind},
        }
        lines: list[str] = []
        for section, keys in values.items():
            lines.append(f"[{section}]")
            for key, value in keys.items():
                note = notes.get(f"{section}.{key}")
                if note:
                    lines.extend(f"# {part}" for part in note.splitlines())
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        return f'"{escaped}"'
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


NONE = Platform(name=NO_PLATFORM, description="no platform phases (plain EC2 or EKS)", phased=False)


def default_platform_name(instance: str) -> str:
    """SageMaker for its ``ml.*`` instance names, no platform otherwise."""
    return "sagemaker" if instance.startswith("ml.") else NO_PLATFORM


def load_platform(name_or_path: str | Path, *, base: Path | None = None) -> Platform:
    """A preset by name (``sagemaker``, ``none``) or a platform TOML file by path (relative to
    ``base``, e.g. the scenario's folder, when given)."""
    text_name = str(name_or_path)
    if text_name == NO_PLATFORM:
        return NONE
    if text_name in PLATFORM_PRESETS:
        resource = resources.files("bench") / "profiles" / f"{text_name}.toml"
        return parse_platform(resource.read_text(encoding="utf-8"), path=Path(text_name + ".toml"))
    path = Path(text_name)
    if not path.suffix:
        raise PlatformError(
            f"platform {text_name!r}: no such preset; presets: "
            f"{', '.join((*PLATFORM_PRESETS, NO_PLATFORM))}, or give the path of a platform .toml"
        )
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlatformError(
            f"{path}: no such platform file; presets: {', '.join((*PLATFORM_PRESETS, NO_PLATFORM))}"
        ) from exc
    except OSError as exc:
        raise PlatformError(f"{path}: cannot read platform file: {exc.strerror}") from exc
    return parse_platform(text, path=path)


def parse_platform(text: str, *, path: Path) -> Platform:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlatformError(f"{path}: not valid TOML: {exc}") from exc
    return build_platform(raw, path=path)


def build_platform(raw: dict[str, Any], *, path: Path) -> Platform:
    """Validate a parsed platform file: sections, keys, types, bounds, the version."""
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise PlatformError(
            f"{path}: unknown section [{unknown[0]}]; allowed: {', '.join(_SCHEMA)}"
        )
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    for section, keys in _SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise PlatformError(f"{path}: [{section}] must be a table")
        allowed = list(keys) + [k for s, k in sorted(_TEXT) if s == section]
        extra = sorted(set(given) - set(allowed))
        if extra:
            raise PlatformError(
                f"{path}: unknown key {section}.{extra[0]}; allowed in [{section}]: "
                f"{', '.join(allowed) or 'nothing'}"
            )
        for key, (low, high) in keys.items():
            if key not in given:
                continue
            value = given[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PlatformError(f"{path}: {section}.{key} = {value!r}: must be a number")
            if not math.isfinite(value) or not low <= value <= high:
                raise PlatformError(
                    f"{path}: {section}.{key} = {value!r}: must be a number from {low:g} "
                    f"to {high:g}"
                )
            numbers[f"{section}.{key}"] = float(value)
        for s, key in _TEXT:
            if s == section and key in given:
                if not isinstance(given[key], str):
                    raise PlatformError(f"{path}: {section}.{key} = {given[key]!r}: must be text")
                texts[f"{section}.{key}"] = given[key]
    if "platform.version" not in numbers:
        raise PlatformError(f"{path}: platform.version is missing; this stagebench reads 1")
    kind = texts.get("volume.kind", "none")
    if kind not in VOLUME_KINDS:
        raise PlatformError(f"{path}: volume.kind = {kind!r}: allowed: {', '.join(VOLUME_KINDS)}")
    name = texts.get("platform.name", path.stem)
    if name == NO_PLATFORM:
        raise PlatformError(f"{path}: platform.name = 'none' is reserved for no platform")

    def get(key: str) -> float:
        return numbers.get(key, 0.0)

    return Platform(
        name=name,
        description=texts.get("platform.description", ""),
        path=path,
        starting_s=get("starting.seconds"),
        image_s=get("training.image_s"),
        file_fixed_s=get("file.fixed_s"),
        file_per_object_s=get("file.per_object_ms") / 1e3,
        file_bandwidth_bps=get("file.bandwidth"),
        pipe_fixed_s=get("pipe.fixed_s"),
        fastfile_fixed_s=get("fastfile.fixed_s"),
        fastfile_list_keys_per_s=get("fastfile.list_keys_per_s"),
        uploading_fixed_s=get("uploading.fixed_s"),
        uploading_bandwidth_bps=get("uploading.bandwidth"),
        volume_kind=kind,
    )


def scenario_platform(scenario: Any) -> Platform:
    """The platform a scenario names (``platform.name``), or the default for its instance."""
    name = getattr(scenario, "platform", None) or default_platform_name(scenario.cluster.instance)
    return load_platform(name, base=Path(scenario.path).parent)
