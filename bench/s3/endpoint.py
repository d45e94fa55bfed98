"""Choose and open the endpoint of a run: embedded (a child moto server), a URL, or AWS.

Region and endpoint URL follow the AWS conventions: an explicit value wins, then the
environment, then the profile in the shared config file, as the AWS CLI resolves them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.errors import EndpointError
from bench.s3.client import Endpoint
from bench.s3.server import EmbeddedServer

# S3 answers in every region for a client signing for us-east-1 (it redirects), so it is the
# fallback when nothing names a region, as in the AWS CLI.
FALLBACK_REGION = "us-east-1"


def _session(profile: str | None) -> Any:
    import botocore.exceptions as bce
    import botocore.session

    session = botocore.session.Session(profile=profile)
    try:
        session.get_scoped_config()  # fails now, in one line, for a profile that does not exist
    except bce.ProfileNotFound as exc:
        raise EndpointError(f"{exc}; list profiles with 'aws configure list-profiles'") from exc
    return session


def resolve_region(region: str | None = None, *, profile: str | None = None) -> str:
    """``region`` if given; else ``AWS_REGION`` (the SDKs' and AWS CLI v2's variable), then
    botocore's own chain (``AWS_DEFAULT_REGION``, the profile's ``region`` in the shared config
    file); else us-east-1."""
    if region:
        return region
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    return _session(profile).get_config_variable("region") or FALLBACK_REGION


def configured_endpoint_url(profile: str | None = None) -> str | None:
    """The S3 endpoint URL the AWS configuration names, as botocore finds it for a client
    created without one: ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, then the profile's
    ``services`` section and ``endpoint_url`` in the shared config file; ``None`` when
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is set or nothing names one."""
    session = _session(profile)
    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    try:
        # botocore's own lookup (pinned in pyproject), so the order and the config-file forms
        # are exactly those every botocore client follows.
        from botocore.configprovider import ConfiguredEndpointProvider

        provider = ConfiguredEndpointProvider(
            full_config=session.full_config,
            scoped_config=session.get_scoped_config(),
            client_name="s3",
        )
        return provider.provide()
    except ImportError:  # pragma: no cover - a botocore without it: the environment alone
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def default_endpoint_spec(profile: str | None = None) -> str:
    """The endpoint when neither the scenario nor the command line gives one: a URL the AWS
    configuration names, else the embedded server."""
    return configured_endpoint_url(profile) or "embedded"


@contextmanager
def open_endpoint(
    spec: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    unsigned: bool = False,
) -> Iterator[Endpoint]:
    """``spec`` is "embedded", "aws" or an http(s) URL. The embedded server lives as long as
    the ``with`` block and is stopped on any exit, Ctrl-C included. ``unsigned`` sends
    anonymous requests (public datasets, as ``aws s3 --no-sign-request``)."""
    if spec == "embedded":
        with EmbeddedServer() as server:
            yield Endpoint.embedded(server.url, region or FALLBACK_REGION, unsigned=unsigned)
        return
    resolved = resolve_region(region, profile=profile)
    if spec == "aws":
        yield Endpoint("aws", None, resolved, profile, unsigned=unsigned)
    else:
        yield Endpoint("url", spec, resolved, profile, unsigned=unsigned)


def open_storage_endpoint(storage: Any, *, profile: str | None = None) -> Any:
    """``open_endpoint`` for a scenario's ``[storage]`` section."""
    return open_endpoint(
        storage.endpoint,
        region=storage.region,
        profile=profile or storage.profile,
        unsigned=not storage.sign_requests,
    )
