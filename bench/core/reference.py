"""A slow, obvious simulation of the timeline model's semantics, for tests.

Object by object and step by step in plain Python: a heap of connection free times for File
mode's list scheduling, a deque of objects in flight for Pipe, parts and reads one by one for
FastFile, and the step barrier as an explicit release per step. It implements the semantics
written in ``bench.core.model``'s docstring without any of its vectorisation or merging, so
the two agree to rounding on every case the model computes exactly.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from bench.core.model import (
    LIST_PAGE_KEYS,
    MODES,
    PIPE_HELD_CHUNKS,
    PathParams,
    Storage,
    Training,
)


class _Host:
    """One host's request gate and link clocks."""

    def __init__(
        self,
        storage: Storage,
        sharing_hosts: int,
        *,
        volume: bool,
        verify: bool = False,
        readers: int = 1,
    ) -> None:
        """``readers``: the host's clocks split evenly over that many readers, this one's
        share (every ``readers``-th gate slot, 1/readers of the link)."""
        self.latency = storage.latency_s
        self.bw = storage.connection_bps
        self.gate_interval = (
            sharing_hosts * readers / storage.requests_per_s if storage.requests_per_s > 0 else 0.0
        )
        caps = [storage.nic_bps]
        endpoint_bps = storage.endpoint_bps
        if verify and storage.verify_bps > 0:
            if endpoint_bps > 0:  # one CPU serves the bytes and hashes them
                endpoint_bps = 1.0 / (1.0 / endpoint_bps + 1.0 / storage.verify_bps)
            else:
                caps.append(storage.verify_bps)
        if endpoint_bps > 0:
            caps.append(endpoint_bps / sharing_hosts)
        if volume:
            caps.append(storage.volume_write_bps)
        caps = [c for c in caps if c > 0]
        self.link_bps = min(caps) / readers if caps else 0.0
        self.gate = 0.0
        self.link = 0.0

    def get(
        self,
        start: float,
        nbytes: float,
        tail_from: float = 0.0,
        tail: float = 0.0,
        link_bps: float | None = None,
    ):
        """One request; ``link_bps`` overrides the link's rate for it (a checked object)."""
        first_byte = start + self.latency
        if self.gate_interval:
            self.gate = max(self.gate, start) + self.gate_interval
            first_byte = max(first_byte, self.gate)
        end = max(first_byte + nbytes / self.bw, tail_from + tail / self.bw)
        rate = self.link_bps if link_bps is None else link_bps
        if rate:
            self.link = max(self.link, first_byte) + nbytes / rate
            end = max(end, self.link)
        return first_byte, end


def _held(compute: float, storage: Storage) -> float:
    """Seconds a step of ``compute`` holds the consumer: up to the next whole timer tick, plus
    the wake-up latency."""
    if compute <= 0:
        return 0.0
    tick = storage.timer_tick_s
    ticked = math.ceil(compute / tick) * tick if tick > 0 else compute
    return ticked + storage.timer_wake_s


def _whole(size: int, params: PathParams) -> bool:
    """A FastFile request that reads the whole object (checked against its ETag)."""
    limit = params.record_size if params.access == "random" else params.part_size
    return 0 < size <= limit


def _shards(sizes: list[int], hosts: int, distribution: str, assignment: str) -> list[list[int]]:
    if distribution == "FullyReplicated":
        return [list(sizes) for _ in range(hosts)]
    if assignment == "round-robin":
        return [sizes[h::hosts] for h in range(hosts)]
    quotient, remainder = divmod(len(sizes), hosts)
    out, start = [], 0
    for h in range(hosts):
        count = quotient + (h < remainder)
        out.append(sizes[start : start + count])
        start += count
    return out


def _order(objects: list[int], seed: int | None, epoch: int) -> list[int]:
    if seed is None:
        return objects
    order = np.random.default_rng([seed, epoch]).permutation(len(objects))
    return [objects[i] for i in order]


