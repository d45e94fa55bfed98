"""``model_job``: every mode of a job, each by its own module through one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from bench.core.model.consumer import coarsen_steps
from bench.core.model.fastfile import model_fastfile
from bench.core.model.file import model_file
from bench.core.model.inputs import (
    MAX_EXACT_ITEMS,
    MAX_STEPS,
    MODES,
    PathParams,
    Storage,
    Training,
)
from bench.core.model.mode import ModeInputs, ModeTimeline
from bench.core.model.pipe import model_pipe
from bench.core.model.result import ModeResult
from bench.core.model.shards import Shards, shard

MODE_MODELS: dict[str, Callable[[ModeInputs], ModeTimeline]] = {
    "file": model_file,
    "pipe": model_pipe,
    "fastfile": model_fastfile,
}


def model_job(
    sizes: np.ndarray,
    *,
    hosts: int,
    storage: Storage,
    distribution: str = "ShardedByS3Key",
    assignment: str = "round-robin",
    params: PathParams | None = None,
    training: Training | None = None,
    modes: tuple[str, ...] = MODES,
    prefix_objects: int | None = None,
    startup_only: bool = False,
    max_exact_items: int = MAX_EXACT_ITEMS,
    max_steps: int = MAX_STEPS,
) -> dict[str, ModeResult]:
    """Model every mode in ``modes`` for a job; see ``bench.core.model`` for the semantics.

    ``prefix_objects`` is what a FastFile host lists (default: every object of ``sizes``).
    ``startup_only`` skips the epochs (their columns are NaN): the startup sweep needs nothing
    else, and Pipe and FastFile startup then costs O(hosts).
    """
    params = params or PathParams()
    training = training or Training()
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"mode {unknown[0]!r}: allowed: {', '.join(MODES)}")
    if training.step_bytes < 1:
        raise ValueError(f"step_bytes = {training.step_bytes!r}: must be >= 1")
    shards = shard(sizes, hosts, distribution, assignment)
    inputs = mode_inputs(
        shards,
        storage=storage,
        params=params,
        training=training,
        listed=int(np.asarray(sizes).size if prefix_objects is None else prefix_objects),
        startup_only=startup_only,
        max_exact_items=max_exact_items,
        max_steps=max_steps,
    )
    return {
        mode: mode_result(
            mode, inputs, MODE_MODELS[mode](inputs), asked_step_bytes=training.step_bytes
        )
        for mode in modes
    }


def mode_inputs(
    shards: Shards,
    *,
    storage: Storage,
    params: PathParams,
    training: Training,
    listed: int,
    startup_only: bool,
    max_exact_items: int,
    max_steps: int,
) -> ModeInputs:
    """What every mode sees: the shards' bytes, and steps merged to at most ``max_steps``
    (steps x distinct timelines)."""
    shard_bytes = shards.sizes.sum(axis=0).astype(np.float64)
    step_bytes = coarsen_steps(training.step_bytes, shard_bytes, max_steps)
    return ModeInputs(
        shards=shards,
        storage=storage,
        params=params,
        training=replace(training, step_bytes=step_bytes),
        shard_bytes=shard_bytes,
        barrier=training.barrier and shards.hosts > 1 and shards.counts.size > 1,
        listed=listed,
        startup_only=startup_only,
        max_exact_items=max_exact_items,
        max_steps=max_steps,
    )


def mode_result(
    mode: str, inputs: ModeInputs, timeline: ModeTimeline, *, asked_step_bytes: int
) -> ModeResult:
    """A mode's timeline per distinct row, spread to every host."""
    startup, epochs = timeline.startup_s, timeline.epochs
    end = startup.copy() if inputs.startup_only else np.nanmax(epochs.end_s, axis=0)
    notes: list[str] = []
    if inputs.training.step_bytes != asked_step_bytes:
        notes.append(f"steps merged to {inputs.training.step_bytes} bytes to bound memory")
    rows = inputs.rows
    listing = np.zeros(rows) if timeline.listing_s is None else timeline.listing_s
    lists = np.zeros(rows, dtype=np.int64) if timeline.lists is None else timeline.lists
    row = inputs.shards.host_row
    return ModeResult(
        mode=mode,
        objects=inputs.shards.counts[row],
        bytes=inputs.shard_bytes[row].astype(np.int64),
        bytes_fetched=np.asarray(timeline.bytes_fetched)[row].astype(np.int64),
        gets=np.asarray(timeline.gets)[row].astype(np.int64),
        lists=lists[row],
        startup_s=startup[row],
        end_s=end[row],
        listing_s=listing[row],
        epoch_start_s=epochs.start_s[:, row],
        epoch_end_s=epochs.end_s[:, row],
        compute_s=epochs.compute_s[:, row],
        stall_s=epochs.stall_s[:, row],
        barrier_s=epochs.barrier_s[:, row],
        notes=notes,
    )
