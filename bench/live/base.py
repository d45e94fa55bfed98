"""What the live data paths share: a host's plan, the event log, the NIC cap and ranged GETs
that resume where a broken body stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import EndpointError, ObjectError
from bench.live.consumer import Consumer, EpochStats, StepBarrier
from bench.s3.client import Endpoint, translate_error

EVENT_COLUMNS = (
    "mode",
    "host",
    "epoch",
    "op",
    "key",
    "offset",
    "bytes",
    "start_s",
    "first_byte_s",
    "end_s",
    "attempts",
)


# Chunks at least this big are hashed (ETag check) in a worker thread, beside the event loop;
# smaller ones cost less to hash than to hand over.
HASH_IN_THREAD_BYTES = 256 * 1024


class EventLog:
    """A row per request, appended as plain tuples: cheap on the hot path, a table at the end.

    Times are seconds since the job's start (``t0``, a perf_counter reading).
    """

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.rows: list[tuple[Any, ...]] = []
        # Told (op, offset, bytes) of every request as it ends: how a progress line follows
        # a mode's play without the data paths knowing about it.
        self.on_add: Callable[[str, int, int], None] | None = None

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def add(
        self,
        mode: str,
        host: int,
        epoch: int,
        op: str,
        key: str,
        offset: int,
        nbytes: int,
        start_s: float,
        first_byte_s: float,
        end_s: float,
        attempts: int,
    ) -> None:
        self.rows.append(
            (mode, host, epoch, op, key, offset, nbytes, start_s, first_byte_s, end_s, attempts)
        )
        if self.on_add is not None:
            self.on_add(op, offset, nbytes)

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=list(EVENT_COLUMNS))


class NicCap:
    """A host's NIC bandwidth cap shared by all its connections.

    A virtual clock: each chunk of n bytes occupies the link for n/rate seconds after the
    previous one, and its reader waits until its slot has passed. So B bytes through a host
    capped at R take at least B/R seconds, whatever the concurrency.
    """

    def __init__(self, bytes_per_s: float) -> None:
        self.bytes_per_s = bytes_per_s
        self._link_free_at = 0.0

    async def consume(self, nbytes: int) -> None:
        if self.bytes_per_s <= 0:
            return
        now = time.perf_counter()
        self._link_free_at = max(self._link_free_at, now) + nbytes / self.bytes_per_s
        delay = self._link_free_at - now
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class HostPlan:
    """One simulated host's share of the dataset, in the order it reads it."""

    host: int
    bucket: str
    prefix: str
    keys: list[str]
    sizes: np.ndarray
    content_index: np.ndarray

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum())


@dataclass
class HostContext:
    """Everything a data path needs to play one host."""

    plan: HostPlan
    client: Any
    endpoint: Endpoint
    log: EventLog
    volume: Path
    channel: str
    concurrency: int
    nic: NicCap
    first_byte_delay_s: float
    chunk_bytes: int = 1024 * 1024
    epochs: int = 1
    compute_bps: float = 0.0
    step_bytes: int = 1024 * 1024
    barriers: list[StepBarrier] | None = None  # one per epoch, shared by all hosts of the job
    options: dict[str, Any] = field(default_factory=dict)
    # Keys that failed after all their retries (key -> why); more than max_failed_keys on one
    # host means the endpoint, not a few objects, is at fault.
    failed_keys: dict[str, str] = field(default_factory=dict)
    max_failed_keys: int = 10

    def note_failure(self, error: ObjectError) -> None:
        """Remember a key that failed after all its retries, so the host can go on without it."""
        self.failed_keys[error.key] = str(error)
        if len(self.failed_keys) > self.max_failed_keys:
            raise EndpointError(
                f"{len(self.failed_keys)} objects failed on host {self.plan.host}, the last "
                f"one: {error}"
            ) from error

    def consumer(self, epoch: int) -> Consumer:
        """The simulated training loop of this host for ``epoch``."""
        return Consumer(
            epoch,
            compute_bps=self.compute_bps,
            step_bytes=self.step_bytes,
            barrier=self.barriers[epoch] if self.barriers else None,
            clock_t0=self.log.t0,
            verify=bool(self.options.get("verify")),
        )