def _steps(total: int, step_bytes: int, compute_bps: float) -> list[tuple[int, float]]:
    """(position of the step's last byte, compute seconds) per step."""
    out, position = [], 0
    while position < total:
        amount = min(step_bytes, total - position)
        position += amount
        out.append((position, amount / compute_bps if compute_bps > 0 else 0.0))
    return out


def _run_steps(avail: list[list[float]], compute: list[list[float]], starts, barrier, storage):
    """Steps with data ready at ``avail``; returns per host (end, compute, barrier wait)."""
    hosts = len(avail)
    clock = list(starts)
    waits = [0.0] * hosts
    longest = max((len(a) for a in avail), default=0)
    for s in range(longest):
        ends = {}
        for h in range(hosts):
            if s < len(avail[h]):
                ends[h] = max(clock[h], avail[h][s]) + _held(compute[h][s], storage)
        if barrier and ends:
            release = max(ends.values())
            for h, end in ends.items():
                waits[h] += release - end
                clock[h] = release
        else:
            for h, end in ends.items():
                clock[h] = end
    return clock, [sum(c) for c in compute], waits


def simulate(
    sizes,
    *,
    hosts: int,
    storage: Storage,
    distribution: str = "ShardedByS3Key",
    assignment: str = "round-robin",
    params: PathParams | None = None,
    training: Training | None = None,
    modes: tuple[str, ...] = MODES,
    prefix_objects: int | None = None,
) -> dict[str, dict[str, list]]:
    """Per mode: ``startup_s`` per host and ``epoch_start_s``, ``epoch_s``, ``stall_s``,
    ``barrier_s``, ``compute_s`` per epoch and host, plus ``end_s``, ``gets``, ``lists``,
    ``listing_s`` (the end of FastFile's listing, else 0), ``objects`` and ``bytes`` per host."""
    params = params or PathParams()
    training = training or Training()
    sizes = [int(s) for s in sizes]
    shards = _shards(sizes, hosts, distribution, assignment)
    reading = sum(1 for s in shards if s) or 1
    barrier = training.barrier and hosts > 1 and distribution != "FullyReplicated"
    listed = len(sizes) if prefix_objects is None else prefix_objects
    replicated = distribution == "FullyReplicated"
    return {
        mode: _simulate_mode(
            mode, shards, storage, params, training, reading, barrier, listed, replicated
        )
        for mode in modes
    }


def _burst_waits(shards, storage, params, training, reading, replicated) -> list[float]:
    """Pipe on an endpoint that works on a burst together: when each host's first answer can
    come. The first ``prefetch`` requests of every host go out at once, host after host; the
    first answer comes after the whole burst's count x burst cost, and each host's first
    request waits besides for a gate slot of the whole endpoint and the whole-object bytes of
    every request issued before it. FullyReplicated hosts all take the last host's. A single
    request is no burst (0)."""
    window = max(1, params.prefetch)
    bursts = [_order(objects, training.shuffle_seed, 0)[:window] for objects in shards]
    slot = 1 / storage.requests_per_s if storage.requests_per_s > 0 else 0.0
    per_byte = 1 / storage.endpoint_bps if storage.endpoint_bps > 0 else 0.0
    count = sum(1 for burst in bursts for size in burst if size > 0)
    if not storage.burst_s_per_request or window <= 1 or count <= 1:
        return [0.0] * len(shards)
    waits, before = [], 0.0
    for burst in bursts:
        waits.append(count * storage.burst_s_per_request + before)
        before += sum(slot + size * per_byte for size in burst if size > 0)
    if replicated:
        waits = [max(waits)] * len(waits)
    return waits


@dataclass(frozen=True)
class _Case:
    """What every epoch of one mode reads from: the shards and the job around them."""

    shards: list[list[int]]
    storage: Storage
    params: PathParams
    training: Training
    reading: int  # hosts that read anything (they share the endpoint)
    barrier: bool


@dataclass(frozen=True)
class _Epoch:
    """One epoch per host: when it started and ended, and where the time went."""

    starts: list[float]
    ends: list[float]
    compute: list[float]
    waits: list[float]  # at the step barrier
    late: list[float]  # compute steps held past their length by the consumer's timer
    gets: list[int]


