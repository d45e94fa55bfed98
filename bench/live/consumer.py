"""The simulated training consumer that sits behind every data path.

It takes data in steps of ``step_bytes``; each step computes for ``step_bytes / compute_bps``
seconds (an asyncio sleep: the accelerator is busy, the loop is free to keep fetching). Time
spent waiting for data is ``stall_s`` (except the wait for the job's first byte, which is
startup); time spent waiting at the global step barrier for slower
hosts is ``barrier_s``. Accelerator utilisation is compute / (compute + stall + barrier).
A ``compute_bps`` of 0 means a consumer that takes data as fast as it arrives (no compute).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class StepBarrier:
    """A global step: every host still training waits here until all have finished the step.

    Hosts with fewer steps (a smaller shard) leave when their epoch ends; the rest go on
    without them, as data-parallel jobs do when a rank runs out of data.
    """

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self._arrived = 0
        self._generation = 0
        self._condition = asyncio.Condition()

    async def wait(self) -> None:
        async with self._condition:
            generation = self._generation
            self._arrived += 1
            if self._arrived >= self.parties:
                self._release()
                return
            await self._condition.wait_for(lambda: self._generation != generation)

    async def leave(self) -> None:
        async with self._condition:
            self.parties -= 1
            if self.parties > 0 and self._arrived >= self.parties:
                self._release()

    def _release(self) -> None:
        self._arrived = 0
        self._generation += 1
        self._condition.notify_all()


class EpochBarriers:
    """One StepBarrier per epoch, made when the first host reaches the epoch: a job of many
    epochs costs nothing up front, and a barrier no host uses is never built."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self._by_epoch: dict[int, StepBarrier] = {}

    def __getitem__(self, epoch: int) -> StepBarrier:
        barrier = self._by_epoch.get(epoch)
        if barrier is None:
            barrier = self._by_epoch[epoch] = StepBarrier(self.parties)
        return barrier


@dataclass
class EpochStats:
    epoch: int
    start_s: float = 0.0
    end_s: float = 0.0
    first_byte_s: float = -1.0
    bytes: int = 0
    compute_s: float = 0.0
    stall_s: float = 0.0
    barrier_s: float = 0.0
    steps: int = 0
    source: str = ""  # what the consumer read: the FIFO's name in Pipe mode
    sha256: str = ""  # of every byte the consumer took, in order (when verifying)
    # When verifying, (source, offset, bytes) of every piece taken, in the order taken: with
    # several readers that order is their order of completion, which the digest follows.
    pieces: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def epoch_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def au(self) -> float:
        busy = self.compute_s + self.stall_s + self.barrier_s
        return self.compute_s / busy if busy > 0 else float("nan")


class Consumer:
    """One host's training loop for one epoch. Call ``take`` around every read of data, then
    ``finish`` at the end of the epoch."""

    def __init__(
        self,
        epoch: int,
        *,
        compute_bps: float,
        step_bytes: int,
        barrier: StepBarrier | None,
        clock_t0: float,
        verify: bool = False,
    ) -> None:
        self.compute_bps = compute_bps
        self.step_bytes = step_bytes
        self.barrier = barrier
        self._t0 = clock_t0
        self._pending = 0
        self._digest = hashlib.sha256() if verify else None
        self.stats = EpochStats(epoch, start_s=self.now())

    def now(self) -> float:
        return time.perf_counter() - self._t0

    async def take(self, read: Awaitable[T]) -> T:
        """Await a read of data, counting the wait as stall.

        In epoch 0 the wait for the very first byte is the job's startup (reported as
        ``startup_s``), not a stall: the epoch's clock starts at that first byte.
        """
        started = time.perf_counter()
        data = await read
        if self.stats.epoch == 0 and self.stats.first_byte_s < 0:
            self.stats.start_s = self.now()
        else:
            self.stats.stall_s += time.perf_counter() - started
        return data

    async def consumed(self, data: bytes, source: tuple[str, int] | None = None) -> None:
        """Account data that just arrived; run every step it completes. ``source`` (key,
        offset) names where the data came from, kept with the digest when verifying."""
        nbytes = len(data)
        if self._digest is not None:
            self._digest.update(data)
            if source is not None:
                self.stats.pieces.append((source[0], source[1], nbytes))
        if nbytes and self.stats.first_byte_s < 0:
            self.stats.first_byte_s = self.now()
        self.stats.bytes += nbytes
        self._pending += nbytes
        while self._pending >= self.step_bytes:
            self._pending -= self.step_bytes
            await self._step(self.step_bytes)

    async def finish(self) -> EpochStats:
        if self._pending:
            await self._step(self._pending)
            self._pending = 0
        if self._digest is not None:
            self.stats.sha256 = self._digest.hexdigest()
        if self.barrier is not None:
            await self.barrier.leave()
        self.stats.end_s = self.now()
        return self.stats

    async def _step(self, nbytes: int) -> None:
        self.stats.steps += 1
        if self.compute_bps > 0:
            # The accelerator's time is the nominal one; the event loop's lateness in waking
            # the sleep is the simulator's overhead, not compute the job would pay for.
            compute_s = nbytes / self.compute_bps
            await asyncio.sleep(compute_s)
            self.stats.compute_s += compute_s
        if self.barrier is not None:
            started = time.perf_counter()
            await self.barrier.wait()
            self.stats.barrier_s += time.perf_counter() - started
