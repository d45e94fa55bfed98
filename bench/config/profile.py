"""Storage profiles: the numbers the model needs about an endpoint, in a small TOML file.

Parse → validate → a frozen ``Profile``. Presets ship in ``bench/profiles/`` (each number with
its public source in a comment); ``stagebench calibrate`` writes new ones from measurements.
Every problem is one line naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bench.core.model import Storage
from bench.errors import ScenarioError
from bench.units import MIB, shown

PROFILE_VERSION = 1
VOLUME_KINDS = ("gp2", "nvme", "none")


RATE_MAX = 1e13  # bytes/s: 10 TB/s, beyond any endpoint's aggregate (a NIC tops at 400 GB/s)
MS_MAX = 60_000.0  # botocore gives up on a read after 60 s
VOLUME_MAX_GIB = 65_536.0  # the largest EBS volume, 64 TiB

# section -> key -> (minimum, maximum, required). Values are numbers unless listed in _TEXT.
_SCHEMA: dict[str, dict[str, tuple[float, float, bool]]] = {
    "profile": {"version": (1, 1_000, True)},
    "latency": {
        "first_byte_p50_ms": (0.0, MS_MAX, True),
        "first_byte_p90_ms": (0.0, MS_MAX, False),
        "first_byte_p99_ms": (0.0, MS_MAX, False),
    },
    "bandwidth": {
        "connection": (1.0, RATE_MAX, True),
        "host_nic": (0.0, RATE_MAX, False),
        "endpoint": (0.0, RATE_MAX, False),
    },
    "requests": {
        "get_per_s_per_prefix": (0.0, 1e9, False),
        "endpoint_get_per_s": (0.0, 1e9, False),
        "burst_first_answer_ms_per_request": (0.0, MS_MAX, False),
    },
    "list": {
        "page_base_s": (0.0, 60.0, True),
        "page_per_key_in_bucket_s": (0.0, 1.0, False),
        "page_per_key_listed_s": (0.0, 1.0, False),
        "parallel": (0.0, 1024.0, False),
    },
    "volume": {
        "size_gib": (0.0, VOLUME_MAX_GIB, False),
        "write": (0.0, RATE_MAX, False),
        "read": (0.0, RATE_MAX, False),
    },
    "prices": {"get_per_1000": (0.0, 1_000.0, False), "list_per_1000": (0.0, 1_000.0, False)},
    "client": {
        "md5": (0.0, RATE_MAX, False),
        "timer_tick_ms": (0.0, 1_000.0, False),
        "timer_wake_ms": (0.0, 1_000.0, False),
    },
}
_WHOLE = {("profile", "version")}
_TEXT = {
    ("profile", "name"),
    ("profile", "description"),
    ("volume", "kind"),
}


class ProfileError(ScenarioError):
    """A profile file that cannot be read or does not validate."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    path: Path | None
    first_byte_p50_s: float
    first_byte_p90_s: float
    first_byte_p99_s: float
    connection_bps: float
    host_nic_bps: float
    endpoint_bps: float
    get_per_s_per_prefix: float
    endpoint_get_per_s: float
    list_page_base_s: float
    list_page_per_key_s: float
    list_parallel: float
    list_key_s: float  # what a page saves per key fewer than 1,000
    burst_s_per_request: float
    md5_bps: float
    volume_kind: str
    volume_size_gib: float
    volume_write_bps: float
    volume_read_bps: float
    get_price_per_1000: float
    list_price_per_1000: float
    timer_tick_s: float = 0.0
    timer_wake_s: float = 0.0

    @property
    def latency_sigma(self) -> float:
        """Lognormal sigma of first-byte latency from its p50 and p90 (0 if no p90)."""
        if self.first_byte_p90_s <= self.first_byte_p50_s or self.first_byte_p50_s <= 0:
            return 0.0
        return math.log(self.first_byte_p90_s / self.first_byte_p50_s) / 1.2816

    @property
    def mean_latency_s(self) -> float:
        """The mean of a lognormal with this median and sigma: what many requests add up to."""
        return self.first_byte_p50_s * math.exp(self.latency_sigma**2 / 2)

    def list_page_s(self, keys_in_bucket: int) -> float:
        return self.list_page_base_s + self.list_page_per_key_s * keys_in_bucket

    def storage(
        self,
        *,
        keys_in_bucket: int,
        nic_bps: float = 0.0,
        extra_latency_s: float = 0.0,
    ) -> Storage:
        """The model's view of this profile for one job. ``nic_bps`` (instance or scenario cap)
        wins over the profile's own host NIC when both are set, taking the smaller."""
        nics = [n for n in (self.host_nic_bps, nic_bps) if n > 0]
        rates = [r for r in (self.get_per_s_per_prefix, self.endpoint_get_per_s) if r > 0]
        write, read = self.volume_write_bps, self.volume_read_bps
        if self.volume_kind == "gp2":
            write = read = gp2_throughput_bps(self.volume_size_gib)
        return Storage(
            latency_s=self.mean_latency_s + extra_latency_s,
            connection_bps=self.connection_bps,
            nic_bps=min(nics) if nics else 0.0,
            volume_write_bps=write,
            volume_read_bps=read,
            requests_per_s=min(rates) if rates else 0.0,
            endpoint_bps=self.endpoint_bps,
            list_page_s=self.list_page_s(keys_in_bucket),
            list_key_s=self.list_key_s,
            list_parallel=self.list_parallel,
            burst_s_per_request=self.burst_s_per_request,
            verify_bps=self.md5_bps,
            timer_tick_s=self.timer_tick_s,
            timer_wake_s=self.timer_wake_s,
        )


