"""Shared fixtures: one real embedded S3 server (a moto child process) per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.s3.client import Endpoint
from bench.s3.server import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, EmbeddedServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedded() -> Iterator[Endpoint]:
    # Scenarios in tests point at the server by URL, as a user of `stagebench serve` would,
    # so the standard credential chain must find the server's dummy credentials.
    os.environ["AWS_ACCESS_KEY_ID"] = EMBEDDED_ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = EMBEDDED_SECRET_KEY
    with EmbeddedServer() as server:
        yield Endpoint.embedded(server.url)


@pytest.fixture
def unique_prefix() -> str:
    """A prefix no other test uses, so tests share the server without resetting it."""
    return f"t-{uuid.uuid4().hex[:10]}/"


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


def quiet_run(scenario, tmp_path: Path, **kwargs):
    from bench.run.runner import run_scenario

    return run_scenario(
        scenario, results_root=tmp_path / "results", progress=False, say=lambda _: None, **kwargs
    )
