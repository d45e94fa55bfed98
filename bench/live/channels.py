"""One host of a job with several input channels, as SageMaker plays them.

Before training: every File channel is downloaded and every FastFile channel is listed (its
mount), one channel after another in the scenario's order; Pipe channels need nothing. Then,
every epoch, the consumer reads the training channel step by step and each other channel in one
validation pass after it, in order. Each channel plays its own data path (its input mode, or
the job's) through that path's own epoch function: File from its folder ``data/<channel>``,
Pipe from its FIFOs ``<channel>_<epoch>``, FastFile from its own listing.

A channel's figures are those of its own path (``HostOutcome``, one per channel), but a File
channel's startup is the end of the whole setup: no channel trains before every File channel
is on the volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.live import fastfile, file, pipe
from bench.live.base import HostContext, HostOutcome, epoch_order
from bench.live.consumer import EpochStats


@dataclass
class ChannelPlay:
    """One channel on one host: its context (plan, folder, barriers) and its data path."""

    ctx: HostContext
    mode: str
    index: dict[str, int] = field(default_factory=dict)  # FastFile: the listing
    rng: np.random.Generator | None = None  # FastFile: where random reads land
    ready_s: float = float("nan")  # File: downloaded; FastFile: listed
    epochs: list[EpochStats] = field(default_factory=list)


async def setup(play: ChannelPlay) -> None:
    """What the channel needs before training: its download or its listing."""
    if play.mode == "file":
        play.ready_s = await file.download_shard(play.ctx)
    elif play.mode == "fastfile":
        play.index = await fastfile.mount(play.ctx)
        play.rng = fastfile.offsets_rng(play.ctx)
        play.ready_s = play.ctx.log.now()


async def one_pass(play: ChannelPlay, epoch: int) -> EpochStats:
    """The channel's pass of ``epoch``, by its own data path."""
    ctx = play.ctx
    if play.mode == "file":
        order = epoch_order(len(ctx.plan.keys), ctx.settings.shuffle_seed, epoch)
        return await file.train_epoch(ctx, epoch, order)
    if play.mode == "pipe":
        return await pipe.stream_epoch(ctx, epoch)
    assert play.rng is not None
    return await fastfile.train_epoch(ctx, epoch, play.index, play.rng)


async def run_job_host(plays: list[ChannelPlay]) -> list[HostOutcome]:
    """Every channel of one host: the setup, then each epoch's passes; an outcome per
    channel, in the order of ``plays`` (the training channel first)."""
    for play in plays:
        await setup(play)
    setup_end = plays[0].ctx.log.now() if plays else 0.0
    epochs = plays[0].ctx.epochs if plays else 0
    for epoch in range(epochs):
        for play in plays:
            play.epochs.append(await one_pass(play, epoch))
    return [_outcome(play, setup_end) for play in plays]


def _outcome(play: ChannelPlay, setup_end: float) -> HostOutcome:
    ctx, first = play.ctx, play.epochs[0] if play.epochs else None
    if play.mode == "file" or first is None:
        startup = setup_end
    else:
        startup = first.first_byte_s if first.first_byte_s >= 0 else first.end_s
    extra: dict[str, Any] = {"input_mode": play.mode}
    if play.mode == "fastfile":
        extra["listing_s"] = play.ready_s
    if play.mode == "file":
        extra["download_s"] = play.ready_s
    return HostOutcome(
        host=ctx.plan.host,
        mode=play.mode,
        startup_s=startup,
        end_s=play.epochs[-1].end_s if play.epochs else setup_end,
        objects=len(ctx.plan.keys),
        bytes=ctx.plan.total_bytes,
        epochs=play.epochs,
        extra=extra,
        failed_keys=dict(ctx.failed_keys),
        channel=play.ctx.channel,
    )
