"""Choose and open the endpoint of a run: embedded (a child moto server), a URL, or AWS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.s3.client import Endpoint
from bench.s3.server import EmbeddedServer


@contextmanager
def open_endpoint(
    spec: str, *, region: str = "us-east-1", profile: str | None = None
) -> Iterator[Endpoint]:
    """``spec`` is "embedded", "aws" or an http(s) URL. The embedded server lives as long as
    the ``with`` block and is stopped on any exit, Ctrl-C included."""
    if spec == "embedded":
        with EmbeddedServer() as server:
            yield Endpoint.embedded(server.url, region)
    elif spec == "aws":
        yield Endpoint("aws", None, region, profile)
    else:
        yield Endpoint("url", spec, region, profile)