def gp2_throughput_bps(size_gib: float) -> float:
    """gp2 throughput by volume size: 128 MiB/s up to 170 GiB, 250 MiB/s from 334 GiB, linear
    between (EC2 docs). 0 GiB means no volume figure (uncapped)."""
    if size_gib <= 0:
        return 0.0
    if size_gib <= 170:
        return 128 * MIB
    if size_gib >= 334:
        return 250 * MIB
    return (128 + (size_gib - 170) / (334 - 170) * (250 - 128)) * MIB


# Files beside the storage presets that are not storage profiles: the instance table and the
# platform presets (``bench.config.platform``).
_NOT_STORAGE = {"instances.toml", "sagemaker.toml"}


def preset_names() -> list[str]:
    folder = resources.files("bench") / "profiles"
    return sorted(
        p.name[:-5]
        for p in folder.iterdir()
        if p.name.endswith(".toml") and p.name not in _NOT_STORAGE
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A preset by name (``aws-s3-standard``) or a profile TOML file by path."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if not path.suffix and not path.exists():
        if text_name not in preset_names():
            raise ProfileError(
                f"profile {text_name!r}: no such preset; presets: {', '.join(preset_names())}, "
                "or give the path of a profile .toml"
            )
        resource = resources.files("bench") / "profiles" / f"{text_name}.toml"
        return parse_profile(resource.read_text(encoding="utf-8"), path=Path(text_name + ".toml"))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: no such profile file; presets: {preset_names()}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from exc
    return parse_profile(text, path=path)


def parse_profile(text: str, *, path: Path) -> Profile:
    try:
        raw = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ProfileError(f"{path}: not valid TOML: {exc}".splitlines()[0]) from exc
    return build_profile(raw, path=path)


def _numbers(
    path: Path, section: str, keys: Mapping[str, tuple[float, float, bool]], given: dict[str, Any]
) -> dict[tuple[str, str], float]:
    """The numeric keys of one section, each checked against its bounds."""
    values: dict[tuple[str, str], float] = {}
    for key, (minimum, maximum, required) in keys.items():
        if key not in given:
            if required:
                raise ProfileError(f"{path}: {section}.{key} is missing; it is required")
            continue
        value = given[key]
        allowed = f">= {minimum:g} and <= {maximum:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(
                f"{path}: {section}.{key} = {shown(value)}: must be a number {allowed}"
            )
        whole = (section, key) in _WHOLE
        # NaN fails both comparisons; an int too big for a float fails the second.
        if not minimum <= value <= maximum or (whole and not isinstance(value, int)):
            kind = "a whole number" if whole else "a finite number"
            raise ProfileError(
                f"{path}: {section}.{key} = {shown(value)}: must be {kind} {allowed}"
            )
        values[(section, key)] = float(value)
    return values


