"""Shared fixtures: one real embedded S3 server (a moto child process) per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from bench.s3.client import Endpoint
from bench.s3.server import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, EmbeddedServer


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
