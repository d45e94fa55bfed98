"""What the live data paths share: a host's plan and settings, the event log, the NIC cap and
ranged GETs that resume where a broken body stopped and verify what they read."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.scenario import FastFileConfig, PipeConfig, Scenario, defaults
from bench.errors import EndpointError, HostError, ObjectError, StagebenchError, describe_cause
from bench.live.consumer import Consumer, EpochBarriers, EpochStats
from bench.s3.client import Endpoint, body_errors, translate_error

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
    "check",  # what verified the bytes: a checksum algorithm, "md5" or "none" (LIST: "")
)

Sink = Callable[[bytes], Awaitable[None]]
Rewind = Callable[[], Awaitable[None]]

# Full-object checksums S3 may store, in botocore's order of preference (it validates the first
# it can compute: CRC64NVME and CRC32C need awscrt).
CHECKSUM_ALGORITHMS = ("crc64nvme", "crc32c", "crc32", "sha1", "sha256")
# The checks summary.json always counts, even at zero.
CHECKS = ("crc64nvme", "crc32c", "md5", "none")


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
        check: str = "",
    ) -> None:
        self.rows.append(
            (
                mode,
                host,
                epoch,
                op,
                key,
                offset,
                nbytes,
                start_s,
                first_byte_s,
                end_s,
                attempts,
                check,
            )
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
    channel: str = ""  # in a job of several channels, the one this share is of

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum())


_PIPE = defaults("pipe")
_TRAINING = defaults("training")


@dataclass(frozen=True)
class ModeSettings:
    """How a data path reads, built once from the scenario by ``ModeSettings.of``. A field left
    out is the scenario's default, so a host played without a scenario file (tests, benchmarks)
    reads as a default scenario would."""

    # Bodies are read in chunks of this size: Pipe's pipe.chunk_size, its default elsewhere.
    chunk_bytes: int = _PIPE["chunk_size"]
    verify_etag: bool = defaults("storage")["verify_etag"]  # check whole objects' bytes
    verify_stream: bool = _TRAINING["verify"]  # sha256 of what the consumer takes
    shuffle_seed: int | None = _TRAINING["shuffle_seed"]
    readers: int = _TRAINING["readers"]  # FastFile files the consumer reads at once
    seed: int = defaults("dataset")["seed"]  # FastFile's random offsets
    pipe: PipeConfig = field(default_factory=lambda: PipeConfig(**_PIPE))
    fastfile: FastFileConfig = field(default_factory=lambda: FastFileConfig(**defaults("fastfile")))

    @classmethod
    def of(cls, scenario: Scenario, mode: str) -> ModeSettings:
        """``mode``'s settings in ``scenario``."""
        return cls(
            chunk_bytes=scenario.pipe.chunk_size if mode == "pipe" else _PIPE["chunk_size"],
            verify_etag=scenario.storage.verify_etag,
            verify_stream=scenario.training.verify,
            shuffle_seed=scenario.training.shuffle_seed,
            readers=scenario.training.readers,
            seed=scenario.dataset.seed,
            pipe=scenario.pipe,
            fastfile=scenario.fastfile,
        )


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
    settings: ModeSettings = field(default_factory=ModeSettings)
    epochs: int = _TRAINING["epochs"]
    compute_bps: float = _TRAINING["compute_rate"]
    step_bytes: int = _TRAINING["step_bytes"]
    barriers: EpochBarriers | None = None  # one per epoch, shared by all hosts of the job
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
            verify=self.settings.verify_stream,
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
    channel: str = ""  # in a job of several channels, the channel played


class _Check:
    """What verifies an object's bytes as they pass. This one checks nothing."""

    name = "none"

    async def update(self, chunk: bytes, *, wrapped: bool) -> None:
        """Take ``chunk``; ``wrapped`` when it came through botocore's checksum body."""

    async def settle(self) -> None:
        """Wait for work still running on the chunks taken so far."""

    def mismatch(self, length: int) -> str | None:
        """What disagrees, once every byte was taken; None when the bytes are right."""
        return None


