"""S3 clients (aiobotocore for the data paths, boto3 for setup) and error translation.

All clients of one run share an ``Endpoint``; ``translate_error`` is the one place where
botocore and aiohttp errors become stagebench errors that name the bucket, the key and the fix.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.errors import EndpointError, ObjectError, StagebenchError
from bench.s3.server import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY


@dataclass(frozen=True)
class Endpoint:
    """Where the data lives and how to authenticate. Credentials never appear in repr."""

    kind: str  # "embedded" | "url" | "aws"
    url: str | None
    region: str = "us-east-1"
    profile: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    unsigned: bool = False  # anonymous requests, for public datasets (--no-sign-request)

    @classmethod
    def embedded(cls, url: str, region: str = "us-east-1", *, unsigned: bool = False) -> Endpoint:
        return cls(
            "embedded", url, region, None, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, unsigned
        )

    def describe(self) -> str:
        anonymous = ", unsigned" if self.unsigned else ""
        if self.kind == "aws":
            return f"AWS S3 ({self.region}{anonymous})"
        return f"{self.kind} {self.url}" + (f" ({self.region}{anonymous})" if anonymous else "")

    def signed(self, config: Any) -> Any:
        """``config`` with botocore's UNSIGNED signature when the endpoint is anonymous."""
        if not self.unsigned:
            return config
        from botocore import UNSIGNED

        return config.merge(type(config)(signature_version=UNSIGNED))

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.url:
            kwargs["endpoint_url"] = self.url
        if self.access_key:
            kwargs["aws_access_key_id"] = self.access_key
            kwargs["aws_secret_access_key"] = self.secret_key
        return kwargs


def client_config(
    *,
    max_pool_connections: int = 10,
    max_attempts: int = 5,
    checksum_validation: str = "when_required",
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    aio: bool = True,
) -> Any:
    """A botocore Config: standard retries, a pool sized for the concurrency, checksums as set.

    ``max_attempts`` counts every request, the first included (botocore's own ``max_attempts``
    key counts only the retries, so it goes in as ``total_max_attempts``).
    """
    if aio:
        from aiobotocore.config import AioConfig as config_class
    else:
        from botocore.config import Config as config_class
    return config_class(
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        response_checksum_validation=checksum_validation,
        request_checksum_calculation="when_required",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        s3={"addressing_style": "path"},
    )


@asynccontextmanager
async def async_client(endpoint: Endpoint, config: Any) -> AsyncIterator[Any]:
    """An aiobotocore S3 client for one simulated host (or one populate run)."""
    from aiobotocore.session import AioSession

    session = AioSession(profile=endpoint.profile) if endpoint.profile else AioSession()
    try:
        async with session.create_client(
            "s3", config=endpoint.signed(config), **endpoint.client_kwargs()
        ) as c:
            yield c
    except StagebenchError:
        raise
    except Exception as exc:
        raise translate_error(exc, endpoint=endpoint) from exc


def sync_client(endpoint: Endpoint, **config_kwargs: Any) -> Any:
    """A boto3 S3 client for setup work (bucket checks, markers)."""
    import boto3

    session = boto3.session.Session(profile_name=endpoint.profile)
    config = endpoint.signed(client_config(aio=False, **config_kwargs))
    return session.client("s3", config=config, **endpoint.client_kwargs())


_PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}
_THROTTLING_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
_SERVER_CODES = {"InternalError", "ServiceUnavailable", "500"}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
}


