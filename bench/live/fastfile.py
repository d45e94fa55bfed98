"""FastFile mode: the channel prefix is listed at start (that listing is the startup), then
bytes are fetched on demand as the training code reads the files.

``S3File`` is the file-like object the consumer reads: ``read``, ``readinto``, ``seek``,
``tell``. Reads that continue where the last one ended are served from parts of ``part_size``
bytes with ``read_ahead`` parts fetched ahead; any other read fetches just the bytes asked for,
which is why random access is slower. Memory per open file is bounded by
(read_ahead + 1) × part_size.

``training.readers`` files are open at once (``FileReader``, one per reader), so a host holds
at most readers × (read_ahead + 1) × part_size bytes of parts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import numpy as np

from bench.errors import ObjectError
from bench.live.base import HostContext, HostOutcome, epoch_order, get_range
from bench.live.consumer import EpochStats
from bench.s3.client import translate_error
from bench.s3.listing import list_prefix

MODE = "fastfile"


class S3File:
    """A read-only view of one S3 object, fetched on demand with sequential read-ahead."""

    def __init__(
        self, ctx: HostContext, epoch: int, key: str, size: int, *, part_size: int, read_ahead: int
    ) -> None:
        self.ctx = ctx
        self.epoch = epoch
        self.key = key
        self.size = size
        self.part_size = part_size
        self.read_ahead = read_ahead
        self._position = 0
        self._sequential_end = 0  # where the last read ended
        self._parts: dict[int, asyncio.Task[bytes]] = {}
        self.bytes_fetched = 0

    # -- file-like surface ------------------------------------------------------------------
    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    async def read(self, size: int = -1) -> bytes:
        start = self._position
        if size < 0 or start + size > self.size:
            size = max(0, self.size - start)
        if size == 0:
            return b""
        if start == self._sequential_end:
            data = await self._read_parts(start, size)
        else:
            data = await self._fetch(start, size)
        self._position = self._sequential_end = start + len(data)
        return data

    async def readinto(self, buffer: bytearray | memoryview) -> int:
        data = await self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        for task in self._parts.values():
            if task.done() and not task.cancelled():
                task.exception()  # a read-ahead part that failed unread: not worth a warning
            task.cancel()
        self._parts.clear()

    # -- fetching ---------------------------------------------------------------------------
    async def _fetch(self, offset: int, length: int) -> bytes:
        pieces: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            pieces.append(chunk)

        await get_range(self.ctx, MODE, self.epoch, self.key, offset, length, sink)
        self.bytes_fetched += length
        return b"".join(pieces)

    def _part(self, number: int) -> asyncio.Task[bytes]:
        task = self._parts.get(number)
        if task is None:
            offset = number * self.part_size
            length = min(self.part_size, self.size - offset)
            task = asyncio.create_task(self._fetch(offset, length))
            self._parts[number] = task
        return task

    async def _read_parts(self, start: int, size: int) -> bytes:
        first = start // self.part_size
        last = (start + size - 1) // self.part_size
        parts_in_file = (self.size + self.part_size - 1) // self.part_size
        for number in range(first, min(last + 1 + self.read_ahead, parts_in_file)):
            self._part(number)
        for number in [n for n in self._parts if n < first]:
            self._parts.pop(number).cancel()
        chunks = [await self._parts[n] for n in range(first, last + 1)]
        data = b"".join(chunks) if len(chunks) > 1 else chunks[0]
        skip = start - first * self.part_size
        return data[skip : skip + size]


async def list_channel(ctx: HostContext) -> dict[str, int]:
    """The startup listing: ListObjectsV2 over the channel prefix, sequential pages."""
    plan = ctx.plan
    started = ctx.log.now()
    try:
        listing = await list_prefix(ctx.client, plan.bucket, plan.prefix)
    except Exception as exc:
        raise translate_error(exc, endpoint=ctx.endpoint, bucket=plan.bucket) from exc
    clock = started
    for page, seconds in enumerate(listing.page_times_s):
        ctx.log.add(
            MODE,
            plan.host,
            0,
            "LIST",
            plan.prefix,
            page,
            0,
            clock,
            clock + seconds,
            clock + seconds,
            1,
        )
        clock += seconds
    return dict(zip(listing.keys, listing.sizes, strict=True))


class FileReader:
    """One of a host's readers (a data loader's worker): its files one after another, handing
    the consumer a piece at a time (a step's bytes, or one random record) from an ``S3File``.

    Memory: one open file, so at most (read_ahead + 1) x part_size bytes in parts.
    """

    def __init__(
        self,
        ctx: HostContext,
        epoch: int,
        files: list[tuple[str, int, np.ndarray | None]],
        *,
        part_size: int,
        read_ahead: int,
        record_size: int,
    ) -> None:
        self.ctx = ctx
        self.epoch = epoch
        self._files = iter(files)
        self.part_size = part_size
        self.read_ahead = read_ahead
        self.record_size = record_size
        self._handle: S3File | None = None
        self._records: Iterator[int] | None = None

    async def next_piece(self) -> tuple[bytes, str, int] | None:
        """The next piece of data and where it came from (key, offset); None when done."""
        while True:
            if self._handle is None and not self._open_next():
                return None
            handle = self._handle
            assert handle is not None
            try:
                if self._records is not None:
                    offset = next(self._records, None)
                    if offset is None:
                        self.close()
                        continue
                    handle.seek(offset)
                    data = await handle.read(self.record_size)
                else:
                    offset = handle.tell()
                    data = await handle.read(self.ctx.step_bytes)
            except ObjectError as error:
                self.ctx.note_failure(error)  # the trainer skips the unreadable file and goes on
                self.close()
                continue
            if data:
                return data, handle.key, offset
            if self._records is None:
                self.close()

    def _open_next(self) -> bool:
        entry = next(self._files, None)
        if entry is None:
            return False
        key, size, offsets = entry
        self._handle = S3File(
            self.ctx, self.epoch, key, size, part_size=self.part_size, read_ahead=self.read_ahead
        )
        self._records = None if offsets is None else iter(int(o) for o in offsets)
        return True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = None
        self._records = None


async def train_epoch(
    ctx: HostContext, epoch: int, index: dict[str, int], rng: np.random.Generator
) -> EpochStats:
    """One epoch over the host's files, sequential (whole files in order) or random (reads of
    ``record_size`` at random offsets, ``reads_per_file`` a file).

    ``readers`` files are read at once, as a data loader's workers do: file i of the epoch's
    order goes to reader i mod readers (PyTorch's DataLoader deals indices to its workers
    round-robin, tf.data's interleave cycles over its inputs), and the consumer takes pieces
    in the order they complete. A reader asks for its next piece once the consumer is done
    with the previous one, so memory stays within readers x (read_ahead + 1) x part_size.
    """
    ff = ctx.settings.fastfile
    part_size, read_ahead = ff.part_size, ff.read_ahead
    random_access = ff.access == "random"
    record_size, reads_per_file = ff.record_size, ff.reads_per_file
    readers = max(1, ctx.settings.readers)
    consumer = ctx.consumer(epoch)
    order = epoch_order(len(ctx.plan.keys), ctx.settings.shuffle_seed, epoch)
    files: list[tuple[str, int, np.ndarray | None]] = []
    for i in order:
        key = ctx.plan.keys[int(i)]
        size = index.get(key, int(ctx.plan.sizes[int(i)]))
        # Offsets are drawn in the epoch's file order, whatever the readers, so a run with
        # more readers reads the same records.
        offsets = (
            rng.integers(0, max(1, size - record_size + 1), size=reads_per_file)
            if random_access
            else None
        )
        files.append((key, size, offsets))
    lanes = [
        FileReader(
            ctx,
            epoch,
            files[r::readers],
            part_size=part_size,
            read_ahead=read_ahead,
            record_size=record_size,
        )
        for r in range(min(readers, len(files)))
    ]
    pending: dict[asyncio.Task[tuple[bytes, str, int] | None], int] = {}

    def ask(lane: int) -> None:
        pending[asyncio.create_task(lanes[lane].next_piece())] = lane

    try:
        for lane in range(len(lanes)):
            ask(lane)
        while pending:
            done, _ = await consumer.take(
                asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            )
            for task in sorted(done, key=pending.__getitem__):
                lane = pending.pop(task)
                piece = task.result()
                if piece is None:
                    continue
                data, key, offset = piece
                await consumer.consumed(data, (key, offset))
                ask(lane)
    finally:
        for task in pending:
            if task.done() and not task.cancelled():
                task.exception()  # a piece nobody will take: its failure is not news
            task.cancel()
        for reader in lanes:
            reader.close()
    return await consumer.finish()


async def mount(ctx: HostContext) -> dict[str, int]:
    """The channel as a FastFile mount: its listing (key -> size), holding every key of the
    host's shard."""
    index = await list_channel(ctx)
    missing = [k for k in ctx.plan.keys if k not in index]
    if missing:
        raise ObjectError(
            f"s3://{ctx.plan.bucket}/{missing[0]}: not in the listing of "
            f"s3://{ctx.plan.bucket}/{ctx.plan.prefix} ({len(missing)} keys missing)",
            bucket=ctx.plan.bucket,
            key=missing[0],
        )
    return index


def offsets_rng(ctx: HostContext) -> np.random.Generator:
    """Where a host's random reads land: the same for a host whatever else it plays."""
    return np.random.default_rng([ctx.settings.seed, ctx.plan.host])


async def run_host(ctx: HostContext) -> HostOutcome:
    index = await mount(ctx)
    listed_s = ctx.log.now()
    rng = offsets_rng(ctx)
    epochs = [await train_epoch(ctx, epoch, index, rng) for epoch in range(ctx.epochs)]
    first_byte = epochs[0].first_byte_s
    return HostOutcome(
        host=ctx.plan.host,
        mode=MODE,
        startup_s=first_byte if first_byte >= 0 else listed_s,
        end_s=epochs[-1].end_s,
        objects=len(ctx.plan.keys),
        bytes=ctx.plan.total_bytes,
        epochs=epochs,
        extra={"listing_s": listed_s},
        failed_keys=dict(ctx.failed_keys),
    )
