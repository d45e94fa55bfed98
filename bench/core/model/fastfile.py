"""FastFile mode: each host lists the prefix, then its readers read files one at a time each,
fetching parts (or random records) on demand as the consumer uses them, ``read_ahead`` parts
ahead."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from bench.core.model import blocks
from bench.core.model.clocks import Links, request_alone
from bench.core.model.consumer import (
    EXACT_TIMER,
    EpochColumns,
    EpochOutcome,
    Timer,
    coarsen_steps,
    consume,
    held_s,
    most_steps,
    step_compute,
    step_positions,
)
from bench.core.model.inputs import PathParams, Training
from bench.core.model.mode import ModeInputs, ModeTimeline
from bench.core.model.shards import epoch_order
from bench.core.model.startup import list_pages, prefix_listing_s


@dataclass(frozen=True)
class FastFileEpoch:
    """One FastFile epoch per step and row as the consumer paces it alone; ``consume_paced``
    adds the barrier and the shared endpoint."""

    step_end: np.ndarray  # (steps, rows) consumer-paced step ends, no barrier, relative times
    compute: np.ndarray  # (steps, rows)
    active: np.ndarray  # (steps, rows) bool
    first_data_s: np.ndarray  # (rows,)
    step_requests: np.ndarray  # (steps, rows) requests made for the data of each step
    step_bytes: np.ndarray  # (steps, rows) bytes fetched for each step
    step_verified: np.ndarray  # (steps, rows) of those, bytes checked against their ETag
    held: np.ndarray  # (steps, rows) seconds each step holds the consumer (compute, timer)


@dataclass(frozen=True)
class Parts:
    """The parts that complete steps, sorted by row then time, and each row's totals."""

    row: np.ndarray  # (records,) row of the part
    start: np.ndarray  # the consumer's start on the first step the part completes
    steps: np.ndarray  # steps the part completes
    requests: np.ndarray  # requests made up to and including the part
    bytes: np.ndarray  # bytes fetched up to and including the part
    verified: np.ndarray  # bytes checked against their ETag up to and including the part
    running: np.ndarray  # (rows,) the consumer's clock after the last file
    first_data: np.ndarray  # (rows,) end of the first part
    total_requests: np.ndarray  # (rows,)
    total_bytes: np.ndarray  # (rows,)
    total_verified: np.ndarray  # (rows,)


