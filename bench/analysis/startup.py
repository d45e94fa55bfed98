"""Startup per input mode against the number of files.

The question it answers: "how much does splitting the same data into more files cost before
training starts?" The model draws a line per mode from 10 to 10,000,000 files, at the
scenario's total size (each file total / N bytes) or, with ``--fixed-file-size``, at the
scenario's median file size (the total grows with N). Files are equal-sized so that the file
count is the only thing that changes. Live runs on the endpoint add a few measured points
(10, 100, 1,000, 10,000 files by default) as markers.

Everything else (hosts, sharding, data-path settings) is the scenario's; the storage is the
endpoint's profile (``embedded`` for the embedded server). Writes ``startup.csv``,
``startup.png`` and ``startup.svg`` to a fresh ``results/<scenario>-startup-<stamp>/``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.inputs import endpoint_kind
from bench.config.scenario import Scenario
from bench.errors import StagebenchError
from bench.run import results as results_io

MODEL_FILES = tuple(int(n) for n in np.unique(np.round(np.logspace(1, 7, 13)).astype(np.int64)))
LIVE_FILES = (10, 100, 1_000, 10_000)


def equal_sizes(files: int, *, total_bytes: int | None, file_bytes: int | None) -> np.ndarray:
    """``files`` equal sizes: the total split evenly (remainder spread one byte each), or each
    ``file_bytes``. Every file has at least one byte."""
    if file_bytes is not None:
        return np.full(files, max(1, file_bytes), dtype=np.int64)
    assert total_bytes is not None
    base, remainder = divmod(max(total_bytes, files), files)
    sizes = np.full(files, base, dtype=np.int64)
    sizes[:remainder] += 1
    return sizes


def model_sweep(
    scenario: Scenario,
    profile: Any,
    *,
    counts: tuple[int, ...],
    total_bytes: int | None,
    file_bytes: int | None,
) -> list[dict[str, Any]]:
    """Model startup per mode at each file count (``startup_only``: no epochs)."""
    from bench.analysis.inputs import model_arguments, scenario_storage
    from bench.core.model import model_job

    rows = []
    for files in counts:
        sizes = equal_sizes(files, total_bytes=total_bytes, file_bytes=file_bytes)
        arguments = model_arguments(scenario, sizes)
        storage = scenario_storage(profile, scenario, keys_in_bucket=files)
        started = time.perf_counter()
        result = model_job(storage=storage, startup_only=True, prefix_objects=files, **arguments)
        seconds = time.perf_counter() - started
        for mode, mode_result in result.items():
            rows.append(
                {
                    "source": "model",
                    "files": files,
                    "file_bytes": int(sizes[0]),
                    "total_bytes": int(sizes.sum()),
                    "mode": mode,
                    "startup_s": float(mode_result.startup_s.max()),
                    "seconds_to_compute": seconds,
                }
            )
    return rows


def live_scenario(
    scenario: Scenario, files: int, *, total_bytes: int | None, file_bytes: int | None
) -> Scenario:
    """The scenario with ``files`` equal files under a prefix of their own, one quick epoch."""
    from bench.config.scenario import build_scenario

    sizes = equal_sizes(files, total_bytes=total_bytes, file_bytes=file_bytes)
    raw = copy.deepcopy(dict(scenario.raw))
    dataset = dict(raw.get("dataset", {}))
    for key in ("manifest", "uri", "sizes"):
        dataset.pop(key, None)
    base_prefix = scenario.dataset.prefix
    dataset.update(
        objects=files,
        prefix=f"{base_prefix}startup-{files}-{int(sizes[0])}/",
        bucket=scenario.dataset.bucket,
        # Equal files (the remainder byte of a fixed total is below what a timeline can see).
        sizes={"distribution": "fixed", "size": int(sizes[0])},
    )
    raw["dataset"] = dataset
    raw["scenario"] = {**dict(raw.get("scenario", {})), "name": f"{scenario.name}-startup-{files}"}
    # Startup is all that is kept: one epoch as fast as data comes keeps the run short.
    raw["training"] = {**dict(raw.get("training", {})), "epochs": 1, "compute_rate": 0}
    return build_scenario(raw, path=scenario.path)


def live_points(
    scenario: Scenario,
    counts: tuple[int, ...],
    *,
    total_bytes: int | None,
    file_bytes: int | None,
    results_root: Path,
    say: Any,
) -> list[dict[str, Any]]:
    """Run the scenario live at each file count on one endpoint; startup per mode (slowest host)."""
    from bench.run.runner import run_on_endpoint
    from bench.s3.endpoint import open_storage_endpoint

    rows = []
    with open_storage_endpoint(scenario.storage) as endpoint:
        for files in counts:
            point = live_scenario(scenario, files, total_bytes=total_bytes, file_bytes=file_bytes)
            say(f"live: {files:,} files ...")
            started = time.perf_counter()
            result = run_on_endpoint(
                point, endpoint, results_root=results_root, progress=False, say=lambda _: None
            )
            if result.status != "ok":
                raise StagebenchError(
                    f"live run at {files} files {result.status}: {result.error}; "
                    "lower --max-files or pass --no-live"
                )
            for mode, figures in result.run_summary.modes.items():
                rows.append(
                    {
                        "source": "live",
                        "files": files,
                        "file_bytes": int(point.raw["dataset"]["sizes"]["size"]),
                        "total_bytes": int(result.run_summary.dataset.bytes),
                        "mode": mode,
                        "startup_s": float(figures.startup_s),
                        "seconds_to_compute": time.perf_counter() - started,
                    }
                )
    return rows


@dataclass(frozen=True)
class StartupSweep:
    """A startup sweep's table (mode, files, source, startup_s …), its title and where it went."""

    table: Any
    title: str
    run_dir: Path