class _ChecksumCheck(_Check):
    """S3's full-object checksum (``ChecksumMode``), validated by botocore's own body wrapper,
    which hashes the bytes as they are read (awscrt's hardware CRC when installed) and raises
    FlexibleChecksumError at the body's end. If that body breaks, the bytes of the ranged GETs
    that resume it go into the same running checksum here: ranged answers carry none."""

    def __init__(self, algorithm: str, expected: str, running: Any) -> None:
        self.name = algorithm
        self._expected = expected
        self._running = running

    async def update(self, chunk: bytes, *, wrapped: bool) -> None:
        if not wrapped:
            self._running.update(chunk)

    def mismatch(self, length: int) -> str | None:
        got = base64.b64encode(self._running.digest()).decode()
        if got == self._expected:
            return None
        return (
            f"{self.name.upper()} of the {length} bytes received is {got}, the object's "
            f"checksum says {self._expected}"
        )


class _Md5Check(_Check):
    """MD5 against a single-part ETag, for objects that carry no checksum. hashlib releases
    the GIL: a big chunk is digested in a thread, on another core, while the loop reads the
    next one; one update at a time, in order."""

    name = "md5"

    def __init__(self, expected: str) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._expected = expected
        self._pending: asyncio.Future[None] | None = None

    async def update(self, chunk: bytes, *, wrapped: bool) -> None:
        await self.settle()
        if len(chunk) < HASH_IN_THREAD_BYTES:
            self._md5.update(chunk)
        else:
            self._pending = asyncio.get_running_loop().run_in_executor(
                None, self._md5.update, chunk
            )

    async def settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    def mismatch(self, length: int) -> str | None:
        got = self._md5.hexdigest()
        if got == self._expected:
            return None
        return f"MD5 of the {length} bytes received is {got}, the ETag says {self._expected}"


def _stored_checksum(response: dict[str, Any]) -> tuple[str, str] | None:
    """The full-object checksum the response carries (algorithm, base64 value), in botocore's
    order of preference; a composite checksum ("...-N", of the parts' checksums) is none."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    for algorithm in CHECKSUM_ALGORITHMS:
        value = headers.get(f"x-amz-checksum-{algorithm}")
        if value and "-" not in value:
            return algorithm, value
    return None


@dataclass
class _Read:
    """One ``get_range`` call: where it stands across the requests it takes."""

    ctx: HostContext
    key: str
    offset: int
    length: int
    whole: bool
    sent: int = 0  # bytes pushed to the sink
    attempts: int = 0  # HTTP requests, botocore's retries included
    first_byte_s: float = -1.0
    etag: str | None = None  # of the first response; later ranges must come from the same object
    first: bool = True  # the next response is the first of the object (or of a restart)
    check: _Check = field(default_factory=_Check)

    @property
    def where(self) -> str:
        return f"s3://{self.ctx.plan.bucket}/{self.key}"

    def error(self, text: str) -> ObjectError:
        return ObjectError(f"{self.where}: {text}", bucket=self.ctx.plan.bucket, key=self.key)

    def restart(self) -> None:
        """From scratch: a new first response chooses the object and its check again."""
        self.sent, self.etag, self.first, self.check = 0, None, True, _Check()


@dataclass(frozen=True)
class _Window:
    """What of a response's body is ours."""

    skip: int  # bytes to drop before ours: a store that ignores Range sends them
    ignored_range: bool
    total: int | None  # the object's size, when the response tells it


async def get_range(
    ctx: HostContext,
    mode: str,
    epoch: int,
    key: str,
    offset: int,
    length: int,
    sink: Sink,
    *,
    whole: bool = False,
    max_resumes: int = 5,
    resume_backoff_s: float = 0.05,
    rewind: Rewind | None = None,
) -> int:
    """GET ``length`` bytes of ``key`` from ``offset``, pushing each chunk to ``sink(chunk)``.

    ``whole`` asks for the object without a Range header (File mode, Pipe), as SageMaker does,
    and with ``ChecksumMode`` so S3 sends the object's full-object checksum.

    Failed requests (503 SlowDown, 500, a connection lost before the headers) are botocore's
    standard retry mode's; its retries count in the event's ``attempts``. A body that breaks
    after its headers is resumed up to ``max_resumes`` times with a ranged GET from the last
    byte received (If-Match the first ETag, after a short backoff), so ``sink`` sees every byte
    exactly once and in order. The length is always verified. Unless ``verify_etag`` is off, a
    whole object is verified by its CRC64NVME/CRC32C/… checksum when it has one, else by MD5
    against a single-part ETag; the event's ``check`` says which. A mismatch is retried once
    from scratch when nothing reached the sink yet or ``rewind()`` can undo what did, and is an
    ObjectError otherwise. Returns the bytes delivered.
    """
    read = _Read(ctx, key, offset, length, whole)
    start_s = ctx.log.now()
    resumes, restarted = 0, False
    while True:
        cause = await _respond(read, sink)
        if read.sent < length:
            resumes += 1
            if resumes > max_resumes:
                why = type(cause).__name__ if cause is not None else "the body ended early"
                raise read.error(
                    f"the response body broke {resumes} times, last: {why}; {read.sent} of "
                    f"{length} bytes from offset {offset} after {read.attempts} attempts"
                )
            await asyncio.sleep(min(resume_backoff_s * 2 ** (resumes - 1), 1.0))
            continue
        mismatch = read.check.mismatch(length)
        if mismatch is None:
            break
        if restarted or (read.sent and rewind is None):
            raise read.error(
                f"{mismatch}: corrupted in transit (after {read.attempts} attempts); "
                "storage.verify_etag = false skips this check"
            )
        if read.sent:
            await rewind()  # type: ignore[misc]  # checked just above
        read.restart()
        restarted, resumes = True, 0
    ctx.log.add(
        mode,
        ctx.plan.host,
        epoch,
        "GET",
        key,
        offset,
        read.sent,
        start_s,
        read.first_byte_s,
        ctx.log.now(),
        read.attempts,
        read.check.name,
    )
    return read.sent


