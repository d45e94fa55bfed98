"""Result folders: ``results/<scenario>-<UTC timestamp>/`` with versioned, atomically written files.

- ``events.parquet`` a row per request
- ``hosts.csv``      a row per host and mode
- ``summary.json``   scenario, environment, job figures; ``schema_version`` tells readers
  what they hold. Never credentials.
A folder that exists is never reused or overwritten.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.errors import ResultsError
from bench.run.summary import SCHEMA_VERSION as SCHEMA_VERSION  # its home is the summary

_PACKAGES = ("stagebench", "boto3", "botocore", "aiobotocore", "numpy", "pandas", "moto")


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def new_run_dir(root: Path, name: str) -> Path:
    """Create a fresh folder for one run; never an existing one."""
    stamp = utc_stamp()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            candidate = root / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise ResultsError(
            f"cannot create a run folder in {root}: {exc.strerror}; "
            "choose a writable folder with --results"
        ) from exc
    raise ResultsError(f"{root}: too many runs named {name}-{stamp}; wait a second and retry")


def atomic_write(path: Path, write: Any) -> None:
    """``write(tmp)`` then a rename onto ``path``: readers never see half a file, and a failure
    or Ctrl-C leaves no temporary file; an OSError becomes a one-line ResultsError."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        # A Ctrl-C or a failing writer must not leave a half-written file behind either.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ResultsError(f"cannot write {path}: {exc.strerror}") from exc
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = json_text(data)
    atomic_write(path, lambda p: p.write_text(text + "\n"))


def json_text(data: dict[str, Any]) -> str:
    """Indented JSON with every NaN or infinite figure as null: bare NaN is not JSON, and
    other readers refuse the file."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (a figure with nothing to measure) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically."""
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_csv(path: Path, frame: Any) -> None:
    atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.6g"))


def write_parquet(path: Path, frame: Any) -> None:
    atomic_write(path, lambda p: frame.to_parquet(p, index=False))


def environment(endpoint_kind: str, endpoint_url: str | None, region: str | None) -> dict[str, Any]:
    """Where and with what a run was made. Endpoint URL only; never credentials."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "endpoint": {"kind": endpoint_kind, "url": endpoint_url, "region": region},
        "python": sys.version.split()[0],
        "packages": versions,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
    }


def read_summary(run_dir: Path) -> dict[str, Any]:
    """A run's summary as the file's dict, refusing a schema this version does not understand
    (``RunSummary.read`` gives it typed)."""
    from bench.run.summary import RunSummary

    return RunSummary.read(run_dir).to_dict()
