"""Helpers the tests share: the repository root, scenarios against the test server, a quiet run
and the command line as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def make_scenario(tmp_path: Path, endpoint_url: str, prefix: str, **sections: dict):
    """A small scenario against the test server; ``sections`` update the defaults below."""
    from bench.config.scenario import build_scenario

    raw: dict[str, dict] = {
        "scenario": {"name": "test"},
        "dataset": {
            "objects": 24,
            "prefix": prefix,
            "seed": 5,
            "bucket": "stagebench-tests",
            "sizes": {"distribution": "lognormal", "median": "16KiB", "sigma": 1.0},
        },
        "cluster": {"hosts": 3, "concurrency": 4},
        "distribution": {"type": "ShardedByS3Key"},
        "storage": {"endpoint": endpoint_url, "volume_root": str(tmp_path / "vol")},
        "modes": {"run": ["file"]},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return build_scenario(raw, path=tmp_path / "test.toml")


def two_channel_scenario(
    tmp_path: Path,
    endpoint_url: str,
    prefix: str,
    *,
    objects: tuple[int, int],
    validation_mode: str | None = None,
    **sections: dict,
):
    """A job of a training channel (ShardedByS3Key) and a replicated validation channel of
    ``objects`` each, under ``prefix`` on the test server; the validation channel plays
    ``validation_mode`` when given; ``sections`` add or replace scenario sections."""
    from bench.config.scenario import build_scenario

    def channel(name: str, count: int, seed: int, median: str, **keys: str) -> dict:
        return {
            "name": name,
            "objects": count,
            "seed": seed,
            "bucket": "stagebench-tests",
            "prefix": f"{prefix}{name}/",
            "sizes": {"distribution": "lognormal", "median": median, "sigma": 0.8},
            **keys,
        }

    validation = channel("validation", objects[1], 9, "12KiB", distribution="FullyReplicated")
    if validation_mode:
        validation["input_mode"] = validation_mode
    raw: dict = {
        "scenario": {"name": "channels"},
        "channels": [
            channel("train", objects[0], 5, "16KiB", distribution="ShardedByS3Key"),
            validation,
        ],
        "cluster": {"hosts": 2, "concurrency": 4},
        "storage": {"endpoint": endpoint_url, "volume_root": str(tmp_path / "vol")},
        "fastfile": {"part_size": "8KiB"},
        **sections,
    }
    return build_scenario(raw, path=tmp_path / "channels.toml")


def quiet_run(scenario, tmp_path: Path, **kwargs):
    from bench.run.runner import run_scenario

    return run_scenario(
        scenario, results_root=tmp_path / "results", progress=False, say=lambda _: None, **kwargs
    )


def stagebench(*args, cwd=REPO, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )
