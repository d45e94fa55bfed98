"""What the live data paths share: a host's plan, the event log, the NIC cap and ranged GETs
that resume where a broken body stopped."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import ObjectError
from bench.paths.training import Consumer, EpochStats, StepBarrier
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

# Errors of a response body that a ranged GET from the last byte received can repair.
_RESUMABLE = ("ResponseStreamingError", "IncompleteReadError", "AioReadTimeoutError")


class EventLog:
    """A row per request, appended as plain tuples: cheap on the hot path, a table at the end.

    Times are seconds since the job's start (``t0``, a perf_counter reading).
    """

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.rows: list[tuple[Any, ...]] = []

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
) -> int:
    """GET ``length`` bytes of ``key`` from ``offset``, pushing each chunk to ``sink(chunk)``.

    ``whole`` asks for the object without a Range header (File mode, Pipe), as SageMaker does.

    botocore's retry mode repeats failed requests; a body that breaks after its headers is
    resumed with a ranged GET from the last byte received. The byte count is verified: a short
    object raises ObjectError naming the key and what arrived. Returns the bytes delivered.
    """
    received = 0
    attempts = 0
    start_s = ctx.log.now()
    first_byte_s = -1.0
    while received < length:
        attempts += 1
        if ctx.first_byte_delay_s:
            await asyncio.sleep(ctx.first_byte_delay_s)
        kwargs: dict[str, Any] = {"Bucket": ctx.plan.bucket, "Key": key}
        if not (whole and received == 0):
            kwargs["Range"] = f"bytes={offset + received}-{offset + length - 1}"
        try:
            response = await ctx.client.get_object(**kwargs)
            retries = response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            attempts += retries
            body = response["Body"]
            try:
                while True:
                    chunk = await body.read(ctx.chunk_bytes)
                    if not chunk:
                        break
                    if first_byte_s < 0:
                        first_byte_s = ctx.log.now()
                    await ctx.nic.consume(len(chunk))
                    await sink(chunk)
                    received += len(chunk)
            finally:
                body.close()
        except Exception as exc:
            if type(exc).__name__ in _RESUMABLE and attempts <= max_resumes:
                continue
            raise translate_error(
                exc, endpoint=ctx.endpoint, bucket=ctx.plan.bucket, key=key, attempts=attempts
            ) from exc
        if received < length and attempts > max_resumes:
            break
    if received != length:
        raise ObjectError(
            f"s3://{ctx.plan.bucket}/{key}: expected {length} bytes from offset {offset}, "
            f"received {received} after {attempts} attempts",
            bucket=ctx.plan.bucket,
            key=key,
        )
    ctx.log.add(
        mode,
        ctx.plan.host,
        epoch,
        "GET",
        key,
        offset,
        received,
        start_s,
        first_byte_s,
        ctx.log.now(),
        attempts,
    )
    return received


def epoch_order(count: int, shuffle_seed: int | None, epoch: int) -> np.ndarray:
    """Key order, or a fresh permutation per epoch when a shuffle seed is set."""
    if shuffle_seed is None:
        return np.arange(count)
    return np.random.default_rng([shuffle_seed, epoch]).permutation(count)