def _file_download(case: _Case) -> tuple[list[float], list[int]]:
    """File mode's download to the volume before training: (startup, GETs) per host, each
    host's objects list-scheduled over its connections."""
    startup, gets = [], []
    for objects in case.shards:
        link = _Host(case.storage, case.reading, volume=True, verify=case.params.verify_etag)
        free = [0.0] * max(1, case.params.concurrency)
        heapq.heapify(free)
        last = 0.0
        for size in objects:
            start = heapq.heappop(free)
            end = start if size == 0 else link.get(start, size)[1]
            heapq.heappush(free, end)
            last = max(last, end)
        startup.append(last)
        gets.append(len(objects))
    return startup, gets


def _fastfile_listing(case: _Case, listed: int) -> tuple[list[float], list[int]]:
    """FastFile's listing of the prefix before the first read: (seconds, LIST pages) per host."""
    storage = case.storage
    pages = max(1, math.ceil(listed / LIST_PAGE_KEYS))
    stretch = max(1.0, case.reading / storage.list_parallel) if storage.list_parallel > 0 else 1.0
    alone = 0.0
    for page in range(pages):  # every page full but the last
        keys = min(LIST_PAGE_KEYS, listed - page * LIST_PAGE_KEYS)
        alone += storage.list_page_s - (LIST_PAGE_KEYS - keys) * storage.list_key_s
    hosts = len(case.shards)
    return [max(alone, 0.0) * stretch] * hosts, [pages] * hosts


def _stepped(case: _Case, avail, compute, starts, gets) -> _Epoch:
    """An epoch whose steps wait for data ready at ``avail`` (File and Pipe)."""
    ends, compute_s, waits = _run_steps(avail, compute, starts, case.barrier, case.storage)
    late = [sum(_held(c, case.storage) - c for c in host_compute) for host_compute in compute]
    return _Epoch(starts, ends, compute_s, waits, late, gets)


def _file_epoch(case: _Case, epoch: int, begin: list[float]) -> _Epoch:
    """Training from the volume: each step's data is read from it at its read rate."""
    training, rate = case.training, case.storage.volume_read_bps
    avail, compute, starts = [], [], []
    for h, objects in enumerate(case.shards):
        ordered = _order(objects, training.shuffle_seed, epoch)
        steps = _steps(sum(ordered), training.step_bytes, training.compute_bps)
        avail.append([begin[h] + (p / rate if rate > 0 else 0.0) for p, _ in steps])
        compute.append([c for _, c in steps])
        starts.append(begin[h])
    return _stepped(case, avail, compute, starts, [0] * len(case.shards))


def _pipe_hosts_epoch(
    case: _Case, epoch: int, begin: list[float], burst_waits: list[float]
) -> _Epoch:
    training = case.training
    avail, compute, starts, gets = [], [], [], []
    for h, objects in enumerate(case.shards):
        ordered = _order(objects, training.shuffle_seed, epoch)
        origin = begin[h] if epoch else 0.0
        first, a = _pipe_epoch(
            ordered, case.storage, case.params, training, case.reading, origin, burst_waits[h]
        )
        avail.append(a)
        compute.append(
            [c for _, c in _steps(sum(ordered), training.step_bytes, training.compute_bps)]
        )
        starts.append(first if epoch == 0 else begin[h])
        gets.append(len(ordered))
    return _stepped(case, avail, compute, starts, gets)