def _texts(path: Path, section: str, given: dict[str, Any]) -> dict[tuple[str, str], str]:
    values: dict[tuple[str, str], str] = {}
    for s, key in _TEXT:
        if s == section and key in given:
            if not isinstance(given[key], str):
                raise ProfileError(f"{path}: {section}.{key} = {given[key]!r}: must be text")
            values[(section, key)] = given[key]
    return values


def _values(raw: dict[str, Any], path: Path) -> dict[tuple[str, str], Any]:
    """Every (section, key) the profile gives, checked: known, typed and within bounds."""
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ProfileError(f"{path}: unknown section [{unknown[0]}]; allowed: {', '.join(_SCHEMA)}")
    values: dict[tuple[str, str], Any] = {}
    for section, keys in _SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ProfileError(f"{path}: [{section}] must be a table")
        allowed = list(keys) + [k for s, k in _TEXT if s == section]
        extra = sorted(set(given) - set(allowed))
        if extra:
            raise ProfileError(
                f"{path}: unknown key {section}.{extra[0]}; allowed in [{section}]: "
                f"{', '.join(allowed)}"
            )
        values.update(_numbers(path, section, keys, given))
        values.update(_texts(path, section, given))
    return values


def _check_version(path: Path, values: Mapping[tuple[str, str], Any]) -> None:
    version = int(values[("profile", "version")])
    if version != PROFILE_VERSION:
        raise ProfileError(
            f"{path}: profile.version = {version}: this stagebench reads version "
            f"{PROFILE_VERSION}; regenerate it with 'stagebench calibrate'"
        )


def _volume_kind(path: Path, values: Mapping[tuple[str, str], Any]) -> str:
    kind = values.get(("volume", "kind"), "none")
    if kind not in VOLUME_KINDS:
        raise ProfileError(f"{path}: volume.kind = {kind!r}: allowed: {', '.join(VOLUME_KINDS)}")
    return kind


def _latency_s(path: Path, values: Mapping[tuple[str, str], Any]) -> tuple[float, float, float]:
    """First-byte p50, p90, p99 in seconds; a missing percentile is the one below it."""
    p50 = values[("latency", "first_byte_p50_ms")] / 1e3
    p90 = values.get(("latency", "first_byte_p90_ms"), p50 * 1e3) / 1e3
    p99 = values.get(("latency", "first_byte_p99_ms"), p90 * 1e3) / 1e3
    if not p50 <= p90 <= p99:
        raise ProfileError(
            f"{path}: latency percentiles must not decrease: p50 {p50 * 1e3:g} ms, "
            f"p90 {p90 * 1e3:g} ms, p99 {p99 * 1e3:g} ms"
        )
    return p50, p90, p99


