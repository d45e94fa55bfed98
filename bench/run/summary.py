"""``summary.json``: what a run was and what it measured, as one typed record that owns its JSON.

The file is read by people and by other tools, so its layout is the contract: the keys below,
``schema_version`` first, NaN written as null, never credentials. ``RunSummary.read`` refuses,
in one line naming the remedy, a ``schema_version`` this version does not understand.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.figures import JobFigures
from bench.errors import ResultsError

SCHEMA_VERSION = 1

# Keys of the file that RunSummary holds in fields; any other top-level key (what preparing the
# dataset reported: populate, skipped keys) is kept in ``RunSummary.extra`` as written.
_OWN_KEYS = (
    "schema_version",
    "status",
    "error",
    "started",
    "finished",
    "scenario",
    "environment",
    "dataset",
    "cluster",
    "distribution",
    "assumptions",
    "training",
    "execution",
    "modes",
    "failed_keys",
    "integrity_checks",
)


@dataclass(frozen=True)
class DatasetRecord:
    """Where the run's objects were and how many."""

    source: str = ""
    bucket: str = ""
    prefix: str = ""
    objects: int = 0
    bytes: int = 0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DatasetRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})


@dataclass(frozen=True)
class EndpointRecord:
    """The endpoint a run read from: URL only, never credentials."""

    kind: str = "unknown"
    url: str | None = None
    region: str | None = None

    @property
    def on_loopback(self) -> bool:
        """The embedded server, or any endpoint on this machine's loopback address."""
        from urllib.parse import urlparse

        return self.kind == "embedded" or urlparse(self.url or "").hostname in (
            "127.0.0.1",
            "localhost",
            "::1",
        )


@dataclass(frozen=True)
class RunSummary:
    """One run folder's ``summary.json``.

    ``cluster``, ``distribution``, ``training`` and ``execution`` are the scenario's sections
    as the run used them (their schema is ``bench.config.scenario``'s); ``environment`` is the
    machine and package versions (``bench.run.results.environment``).
    """

    status: str
    error: str | None = None
    started: str | None = None
    finished: str | None = None
    scenario_name: str | None = None
    scenario_path: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)  # the scenario as written
    environment: Mapping[str, Any] = field(default_factory=dict)
    dataset: DatasetRecord | None = None
    cluster: Mapping[str, Any] = field(default_factory=dict)
    distribution: Mapping[str, Any] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()
    training: Mapping[str, Any] = field(default_factory=dict)
    execution: Mapping[str, Any] = field(default_factory=dict)
    modes: Mapping[str, JobFigures] = field(default_factory=dict)  # in the order they ran
    failed_keys: tuple[Mapping[str, Any], ...] = ()
    # GETs per mode by the check that verified their bytes: {"file": {"crc64nvme": 600, ...}}
    integrity_checks: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    # --- what readers ask of it ---------------------------------------------------------------

    @property
    def endpoint(self) -> EndpointRecord:
        values = self.environment.get("endpoint") or {}
        return EndpointRecord(
            kind=str(values.get("kind") or "unknown"),
            url=values.get("url"),
            region=values.get("region"),
        )

    @property
    def machine(self) -> Mapping[str, Any]:
        return self.environment.get("machine") or {}

    @property
    def hosts(self) -> int:
        return int(self.cluster.get("hosts") or 1)

    @property
    def distribution_type(self) -> str | None:
        return self.distribution.get("type")

    @property
    def sharded(self) -> bool:
        return self.distribution_type == "ShardedByS3Key"

    # --- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The file's layout, key for key (NaN stays NaN here; ``to_json`` writes null)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "scenario": {
                "name": self.scenario_name,
                "path": self.scenario_path,
                "config": self.config,
            },
            "environment": self.environment,
            "dataset": None if self.dataset is None else dataclasses.asdict(self.dataset),
            "cluster": self.cluster,
            "distribution": self.distribution,
            "assumptions": list(self.assumptions),
            "training": self.training,
            "execution": self.execution,
            "modes": {mode: figures.to_dict() for mode, figures in self.modes.items()},
            "failed_keys": list(self.failed_keys),
            "integrity_checks": self.integrity_checks,
            **self.extra,
        }

    def to_json(self) -> str:
        from bench.run.results import json_text

        return json_text(self.to_dict())

    def write(self, run_dir: Path) -> Path:
        from bench.run.results import write_json

        path = Path(run_dir) / "summary.json"
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "summary.json") -> RunSummary:
        """From the file's layout, refusing a ``schema_version`` this version does not read."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsError(
                f"{where}: schema_version {version!r}, this stagebench reads {SCHEMA_VERSION}; "
                "use the stagebench version that wrote it"
            )
        try:
            return cls._from_checked(data)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ResultsError(
                f"{where}: not a summary this stagebench wrote ({type(exc).__name__}: {exc}); "
                "re-run the scenario for a fresh one"
            ) from exc

    @classmethod
    def _from_checked(cls, data: Mapping[str, Any]) -> RunSummary:
        scenario = data.get("scenario") or {}
        dataset = data.get("dataset")
        return cls(
            status=str(data.get("status") or "unknown"),
            error=data.get("error"),
            started=data.get("started"),
            finished=data.get("finished"),
            scenario_name=scenario.get("name"),
            scenario_path=scenario.get("path"),
            config=scenario.get("config") or {},
            environment=data.get("environment") or {},
            dataset=DatasetRecord.from_dict(dataset) if dataset else None,
            cluster=data.get("cluster") or {},
            distribution=data.get("distribution") or {},
            assumptions=tuple(data.get("assumptions") or ()),
            training=data.get("training") or {},
            execution=data.get("execution") or {},
            modes={
                mode: JobFigures.from_dict(values or {})
                for mode, values in (data.get("modes") or {}).items()
            },
            failed_keys=tuple(data.get("failed_keys") or ()),
            integrity_checks=data.get("integrity_checks") or {},
            extra={key: value for key, value in data.items() if key not in _OWN_KEYS},
        )

    @classmethod
    def from_json(cls, text: str, *, where: str = "summary.json") -> RunSummary:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ResultsError(f"{where}: unreadable ({exc})") from exc
        if not isinstance(data, dict):
            raise ResultsError(f"{where}: not a stagebench summary (a JSON object is expected)")
        return cls.from_dict(data, where=where)

    @classmethod
    def read(cls, run_dir: Path) -> RunSummary:
        """A run folder's summary; a missing, unreadable or newer file is one line."""
        path = Path(run_dir) / "summary.json"
        try:
            text = path.read_text()
        except FileNotFoundError as exc:
            raise ResultsError(
                f"{run_dir}: no summary.json; is this a stagebench run folder?"
            ) from exc
        except OSError as exc:
            raise ResultsError(f"{path}: unreadable ({exc})") from exc
        return cls.from_json(text, where=str(path))
