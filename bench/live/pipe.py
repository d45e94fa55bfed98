"""Pipe mode: every epoch, the host's objects stream in order through a real named FIFO
``<volume>/<channel>_<epoch>`` that the training consumer reads to EOF.

The writer prefetches up to ``prefetch`` objects at once but writes them strictly in order;
each prefetching object may hold at most ``_QUEUED_CHUNKS`` chunks, so memory stays bounded by
prefetch × chunk size whatever the object sizes. Each epoch streams the data again (reshuffled
per epoch when a shuffle seed is set). ``startup_s`` is the first byte at the consumer.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path

import numpy as np

from bench.errors import ObjectError
from bench.live.base import HostContext, HostOutcome, epoch_order, get_range
from bench.live.consumer import EpochStats

MODE = "pipe"
_QUEUED_CHUNKS = 2


def objects_in_flight(prefetch: int, objects: int, chunk_bytes: int) -> int:
    """How many objects to prefetch at once: ``prefetch``, but never more than the epoch has,
    nor more than a quarter of the machine's memory can hold in their chunk queues."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 4 * 1024**3
    by_memory = memory // 4 // max(1, _QUEUED_CHUNKS * chunk_bytes)
    return max(1, min(prefetch, objects, by_memory))


def fifo_path(ctx: HostContext, epoch: int) -> Path:
    return ctx.volume / f"{ctx.channel}_{epoch}"


async def _open_fifo(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Both ends of a FIFO as asyncio streams. The read end opens first (non-blocking), so the
    write end can open without waiting, and the reader never sees an early EOF."""
    loop = asyncio.get_running_loop()
    read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    write_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    reader = asyncio.StreamReader(limit=4 * 1024 * 1024, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(read_fd, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(loop=loop), os.fdopen(write_fd, "wb", 0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, writer


async def _write_epoch(
    ctx: HostContext, epoch: int, order: np.ndarray, writer: asyncio.StreamWriter, prefetch: int
) -> None:
    """Stream the objects in ``order`` into the FIFO, with up to ``prefetch`` in flight."""
    plan = ctx.plan
    in_flight: deque[tuple[asyncio.Task[None], asyncio.Queue[bytes | None]]] = deque()
    upcoming = iter(order)

    async def fetch(index: int, queue: asyncio.Queue[bytes | None]) -> None:
        async def sink(chunk: bytes) -> None:
            await queue.put(chunk)

        try:
            await get_range(
                ctx, MODE, epoch, plan.keys[index], 0, int(plan.sizes[index]), sink, whole=True
            )
        except ObjectError as error:
            # The stream goes on with the next object, as far as the trainer can tell; the run
            # reports the key.
            ctx.note_failure(error)
        finally:
            await queue.put(None)

    def launch_next() -> None:
        index = next(upcoming, None)
        if index is not None:
            queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUED_CHUNKS)
            in_flight.append((asyncio.create_task(fetch(int(index), queue)), queue))

    try:
        for _ in range(objects_in_flight(prefetch, len(order), ctx.settings.chunk_bytes)):
            launch_next()
        while in_flight:
            task, queue = in_flight.popleft()
            while (chunk := await queue.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            await task  # surfaces the fetch's error, if any
            launch_next()
    finally:
        for task, _ in in_flight:
            task.cancel()
        # Closing the write end (after its buffer drains) is the EOF the consumer reads to.
        writer.close()


async def stream_epoch(ctx: HostContext, epoch: int) -> EpochStats:
    """One epoch: make the FIFO, stream into it, read it to EOF as the trainer would."""
    path = fifo_path(ctx, epoch)
    try:
        os.mkfifo(path)
    except OSError as exc:
        # os.mkfifo leaves the path out of its error; the one line must say where.
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        reader, writer = await _open_fifo(path)
        order = epoch_order(len(ctx.plan.keys), ctx.settings.shuffle_seed, epoch)
        prefetch = ctx.settings.pipe.prefetch
        consumer = ctx.consumer(epoch)
        consumer.stats.source = path.name
        producer = asyncio.create_task(_write_epoch(ctx, epoch, order, writer, prefetch))
        try:
            while True:
                data = await consumer.take(reader.read(ctx.step_bytes))
                if not data:
                    break
                await consumer.consumed(data)
            await producer
        finally:
            producer.cancel()
        return await consumer.finish()
    finally:
        path.unlink(missing_ok=True)


async def run_host(ctx: HostContext) -> HostOutcome:
    epochs = [await stream_epoch(ctx, epoch) for epoch in range(ctx.epochs)]
    return HostOutcome(
        host=ctx.plan.host,
        mode=MODE,
        startup_s=epochs[0].first_byte_s if epochs[0].first_byte_s >= 0 else epochs[0].end_s,
        end_s=epochs[-1].end_s,
        objects=len(ctx.plan.keys),
        bytes=ctx.plan.total_bytes,
        epochs=epochs,
        failed_keys=dict(ctx.failed_keys),
    )