def build_profile(raw: dict[str, Any], *, path: Path) -> Profile:
    """Validate a parsed profile: unknown sections and keys, types, minimums, the version."""
    values = _values(raw, path)
    _check_version(path, values)
    kind = _volume_kind(path, values)
    p50, p90, p99 = _latency_s(path, values)

    def get(section: str, key: str) -> float:
        return float(values.get((section, key), 0.0))

    return Profile(
        name=str(values.get(("profile", "name"), path.stem)),
        description=str(values.get(("profile", "description"), "")),
        path=path,
        first_byte_p50_s=p50,
        first_byte_p90_s=p90,
        first_byte_p99_s=p99,
        connection_bps=get("bandwidth", "connection"),
        host_nic_bps=get("bandwidth", "host_nic"),
        endpoint_bps=get("bandwidth", "endpoint"),
        get_per_s_per_prefix=get("requests", "get_per_s_per_prefix"),
        endpoint_get_per_s=get("requests", "endpoint_get_per_s"),
        list_page_base_s=get("list", "page_base_s"),
        list_page_per_key_s=get("list", "page_per_key_in_bucket_s"),
        list_parallel=get("list", "parallel"),
        list_key_s=get("list", "page_per_key_listed_s"),
        burst_s_per_request=get("requests", "burst_first_answer_ms_per_request") / 1e3,
        md5_bps=get("client", "md5"),
        volume_kind=kind,
        volume_size_gib=get("volume", "size_gib"),
        volume_write_bps=get("volume", "write"),
        volume_read_bps=get("volume", "read"),
        get_price_per_1000=get("prices", "get_per_1000"),
        list_price_per_1000=get("prices", "list_per_1000"),
        timer_tick_s=get("client", "timer_tick_ms") / 1e3,
        timer_wake_s=get("client", "timer_wake_ms") / 1e3,
    )


@dataclass(frozen=True)
class Instance:
    name: str
    nic_bps: float
    local_nvme_gib: float  # 0: no instance store, the job gets a gp2 EBS volume
    hourly_price: float
    source: str = "preset"  # "preset", "scenario" or "preset + scenario"


GB = 1000**3
GIB = 1024**3


def load_instances() -> dict[str, Instance]:
    """The instance presets (NIC, local NVMe, example price) from ``instances.toml``.

    Instance store is listed by EC2 in decimal GB (``local_nvme_gb``) and held here in GiB, the
    unit ``VolumeSizeInGB`` and the report count in.
    """
    text = (resources.files("bench") / "profiles" / "instances.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    out = {}
    for name, spec in raw.get("instance", {}).items():
        if "local_nvme_gb" in spec:
            nvme_gib = float(spec["local_nvme_gb"]) * GB / GIB
        else:
            nvme_gib = float(spec.get("local_nvme_gib", 0))
        out[name] = Instance(
            name,
            float(spec["nic_gbps"]) * 1e9 / 8,
            nvme_gib,
            float(spec.get("hourly_price", 0.0)),
        )
    return out


def resolve_instance(
    name: str,
    *,
    nic_bps: float | None,
    local_nvme_gib: float | None,
    hourly_price: float | None,
    instances: dict[str, Instance] | None = None,
) -> Instance:
    """The instance a plan prices and sizes: a preset, with any figure the scenario gives
    winning over it; an unknown name needs all three figures from the scenario.

    ``None`` means the scenario did not give that figure. Never a silent $0 or a guessed
    volume type: an unknown instance without its figures is a one-line error.
    """
    instances = load_instances() if instances is None else instances
    preset = instances.get(name)
    if preset is None:
        missing = [
            key
            for key, value in (
                ("cluster.nic_bandwidth", nic_bps),
                ("cluster.local_nvme_gib", local_nvme_gib),
                ("cluster.hourly_price", hourly_price),
            )
            if value is None
        ]
        if missing:
            known = ", ".join(sorted(instances))
            raise ScenarioError(
                f"instance {name!r} is not a preset: give its figures in the scenario's "
                f'[cluster] ({", ".join(missing)}; e.g. nic_bandwidth = "3.125GB/s" for '
                f"25 Gbit/s, local_nvme_gib = 0 for EBS only, hourly_price = 4.5), or use "
                f"a preset: {known}"
            )
        assert nic_bps is not None and local_nvme_gib is not None and hourly_price is not None
        return Instance(name, nic_bps, local_nvme_gib, hourly_price, source="scenario")
    overridden = any(v is not None for v in (nic_bps, local_nvme_gib, hourly_price))
    return Instance(
        name,
        nic_bps if nic_bps else preset.nic_bps,
        preset.local_nvme_gib if local_nvme_gib is None else local_nvme_gib,
        hourly_price if hourly_price else preset.hourly_price,
        source="preset + scenario" if overridden else "preset",
    )