async def _respond(read: _Read, sink: Sink) -> BaseException | None:
    """One request and its body into ``sink``; what broke the body, or None at its end."""
    ranged = not (read.whole and read.sent == 0)
    if ranged and read.length == 0:
        return None  # an empty range of an object: nothing to ask for
    response = await _request(read, ranged)
    body = response["Body"]
    # botocore wraps the body when it validates a checksum: it then has the running one.
    wrapped = getattr(body, "checksum", None) is not None
    try:
        window = _check_response(read, response, ranged)
        if read.first:
            read.first = False
            read.etag = response.get("ETag")
            read.check = _choose_check(read, response, window.total, body)
        return await _stream(read, body, window, sink, wrapped=wrapped)
    finally:
        body.close()
        await read.check.settle()


async def _request(read: _Read, ranged: bool) -> dict[str, Any]:
    """The GET for what is still missing, after the emulated first-byte delay."""
    ctx = read.ctx
    if ctx.first_byte_delay_s:
        await asyncio.sleep(ctx.first_byte_delay_s)
    bucket = ctx.plan.bucket
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": read.key}
    if ranged:
        start = read.offset + read.sent
        kwargs["Range"] = f"bytes={start}-{read.offset + read.length - 1}"
    elif ctx.settings.verify_etag:
        kwargs["ChecksumMode"] = "ENABLED"  # S3 sends a whole object's checksum only if asked
    if read.etag is not None:
        kwargs["IfMatch"] = read.etag
    try:
        response = await ctx.client.get_object(**kwargs)
    except Exception as exc:
        meta = getattr(exc, "response", None) or {}
        retries = meta.get("ResponseMetadata", {}).get("RetryAttempts")
        if retries is None:  # a connection error: botocore made every attempt it may
            retries = ctx.client.meta.config.retries.get("total_max_attempts", 1) - 1
        raise translate_error(
            exc,
            endpoint=ctx.endpoint,
            bucket=bucket,
            key=read.key,
            attempts=read.attempts + 1 + retries,
        ) from exc
    read.attempts += 1 + response["ResponseMetadata"].get("RetryAttempts", 0)
    return response


def _check_response(read: _Read, response: dict[str, Any], ranged: bool) -> _Window:
    """The part of the object the response holds (Content-Range, Content-Length, ETag) against
    what was asked; an ObjectError when the dataset changed under the run."""
    start = read.offset + read.sent
    want = read.length - read.sent
    skip, ignored_range = 0, False
    content_range = response.get("ContentRange")
    if content_range:
        span, _, size_text = content_range.removeprefix("bytes ").partition("/")
        if int(span.partition("-")[0]) != start:
            raise read.error(f"asked for bytes from {start}, the store sent {content_range}")
        total = int(size_text) if size_text.isdigit() else None
    else:
        if ranged:
            skip, ignored_range = start, True
        total = response.get("ContentLength")
    served = response.get("ContentLength")
    if served is not None and (served - skip < want if ignored_range else served - skip != want):
        raise read.error(
            f"expected {want} bytes from offset {start}, the store has {served - skip} (object "
            f"of {total if total is not None else '?'} bytes); the dataset changed under the run"
        )
    if not read.first and read.etag is not None and response.get("ETag") not in (None, read.etag):
        raise read.error(
            f"the object changed while it was read (ETag {read.etag} became "
            f"{response.get('ETag')}); the dataset changed under the run"
        )
    return _Window(skip, ignored_range, total)


