"""Pipe mode: every epoch streams the shard again, in order, ``prefetch`` objects in flight.

Object k is requested when object k - P is in the FIFO; only the head of the FIFO streams
freely, the others hold ``PIPE_HELD_CHUNKS`` chunks and wait for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bench.core.model import blocks
from bench.core.model.clocks import (
    ItemCosts,
    Links,
    RunningSums,
    accumulate,
    cumsum_down,
    gate_is_slack,
    item_costs,
    take_rows,
)
from bench.core.model.consumer import consume, most_steps, step_compute, step_positions
from bench.core.model.inputs import PIPE_HELD_CHUNKS
from bench.core.model.mode import ModeInputs, ModeTimeline
from bench.core.model.shards import epoch_order, merge_runs
from bench.core.model.startup import pipe_first_data


@dataclass(frozen=True)
class StepItems:
    """Per (step, row) of a Pipe epoch: the item holding the step's last byte, the item's
    bytes and the bytes before it, and the step's last byte position."""

    item: np.ndarray  # (steps, rows) intp
    size: np.ndarray  # (steps, rows)
    before: np.ndarray  # (steps, rows)
    position: np.ndarray  # (steps, rows)


def step_items(nbytes: np.ndarray, step_bytes: int, steps: int, total: np.ndarray) -> StepItems:
    """Which item ends each step, a block of item rows at a time (no full-size temporaries).

    Step s (1-based) ends in the first item whose running bytes reach s x step, that is whose
    floor(running / step) reaches s: item k ends the steps floor(running_{k-1} / step) + 1 ..
    floor(running_k / step). A row's last, partial step (and any step past its end) ends in
    its last non-empty item.
    """
    items, rows = nbytes.shape
    position = step_positions(total, step_bytes, steps)
    item = np.zeros((steps, rows), dtype=np.intp)
    size = np.zeros((steps, rows))
    before = np.zeros((steps, rows))
    integer = np.issubdtype(nbytes.dtype, np.integer)
    carried = np.zeros(rows, dtype=np.int64 if integer else np.float64)
    crossed = np.zeros(rows, dtype=np.int64)
    last = np.zeros(rows, dtype=np.intp)
    last_size = np.zeros(rows)
    last_before = np.zeros(rows)
    columns = np.arange(rows)
    for a in range(0, items, blocks.STEP_BLOCK_ITEMS):
        block = nbytes[a : a + blocks.STEP_BLOCK_ITEMS]
        running = cumsum_down(block, carried.dtype)
        running += carried
        key = np.floor(running / step_bytes).astype(np.int64)
        np.minimum(key, steps, out=key)
        previous = np.empty_like(key)
        previous[0] = crossed
        previous[1:] = key[:-1]
        k, r = np.nonzero(key > previous)
        if k.size:
            first = previous[k, r]
            ended = key[k, r] - first
            record = np.repeat(np.arange(k.size), ended)
            s = first[record] + (np.arange(record.size) - (np.cumsum(ended) - ended)[record])
            r_of = r[record]
            item[s, r_of] = a + k[record]
            own = block[k, r].astype(np.float64)
            size[s, r_of] = own[record]
            before[s, r_of] = (running[k, r] - own)[record]
        nonempty = block > 0
        has = nonempty.any(axis=0)
        if has.any():
            k_last = block.shape[0] - 1 - np.argmax(nonempty[::-1], axis=0)
            own = block[k_last, columns].astype(np.float64)
            last = np.where(has, a + k_last, last)
            last_size = np.where(has, own, last_size)
            last_before = np.where(has, running[k_last, columns] - own, last_before)
        carried = running[-1]
        crossed = key[-1]
    partial = position < (np.arange(1, steps + 1, dtype=np.float64) * step_bytes)[:, None]
    item = np.where(partial, last[None, :], item)
    size = np.where(partial, last_size[None, :], size)
    before = np.where(partial, last_before[None, :], before)
    return StepItems(np.minimum(item, max(items - 1, 0)), size, before, position)


class PipeEpoch(NamedTuple):
    """A Pipe epoch per row, in times relative to the epoch's start."""

    step_ready: np.ndarray  # (steps, rows) when each step's last byte reaches the consumer
    first_data: np.ndarray  # (rows,) when its first chunk does


