"""File mode: download the host's shard onto its volume before training starts, then train
from the volume.

The host's ``startup_s`` runs from the job's start to the last byte of its shard on the volume.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from bench.errors import ObjectError
from bench.live.base import HostContext, HostOutcome, epoch_order, get_range
from bench.live.consumer import EpochStats

MODE = "file"


def _local_path(ctx: HostContext, key: str) -> Path:
    prefix = ctx.plan.prefix
    relative = key[len(prefix) :] if key.startswith(prefix) else key
    return ctx.volume / "data" / ctx.channel / relative


async def download_shard(ctx: HostContext) -> float:
    """Download every object of the plan with ``ctx.concurrency`` connections; return end time."""
    plan = ctx.plan
    (ctx.volume / "data" / ctx.channel).mkdir(parents=True, exist_ok=True)
    next_index = iter(range(len(plan.keys)))

    async def worker() -> None:
        for i in next_index:
            key = plan.keys[i]
            path = _local_path(ctx, key)
            if "/" in key[len(plan.prefix) :]:
                path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:

                async def sink(chunk: bytes, fd: int = fd) -> None:
                    os.write(fd, chunk)

                async def rewind(fd: int = fd) -> None:
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)

                await get_range(
                    ctx, MODE, 0, key, 0, int(plan.sizes[i]), sink, whole=True, rewind=rewind
                )
            except ObjectError as error:
                path.unlink(missing_ok=True)  # a partial file must not pass for the object
                ctx.note_failure(error)
            finally:
                os.close(fd)

    workers = min(ctx.concurrency, max(1, len(plan.keys)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return ctx.log.now()


async def _read_local(fd: int, nbytes: int) -> bytes:
    return os.read(fd, nbytes)


async def train_epoch(ctx: HostContext, epoch: int, order: np.ndarray) -> EpochStats:
    """One epoch of training from the local volume: every file, in ``order``, step by step."""
    consumer = ctx.consumer(epoch)
    for i in order:
        key = ctx.plan.keys[int(i)]
        if key in ctx.failed_keys:
            continue  # never reached the volume
        fd = os.open(_local_path(ctx, key), os.O_RDONLY)
        try:
            while True:
                data = await consumer.take(_read_local(fd, ctx.step_bytes))
                if not data:
                    break
                await consumer.consumed(data)
        finally:
            os.close(fd)
    return await consumer.finish()


async def run_host(ctx: HostContext) -> HostOutcome:
    startup_s = await download_shard(ctx)
    epochs = []
    for epoch in range(ctx.epochs):
        order = epoch_order(len(ctx.plan.keys), ctx.options.get("shuffle_seed"), epoch)
        epochs.append(await train_epoch(ctx, epoch, order))
    return HostOutcome(
        host=ctx.plan.host,
        mode=MODE,
        startup_s=startup_s,
        end_s=epochs[-1].end_s if epochs else startup_s,
        objects=len(ctx.plan.keys),
        bytes=ctx.plan.total_bytes,
        epochs=epochs,
        failed_keys=dict(ctx.failed_keys),
    )
