"""File mode: download the host's shard onto its volume before training starts.

The host's ``startup_s`` runs from the job's start to the last byte of its shard on the volume.
"""

from __future__ import annotations

import asyncio
import os

from bench.paths.base import HostContext, HostOutcome, get_range

MODE = "file"


async def download_shard(ctx: HostContext) -> float:
    """Download every object of the plan with ``ctx.concurrency`` connections; return end time."""
    plan = ctx.plan
    data_dir = ctx.volume / "data" / ctx.channel
    data_dir.mkdir(parents=True, exist_ok=True)
    next_index = iter(range(len(plan.keys)))

    async def worker() -> None:
        for i in next_index:
            key = plan.keys[i]
            relative = key[len(plan.prefix) :] if key.startswith(plan.prefix) else key
            path = data_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:

                async def sink(chunk: bytes, fd: int = fd) -> None:
                    os.write(fd, chunk)

                await get_range(ctx, MODE, 0, key, 0, int(plan.sizes[i]), sink, whole=True)
            finally:
                os.close(fd)

    workers = min(ctx.concurrency, max(1, len(plan.keys)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return ctx.log.now()


async def run_host(ctx: HostContext) -> HostOutcome:
    end_s = await download_shard(ctx)
    return HostOutcome(
        host=ctx.plan.host,
        mode=MODE,
        startup_s=end_s,
        end_s=end_s,
        objects=len(ctx.plan.keys),
        bytes=ctx.plan.total_bytes,
    )