@dataclass
class HostOutcome:
    """What a host reports besides its events."""

    host: int
    mode: str
    startup_s: float
    end_s: float
    objects: int
    bytes: int
    epochs: list[EpochStats] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    failed_keys: dict[str, str] = field(default_factory=dict)  # key -> why, after all retries


async def get_range(
    ctx: HostContext,
    mode: str,
    epoch: int,
    key: str,
    offset: int,
    length: int,
    sink: Any,
    *,
    whole: bool = False,
    max_resumes: int = 5,
    resume_backoff_s: float = 0.05,
    rewind: Any = None,
) -> int:
    """GET ``length`` bytes of ``key`` from ``offset``, pushing each chunk to ``sink(chunk)``.

    ``whole`` asks for the object without a Range header (File mode, Pipe), as SageMaker does.

    Failed requests (503 SlowDown, 500, a connection lost before the headers) are botocore's
    standard retry mode's; its retries count in the event's ``attempts``. A body that breaks
    after its headers is resumed up to ``max_resumes`` times with a ranged GET from the last
    byte received (If-Match the first ETag, after a short backoff), so ``sink`` sees every byte
    exactly once and in order. The length is always verified; a whole single-part object is
    also verified against its ETag (MD5) unless ``verify_etag`` is off. A mismatch is retried
    once from scratch when nothing reached the sink yet or ``rewind()`` can undo what did,
    and is an ObjectError otherwise. Returns the bytes delivered.
    """
    import hashlib

    import aiohttp
    import botocore.exceptions as bce

    # What a broken body raises: aiohttp's payload error comes through unwrapped.
    body_errors = (
        aiohttp.ClientPayloadError,
        aiohttp.ClientConnectionError,
        bce.ResponseStreamingError,
        bce.IncompleteReadError,
        bce.ReadTimeoutError,
        asyncio.TimeoutError,
    )
    bucket = ctx.plan.bucket
    where = f"s3://{bucket}/{key}"
    verify_etag = bool(ctx.options.get("verify_etag", True))
    start_s = ctx.log.now()
    first_byte_s = -1.0
    sent = 0  # bytes pushed to the sink
    attempts = 0  # HTTP requests, botocore's retries included
    resumes = 0
    restarted = False
    first_response = True
    etag: str | None = None  # of the first response; later ranges must come from the same object
    md5: Any = None  # running MD5 when the whole single-part object is read
    hashing: asyncio.Future[None] | None = None  # MD5 of the previous chunk, in a thread
    while True:
        if ctx.first_byte_delay_s:
            await asyncio.sleep(ctx.first_byte_delay_s)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        ranged = not (whole and sent == 0)
        if ranged:
            if length == 0:
                break  # an empty range of an object: nothing to ask for
            kwargs["Range"] = f"bytes={offset + sent}-{offset + length - 1}"
        if etag is not None:
            kwargs["IfMatch"] = etag
        try:
            response = await ctx.client.get_object(**kwargs)
        except Exception as exc:
            meta = getattr(exc, "response", None) or {}
            retries = meta.get("ResponseMetadata", {}).get("RetryAttempts")
            if retries is None:  # a connection error: botocore made every attempt it may
                retries = ctx.client.meta.config.retries.get("total_max_attempts", 1) - 1
            raise translate_error(
                exc, endpoint=ctx.endpoint, bucket=bucket, key=key, attempts=attempts + 1 + retries
            ) from exc
        attempts += 1 + response["ResponseMetadata"].get("RetryAttempts", 0)
        body = response["Body"]
        cause: BaseException | str | None = None
        try:
            want = length - sent
            skip = 0  # bytes to drop before ours: a store that ignores Range sends them
            ignored_range = False
            total = None  # the object's size, when the response tells it
            content_range = response.get("ContentRange")
            if content_range:
                span, _, size_text = content_range.removeprefix("bytes ").partition("/")
                if int(span.partition("-")[0]) != offset + sent:
                    raise ObjectError(
                        f"{where}: asked for bytes from {offset + sent}, the store sent "
                        f"{content_range}",
                        bucket=bucket,
                        key=key,
                    )
                total = int(size_text) if size_text.isdigit() else None
            elif ranged:
                skip, ignored_range = offset + sent, True
                total = response.get("ContentLength")
            else:
                total = response.get("ContentLength")
            served = response.get("ContentLength")
            if served is not None and (
                served - skip < want if ignored_range else served - skip != want
            ):
                raise ObjectError(
                    f"{where}: expected {want} bytes from offset {offset + sent}, the store "
                    f"has {served - skip} (object of {total if total is not None else '?'} "
                    "bytes); the dataset changed under the run",
                    bucket=bucket,
                    key=key,
                )
            if first_response:
                first_response = False
                etag = response.get("ETag")
                digest = (etag or "").strip('"')
                if (
                    verify_etag
                    and offset == 0
                    and total == length
                    and len(digest) == 32
                    and "-" not in digest
                ):
                    md5 = hashlib.md5(usedforsecurity=False)
            elif etag is not None and response.get("ETag") not in (None, etag):
                raise ObjectError(
                    f"{where}: the object changed while it was read (ETag {etag} became "
                    f"{response.get('ETag')}); the dataset changed under the run",
                    bucket=bucket,
                    key=key,
                )
            while True:
                try:
                    chunk = await body.read(ctx.chunk_bytes)
                except body_errors as exc:
                    cause = exc
                    break
                if not chunk:
                    break
                if skip:
                    dropped = min(skip, len(chunk))
                    skip -= dropped
                    chunk = chunk[dropped:]
                    if not chunk:
                        continue
                if sent + len(chunk) > length:
                    if not ignored_range:
                        raise ObjectError(
                            f"{where}: the store sent more than the {length} bytes asked for "
                            f"from offset {offset}",
                            bucket=bucket,
                            key=key,
                        )
                    chunk = chunk[: length - sent]  # the rest of an object we wanted part of
                    if not chunk:
                        break
                if first_byte_s < 0:
                    first_byte_s = ctx.log.now()
                await ctx.nic.consume(len(chunk))
                if md5 is not None:
                    # hashlib releases the GIL: a big chunk is digested on another core while
                    # the loop reads the next one. One update at a time, in order.
                    if hashing is not None:
                        await hashing
                        hashing = None
                    if len(chunk) < HASH_IN_THREAD_BYTES:
                        md5.update(chunk)
                    else:
                        hashing = asyncio.get_running_loop().run_in_executor(
                            None, md5.update, chunk
                        )
                await sink(chunk)
                sent += len(chunk)
        finally:
            body.close()
            if hashing is not None:
                await hashing
                hashing = None
        if sent < length:
            resumes += 1
            if resumes > max_resumes:
                why = cause if cause is not None else "the body ended early"
                raise ObjectError(
                    f"{where}: the response body broke {resumes} times, last: "
                    f"{type(why).__name__ if isinstance(why, BaseException) else why}; "
                    f"{sent} of {length} bytes from offset {offset} after {attempts} attempts",
                    bucket=bucket,
                    key=key,
                )
            await asyncio.sleep(min(resume_backoff_s * 2 ** (resumes - 1), 1.0))
            continue
        if md5 is not None and md5.hexdigest() != (etag or "").strip('"'):
            got, expected = md5.hexdigest(), (etag or "").strip('"')
            if not restarted and (sent == 0 or rewind is not None):
                if sent:
                    await rewind()
                restarted, sent, etag, md5, resumes = True, 0, None, None, 0
                first_response = True
                continue
            raise ObjectError(
                f"{where}: MD5 of the {length} bytes received is {got}, the ETag says "
                f"{expected}: corrupted in transit (after {attempts} attempts); "
                "storage.verify_etag = false skips this check",
                bucket=bucket,
                key=key,
            )
        break
    ctx.log.add(
        mode,
        ctx.plan.host,
        epoch,
        "GET",
        key,
        offset,
        sent,
        start_s,
        first_byte_s,
        ctx.log.now(),
        attempts,
    )
    return sent


def epoch_order(count: int, shuffle_seed: int | None, epoch: int) -> np.ndarray:
    """Key order, or a fresh permutation per epoch when a shuffle seed is set."""
    if shuffle_seed is None:
        return np.arange(count)
    return np.random.default_rng([shuffle_seed, epoch]).permutation(count)