def _lanes(case: _Case) -> tuple[int, Training]:
    """A FastFile host's readers, and the training each one is paced by alone."""
    training = case.training
    lanes = max(1, min(training.readers, max((len(s) for s in case.shards), default=0)))
    if lanes == 1:
        return lanes, training
    return lanes, Training(
        epochs=training.epochs,
        compute_bps=training.compute_bps,
        step_bytes=max(1, training.step_bytes // lanes),
        barrier=training.barrier,
        shuffle_seed=training.shuffle_seed,
    )


def _fastfile_hosts_epoch(case: _Case, epoch: int, begin: list[float]) -> _Epoch:
    lanes, lane_training = _lanes(case)
    paced, lane_starts, lane_fetch, starts, gets = [], [], [], [], []
    # Each reader is a lane: files i, i + lanes, ... of the epoch's order, paced as if the
    # consumer served it alone (steps of step_bytes // lanes at the full compute rate), on
    # 1/lanes of the host's clocks. One reader under a barrier fetches step by step with the
    # other hosts and _paced_barrier settles the endpoint's share; lanes fetch as without one.
    merged = case.barrier and lanes > 1
    sharing = 1 if case.barrier and not merged else case.reading
    for h, objects in enumerate(case.shards):
        ordered = _order(objects, case.training.shuffle_seed, epoch)
        firsts, host_gets = [], 0
        for lane in range(lanes):
            mine = ordered[lane::lanes]
            first, ends, cs, reqs, nbytes, n, checked, ready = _fastfile_epoch(
                mine, case.storage, case.params, lane_training, sharing, begin[h], lanes
            )
            paced.append((ends, cs, reqs, nbytes, checked, ready))
            lane_starts.append(first if epoch == 0 else begin[h])
            lane_fetch.append(begin[h])
            if any(size > 0 for size in mine):
                firsts.append(first)
            host_gets += n
        starts.append(min(firsts, default=begin[h]) if epoch == 0 else begin[h])
        gets.append(host_gets)
    if merged:
        return _merged_lanes(case, lanes, paced, starts, gets)
    lane_ends, lane_compute, lane_waits = _paced_barrier(
        paced, lane_starts, lane_fetch, case.barrier, case.storage, case.params.verify_etag
    )
    if lanes == 1:
        late = [sum(_held(c, case.storage) - c for c in p[1]) for p in paced]
        return _Epoch(starts, lane_ends, lane_compute, lane_waits, late, gets)
    return _one_consumer(case, lanes, paced, starts, lane_ends, lane_compute, lane_waits, gets)


def _merged_lanes(case: _Case, lanes: int, paced, starts, gets) -> _Epoch:
    """Several readers under a barrier: each host's lanes, fetched as without a barrier, are
    merged into one stream in time order, and the host's one consumer takes steps of
    ``step_bytes`` from it, the barrier syncing the hosts' consumer steps.

    A lane step's bytes (those fetched since the lane's previous step) are ready when the
    lane, paced alone, could start that step; a host step's data are ready once the merged
    stream holds its last byte. The barrier's delay is not fed back into the lanes' pacing:
    they ask for their next piece as if the consumer never waited at the barrier."""
    training = case.training
    avail, compute = [], []
    for h in range(len(case.shards)):
        arrivals = sorted(
            (ready, nbytes)
            for lane in paced[h * lanes : (h + 1) * lanes]
            for ready, nbytes in zip(lane[5], lane[3], strict=True)
        )
        total = sum(nbytes for _, nbytes in arrivals)
        steps = _steps(total, training.step_bytes, training.compute_bps)
        host_avail, k, through = [], 0, 0
        for position, _ in steps:
            while through < position:  # the arrival that brings the step's last byte
                through += arrivals[k][1]
                k += 1
            host_avail.append(arrivals[k - 1][0])
        avail.append(host_avail)
        compute.append([c for _, c in steps])
    return _stepped(case, avail, compute, starts, gets)


def _one_consumer(
    case: _Case, lanes: int, paced, starts, lane_ends, lane_compute, lane_waits, gets
) -> _Epoch:
    """One consumer takes every step of its host in series: the epoch ends with the last
    reader, or once the consumer has held each step from its start (plus its mean barrier
    wait), whichever is later."""
    training = case.training
    ends, compute, waits, late = [], [], [], []
    for h in range(len(case.shards)):
        mine = range(h * lanes, (h + 1) * lanes)
        consumed = sum(sum(paced[i][3]) for i in mine)
        steps = _steps(consumed, training.step_bytes, training.compute_bps)
        held = sum(_held(c, case.storage) for _, c in steps)
        compute.append(sum(lane_compute[i] for i in mine))
        waits.append(sum(lane_waits[i] for i in mine) / lanes)
        ends.append(max(max(lane_ends[i] for i in mine), starts[h] + held + waits[h]))
        late.append(held - compute[h])
    return _Epoch(starts, ends, compute, waits, late, gets)


def _summary(epochs: list[_Epoch], startup, end, gets, lists, listing) -> dict[str, list]:
    def stall(e: _Epoch) -> list[float]:
        return [
            max(e.ends[h] - e.starts[h] - e.compute[h] - e.waits[h] - e.late[h], 0.0)
            for h in range(len(e.starts))
        ]

    return {
        "startup_s": startup,
        "end_s": end,
        "epoch_start_s": [list(e.starts) for e in epochs],
        "epoch_s": [[b - a for a, b in zip(e.starts, e.ends, strict=True)] for e in epochs],
        "stall_s": [stall(e) for e in epochs],
        "barrier_s": [e.waits for e in epochs],
        "compute_s": [e.compute for e in epochs],
        "gets": gets,
        "lists": lists,
        "listing_s": listing,
    }


def _simulate_mode(mode, shards, storage, params, training, reading, barrier, listed, replicated):
    case = _Case(shards, storage, params, training, reading, barrier)
    hosts = len(shards)
    startup, gets, lists, begin = [0.0] * hosts, [0] * hosts, [0] * hosts, [0.0] * hosts
    listing = [0.0] * hosts
    if mode == "file":
        startup, gets = _file_download(case)
        begin = list(startup)
    elif mode == "fastfile":
        begin, lists = _fastfile_listing(case, listed)
        listing = list(begin)
    burst_waits = _burst_waits(shards, storage, params, training, reading, replicated)
    epochs = []
    for epoch in range(training.epochs):
        if mode == "file":
            this = _file_epoch(case, epoch, begin)
        elif mode == "pipe":
            this = _pipe_hosts_epoch(case, epoch, begin, burst_waits)
        else:
            this = _fastfile_hosts_epoch(case, epoch, begin)
        if mode != "file" and epoch == 0:
            startup = list(this.starts)
        gets = [before + n for before, n in zip(gets, this.gets, strict=True)]
        epochs.append(this)
        begin = list(this.ends)
    summary = _summary(epochs, startup, begin, gets, lists, listing)
    summary["objects"] = [len(objects) for objects in shards]
    summary["bytes"] = [sum(objects) for objects in shards]
    return summary


def _pipe_epoch(objects, storage, params, training, reading, origin, burst_wait):
    """Objects in order, P in flight; returns (first data at the consumer, step avail times)."""
    link = _Host(storage, reading, volume=False, verify=params.verify_etag)
    held = PIPE_HELD_CHUNKS * params.chunk_bytes
    window = max(1, params.prefetch)
    in_flight: deque[float] = deque()  # delivery times of the last P objects
    delivered_prev = 0.0
    pieces = []  # (bytes, stream start, delivered)
    for k, size in enumerate(objects):
        start = in_flight.popleft() if k >= window else 0.0
        if size == 0:
            first_byte, end = start, start
        else:
            first_byte, end = link.get(start, size, delivered_prev, max(size - held, 0))
        stream_start = max(first_byte, delivered_prev)
        delivered_prev = max(end, delivered_prev)
        pieces.append((size, stream_start, delivered_prev))
        in_flight.append(delivered_prev)
    first = objects[0] if objects else 0
    if first > 0:
        probe = _Host(storage, reading, volume=False, verify=params.verify_etag)
        alone = probe.get(0.0, min(first, params.chunk_bytes))[1]
        alone = max(alone, burst_wait)  # the first P requests of every host at once
        first_data = origin + alone
    else:
        first_data = origin
    avail = []
    k = through = 0  # the object holding the step's last byte, and the bytes before it
    for position, _ in _steps(sum(objects), training.step_bytes, training.compute_bps):
        while pieces[k][0] == 0 or through + pieces[k][0] < position:
            through += pieces[k][0]
            k += 1
        size, stream_start, done = pieces[k]
        fraction = (position - through) / size
        avail.append(origin + stream_start + fraction * (done - stream_start))
    return first_data, avail


def _fastfile_epoch(objects, storage, params, training, sharing, start, readers=1):
    """One reader's files one at a time; returns (first data, step ends, step compute, step
    requests, step bytes, GETs, step bytes checked against their ETag, step starts: when the
    step's data were there and the reader's previous steps done)."""
    link = _Host(storage, sharing, volume=False, readers=readers)
    checked_bps = _Host(storage, sharing, volume=False, verify=True, readers=readers).link_bps
    step = training.step_bytes
    step_c = step / training.compute_bps if training.compute_bps > 0 else 0.0
    step_s = _held(step_c, storage)
    random_access = params.access == "random"
    running = start
    pending = 0
    first_data = None
    ends, compute, reqs, nbytes, checked, ready = [], [], [], [], [], []
    owed_requests, owed_bytes, owed_checked = 0, 0, 0
    gets = 0
    for size in objects:
        if random_access:
            parts = [min(size, params.record_size)] * params.reads_per_file if size else []
            window = 1
        else:
            parts = [min(params.part_size, size - o) for o in range(0, size, params.part_size)]
            window = params.read_ahead + max(1, math.ceil(step / params.part_size))
        whole = params.verify_etag and _whole(size, params)
        consumed_after = []  # running after each part
        opened = running
        for j, part in enumerate(parts):
            launch = opened if j < window else consumed_after[j - window]
            _, end = link.get(launch, part, link_bps=checked_bps if whole else None)
            gets += 1
            owed_requests += 1
            owed_bytes += part
            owed_checked += part if whole else 0
            if first_data is None and j == 0:
                first_data = end
            running = max(running, end)
            step_start = running
            pending += part
            while pending >= step:
                ready.append(step_start)
                pending -= step
                running += step_s
                ends.append(running)
                compute.append(step_c)
                reqs.append(owed_requests)
                nbytes.append(owed_bytes)
                checked.append(owed_checked)
                owed_requests, owed_bytes, owed_checked = 0, 0, 0
            consumed_after.append(running)
    if pending > 0:
        c = pending / training.compute_bps if training.compute_bps > 0 else 0.0
        ready.append(running)
        running += _held(c, storage)
        ends.append(running)
        compute.append(c)
        reqs.append(owed_requests)
        nbytes.append(owed_bytes)
        checked.append(owed_checked)
    first = first_data if first_data is not None else start
    return first, ends, compute, reqs, nbytes, gets, checked, ready


def _paced_barrier(paced, starts, fetch_start, barrier, storage, verify):
    hosts = len(paced)
    if not barrier:
        ends = [p[0][-1] if p[0] else starts[h] for h, p in enumerate(paced)]
        return ends, [sum(p[1]) for p in paced], [0.0] * hosts
    request_s = 1 / storage.requests_per_s if storage.requests_per_s > 0 else 0.0
    byte_s = 1 / storage.endpoint_bps if storage.endpoint_bps > 0 else 0.0
    verify_s = 0.0
    if verify and storage.verify_bps > 0 and storage.endpoint_bps > 0:
        verify_s = 1 / storage.verify_bps
    clock = list(starts)
    waits = [0.0] * hosts
    release = 0.0
    for s in range(max((len(p[0]) for p in paced), default=0)):
        own = {}
        for h, (ends, *_) in enumerate(paced):
            if s < len(ends):
                if s == 0:
                    own[h] = ends[0]
                else:
                    own[h] = release + ends[s] - ends[s - 1]
        work = max(
            sum(p[2][s] for p in paced if s < len(p[2])) * request_s,
            sum(p[3][s] for p in paced if s < len(p[3])) * byte_s
            + sum(p[4][s] for p in paced if s < len(p[4])) * verify_s,
        )
        c_max = max(_held(p[1][s], storage) for p in paced if s < len(p[1]))
        endpoint = work + c_max if work > 0 else 0.0
        if s == 0 and work > 0:
            endpoint += max(fetch_start)
        longest = max(max(own.values()) - (0.0 if s == 0 else release), endpoint)
        release = (0.0 if s == 0 else release) + longest
        for h, end in own.items():
            waits[h] += release - end
            clock[h] = release
    return clock, [sum(p[1]) for p in paced], waits


def simulate_channels(channels: list[tuple[str, dict[str, list]]]) -> dict[str, object]:
    """A job of several input channels from each channel simulated alone: ``channels`` are
    (data path, ``simulate``'s figures for it) in channel order, training channel first.

    Host by host, the setups run one after another (File downloads, FastFile lists), then each
    epoch one pass of every channel in order, a channel's first pass after its wait for first
    data. Gives ``{"job": figures, "channels": [figures, ...]}``, each with ``startup_s``,
    ``end_s``, ``listing_s`` and the sums per host, and ``epoch_start_s``, ``epoch_end_s``,
    ``compute_s``, ``stall_s``, ``barrier_s`` per epoch and host."""
    hosts = len(channels[0][1]["startup_s"])
    epochs = len(channels[0][1]["epoch_s"])
    placed = [_channel_figures(alone) for _, alone in channels]
    job = {"startup_s": [], "end_s": [], "listing_s": []}
    for h in range(hosts):
        clock, listed = 0.0, 0.0
        setup_end = sum(_setup(mode, alone, h) for mode, alone in channels)
        for (mode, alone), mine in zip(channels, placed, strict=True):
            clock += _setup(mode, alone, h)
            if mode == "fastfile":
                mine["listing_s"][h] = clock
                listed += alone["listing_s"][h]
        for e in range(epochs):
            for (mode, alone), mine in zip(channels, placed, strict=True):
                if e == 0:
                    clock += alone["epoch_start_s"][0][h] - _setup(mode, alone, h)
                mine["epoch_start_s"][e][h] = clock
                clock += alone["epoch_s"][e][h]
                mine["epoch_end_s"][e][h] = clock
        for (mode, alone), mine in zip(channels, placed, strict=True):
            first_data = alone["startup_s"][h] - alone["epoch_start_s"][0][h]
            mine["startup_s"][h] = (
                setup_end if mode == "file" else mine["epoch_start_s"][0][h] + first_data
            )
            mine["end_s"][h] = mine["epoch_end_s"][-1][h]
        job["startup_s"].append(placed[0]["startup_s"][h])
        job["end_s"].append(max(mine["end_s"][h] for mine in placed))
        job["listing_s"].append(listed)
    job["epoch_start_s"] = [list(row) for row in placed[0]["epoch_start_s"]]
    job["epoch_end_s"] = [list(row) for row in placed[-1]["epoch_end_s"]]
    for name in ("compute_s", "stall_s", "barrier_s"):
        job[name] = [
            [sum(alone[name][e][h] for _, alone in channels) for h in range(hosts)]
            for e in range(epochs)
        ]
    for name in ("objects", "bytes", "gets", "lists"):
        job[name] = [sum(alone[name][h] for _, alone in channels) for h in range(hosts)]
    return {"job": job, "channels": placed}


def _setup(mode: str, alone: dict[str, list], host: int) -> float:
    """A channel's part of the setup on one host: its download (File) or its listing."""
    if mode == "file":
        return alone["startup_s"][host]
    if mode == "fastfile":
        return alone["listing_s"][host]
    return 0.0


def _channel_figures(alone: dict[str, list]) -> dict[str, list]:
    """A channel's figures to place on the job's clock: its own, times to be filled in."""
    figures = {
        name: [list(row) for row in alone[name]] for name in ("compute_s", "stall_s", "barrier_s")
    }
    for name in ("objects", "bytes", "gets", "lists"):
        figures[name] = list(alone[name])
    figures["listing_s"] = list(alone["listing_s"])
    for name in ("startup_s", "end_s"):
        figures[name] = [0.0] * len(alone["startup_s"])
    for name in ("epoch_start_s", "epoch_end_s"):
        figures[name] = [[0.0] * len(row) for row in alone["epoch_s"]]
    return figures
