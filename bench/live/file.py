"""File mode: download the host's shard onto its volume before training starts, then train
from the volume.

The host's ``startup_s`` runs from the job's start to the last byte of its shard on the volume.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
from pathlib import Path

import numpy as np

from bench.errors import ObjectError, SafetyError, StagebenchError
from bench.live.base import HostContext, HostOutcome, epoch_order, get_range
from bench.live.consumer import EpochStats
from bench.s3.keys import local_relative_path

MODE = "file"


def _channel_dir(ctx: HostContext) -> Path:
    return ctx.volume / "data" / ctx.channel


def _local_path(ctx: HostContext, key: str, *, resolve: bool = True) -> Path:
    """Where ``key`` lives on the volume; a SafetyError when that is not inside the channel
    folder. The dataset was screened before the run (bench/s3/keys.py): this is the second
    line of defence, for a key that reaches here some other way. ``resolve`` = False skips
    resolving links, for files the download already created safely."""
    channel = _channel_dir(ctx)
    try:
        relative = local_relative_path(ctx.plan.prefix, key)
    except ValueError as exc:
        raise SafetyError(
            f"s3://{ctx.plan.bucket}/{key}: not written to the volume: the key {exc}"
        ) from exc
    path = channel / relative
    if not resolve:
        return path
    resolved = os.path.realpath(path)
    channel_real = _real_folder(str(channel))
    if os.path.commonpath([channel_real, resolved]) != channel_real:
        raise SafetyError(
            f"s3://{ctx.plan.bucket}/{key}: not written: it resolves to {resolved}, outside "
            f"the channel folder {channel}"
        )
    return path


@functools.lru_cache(maxsize=256)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def _create_file(channel_fd: int, relative: str) -> int:
    """A new file at ``relative`` under the channel folder, its folders made on the way.

    Every step is opened relative to the folder before it and never follows a link, and the
    file must not exist yet, so nothing outside the channel folder can be reached or
    overwritten whatever the volume holds.
    """
    *folders, name = relative.split("/")
    opened: list[int] = []
    folder_fd = channel_fd
    try:
        for folder in folders:
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, 0o755, dir_fd=folder_fd)
            folder_fd = os.open(
                folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder_fd
            )
            opened.append(folder_fd)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        return os.open(name, flags, 0o644, dir_fd=folder_fd)
    finally:
        for fd in opened:
            os.close(fd)


async def download_shard(ctx: HostContext) -> float:
    """Download every object of the plan with ``ctx.concurrency`` connections; return end time."""
    plan = ctx.plan
    channel = _channel_dir(ctx)
    channel.mkdir(parents=True, exist_ok=True)
    next_index = iter(range(len(plan.keys)))
    channel_fd = os.open(channel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    async def worker() -> None:
        for i in next_index:
            key = plan.keys[i]
            path = _local_path(ctx, key)
            relative = str(path.relative_to(channel))
            try:
                fd = _create_file(channel_fd, relative)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.ELOOP):
                    raise SafetyError(
                        f"s3://{plan.bucket}/{key}: not written: {path} or one of its folders "
                        "already exists (another key took it, or a link is in the way); see "
                        "the key rules in README.md"
                    ) from exc
                raise StagebenchError(
                    f"s3://{plan.bucket}/{key}: cannot create {path}: {exc.strerror}; choose "
                    "another storage.volume_root"
                ) from exc
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
    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        # The folder's descriptor outlives every worker, even when one of them failed.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        os.close(channel_fd)
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
        fd = os.open(_local_path(ctx, key, resolve=False), os.O_RDONLY | os.O_NOFOLLOW)
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
        order = epoch_order(len(ctx.plan.keys), ctx.settings.shuffle_seed, epoch)
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