def fastfile_epoch(
    sizes: np.ndarray,
    links: Links,
    params: PathParams,
    training: Training,
    start: np.ndarray,
    *,
    verified: Links | None = None,
    timer: Timer = EXACT_TIMER,
) -> FastFileEpoch:
    """One FastFile epoch per row from ``start``: files one at a time, parts with read-ahead.

    ``verified``: the links of a request that reads a whole object and checks its ETag (None:
    no check). Rows are taken in blocks of at most ``blocks.FASTFILE_BLOCK_CELLS`` (file, row)
    cells.
    """
    items, rows = sizes.shape
    block = max(1, blocks.FASTFILE_BLOCK_CELLS // max(1, items))
    pieces = [
        expand_steps(
            fastfile_parts(
                sizes[:, r : r + block],
                links,
                params,
                training,
                start[r : r + block],
                verified=verified,
                timer=timer,
            ),
            training,
            timer,
        )
        for r in range(0, rows, block)
    ]
    if not pieces:
        empty = np.zeros((0, 0))
        return FastFileEpoch(
            empty, empty, empty.astype(bool), np.zeros(0), empty, empty, empty, empty
        )
    # Each block of rows has its own number of steps: pad them to the longest, row by row,
    # then turn (rows, steps) into (steps, rows).
    longest = max(piece.step_end.shape[1] for piece in pieces)
    joined = {}
    for name in (f.name for f in fields(FastFileEpoch)):
        if name == "first_data_s":
            joined[name] = np.concatenate([piece.first_data_s for piece in pieces])
            continue
        if len(pieces) == 1:
            array = getattr(pieces[0], name)
        else:
            array = np.zeros((rows, longest), dtype=getattr(pieces[0], name).dtype)
            for number, piece in enumerate(pieces):
                values = getattr(piece, name)
                array[number * block : number * block + values.shape[0], : values.shape[1]] = values
        joined[name] = transposed(array)
    return FastFileEpoch(**joined)


# Columns of a (rows, steps) array transposed at once: the tile's source rows stay in cache
# and in the TLB, where one whole-array copy touches a fresh page for almost every element.
_TRANSPOSE_TILE = 2048


def transposed(array: np.ndarray) -> np.ndarray:
    """``array.T`` as a C-contiguous copy, made tile by tile (same values, several times
    faster than ``np.ascontiguousarray(array.T)`` for a few dozen rows of many steps)."""
    out = np.empty((array.shape[1], array.shape[0]), dtype=array.dtype)
    for start in range(0, array.shape[1], _TRANSPOSE_TILE):
        out[start : start + _TRANSPOSE_TILE] = array[:, start : start + _TRANSPOSE_TILE].T
    return out


def whole_objects(flat: np.ndarray, params: PathParams) -> np.ndarray:
    """FastFile requests that read a whole object (checked against its ETag when verifying):
    one part covers it, or, with random access, one record does."""
    limit = params.record_size if params.access == "random" else params.part_size
    return (flat > 0) & (flat <= limit)


@dataclass(frozen=True)
class FileLayout:
    """A block of rows' files as cells (row-major: cell = row * items + file), with what each
    file reads and what its row read before it."""

    rows: int
    items: int
    flat: np.ndarray  # (cells,) float64 object sizes
    whole: np.ndarray  # (cells,) bool: read whole and checked against the ETag
    link_s: float | np.ndarray  # seconds per byte on the link, per cell where they differ
    has_link: bool
    random_access: bool
    part_size: float | np.ndarray  # bytes per part (random access: per record, per cell)
    parts: np.ndarray  # (cells,) requests per file
    read: np.ndarray  # (cells,) bytes each file reads
    window: int  # parts in flight: read-ahead plus those one step needs
    checked: np.ndarray  # (rows, items) bytes checked against the ETag
    bytes_before: np.ndarray  # (cells,) bytes the row read before the file
    verified_before: np.ndarray  # (cells,) bytes the row checked before the file
    requests_before: np.ndarray  # (cells,) requests the row made before the file
    step: float  # bytes per step
    step_s: float  # seconds a full step holds the consumer


def file_layout(
    sizes: np.ndarray,
    links: Links,
    params: PathParams,
    training: Training,
    *,
    verified: Links | None,
    timer: Timer,
) -> FileLayout:
    """What each file of a block of rows reads, in parts or records, and what its row read
    before it; ``verified``: the links of a whole-object read checked against its ETag."""
    step = float(training.step_bytes)
    step_s = float(held_s(step / training.compute_bps if training.compute_bps > 0 else 0.0, timer))
    rows, items = sizes.shape[1], sizes.shape[0]
    flat = sizes.T.astype(np.float64).ravel()  # row-major: cell = row * items + file
    # Seconds per byte on the link: a whole object checked against its ETag costs more.
    per_byte = 1.0 / links.link_bps if links.link_bps else 0.0
    whole = whole_objects(flat, params) if verified is not None else np.zeros(flat.size, bool)
    link_s: float | np.ndarray = per_byte
    if whole.any():
        link_s = np.where(whole, 1.0 / verified.link_bps if verified.link_bps else 0.0, per_byte)
    random_access = params.access == "random"
    if random_access:
        part_size = np.minimum(flat, params.record_size)
        parts = np.where(flat > 0, params.reads_per_file, 0)
        read = part_size * params.reads_per_file
        window = 1
    else:
        part_size = float(params.part_size)
        parts = np.ceil(flat / part_size).astype(np.int64)
        read = flat
        window = params.read_ahead + max(1, math.ceil(step / part_size))
    by_row = (rows, items)
    checked = np.where(whole, read, 0.0).reshape(by_row)
    return FileLayout(
        rows=rows,
        items=items,
        flat=flat,
        whole=whole,
        link_s=link_s,
        has_link=bool(np.any(link_s)),
        random_access=random_access,
        part_size=part_size,
        parts=parts,
        read=read,
        window=window,
        checked=checked,
        bytes_before=(np.cumsum(read.reshape(by_row), axis=1) - read.reshape(by_row)).ravel(),
        verified_before=(np.cumsum(checked, axis=1) - checked).ravel(),
        requests_before=(np.cumsum(parts.reshape(by_row), axis=1) - parts.reshape(by_row)).ravel(),
        step=step,
        step_s=step_s,
    )


class PartRecords(NamedTuple):
    """Parts that complete at least one step, one entry each."""

    cell: np.ndarray  # the part's file
    part: np.ndarray  # the part's index in its file
    start: np.ndarray  # the consumer's start on the first step it completes, from the open
    steps: np.ndarray  # steps it completes
    requests: np.ndarray  # the row's requests up to and including it
    fetched: np.ndarray  # the row's bytes up to and including it
    verified: np.ndarray  # the row's bytes checked against their ETag, up to and including it


class PartWalk(NamedTuple):
    duration: np.ndarray  # (cells,) from each file's open until its last part is used
    first_end: np.ndarray  # (cells,) end of each file's first part, from its open
    records: list[PartRecords]  # one run per part index, each sorted by cell


def walk_parts(layout: FileLayout, links: Links) -> PartWalk:
    """Every file's parts from its open, one part index at a time (part j only for the files
    that have it): requests, the consumer's clock, and the parts that complete steps."""
    parts, step, window = layout.parts, layout.step, layout.window
    link_s = layout.link_s
    duration = np.zeros(layout.flat.size)
    first_end = np.zeros(layout.flat.size)
    # The files that have part j (None: all) and their state, in times from each file's open.
    cells = None
    gate = link = offset = running = 0.0
    crossed = np.floor(layout.bytes_before / step)  # step boundaries before the part, per file
    launch: list = [0.0] * window  # the consumer's clock when part j - window was used
    found: list[PartRecords] = []
    for j in range(int(parts.max(initial=0))):
        keep = parts > j if cells is None else parts[cells] > j
        if not keep.all():
            cells = np.flatnonzero(keep) if cells is None else cells[keep]
            gate, link, offset, running, crossed, *launch = (
                x if np.ndim(x) == 0 else x[keep]
                for x in (gate, link, offset, running, crossed, *launch)
            )

        def pick(values: np.ndarray, cells: np.ndarray | None = cells) -> np.ndarray:
            return values if cells is None else values[cells]

        if layout.random_access:
            part = pick(layout.part_size)
        else:
            part = np.minimum(layout.part_size, pick(layout.flat) - offset)
        issued = launch[j % window]
        first_byte = issued + links.latency_s
        if links.gate_interval_s:
            gate = np.maximum(gate, issued) + links.gate_interval_s
            first_byte = np.maximum(first_byte, gate)
        end = first_byte + part / links.connection_bps
        if layout.has_link:
            link = np.maximum(link, first_byte) + part * (
                link_s if np.ndim(link_s) == 0 else pick(link_s)
            )
            end = np.maximum(end, link)
        offset = offset + part
        through = pick(layout.bytes_before) + offset  # bytes used once the part is
        checked_through = pick(layout.verified_before) + np.where(pick(layout.whole), offset, 0.0)
        done = np.floor(through / step)
        done, crossed = done - crossed, done
        step_start = np.maximum(running, end)
        running = step_start + done * layout.step_s
        launch[j % window] = running
        if cells is None:
            duration[:] = running
        else:
            duration[cells] = running
        if j == 0:
            first_end[slice(None) if cells is None else cells] = end
        completes = np.flatnonzero(done)
        cell = completes if cells is None else cells[completes]
        found.append(
            PartRecords(
                cell=cell,
                part=np.full(cell.size, j),
                start=step_start[completes],
                steps=done[completes],
                requests=layout.requests_before[cell] + (j + 1.0),
                fetched=through[completes],
                verified=checked_through[completes],
            )
        )
    return PartWalk(duration, first_end, found)


def chain_files(layout: FileLayout, walk: PartWalk, start: np.ndarray) -> Parts:
    """The files of each row one after another from ``start``, by a cumulative sum of their
    durations: each part record's start becomes a time of the epoch."""
    rows, items = layout.rows, layout.items
    by_row = (rows, items)
    duration = walk.duration.reshape(by_row)
    through_files = np.cumsum(duration, axis=1)
    opened = (through_files - duration + start[:, None]).ravel()
    has_parts = layout.parts.reshape(by_row) > 0
    first = np.arange(rows) * items + has_parts.argmax(axis=1)
    first_data = np.where(has_parts.any(axis=1), opened[first] + walk.first_end[first], start)
    running = start + through_files[:, -1] if items else start.astype(np.float64)
    found = walk.records
    if found:
        records = PartRecords(*(np.concatenate(a) for a in zip(*found, strict=True)))
        if len(found) > 1:  # sorted runs, one per part index: a stable sort merges them
            order = np.argsort(records.cell * len(found) + records.part, kind="stable")
            records = PartRecords(*(a[order] for a in records))
        begin = records.start + opened[records.cell]
        row = records.cell // items
        steps, requests = records.steps, records.requests
        fetched, checked_bytes = records.fetched, records.verified
    else:
        row = np.zeros(0, dtype=np.int64)
        begin = steps = requests = fetched = checked_bytes = np.zeros(0)
    return Parts(
        row=row,
        start=begin,
        steps=steps.astype(np.int64),
        requests=requests,
        bytes=fetched,
        verified=checked_bytes,
        running=running,
        first_data=first_data,
        total_requests=layout.parts.reshape(by_row).sum(axis=1).astype(np.float64),
        total_bytes=layout.read.reshape(by_row).sum(axis=1),
        total_verified=layout.checked.sum(axis=1),
    )


def fastfile_parts(
    sizes: np.ndarray,
    links: Links,
    params: PathParams,
    training: Training,
    start: np.ndarray,
    *,
    verified: Links | None = None,
    timer: Timer = EXACT_TIMER,
) -> Parts:
    """The parts of every file of a block of rows, without a loop over files.

    A file opens when the consumer is done with everything before it, so every earlier request
    has ended and the host's gate and link are idle: a file's timeline measured from its open
    depends only on the file and on the partial step carried into it (known from the
    cumulative bytes). So all files are worked out together, one part index at a time (part j
    only for the files that have it), and chained by a cumulative sum of their durations.
    """
    layout = file_layout(sizes, links, params, training, verified=verified, timer=timer)
    return chain_files(layout, walk_parts(layout, links), start)


def expand_steps(parts: Parts, training: Training, timer: Timer = EXACT_TIMER) -> FastFileEpoch:
    """Part records to per-step arrays, with the partial step at the end of the epoch; the
    arrays are (rows, steps), the transpose of ``FastFileEpoch``'s.

    The steps a part completes run back to back from its ``start``; a step's requests and
    bytes are those made since the previous step's part.
    """
    rows = parts.running.size
    step = float(training.step_bytes)
    step_s = step / training.compute_bps if training.compute_bps > 0 else 0.0
    pending = parts.total_bytes - np.floor(parts.total_bytes / step) * step
    compute_last = pending / training.compute_bps if training.compute_bps > 0 else 0 * pending
    tail = np.flatnonzero(pending > 0)
    row = np.concatenate((parts.row, tail))
    order = np.argsort(row, kind="stable")
    row = row[order]
    begin = np.concatenate((parts.start, parts.running[tail]))[order]
    steps = np.concatenate((parts.steps, np.ones(tail.size, dtype=np.int64)))[order]
    requests = np.concatenate((parts.requests, parts.total_requests[tail]))[order]
    fetched = np.concatenate((parts.bytes, parts.total_bytes[tail]))[order]
    checked = np.concatenate((parts.verified, parts.total_verified[tail]))[order]
    partial = np.concatenate((np.zeros(parts.row.size, bool), np.ones(tail.size, bool)))[order]

    record = np.repeat(np.arange(row.size), steps)
    index = np.arange(record.size)
    within = index - (np.cumsum(steps) - steps)[record] + 1
    step_row = row[record]
    per_row = np.bincount(step_row, minlength=rows)
    position = index - (np.cumsum(per_row) - per_row)[step_row]
    last = partial[record]
    compute = np.where(last, compute_last[step_row], step_s)
    held = held_s(compute, timer)
    ends = begin[record] + np.where(last, held, within * float(held_s(step_s, timer)))
    # Requests and bytes made since the previous step: every step of a record after its
    # first made none, so only each record's first step needs a value (its record's total
    # less the previous record's in the same row, or the whole total at a row's start).
    owning = np.flatnonzero(steps > 0)
    first_step = (np.cumsum(steps) - steps)[owning]
    same_row = np.zeros(owning.size, dtype=bool)
    same_row[1:] = row[owning[1:]] == row[owning[:-1]]

    # The records run row by row, so writing them into (rows, steps) is sequential; the
    # caller transposes.
    longest = int(per_row.max(initial=0))
    cell = step_row * longest + position

    def by_step(values: np.ndarray | bool, dtype: type = np.float64) -> np.ndarray:
        array = np.zeros(rows * longest, dtype=dtype)
        array[cell] = values
        return array.reshape(rows, longest)

    def since_previous(through: np.ndarray) -> np.ndarray:
        values = through[owning]
        difference = values.copy()
        np.subtract(values[1:], values[:-1], out=difference[1:], where=same_row[1:])
        array = np.zeros(rows * longest, dtype=np.float64)
        array[cell[first_step]] = difference
        return array.reshape(rows, longest)

    step_end, step_compute, step_held = (by_step(values) for values in (ends, compute, held))
    step_requests, step_fetched, step_checked = (
        since_previous(through) for through in (requests, fetched, checked)
    )
    active = by_step(True, bool)
    return FastFileEpoch(
        step_end,
        step_compute,
        active,
        parts.first_data,
        step_requests,
        step_fetched,
        step_checked,
        step_held,
    )


def consume_paced(
    ff: FastFileEpoch,
    start: np.ndarray,
    barrier: bool,
    *,
    fetch_start: np.ndarray | None = None,
    request_s: float = 0.0,
    byte_s: float = 0.0,
    verify_s: float = 0.0,
) -> EpochOutcome:
    """FastFile: the consumer paces its own fetches, so a barrier wait shifts what follows.

    With a barrier the hosts move step by step together, so a shared endpoint serves only the
    hosts still fetching: a step lasts as long as its slowest host would take alone, or as long
    as the endpoint needs for every host's requests (``request_s`` each) and bytes (``byte_s``
    each, plus ``verify_s`` for those checked against their ETag on the same CPU) of that step
    plus its compute, whichever is longer (``ff`` then comes from a fetch that had the endpoint
    to itself).
    """
    rows = start.size
    steps = ff.step_end.shape[0]
    compute_total = ff.compute.sum(axis=0)
    lateness = np.where(ff.active, ff.held - ff.compute, 0.0).sum(axis=0)
    if steps == 0:
        return EpochOutcome(start.copy(), compute_total, np.zeros(rows))
    last_step = ff.active.sum(axis=0) - 1
    has_steps = last_step >= 0
    index = np.maximum(last_step, 0)
    if not barrier:
        end = np.where(has_steps, ff.step_end[index, np.arange(rows)], start)
        return EpochOutcome(end, compute_total, np.zeros(rows), lateness)
    previous = np.vstack((start[None, :], ff.step_end[:-1]))
    duration = np.where(ff.active, ff.step_end - previous, -np.inf)
    duration[0] = np.where(ff.active[0], ff.step_end[0], -np.inf)  # step 0: absolute
    longest = duration.max(axis=1)
    longest = np.where(np.isfinite(longest), longest, 0.0)
    c_max = np.where(ff.active, ff.held, 0.0).max(axis=1)
    endpoint = np.maximum(
        ff.step_requests.sum(axis=1) * request_s,
        ff.step_bytes.sum(axis=1) * byte_s + ff.step_verified.sum(axis=1) * verify_s,
    )
    endpoint = np.where(endpoint > 0, endpoint + c_max, 0.0)
    if fetch_start is not None:
        endpoint[0] += float(fetch_start.max())
    longest = np.maximum(longest, endpoint)
    release = np.cumsum(longest)
    released_before = np.concatenate(([0.0], release[:-1]))
    own_end = np.where(
        np.arange(steps)[:, None] == 0, ff.step_end[:1], released_before[:, None] + duration
    )
    wait = np.where(ff.active, release[:, None] - own_end, 0.0)
    end = np.where(has_steps, release[index], start)
    return EpochOutcome(end, compute_total, wait.sum(axis=0), lateness)


def parts_per_row(sizes: np.ndarray, part_size: int) -> np.ndarray:
    """Per row, the parts of ``part_size`` its objects are read in (ceil per object).

    Item rows are taken a few thousand at a time so the temporaries stay small.
    """
    total = np.zeros(sizes.shape[1], dtype=np.int64)
    for a in range(0, sizes.shape[0], blocks.PARTS_BLOCK_ITEMS):
        block = sizes[a : a + blocks.PARTS_BLOCK_ITEMS]
        total += ((block + (part_size - 1)) // part_size).sum(axis=0)
    return total


class Readers(NamedTuple):
    """How a FastFile host's files are dealt to its readers, and what paces each."""

    lanes: int  # readers that get files: training.readers, at most the files of a host
    training: Training  # one reader's pace: the host's compute rate, steps of step/lanes


def readers_of(inputs: ModeInputs) -> Readers:
    """The readers of each host: each is a lane paced as if the consumer served it alone, in
    steps of 1/lanes of ``step_bytes`` at the full compute rate."""
    training = inputs.training
    lanes = max(1, min(training.readers, inputs.shards.sizes.shape[0]))
    if lanes == 1:
        return Readers(1, training)
    step = max(1, training.step_bytes // lanes)
    # Lanes multiply the (step, row) cells by ``lanes``: merge steps to keep them bounded.
    lane_bytes = np.full(inputs.rows * lanes, float(inputs.shard_bytes.max(initial=0)) / lanes)
    step = coarsen_steps(step, lane_bytes, max(1, inputs.max_steps))
    return Readers(lanes, replace(training, step_bytes=step))


def deal_to_readers(ordered: np.ndarray, lanes: int) -> np.ndarray:
    """``(items, rows)`` in read order to ``(ceil(items / lanes), rows x lanes)``: file i of
    row h goes to column h x lanes + i mod lanes, in order (zero-byte padding at the end)."""
    if lanes == 1:
        return ordered
    items, rows = ordered.shape
    per_lane = -(-items // lanes)
    padded = np.zeros((per_lane * lanes, rows), dtype=ordered.dtype)
    padded[:items] = ordered
    return np.ascontiguousarray(
        padded.reshape(per_lane, lanes, rows).transpose(0, 2, 1).reshape(per_lane, rows * lanes)
    )


def split_links(links: Links, lanes: int) -> Links:
    """A reader's share of its host's clocks: every ``lanes``-th gate slot and 1/lanes of the
    link, fixed (as hosts share an endpoint); latency and one connection's bandwidth are its
    own."""
    if lanes == 1:
        return links
    return replace(
        links,
        gate_interval_s=links.gate_interval_s * lanes,
        link_bps=links.link_bps / lanes,
        gate=np.repeat(links.gate, lanes),
        link=np.repeat(links.link, lanes),
        sharing_hosts=links.sharing_hosts * lanes,
    )


def fold_readers(
    outcome: EpochOutcome,
    lanes: int,
    *,
    start: np.ndarray,
    lane_bytes: np.ndarray,
    training: Training,
    timer: Timer,
) -> EpochOutcome:
    """Lanes back to hosts. The host's one consumer takes every step in series, so its epoch
    ends with its last reader or once it has held all its steps (``step_bytes`` each, the
    last partial) from ``start`` plus its barrier wait, whichever is later. Compute is the
    lanes' sum; the barrier wait their mean."""
    if lanes == 1:
        return outcome

    def per_host(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(-1, lanes)

    consumed = per_host(lane_bytes).sum(axis=1)
    step = float(training.step_bytes)
    rate = training.compute_bps
    full_steps = np.floor(consumed / step)
    partial = consumed - full_steps * step
    held = 0.0 * consumed
    if rate > 0:
        held = full_steps * held_s(step / rate, timer) + held_s(partial / rate, timer)
    compute = per_host(outcome.compute).sum(axis=1)
    barrier = per_host(outcome.barrier).sum(axis=1) / lanes
    end = np.maximum(per_host(outcome.end).max(axis=1), start + held + barrier)
    return EpochOutcome(end, compute, barrier, held - compute)


def merge_lanes(
    ff: FastFileEpoch, lanes: int, *, start: np.ndarray, training: Training, timer: Timer
) -> EpochOutcome:
    """Several readers under a barrier: each host's lanes (``ff``'s rows, ``lanes`` per host,
    fetched as without a barrier) merged into one stream in time order, from which the host's
    one consumer takes steps of ``step_bytes`` in series, the barrier syncing the hosts'
    consumer steps (``consume``), from ``start``.

    A lane step's bytes (those fetched since the lane's previous step) are ready at the lane's
    start on it (its end less what it held the lane); a host step's data once the merged
    stream holds its last byte.
    The barrier's delay is not fed back into the lanes' pacing: they ask for their next piece
    as if the consumer never waited at the barrier."""
    hosts = start.size
    lane_steps = ff.step_end.shape[0]

    def per_host(values: np.ndarray) -> np.ndarray:  # (steps, hosts x lanes) -> (hosts, n)
        return transposed(values).reshape(hosts, lanes * lane_steps)

    ready = per_host(np.where(ff.active, ff.step_end - ff.held, np.inf))
    # Entries with the same ready time give the same step time in any order: no stable sort.
    order = np.argsort(ready, axis=1)
    ready = np.take_along_axis(ready, order, axis=1)
    arrived = np.take_along_axis(per_host(np.where(ff.active, ff.step_bytes, 0.0)), order, axis=1)
    through = np.cumsum(arrived, axis=1)
    total = through[:, -1] if through.shape[1] else np.zeros(hosts)
    # One search over every host: offset each host's running total by the bytes of the hosts
    # before it, which keeps the whole non-decreasing.
    before = np.cumsum(total) - total
    step = float(training.step_bytes)
    steps = most_steps(total, step)
    target = step_positions(total, step, steps) + before[None, :]
    # Asked host by host, the targets rise, and a search of sorted queries stays in cache.
    found = np.searchsorted(
        (through + before[:, None]).ravel(), np.ascontiguousarray(target.T), side="left"
    ).T
    last = (np.arange(hosts) + 1) * through.shape[1] - 1
    found = np.minimum(found, last[None, :])
    compute, active = step_compute(total, step, steps, training.compute_bps)
    avail = np.where(active, ready.ravel()[found] if found.size else 0.0, 0.0)
    return consume(avail, compute, active, start, True, timer)


def first_data_of_hosts(
    first_data: np.ndarray, lane_sizes: np.ndarray, begin: np.ndarray, lanes: int
) -> np.ndarray:
    """A host's first data: the first of its readers that has bytes to read (its epoch's
    start when none has)."""
    has_data = (lane_sizes > 0).any(axis=0)
    first = np.where(has_data, first_data, np.inf).reshape(-1, lanes).min(axis=1)
    return np.where(np.isfinite(first), first, begin)


def first_read_s(inputs: ModeInputs, listing_s: float) -> np.ndarray:
    """Per row, the end of the listing plus the first read alone: of the first files, one per
    reader, the one that answers first (a first read that covers its whole object is checked
    against the ETag when the path verifies)."""
    sizes, params = inputs.shards.sizes, inputs.params
    lanes = readers_of(inputs).lanes
    first = sizes[:lanes] if sizes.shape[0] else np.zeros((1, inputs.rows), dtype=np.int64)
    random_access = params.access == "random"
    first_read = np.minimum(first, params.record_size if random_access else params.part_size)
    first_read = first_read.astype(np.float64)
    links = split_links(inputs.links(), lanes)
    first_alone = request_alone(links, first_read, first_read > 0)
    if params.verify_etag:
        checked_links = split_links(inputs.links(verify=True), lanes)
        checked = request_alone(checked_links, first_read, first_read > 0)
        first_alone = np.where(whole_objects(first, params), checked, first_alone)
    soonest = np.where(first > 0, first_alone, np.inf).min(axis=0)
    return np.where(np.isfinite(soonest), listing_s + soonest, listing_s)


def play_epochs(inputs: ModeInputs, listing: np.ndarray, epochs_out: EpochColumns) -> None:
    """Every epoch from the end of the listing, the consumer pacing its own fetches; with
    several readers each is a lane of its own (``readers_of``), folded back into its host
    (``fold_readers``), or under a barrier merged into its host's one consumer
    (``merge_lanes``)."""
    shards, storage, params, training = (
        inputs.shards,
        inputs.storage,
        inputs.params,
        inputs.training,
    )
    verify = params.verify_etag
    readers = readers_of(inputs)
    lanes = readers.lanes
    begin = listing.copy()
    # With a barrier one reader per host fetches step by step with the other hosts and the
    # endpoint's share is settled by consume_paced: each fetch then has the endpoint to
    # itself. Several readers fetch as without a barrier (``merge_lanes``).
    merged = inputs.barrier and lanes > 1
    share = 1 if inputs.barrier and not merged else shards.reading_hosts
    verify_s = 0.0
    if verify and storage.verify_bps > 0 and storage.endpoint_bps > 0:
        verify_s = 1 / storage.verify_bps  # the endpoint's CPU also hashes
    for epoch in range(training.epochs):
        ordered = epoch_order(shards.sizes, shards.counts, training.shuffle_seed, epoch)
        lane_sizes = deal_to_readers(ordered, lanes)
        lane_begin = np.repeat(begin, lanes)
        alone = split_links(inputs.links(sharing_hosts=share), lanes)
        checked_links = (
            split_links(inputs.links(sharing_hosts=share, verify=True), lanes) if verify else None
        )
        ff = fastfile_epoch(
            lane_sizes,
            alone,
            params,
            readers.training,
            lane_begin,
            verified=checked_links,
            timer=inputs.timer,
        )
        if epoch == 0:
            start = first_data_of_hosts(ff.first_data_s, lane_sizes, begin, lanes)
        else:
            start = begin
        if merged:
            host = merge_lanes(ff, lanes, start=start, training=training, timer=inputs.timer)
            epochs_out.record(epoch=epoch, start=start, outcome=host)
            begin = host.end
            continue
        outcome = consume_paced(
            ff,
            ff.first_data_s if epoch == 0 else lane_begin,
            inputs.barrier,
            fetch_start=lane_begin,
            request_s=1 / storage.requests_per_s if storage.requests_per_s > 0 else 0.0,
            byte_s=1 / storage.endpoint_bps if storage.endpoint_bps > 0 else 0.0,
            verify_s=verify_s,
        )
        host = fold_readers(
            outcome,
            lanes,
            start=start,
            lane_bytes=ff.step_bytes.sum(axis=0),
            training=training,
            timer=inputs.timer,
        )
        epochs_out.record(epoch=epoch, start=start, outcome=host)
        begin = host.end


def model_fastfile(inputs: ModeInputs) -> ModeTimeline:
    """FastFile: list the prefix, then fetch on demand; startup is the listing and the first
    read."""
    sizes, params, epochs = inputs.shards.sizes, inputs.params, inputs.training.epochs
    listing_time = prefix_listing_s(inputs.listed, inputs.storage, inputs.shards.reading_hosts)
    listing = np.full(inputs.rows, listing_time)
    if params.access == "random":
        read = np.minimum(sizes, params.record_size) * params.reads_per_file
        fetched = read.sum(axis=0).astype(np.float64) * epochs
        gets = np.sum(np.where(sizes > 0, params.reads_per_file, 0), axis=0) * epochs
    else:
        fetched = inputs.shard_bytes * epochs
        gets = parts_per_row(sizes, params.part_size) * epochs
    startup = first_read_s(inputs, listing_time)
    played = inputs.unplayed()
    if not inputs.startup_only:
        play_epochs(inputs, listing, played)
        startup = played.start_s[0]
    return ModeTimeline(
        startup_s=startup,
        epochs=played,
        gets=gets,
        bytes_fetched=fetched,
        listing_s=listing,
        lists=np.full(inputs.rows, list_pages(inputs.listed), dtype=np.int64),
    )
