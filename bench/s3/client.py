"""S3 clients (aiobotocore for the data paths, boto3 for setup) and error translation.

All clients of one run share an ``Endpoint``; ``translate_error`` is the one place where
botocore and aiohttp errors become stagebench errors that name the bucket, the key and the fix.
"""

from __future__ import annotations

import asyncio
import functools
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

    @property
    def record(self) -> tuple[str, str | None, str | None]:
        """Kind, URL and region: what a results folder says about the endpoint."""
        return (self.kind, self.url, self.region)

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
    from_caller: BaseException | None = None
    try:
        async with session.create_client(
            "s3", config=endpoint.signed(config), **endpoint.client_kwargs()
        ) as c:
            try:
                yield c
            except BaseException as exc:
                from_caller = exc
                raise
    except StagebenchError:
        raise
    except Exception as exc:
        if exc is from_caller and not _from_the_client(exc):
            raise  # the caller's own error (a volume, a group of hosts): not the endpoint's
        raise translate_error(exc, endpoint=endpoint) from exc


def _from_the_client(exc: BaseException) -> bool:
    """True for errors botocore, aiobotocore or aiohttp raise (or a timeout of a request)."""
    if isinstance(exc, BaseExceptionGroup):
        return False
    library = type(exc).__module__.partition(".")[0]
    return library in ("botocore", "aiobotocore", "aiohttp") or isinstance(exc, TimeoutError)


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


# The one classification of S3 error codes: codes -> (scope, message). Scope "endpoint": the
# endpoint as a whole is unusable (EndpointError); "object": that object (ObjectError); "key":
# an ObjectError when a key is known, else an EndpointError. Messages name the remedy.
_CLIENT_ERRORS: tuple[tuple[frozenset[str], str, str], ...] = (
    (
        frozenset({"NoSuchBucket"}),
        "endpoint",
        "bucket {bucket!r} does not exist on {endpoint}; create it or fix dataset.bucket / "
        "dataset.uri",
    ),
    (
        frozenset({"NoSuchKey", "404"}),
        "object",
        "{where}: object not found{tries}; the dataset changed under the run",
    ),
    (
        frozenset(_CREDENTIAL_CODES),
        "endpoint",
        "{endpoint} rejected the credentials ({code}); check "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile",
    ),
    (
        frozenset(_PERMISSION_CODES),
        "endpoint",
        "{where}: access denied ({code}); grant s3:GetObject/s3:ListBucket/s3:PutObject on it "
        "or use another --profile",
    ),
    (
        frozenset({"PreconditionFailed", "412"}),
        "key",
        "the object changed while it was read (its ETag no longer matches){tries}; the dataset "
        "changed under the run",
    ),
    (
        frozenset(_THROTTLING_CODES),
        "key",
        "throttled ({code}: {message}){tries}; lower cluster.concurrency or pipe.prefetch, or "
        "raise storage.max_attempts",
    ),
    (
        frozenset(_SERVER_CODES),
        "key",
        "server error ({code}: {message}){tries}; raise storage.max_attempts or check the "
        "store's health",
    ),
)


@dataclass(frozen=True)
class _Where:
    """What an error is about, and how to word it."""

    endpoint: Endpoint
    bucket: str | None
    key: str | None
    tries: str

    @property
    def text(self) -> str:
        if self.key:
            return f"s3://{self.bucket}/{self.key}"
        return f"s3://{self.bucket}" if self.bucket else self.endpoint.describe()

    def error(self, scope: str, message: str) -> StagebenchError:
        if scope == "object" or (scope == "key" and self.key):
            text = message if scope == "object" else f"{self.text}: {message}"
            return ObjectError(text, bucket=self.bucket or "", key=self.key or "")
        return EndpointError(message if scope == "endpoint" else f"{self.text}: {message}")


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
    if attempts is None and isinstance(exc, bce.ClientError):
        retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
        attempts = retries + 1 if retries is not None else None
    where = _Where(endpoint, bucket, key, f" after {attempts} attempts" if attempts else "")
    if isinstance(exc, bce.ClientError):
        return _client_error(exc, where)
    return _transport_error(exc, where)


def _client_error(exc: Any, where: _Where) -> StagebenchError:
    """An error response from S3: its code looked up in ``_CLIENT_ERRORS``."""
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), error.get("Message", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    entry = next((entry for entry in _CLIENT_ERRORS if code in entry[0]), None)
    if entry is None and isinstance(status, int) and status >= 500:
        entry = _CLIENT_ERRORS[-1]  # any 5xx is a server error, whatever its code
    if entry is None:
        return where.error("key", f"{code} {message}{where.tries}".strip())
    _, scope, template = entry
    return where.error(
        scope,
        template.format(
            bucket=where.bucket,
            endpoint=where.endpoint.describe(),
            where=where.text,
            tries=where.tries,
            code=code or status,
            message=message,
        ),
    )


def _transport_error(exc: BaseException, where: _Where) -> StagebenchError:
    """No usable response: credentials, connection, timeouts and broken bodies."""
    import botocore.exceptions as bce

    endpoint, tries = where.endpoint.describe(), where.tries
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return EndpointError(
            f"no AWS credentials found for {endpoint}; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or pass --profile"
        )
    if isinstance(exc, bce.ProfileNotFound):
        return EndpointError(f"{exc}; list profiles with 'aws configure list-profiles'")
    if isinstance(exc, bce.ConnectTimeoutError) or (
        isinstance(exc, bce.EndpointConnectionError) and _never_connected(exc)
    ):
        return EndpointError(
            f"cannot reach {endpoint}{tries}; check the URL in storage.endpoint "
            "(or AWS_ENDPOINT_URL) and that the server is running"
        )
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectionClosedError):
        # aiohttp reports a connection reset before the response as a connection error.
        return where.error(
            "key", f"connection reset by {endpoint} before the response{tries} ({_cause_text(exc)})"
        )
    if isinstance(exc, bce.ReadTimeoutError | asyncio.TimeoutError):
        return where.error("key", f"read timed out{tries} on {endpoint}")
    if _is_body_error(exc):
        return where.error("key", f"the response body broke{tries} ({_cause_text(exc)})")
    return where.error("key", f"{_cause_text(exc)}{tries}")


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


@functools.cache
def body_errors() -> tuple[type[BaseException], ...]:
    """What reading a response body raises when it breaks after its headers: the one list the
    data paths resume on and ``translate_error`` words as a broken body (timeouts are worded
    as timeouts first). aiohttp's own errors come through aiobotocore unwrapped."""
    import aiohttp
    import botocore.exceptions as bce

    return (
        aiohttp.ClientPayloadError,
        aiohttp.ClientConnectionError,
        bce.ResponseStreamingError,
        bce.IncompleteReadError,
        bce.ReadTimeoutError,
        asyncio.TimeoutError,
    )


def _is_body_error(exc: BaseException) -> bool:
    return isinstance(exc, body_errors())