def _choose_check(read: _Read, response: dict[str, Any], total: int | None, body: Any) -> _Check:
    """How the object will be verified, from its first response: botocore's validation of the
    stored checksum when it wrapped the body, else MD5 of a whole single-part object, else no
    check (a part of an object, a multipart ETag, ``verify_etag`` off)."""
    whole_object = read.offset == 0 and total == read.length
    running = getattr(body, "checksum", None)
    stored = _stored_checksum(response)
    if running is not None and stored is not None and whole_object:
        return _ChecksumCheck(*stored, running)
    digest = (read.etag or "").strip('"')
    if read.ctx.settings.verify_etag and whole_object and len(digest) == 32 and "-" not in digest:
        return _Md5Check(digest)
    return _Check()


async def _stream(
    read: _Read, body: Any, window: _Window, sink: Sink, *, wrapped: bool
) -> BaseException | None:
    """The body's bytes that are ours into the check and the sink, paced by the host's NIC;
    what broke the body, or None at its end."""
    import botocore.exceptions as bce

    ctx = read.ctx
    skip = window.skip
    while True:
        try:
            chunk = await body.read(ctx.settings.chunk_bytes)
        except bce.FlexibleChecksumError as exc:
            # At the body's end, every byte read: the check says the rest.
            if isinstance(read.check, _ChecksumCheck):
                return None
            raise read.error(f"{exc}: corrupted in transit") from exc
        except body_errors() as exc:
            return exc
        if not chunk:
            return None
        if skip:
            dropped = min(skip, len(chunk))
            skip -= dropped
            chunk = chunk[dropped:]
            if not chunk:
                continue
        if read.sent + len(chunk) > read.length:
            if not window.ignored_range:
                raise read.error(
                    f"the store sent more than the {read.length} bytes asked for from offset "
                    f"{read.offset}"
                )
            chunk = chunk[: read.length - read.sent]  # the rest of an object we wanted part of
            if not chunk:
                return None
        if read.first_byte_s < 0:
            read.first_byte_s = ctx.log.now()
        await ctx.nic.consume(len(chunk))
        await read.check.update(chunk, wrapped=wrapped)
        try:
            await sink(chunk)
        except StagebenchError:
            raise
        except Exception as exc:
            # The host's side (its volume, its FIFO) failed, not the store.
            raise host_error(exc, ctx, key=read.key) from exc
        read.sent += len(chunk)


def integrity_checks(events: Any) -> dict[str, dict[str, int]]:
    """GET requests per mode by the check that verified their bytes, from the events table:
    ``{"file": {"crc64nvme": 600, "crc32c": 0, "md5": 0, "none": 0}}``. File and Pipe read
    an object in one GET event; FastFile's parts are ranged reads, unchecked unless a part is
    the whole object."""
    if not len(events) or "check" not in events:
        return {}
    gets = events[events["op"] == "GET"]
    counts: dict[str, dict[str, int]] = {}
    for (mode, check), count in gets.groupby(["mode", "check"]).size().items():
        counts.setdefault(str(mode), dict.fromkeys(CHECKS, 0))[str(check)] = int(count)
    return counts


def epoch_order(count: int, shuffle_seed: int | None, epoch: int) -> np.ndarray:
    """Key order, or a fresh permutation per epoch when a shuffle seed is set."""
    if shuffle_seed is None:
        return np.arange(count)
    return np.random.default_rng([shuffle_seed, epoch]).permutation(count)


def host_error(exc: BaseException, ctx: HostContext, *, key: str | None = None) -> HostError:
    """``exc`` (an error of the host itself) as a HostError naming the host and the key.

    Without ``key``, an OSError on a file of the host's volume names the key stored there.
    """
    if isinstance(exc, HostError):
        return exc
    if key is None:
        key = getattr(exc, "key", None) or _key_of_path(ctx, getattr(exc, "filename", None))
    return HostError(describe_cause(exc), host=ctx.plan.host, key=key)


def _key_of_path(ctx: HostContext, filename: Any) -> str | None:
    """The key File mode stores at ``filename``, if it is a file under the channel folder."""
    if not isinstance(filename, str | Path):
        return None
    try:
        relative = Path(filename).relative_to(ctx.volume / "data" / ctx.channel)
    except ValueError:
        return None
    return ctx.plan.prefix + relative.as_posix() if relative.parts else None