def translate_error(
    exc: BaseException,
    *,
    endpoint: Endpoint,
    bucket: str | None = None,
    key: str | None = None,
    attempts: int | None = None,
) -> StagebenchError:
    """Turn a botocore/aiohttp error into a one-line stagebench error with a remedy.

    With a ``key``, anything that went wrong with that one object (after its retries) is an
    ObjectError, so a run can record the key and go on; problems of the endpoint as a whole
    (unreachable, credentials, permissions) stay EndpointErrors.
    """
    import botocore.exceptions as bce

    if isinstance(exc, StagebenchError):
        return exc
    where = f"s3://{bucket}/{key}" if key else (f"s3://{bucket}" if bucket else endpoint.describe())
    if attempts is None and isinstance(exc, bce.ClientError):
        retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
        attempts = retries + 1 if retries is not None else None
    tries = f" after {attempts} attempts" if attempts else ""

    def on_key(text: str) -> StagebenchError:
        if key:
            return ObjectError(f"{where}: {text}", bucket=bucket or "", key=key)
        return EndpointError(f"{where}: {text}")

    if isinstance(exc, bce.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",):
            return EndpointError(
                f"bucket {bucket!r} does not exist on {endpoint.describe()}; "
                "create it or fix dataset.bucket / dataset.uri"
            )
        if code in ("NoSuchKey", "404"):
            return ObjectError(
                f"{where}: object not found{tries}; the dataset changed under the run",
                bucket=bucket or "",
                key=key or "",
            )
        if code in _CREDENTIAL_CODES:
            return EndpointError(
                f"{endpoint.describe()} rejected the credentials ({code}); check "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile"
            )
        if code in _PERMISSION_CODES:
            return EndpointError(
                f"{where}: access denied ({code}); grant s3:GetObject/s3:ListBucket"
                "/s3:PutObject on it or use another --profile"
            )
        if code in ("PreconditionFailed", "412"):
            return on_key(
                f"the object changed while it was read (its ETag no longer matches){tries}; "
                "the dataset changed under the run"
            )
        if code in _THROTTLING_CODES:
            return on_key(
                f"throttled ({code}: {message}){tries}; lower cluster.concurrency or "
                "pipe.prefetch, or raise storage.max_attempts"
            )
        if code in _SERVER_CODES or (isinstance(status, int) and status >= 500):
            return on_key(
                f"server error ({code or status}: {message}){tries}; raise storage.max_attempts "
                "or check the store's health"
            )
        return on_key(f"{code} {message}{tries}".strip())
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return EndpointError(
            f"no AWS credentials found for {endpoint.describe()}; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or pass --profile"
        )
    if isinstance(exc, bce.ProfileNotFound):
        return EndpointError(f"{exc}; list profiles with 'aws configure list-profiles'")
    if isinstance(exc, bce.ConnectTimeoutError) or (
        isinstance(exc, bce.EndpointConnectionError) and _never_connected(exc)
    ):
        return EndpointError(
            f"cannot reach {endpoint.describe()}{tries}; check the URL in storage.endpoint "
            "(or AWS_ENDPOINT_URL) and that the server is running"
        )
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectionClosedError):
        # aiohttp reports a connection reset before the response as a connection error.
        return on_key(
            f"connection reset by {endpoint.describe()} before the response{tries} "
            f"({_cause_text(exc)})"
        )
    if isinstance(exc, bce.ReadTimeoutError | asyncio.TimeoutError):
        return on_key(f"read timed out{tries} on {endpoint.describe()}")
    if _is_body_error(exc):
        return on_key(f"the response body broke{tries} ({_cause_text(exc)})")
    return on_key(f"{_cause_text(exc)}{tries}")


def _cause_text(exc: BaseException) -> str:
    """The first line of the innermost error, with its type when the text is bare."""
    inner = getattr(exc, "kwargs", {}).get("error") or exc
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection could not be made at all (refused, DNS, no route), as
    opposed to one that was made and then reset."""
    inner = getattr(exc, "kwargs", {}).get("error")
    if inner is None:
        return True
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp comes with aiobotocore
        return True
    if isinstance(inner, aiohttp.ClientConnectorError):
        return True
    # Errors from the synchronous (urllib3) client: a failed connect is a NewConnectionError.
    return not isinstance(inner, aiohttp.ClientError)


def _is_body_error(exc: BaseException) -> bool:
    import botocore.exceptions as bce

    if isinstance(exc, bce.ResponseStreamingError | bce.IncompleteReadError):
        return True
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError)
