"""File mode: the shard goes to the volume over ``concurrency`` connections before training
(list scheduling, so a few large objects at the end of a shard make a straggler); every epoch
then reads the volume."""

from __future__ import annotations

import numpy as np

from bench.core.model import blocks
from bench.core.model.clocks import (
    ItemCosts,
    Links,
    Optimism,
    RunningSums,
    accumulate,
    clocks_slack,
    gate_is_slack,
    item_costs,
    take_rows,
)
from bench.core.model.consumer import consume, most_steps, step_compute, step_positions
from bench.core.model.mode import ModeInputs, ModeTimeline
from bench.core.model.shards import merge_runs


def schedule_rounds(
    free: np.ndarray,
    costs: ItemCosts,
    gate: np.ndarray,
    link: np.ndarray,
    *,
    check_order: bool,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """List scheduling of a block of items over the sorted free times ``free`` (C, rows).

    Up to C items go at once (a round): item i of the round takes free time i, the gate and
    link clocks (when their costs are given) come from the closed form of
    ``RunningSums.clock`` and the ends follow. That is list scheduling exactly as long as no
    earlier item of the round ends before item i's free time (item i would then take that end
    instead): the items before the first row to break it are kept, and their ends merge with
    the free times left. The first item of a round always takes the earliest free time, so
    every round keeps at least one item. Returns the new free times; ``starts``, if given,
    receives every item's start.
    """
    latency, transfer, empty = costs.latency, costs.transfer, costs.empty
    width = free.shape[0]
    count = transfer.shape[0]
    gate_sums = None if costs.gate is None else RunningSums(costs.gate, count)
    link_sums = None if costs.link is None else RunningSums(costs.link, count)
    r = 0
    while r < count:
        part = slice(r, min(count, r + width))
        n = part.stop - part.start
        taken = free[:n]
        first_byte = taken + take_rows(latency, part)
        gate_clock = link_clock = None
        if gate_sums is not None:
            gate_clock = gate_sums.clock(taken, part, gate)
            np.maximum(first_byte, gate_clock, out=first_byte)
        end = first_byte + transfer[part]
        if link_sums is not None:
            link_clock = link_sums.clock(first_byte, part, link)
            np.maximum(end, link_clock, out=end)
        if empty is not None:
            end = np.where(empty[part], taken, end)
        kept = n
        if n > 1:
            earliest = accumulate(np.minimum, end[:-1].copy())
            broken = earliest < taken[1:]
            if broken.any():
                kept = int(broken.any(axis=1).argmax()) + 1
        if gate_clock is not None:
            gate[:] = gate_clock[kept - 1]
        if link_clock is not None:
            link[:] = link_clock[kept - 1]
        if starts is not None:
            starts[r : r + kept] = taken[:kept]
        r += kept
        if kept < width:
            free = np.sort(np.concatenate((end[:kept], free[kept:])), axis=0)
        elif check_order and (end[1:] >= end[:-1]).all():
            free = end
        else:
            free = np.sort(end, axis=0)
    return free


def file_download(sizes: np.ndarray, links: Links, concurrency: int, limit: int) -> np.ndarray:
    """Per row, the time the last object is on the volume: list scheduling over C connections.

    Each row's connection free times are kept sorted and the items are scheduled in rounds
    (``schedule_rounds``), a block of items at a time. A block is first computed without the
    gate and link clocks and kept if neither would have delayed anything (``clocks_slack``),
    which spares most of the work where neither binds; otherwise it is computed with them.
    """
    merged = merge_runs(sizes, limit)
    nbytes, requests = merged.nbytes, merged.requests
    rows = sizes.shape[1]
    width = max(1, concurrency)
    free = np.zeros((width, rows))
    gate, link = links.gate, links.link
    use_gate = links.gate_interval_s > 0 and not gate_is_slack(links, requests, width)
    check_order = rows > blocks.ACCUMULATE_MAX_ROWS  # sorting many short columns costs more
    optimism = Optimism(use_gate or links.link_bps > 0)
    items = nbytes.shape[0]
    for a in range(0, items, blocks.COST_BLOCK_ITEMS):
        b = min(items, a + blocks.COST_BLOCK_ITEMS)
        costs = item_costs(links, nbytes, requests, a, b)
        if not use_gate:
            costs = costs.without_gate()
        if optimism.worth_trying():
            starts = np.empty((b - a, rows))
            trial = schedule_rounds(
                free, costs.without_clocks(), gate, link, check_order=check_order, starts=starts
            )
            if clocks_slack(starts, costs, gate, link):
                free = trial
                continue
            optimism.failed()
        free = schedule_rounds(free, costs, gate, link, check_order=check_order)
    return free[-1].copy()


def model_file(inputs: ModeInputs) -> ModeTimeline:
    """File: download the shard, then read it from the volume every epoch."""
    shards, storage, training = inputs.shards, inputs.storage, inputs.training
    shard_bytes, step_bytes = inputs.shard_bytes, training.step_bytes
    links = inputs.links(volume=True, verify=inputs.params.verify_etag)
    startup = file_download(shards.sizes, links, inputs.params.concurrency, inputs.max_exact_items)
    epochs = inputs.unplayed()
    if not inputs.startup_only:
        begin = startup.copy()
        for epoch in range(training.epochs):
            steps = most_steps(shard_bytes, step_bytes)
            compute, active = step_compute(shard_bytes, step_bytes, steps, training.compute_bps)
            position = step_positions(shard_bytes, step_bytes, steps)
            if storage.volume_read_bps > 0:
                avail = begin[None, :] + position / storage.volume_read_bps
            else:
                avail = np.broadcast_to(begin, position.shape)
            outcome = consume(avail, compute, active, begin, inputs.barrier, inputs.timer)
            epochs.record(epoch=epoch, start=begin, outcome=outcome)
            begin = outcome.end
    return ModeTimeline(
        startup_s=startup,
        epochs=epochs,
        gets=shards.counts.astype(np.int64),
        bytes_fetched=shard_bytes,
    )