def merged_tails(sizes: np.ndarray, group: int, held: float) -> np.ndarray | None:
    """The bytes of each merged item that wait for the head of the FIFO (None: not merged)."""
    if group == 1:
        return None
    tails = np.maximum(sizes - held, 0)
    pad = (-sizes.shape[0]) % group
    if pad:
        tails = np.concatenate((tails, np.zeros((pad, sizes.shape[1]), dtype=tails.dtype)))
    return tails.reshape(-1, group, sizes.shape[1]).sum(axis=1, dtype=np.float64)


class StepHandover:
    """Collects, block by block, the stream of the items that end a step: only the cells
    whose step ends in a block are taken from it."""

    def __init__(self, ends: StepItems, block: int, items: int) -> None:
        self.ends = ends
        self.flat_item = ends.item.ravel()
        self.order = np.argsort(self.flat_item // block, kind="stable")
        self.bounds = np.searchsorted(
            self.flat_item[self.order] // block, np.arange(-(-items // block) + 1)
        )
        self.step_start = np.empty(ends.item.shape)
        self.step_done = np.empty(ends.item.shape)

    def take(
        self, number: int, a: int, stream_start: np.ndarray, delivered: np.ndarray, window: int
    ) -> None:
        """Block ``number`` (first item ``a``): each step's item starts streaming at
        ``stream_start`` and is in the FIFO at ``delivered`` (shifted by ``window`` rows)."""
        cells = self.order[self.bounds[number] : self.bounds[number + 1]]
        if cells.size:
            k = self.flat_item[cells] - a
            column = cells % stream_start.shape[1]
            self.step_start.ravel()[cells] = stream_start[k, column]
            self.step_done.ravel()[cells] = delivered[k + window, column]

    def step_ready(self) -> np.ndarray:
        """An item's bytes reach the consumer linearly from its stream start to its delivery."""
        ends = self.ends
        safe = np.where(ends.size > 0, ends.size, 1.0)
        fraction = np.where(ends.size > 0, (ends.position - ends.before) / safe, 1.0)
        return self.step_start + fraction * (self.step_done - self.step_start)


def stream_block(
    costs: ItemCosts,
    tail_s: np.ndarray | None,
    links: Links,
    *,
    delivered: np.ndarray,
    stream_start: np.ndarray,
    window: int,
) -> None:
    """One block of items, a round of ``window`` at a time: ``delivered[i + window]`` gets
    item i's time in the FIFO and ``stream_start[i]`` when it starts streaming to the
    consumer; the first ``window`` rows of ``delivered`` hold the block before's last."""
    count = costs.transfer.shape[0]
    gate, link = links.gate, links.link
    gate_sums = None if costs.gate is None else RunningSums(costs.gate, count)
    link_sums = None if costs.link is None else RunningSums(costs.link, count)
    tail_sums = None if tail_s is None else cumsum_down(tail_s, np.float64)
    for r in range(0, count, window):
        part = slice(r, min(count, r + window))
        n = part.stop - part.start
        start = delivered[r : r + n]  # deliveries of items k - P
        previous = delivered[r + window - 1]  # delivery of item k - 1
        fifo = delivered[r + window : r + n + window]
        first_byte = start + take_rows(costs.latency, part)
        if gate_sums is not None:
            gate_clock = gate_sums.clock(start, part, gate)
            gate[:] = gate_clock[-1]
            np.maximum(first_byte, gate_clock, out=first_byte)
        np.add(first_byte, costs.transfer[part], out=fifo)
        if link_sums is not None:
            link_clock = link_sums.clock(first_byte, part, link)
            link[:] = link_clock[-1]
            np.maximum(fifo, link_clock, out=fifo)
        if costs.empty is not None:
            np.copyto(fifo, start, where=costs.empty[part])
        if tail_sums is None:
            accumulate(np.maximum, fifo, previous)
        else:  # running sums of the tails from the round's first item
            tail_total = tail_sums[part] - (tail_sums[r - 1] if r else 0.0)
            fifo -= tail_total
            accumulate(np.maximum, fifo, previous)
            fifo += tail_total
        np.maximum(
            first_byte,
            delivered[r + window - 1 : r + n + window - 1],
            out=stream_start[r : r + n],
        )


def pipe_epoch(
    sizes: np.ndarray,
    links: Links,
    *,
    prefetch: int,
    chunk_bytes: int,
    limit: int,
    step_bytes: int,
    steps: int,
    total: np.ndarray,
) -> PipeEpoch:
    """A Pipe epoch per row: when each step's last byte reaches the consumer and the first
    data, times relative to the epoch's start.

    Object k is requested when object k - P is in the FIFO. So the P objects of a round
    depend only on the round before, and the round is computed at once: the gate and link
    clocks by the closed form of ``RunningSums.clock``, and the FIFO clock D_k = max(a_k,
    D_{k-1} + t_k) (a_k the object's own end, t_k the time its held-back tail takes once it
    is the head) as D_k = T_k + max(D_{-1}, max_{j<=k}(a_j - T_j)), T the running sum of the
    t. An item's bytes reach the consumer linearly from max(its first byte, D_{k-1}) to D_k;
    only the items that end a step are kept (``step_items``), a block at a time.
    """
    merged = merge_runs(sizes, limit)
    nbytes, requests = merged.nbytes, merged.requests
    held = float(PIPE_HELD_CHUNKS * chunk_bytes)
    tails = merged_tails(sizes, merged.group, held)
    items, rows = nbytes.shape
    window = max(1, prefetch)
    first_data = pipe_first_data(sizes, links, chunk_bytes, window)
    if steps == 0 or items == 0:
        return PipeEpoch(np.zeros((steps, rows)), first_data)
    ends = step_items(nbytes, step_bytes, steps, total)
    use_gate = links.gate_interval_s > 0 and not gate_is_slack(links, requests, window)
    block = -(-blocks.COST_BLOCK_ITEMS // window) * window
    handover = StepHandover(ends, block, items)
    # delivered[i] is D of the block's item i - P; the first P rows carry the last block's end.
    delivered = np.zeros((window + block, rows))
    stream_start = np.empty((block, rows))
    for number, a in enumerate(range(0, items, block)):
        b = min(items, a + block)
        costs = item_costs(links, nbytes, requests, a, b)
        if not use_gate:
            costs = costs.without_gate()
        held_back = np.maximum(nbytes[a:b] - held, 0.0) if tails is None else tails[a:b]
        tail_s = held_back / links.connection_bps if held_back.any() else None
        stream_block(
            costs, tail_s, links, delivered=delivered, stream_start=stream_start, window=window
        )
        handover.take(number, a, stream_start, delivered, window)
        count = b - a
        if count >= window:
            delivered[:window] = delivered[count : count + window]
    return PipeEpoch(handover.step_ready(), first_data)


def model_pipe(inputs: ModeInputs) -> ModeTimeline:
    """Pipe: every epoch streams the shard again; startup is the first chunk at the consumer."""
    shards, params, training = inputs.shards, inputs.params, inputs.training
    sizes, counts, shard_bytes = shards.sizes, shards.counts, inputs.shard_bytes
    verify = params.verify_etag
    epochs = inputs.unplayed()
    if inputs.startup_only:  # the first data needs only the first `prefetch` objects of epoch 0
        window = max(1, params.prefetch)
        head = epoch_order(sizes, counts, training.shuffle_seed, 0, head=window)
        startup = pipe_first_data(head, inputs.links(verify=verify), params.chunk_bytes, window)
    else:
        step_bytes = training.step_bytes
        begin = np.zeros(inputs.rows)
        for epoch in range(training.epochs):
            ordered = epoch_order(sizes, counts, training.shuffle_seed, epoch)
            steps = most_steps(shard_bytes, step_bytes)
            stream = pipe_epoch(
                ordered,
                inputs.links(verify=verify),
                prefetch=params.prefetch,
                chunk_bytes=params.chunk_bytes,
                limit=inputs.max_exact_items,
                step_bytes=step_bytes,
                steps=steps,
                total=shard_bytes,
            )
            compute, active = step_compute(shard_bytes, step_bytes, steps, training.compute_bps)
            offset = begin if epoch else np.zeros(inputs.rows)
            avail = offset[None, :] + stream.step_ready
            start = offset + stream.first_data if epoch == 0 else begin
            outcome = consume(avail, compute, active, start, inputs.barrier, inputs.timer)
            epochs.record(epoch=epoch, start=start, outcome=outcome)
            begin = outcome.end
        startup = epochs.start_s[0]
    return ModeTimeline(
        startup_s=startup,
        epochs=epochs,
        gets=counts.astype(np.int64) * training.epochs,
        bytes_fetched=shard_bytes * training.epochs,
    )