def startup_sweep(
    scenario: Scenario,
    profile: Any,
    *,
    fixed_file_size: bool,
    live: bool,
    max_files: int | None,
    results_root: Path,
    say: Callable[[str], None],
) -> StartupSweep:
    """The model's startup against file count (and live points unless ``live`` is false), written
    to a fresh ``<results_root>/<scenario>-startup-<stamp>/``."""
    import pandas as pd

    from bench.run.dataset import dataset_sizes

    kind = endpoint_kind(scenario.storage.endpoint)
    max_files = LIVE_FILES[-1] if max_files is None else max_files
    if max_files < 1:
        raise StagebenchError(f"--max-files {max_files}: must be >= 1, e.g. --max-files 1000")
    sizes = dataset_sizes(scenario)
    total_bytes = int(sizes.sum())
    file_bytes = int(np.median(sizes)) if fixed_file_size else None
    if file_bytes is None:
        fixed = f"total {total_bytes / 1e6:.1f} MB split evenly"
    else:
        fixed = f"{file_bytes:,} bytes per file"
    rows = model_sweep(
        scenario,
        profile,
        counts=MODEL_FILES,
        total_bytes=None if file_bytes else total_bytes,
        file_bytes=file_bytes,
    )
    run_dir = results_io.new_run_dir(results_root, f"{scenario.name}-startup")
    if live:
        counts = tuple(n for n in LIVE_FILES if n <= max_files)
        if max_files not in counts and max_files < LIVE_FILES[-1] * 10:
            counts = (*counts, max_files)
        if kind == "embedded" and max(counts) >= 10_000:
            say(
                f"live points {', '.join(f'{n:,}' for n in counts)} files: populating 10,000 "
                "objects takes ~35 s on the embedded server, and every mode reads them all"
            )
        rows += live_points(
            scenario,
            counts,
            total_bytes=None if file_bytes else total_bytes,
            file_bytes=file_bytes,
            results_root=run_dir / "live",
            say=say,
        )
    table = pd.DataFrame(rows)
    results_io.write_csv(run_dir / "startup.csv", table)
    title = (
        f"{scenario.name}: {scenario.cluster.hosts} hosts, {scenario.distribution.type}, "
        f"{fixed}; profile {profile.name}"
    )
    results_io.write_json(
        run_dir / "summary.json",
        {
            "schema_version": results_io.SCHEMA_VERSION,
            "kind": "startup",
            "scenario": {"name": scenario.name, "path": str(scenario.path)},
            "profile": profile.name,
            "hosts": scenario.cluster.hosts,
            "fixed": "file size" if file_bytes else "total size",
            "total_bytes": total_bytes,
            "file_bytes": file_bytes,
        },
    )
    return StartupSweep(table, title, run_dir)
