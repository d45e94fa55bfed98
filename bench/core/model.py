"""The timeline model: what the live data paths would measure, computed from a storage profile.

Pure numpy over arrays, no I/O. Given object sizes (key order), a sharding rule, the numbers of
a storage profile (``Storage``), the data-path settings (``PathParams``) and the simulated
training (``Training``), it computes per mode and host the columns the live paths write:
``startup_s``, per-epoch ``epoch_s``, ``stall_s``, ``au``, ``gets``, ``lists``, ``bytes``.

The semantics, mirrored exactly by the slow simulation in ``bench.core.reference``:

Requests. A GET issued at ``t`` on an idle connection has its first byte at ``t + L`` (the
profile's mean first-byte latency, plus any emulated delay) and its last byte ``size / bw``
later (``bw`` = bandwidth of one connection). Two host-level resources are served in the order
requests are issued, like ``NicCap``'s virtual clock:

- the *request gate*: the endpoint's request-rate limit ``R`` (GET/s, shared by the prefix or
  by the embedded server) split evenly over the hosts that read anything, so each host may
  start serving one request every ``hosts / R`` seconds; a request's first byte is no earlier
  than its gate slot;
- the *link*: bytes leave the endpoint and enter the host at ``min(NIC, endpoint bandwidth /
  hosts, volume write bandwidth in File mode)``; a request ends no earlier than its link slot.

File. The shard's objects go, in key order, to whichever of the ``C`` connections is free
first (list scheduling, not an average), so a few large objects at the end of a shard make a
straggler. ``startup_s`` is the last byte on the volume. Every epoch then reads the volume (at
the volume's read bandwidth, uncapped if 0): data is there when the consumer asks.

Pipe. Every epoch streams the shard again, in order, with ``P`` objects in flight: object k is
requested when object ``k - P`` has been written into the FIFO. Only the object at the head of
the FIFO streams freely; the others may prefetch ``3 × chunk_size`` bytes (two queued chunks and
one in hand) and wait for the rest, so large objects stream one after another. An object's bytes
reach the consumer linearly from when it becomes the head (or its first byte, if later) to when
its last byte is written. ``startup_s`` is the first chunk at the consumer; on an endpoint that
works on all requests at once (``burst_s_per_request``, a local server) the first ``P`` requests
of every host go out together, host after host, so the first answer waits for that whole burst
(its count × the burst cost), and the endpoint then answers in issue order: a host's first
request also waits for one gate slot of the whole endpoint and the whole-object bytes (at the
endpoint's bandwidth) of every request issued before it in the burst.

FastFile. Each host lists the whole channel prefix (1,000 keys a page, pages one after another;
a page costs the profile's ``a + b × keys in the bucket``, less ``list_key_s`` for every key
a short last page lacks, stretched by ``hosts /
list_parallel`` when more hosts list at once than the endpoint serves in parallel). Then files
are read one at a time. A sequential file is fetched in parts of ``part_size``; a part is
requested when the consumer has used the data ``W = read_ahead + ceil(step / part_size)`` parts
back (the first ``W`` at open), and the consumer can use a part's bytes when the part has ended.
Random access makes ``reads_per_file`` requests of ``record_size``, each after the previous was
used. The next file opens when the consumer is done with the steps the current one completed.
A request that reads a whole object (one part covers it, or one record with random access) is
checked against its ETag when the path verifies, like File and Pipe: its bytes cost the MD5 rate
too (``verify_bps``, on the endpoint's CPU when there is an endpoint bandwidth). ``startup_s``
is the end of the listing plus the first read.

Consumer. Bytes are consumed in steps of ``step_bytes`` (the last one partial), each computing
``step / compute_bps`` seconds; a step starts when the previous one (and its barrier) is done
and its last byte has arrived. The consumer's compute is a sleep on its event loop's timer
(``timer_tick_s``, ``timer_wake_s``): a step of ``c`` seconds holds the consumer until the first
whole tick at or after ``c`` from its start, plus the wake-up latency (Linux's epoll waits in
whole milliseconds); ``compute_s`` stays the nominal ``c``, and the lateness is neither compute
nor stall. With a barrier every host still training waits after each step
for all others to finish that step; a host with fewer steps leaves after its last. In FastFile,
fetching is driven by the consumer, so a barrier wait delays the host's next requests by the
same amount (read-ahead during the wait is ignored: a slight overestimate). Epoch 0 starts at
the first data (the wait before it is startup, not stall); epoch ``e + 1`` starts where the
host's epoch ``e`` ended. ``stall_s`` is what is left of an epoch after compute and barrier
waits; ``au = compute / (compute + stall + barrier)``.

Simplifications (besides those above):

- latency is one number per request (the profile's mean), so percentiles are not reproduced;
- the rate and bandwidth shares of a shared endpoint are fixed at ``1 / hosts reading``: when
  fast hosts finish early, a straggler does not speed up;
- Pipe ignores back-pressure from a consumer slower than the stream (the FIFO is unbounded);
- above ``max_exact_items`` objects per host, File and Pipe merge runs of consecutive objects
  into one request sequence (their latencies and bytes added, gate and link slots kept), which
  moves makespans by about one batch; the startup of Pipe stays exact. FastFile is never
  merged: a file opens on idle resources, so each file's timeline is computed from its open
  for all files at once and the files are chained by a cumulative sum, exactly;
- above ``max_steps`` steps per host (all hosts together), steps are merged the same way;
- zero-byte objects cost no request, as in the live paths (which never GET them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

MODES = ("file", "pipe", "fastfile")
LIST_PAGE_KEYS = 1000
# Chunks a non-head Pipe object may hold before it waits: two queued, one in hand.
PIPE_HELD_CHUNKS = 3
# Items per host (objects, or merged runs of them) the loops step through exactly.
MAX_EXACT_ITEMS = 20_000
# Steps times distinct hosts kept exactly before consecutive steps are merged.
MAX_STEPS = 20_000_000
# Items whose request costs the loops work out at once.
COST_BLOCK_ITEMS = 256
# Item rows counted at once for FastFile's GETs, and searched at once for Pipe's step ends.
PARTS_BLOCK_ITEMS = 1024
STEP_BLOCK_ITEMS = 128
# (file, row) cells a FastFile epoch works on at once. Temporaries of about a megabyte are
# reused from the heap; arrays of tens of MB are fresh pages each time, and first touching a
# page can cost more than the arithmetic (2 ns a byte on a 2-core VM: 0.17 s for 80 MB).
FASTFILE_BLOCK_CELLS = 100_000


@dataclass(frozen=True)
class Storage:
    """The numbers of a storage profile the model needs, already resolved for one job.

    Rates in bytes/s or requests/s; 0 means "no limit".
    """

    latency_s: float
    connection_bps: float
    nic_bps: float = 0.0
    volume_write_bps: float = 0.0
    volume_read_bps: float = 0.0
    requests_per_s: float = 0.0  # shared by every host of the job
    endpoint_bps: float = 0.0  # shared by every host of the job
    list_page_s: float = 0.1  # one 1,000-key page at this bucket's size
    # Seconds a page saves per key fewer than 1,000: a page of k keys costs
    # list_page_s - (1000 - k) x this (the last page of a listing is usually short); 0: all
    # pages cost a full page.
    list_key_s: float = 0.0
    list_parallel: float = 0.0  # LIST pages the endpoint serves at once; 0 = no limit
    # Seconds per request before the first answer of a burst issued at once (a local server
    # that works on every request together: K requests answer first after K x this); 0: none.
    burst_s_per_request: float = 0.0
    # Bytes/s the client checks whole objects against their ETag (MD5, File and Pipe, when the
    # path verifies). With an endpoint bandwidth the two share one machine's CPU (a local
    # server): each byte costs 1/endpoint + 1/verify seconds of it; otherwise a per-host cap.
    verify_bps: float = 0.0
    # The consumer's event-loop timer: a compute step of c seconds ends at the first whole tick
    # at or after c (from the step's start), plus the wake-up latency; 0: exact.
    timer_tick_s: float = 0.0
    timer_wake_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_s", "list_page_s", "list_key_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Storage.{name} = {getattr(self, name)!r}: must be >= 0")
        if not self.connection_bps > 0:
            raise ValueError(f"Storage.connection_bps = {self.connection_bps!r}: must be > 0")
        for name in (
            "nic_bps",
            "volume_write_bps",
            "volume_read_bps",
            "requests_per_s",
            "timer_tick_s",
            "timer_wake_s",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Storage.{name} = {getattr(self, name)!r}: must be >= 0")


@dataclass(frozen=True)
class PathParams:
    """The data-path settings of a scenario (``[cluster]``, ``[pipe]``, ``[fastfile]``)."""

    concurrency: int = 8
    prefetch: int = 4
    chunk_bytes: int = 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    read_ahead: int = 2
    access: str = "sequential"
    record_size: int = 64 * 1024
    reads_per_file: int = 4
    verify_etag: bool = False  # File and Pipe check whole objects' MD5 (Storage.verify_bps)


@dataclass(frozen=True)
class Training:
    """The simulated training loop (``[training]``)."""

    epochs: int = 1
    compute_bps: float = 0.0
    step_bytes: int = 1024 * 1024
    barrier: bool = True
    shuffle_seed: int | None = None


@dataclass
class ModeResult:
    """One mode's figures: per host ``(hosts,)``, per epoch and host ``(epochs, hosts)``."""

    mode: str
    objects: np.ndarray
    bytes: np.ndarray
    bytes_fetched: np.ndarray
    gets: np.ndarray
    lists: np.ndarray
    startup_s: np.ndarray
    end_s: np.ndarray
    listing_s: np.ndarray
    epoch_start_s: np.ndarray
    epoch_end_s: np.ndarray
    compute_s: np.ndarray
    stall_s: np.ndarray
    barrier_s: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def epoch_s(self) -> np.ndarray:
        return self.epoch_end_s - self.epoch_start_s

    @property
    def au(self) -> np.ndarray:
        """Per host over all epochs: compute / (compute + stall + barrier)."""
        compute = self.compute_s.sum(axis=0)
        busy = compute + self.stall_s.sum(axis=0) + self.barrier_s.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(busy > 0, compute / np.where(busy > 0, busy, 1), np.nan)

    def job(self) -> dict[str, float]:
        """The job's figures the way ``runner.job_figures`` computes them from live tables."""
        compute = float(self.compute_s.sum())
        busy = compute + float(self.stall_s.sum()) + float(self.barrier_s.sum())
        epoch_s = self.epoch_end_s.max(axis=1) - self.epoch_start_s.min(axis=1)
        return {
            "hosts": int(self.startup_s.size),
            "startup_s": float(self.startup_s.max()),
            "first_host_ready_s": float(self.startup_s.min()),
            "tail_s": float(self.startup_s.max() - self.startup_s.min()),
            "end_s": float(self.end_s.max()),
            "epoch_s": float(epoch_s.mean()),
            "stall_s": float(self.stall_s.max(axis=1).mean()),
            "au": compute / busy if busy > 0 else float("nan"),
            "gets": int(self.gets.sum()),
            "lists": int(self.lists.sum()),
            "bytes": int(self.bytes.sum()),
            "bytes_fetched": int(self.bytes_fetched.sum()),
        }


# --- shards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shards:
    """Each distinct host's objects as a padded ``(items, rows)`` matrix, read order down.

    ``host_row[h]`` is the row of host ``h``; FullyReplicated hosts share one row, since they
    read the same objects in the same order and so have the same timeline.
    """

    sizes: np.ndarray  # (max objects per host, rows) int64, 0 past a host's count
    counts: np.ndarray  # (rows,) objects per row
    host_row: np.ndarray  # (hosts,) row of each host

    @property
    def hosts(self) -> int:
        return int(self.host_row.size)

    @property
    def reading_hosts(self) -> int:
        """Hosts with at least one object: those that share the endpoint."""
        return int(np.count_nonzero(self.counts[self.host_row]))


def shard(
    sizes: np.ndarray,
    hosts: int,
    distribution: str = "ShardedByS3Key",
    assignment: str = "round-robin",
) -> Shards:
    """Split ``sizes`` (key order) over ``hosts`` as ``bench.core.sharding`` does, in O(objects).

    ShardedByS3Key round-robin gives host h objects h, h + n, h + 2n, …; contiguous gives
    consecutive runs (the first ``objects % hosts`` hosts one more), both in key order.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if hosts < 1:
        raise ValueError(f"hosts = {hosts!r}: must be >= 1")
    n = sizes.size
    if distribution == "FullyReplicated":
        return Shards(sizes.reshape(n, 1).copy(), np.array([n]), np.zeros(hosts, dtype=np.int64))
    if distribution != "ShardedByS3Key":
        raise ValueError(
            f"distribution = {distribution!r}: allowed: ShardedByS3Key, FullyReplicated"
        )
    per_host = -(-n // hosts) if n else 0
    quotient, remainder = divmod(n, hosts)
    counts = np.full(hosts, quotient, dtype=np.int64)
    counts[:remainder] += 1
    if assignment == "round-robin":
        padded = np.zeros(per_host * hosts, dtype=np.int64)
        padded[:n] = sizes
        matrix = padded.reshape(per_host, hosts)
    elif assignment == "contiguous":
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        index = starts[None, :] + np.arange(per_host)[:, None]
        valid = np.arange(per_host)[:, None] < counts[None, :]
        matrix = np.where(valid, sizes[np.minimum(index, max(n - 1, 0))] if n else 0, 0)
    else:
        raise ValueError(f"assignment = {assignment!r}: allowed: round-robin, contiguous")
    return Shards(np.ascontiguousarray(matrix), counts, np.arange(hosts))


# --- resources ------------------------------------------------------------------------------


@dataclass
class _Links:
    """Per-row request gate and link clocks, and the per-request constants."""

    latency_s: float
    connection_bps: float
    gate_interval_s: float  # 0 = no rate limit
    link_bps: float  # 0 = uncapped
    gate: np.ndarray
    link: np.ndarray
    burst_s: float = 0.0  # Storage.burst_s_per_request
    sharing_hosts: int = 1  # hosts reading at once
    endpoint_bps: float = 0.0  # Storage.endpoint_bps, the whole endpoint's (0: no limit)

    @classmethod
    def of(
        cls, storage: Storage, rows: int, reading_hosts: int, *, volume: bool, verify: bool = False
    ) -> _Links:
        share = max(1, reading_hosts)
        gate_interval = share / storage.requests_per_s if storage.requests_per_s > 0 else 0.0
        caps = [storage.nic_bps]
        endpoint_bps = storage.endpoint_bps
        if verify and storage.verify_bps > 0:
            if endpoint_bps > 0:
                endpoint_bps = 1.0 / (1.0 / endpoint_bps + 1.0 / storage.verify_bps)
            else:
                caps.append(storage.verify_bps)
        if endpoint_bps > 0:
            caps.append(endpoint_bps / share)
        if volume:
            caps.append(storage.volume_write_bps)
        positive = [c for c in caps if c > 0]
        return cls(
            storage.latency_s,
            storage.connection_bps,
            gate_interval,
            min(positive) if positive else 0.0,
            np.zeros(rows),
            np.zeros(rows),
            storage.burst_s_per_request,
            share,
            storage.endpoint_bps,
        )


def _merge(sizes: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Merge runs of ``g`` consecutive items so that at most ``limit`` remain per row.

    Returns (bytes, requests, g), both ``(items, rows)``; requests counts the non-empty objects
    of a run, and is None when every item is exactly one request (no merging, no empty object),
    which spares the loops a multiplication and 8 bytes per object.
    """
    items = sizes.shape[0]
    if items <= limit:
        return sizes, (None if sizes.size == 0 or sizes.min() > 0 else sizes > 0), 1
    g = -(-items // limit)
    pad = (-items) % g
    if pad:
        sizes = np.concatenate((sizes, np.zeros((pad, sizes.shape[1]), dtype=sizes.dtype)))
    rows = sizes.shape[1]
    merged = sizes.reshape(-1, g, rows)
    return merged.sum(axis=1, dtype=np.float64), np.count_nonzero(merged, axis=1), g


# --- fetch timelines ------------------------------------------------------------------------


def _item_costs(links: _Links, nbytes: np.ndarray, requests: np.ndarray | None, a: int, b: int):
    """Items a..b of every row: latency, gate slots, transfer and link times (None: unused),
    and which items are empty (None: none is).

    Latency and gate slots are floats when every item of the block is one request, which is
    the case almost everywhere: shards padded to one length are empty only in their last item.
    """
    nbytes = nbytes[a:b]
    empty = None
    count = 1.0
    if requests is not None:
        block = requests[a:b]
        if block.dtype == bool:
            if not block.all():
                empty = ~block
                count = block.astype(np.float64)
        else:
            count = block.astype(np.float64)
            if not block.all():
                empty = block == 0
    latency = count * links.latency_s
    gate = count * links.gate_interval_s if links.gate_interval_s else None
    link = nbytes / links.link_bps if links.link_bps else None
    return latency, gate, nbytes / links.connection_bps, link, empty


# Rows up to which numpy's accumulate along axis 0 beats one operation per row of a round.
ACCUMULATE_MAX_ROWS = 64


def _cumsum_down(values: np.ndarray, dtype) -> np.ndarray:
    """Running sums down axis 0 of an ``(items, rows)`` array, as ``dtype`` (see
    ``_accumulate`` for why not ``np.cumsum(axis=0)``)."""
    return _accumulate(np.add, values.astype(dtype, copy=True))


def _accumulate(ufunc, x: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """``ufunc`` accumulated down axis 0 of an ``(n, rows)`` array, in place.

    With ``first`` the running value starts from it. numpy's accumulate walks axis 0 with a
    stride, which is slow for many rows; one call per item row is then faster.
    """
    if first is not None:
        ufunc(x[0], first, out=x[0])
    if x.shape[1] <= ACCUMULATE_MAX_ROWS:
        return ufunc.accumulate(x, axis=0, out=x)
    for i in range(1, x.shape[0]):
        ufunc(x[i - 1], x[i], out=x[i])
    return x


class _Sums:
    """Running sums of a block's per-item costs of one clock, for ``clock`` over any run of
    the block's items without summing again (a float cost: the same for every item)."""

    def __init__(self, costs, count: int) -> None:
        if isinstance(costs, float):
            self.inclusive = np.arange(1.0, count + 1.0)[:, None] * costs
        else:
            self.inclusive = _cumsum_down(costs, np.float64)
        self.exclusive = self.inclusive - costs

    def clock(self, issued: np.ndarray, part: slice, state: np.ndarray) -> np.ndarray:
        """c_i = max(c_{i-1}, issued_i) + cost_i over the items ``part``, c_{-1} = ``state``.

        With S the block's running sums: c_i = S_i + max(state - S'_first,
        max_{j<=i} (issued_j - S'_j)), S' = S minus the item's own cost.
        """
        clock = issued - self.exclusive[part]
        np.maximum(clock[0], state - self.exclusive[part.start], out=clock[0])
        _accumulate(np.maximum, clock)
        clock += self.inclusive[part]
        return clock


def _gate_is_slack(links: _Links, requests: np.ndarray | None, in_flight: int) -> bool:
    """True when the request gate can never delay a first byte, so it can be left out.

    With at most ``in_flight`` requests out, starts that do not decrease, and every request
    lasting at least the latency L, any m consecutive requests span at least
    (ceil(m / in_flight) - 1) x L of start times (empty items cost no request and no gate
    slot); the gate then trails the latency as long as in_flight x interval <= L. Merged items
    (several requests each) are not covered.
    """
    return (requests is None or requests.dtype == bool) and (
        in_flight * links.gate_interval_s <= links.latency_s
    )


def _rows(values, part: slice):
    return values if isinstance(values, float) else values[part]


def _clocks_slack(
    starts: np.ndarray, costs, empty: np.ndarray | None, gate: np.ndarray, link: np.ndarray
) -> bool:
    """True when a block computed without the gate and link clocks is also right with them.

    ``starts`` are the block's request starts in issue order. The gate only matters when a
    gate slot comes after start + latency, the link only when a link slot comes after the
    request's own end (empty items end at their start whatever the clocks say). When neither
    matters the clocks are advanced over the block and True is returned; otherwise nothing
    changes.
    """
    latency, gate_cost, transfer, link_cost = costs
    first_byte = starts + latency
    gate_clock = link_clock = None
    whole = slice(0, starts.shape[0])
    if gate_cost is not None:
        gate_clock = _Sums(gate_cost, whole.stop).clock(starts, whole, gate)
        fits = gate_clock <= first_byte
        if not (fits.all() if empty is None else (fits | empty).all()):
            return False
    if link_cost is not None:
        link_clock = _Sums(link_cost, whole.stop).clock(first_byte, whole, link)
        fits = link_clock <= first_byte + transfer
        if not (fits.all() if empty is None else (fits | empty).all()):
            return False
    if gate_clock is not None:
        gate[:] = gate_clock[-1]
    if link_clock is not None:
        link[:] = link_clock[-1]
    return True


class _Optimism:
    """Whether the next block is first computed without the gate and link clocks.

    After a block where a clock mattered, the next ``RETRY_BLOCKS`` blocks keep the clocks;
    then leaving them out is tried again.
    """

    RETRY_BLOCKS = 8

    def __init__(self, needed: bool) -> None:
        self.needed = needed
        self.wait = 0

    def worth_trying(self) -> bool:
        if not self.needed:
            return False
        if self.wait:
            self.wait -= 1
            return False
        return True

    def failed(self) -> None:
        self.wait = self.RETRY_BLOCKS


def _schedule_rounds(
    free: np.ndarray,
    costs,
    gate: np.ndarray,
    link: np.ndarray,
    empty: np.ndarray | None,
    check_order: bool,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """List scheduling of a block of items over the sorted free times ``free`` (C, rows).

    Up to C items go at once (a round): item i of the round takes free time i, the gate and
    link clocks (when their costs are given) come from the closed form of ``_Sums.clock`` and the
    ends follow. That is list scheduling exactly as long as no earlier item of the round ends
    before item i's free time (item i would then take that end instead): the items before the
    first row to break it are kept, and their ends merge with the free times left. The first
    item of a round always takes the earliest free time, so every round keeps at least one
    item. Returns the new free times; ``starts``, if given, receives every item's start.
    """
    latency, gate_cost, transfer, link_cost = costs
    width = free.shape[0]
    count = transfer.shape[0]
    gate_sums = None if gate_cost is None else _Sums(gate_cost, count)
    link_sums = None if link_cost is None else _Sums(link_cost, count)
    r = 0
    while r < count:
        part = slice(r, min(count, r + width))
        n = part.stop - part.start
        taken = free[:n]
        first_byte = taken + _rows(latency, part)
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
            earliest = _accumulate(np.minimum, end[:-1].copy())
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


def _file_download(sizes: np.ndarray, links: _Links, concurrency: int, limit: int) -> np.ndarray:
    """Per row, the time the last object is on the volume: list scheduling over C connections.

    Each row's connection free times are kept sorted and the items are scheduled in rounds
    (``_schedule_rounds``), a block of items at a time. A block is first computed without the
    gate and link clocks and kept if neither would have delayed anything (``_clocks_slack``),
    which spares most of the work where neither binds; otherwise it is computed with them.
    """
    nbytes, requests, _ = _merge(sizes, limit)
    rows = sizes.shape[1]
    width = max(1, concurrency)
    free = np.zeros((width, rows))
    gate, link = links.gate, links.link
    use_gate = links.gate_interval_s > 0 and not _gate_is_slack(links, requests, width)
    check_order = rows > ACCUMULATE_MAX_ROWS  # sorting many short columns costs more
    optimism = _Optimism(use_gate or links.link_bps > 0)
    items = nbytes.shape[0]
    for a in range(0, items, COST_BLOCK_ITEMS):
        b = min(items, a + COST_BLOCK_ITEMS)
        latency, gate_cost, transfer, link_cost, empty = _item_costs(links, nbytes, requests, a, b)
        costs = (latency, gate_cost if use_gate else None, transfer, link_cost)
        if optimism.worth_trying():
            starts = np.empty((b - a, rows))
            trial = _schedule_rounds(
                free, (latency, None, transfer, None), gate, link, empty, check_order, starts
            )
            if _clocks_slack(starts, costs, empty, gate, link):
                free = trial
                continue
            optimism.failed()
        free = _schedule_rounds(free, costs, gate, link, empty, check_order)
    return free[-1].copy()


@dataclass
class _StepItems:
    """Per (step, row) of a Pipe epoch: the item holding the step's last byte, the item's
    bytes and the bytes before it, and the step's last byte position."""

    item: np.ndarray  # (steps, rows) intp
    size: np.ndarray  # (steps, rows)
    before: np.ndarray  # (steps, rows)
    position: np.ndarray  # (steps, rows)


def _step_items(nbytes: np.ndarray, step_bytes: int, steps: int, total: np.ndarray) -> _StepItems:
    """Which item ends each step, a block of item rows at a time (no full-size temporaries).

    Step s (1-based) ends in the first item whose running bytes reach s x step, that is whose
    floor(running / step) reaches s: item k ends the steps floor(running_{k-1} / step) + 1 ..
    floor(running_k / step). A row's last, partial step (and any step past its end) ends in
    its last non-empty item.
    """
    items, rows = nbytes.shape
    position = _step_positions(total, step_bytes, steps)
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
    for a in range(0, items, STEP_BLOCK_ITEMS):
        block = nbytes[a : a + STEP_BLOCK_ITEMS]
        running = _cumsum_down(block, carried.dtype)
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
    return _StepItems(np.minimum(item, max(items - 1, 0)), size, before, position)


def _pipe_epoch(
    sizes: np.ndarray,
    links: _Links,
    prefetch: int,
    chunk_bytes: int,
    limit: int,
    step_bytes: int,
    steps: int,
    total: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A Pipe epoch per row: when each step's last byte reaches the consumer ``(steps, rows)``
    and the first data ``(rows,)``, times relative to the epoch's start.

    Object k is requested when object k - P is in the FIFO. So the P objects of a round
    depend only on the round before, and the round is computed at once: the gate and link
    clocks by the closed form of ``_Sums.clock``, and the FIFO clock D_k = max(a_k,
    D_{k-1} + t_k) (a_k the object's own end, t_k the time its held-back tail takes once it
    is the head) as D_k = T_k + max(D_{-1}, max_{j<=k}(a_j - T_j)), T the running sum of the
    t. An item's bytes reach the consumer linearly from max(its first byte, D_{k-1}) to D_k;
    only the items that end a step are kept (``_step_items``), a block at a time.
    """
    nbytes, requests, g = _merge(sizes, limit)
    held = float(PIPE_HELD_CHUNKS * chunk_bytes)
    tails = None
    if g > 1:
        tails = np.maximum(sizes - held, 0)
        pad = (-sizes.shape[0]) % g
        if pad:
            tails = np.concatenate((tails, np.zeros((pad, sizes.shape[1]), dtype=tails.dtype)))
        tails = tails.reshape(-1, g, sizes.shape[1]).sum(axis=1, dtype=np.float64)
    items, rows = nbytes.shape
    window = max(1, prefetch)
    first_data = _pipe_first_data(sizes, links, chunk_bytes, window)
    if steps == 0 or items == 0:
        return np.zeros((steps, rows)), first_data
    ends = _step_items(nbytes, step_bytes, steps, total)
    use_gate = links.gate_interval_s > 0 and not _gate_is_slack(links, requests, window)
    gate, link = links.gate, links.link
    block = -(-COST_BLOCK_ITEMS // window) * window
    # The cells whose step ends in each block, so each block hands over just those.
    flat_item = ends.item.ravel()
    order = np.argsort(flat_item // block, kind="stable")
    bounds = np.searchsorted(flat_item[order] // block, np.arange(-(-items // block) + 1))
    step_start = np.empty(ends.item.shape)
    step_done = np.empty(ends.item.shape)
    # delivered[i] is D of the block's item i - P; the first P rows carry the last block's end.
    delivered = np.zeros((window + block, rows))
    stream_start = np.empty((block, rows))
    for number, a in enumerate(range(0, items, block)):
        b = min(items, a + block)
        latency, gate_cost, transfer, link_cost, empty = _item_costs(links, nbytes, requests, a, b)
        if not use_gate:
            gate_cost = None
        held_back = np.maximum(nbytes[a:b] - held, 0.0) if tails is None else tails[a:b]
        tail_s = held_back / links.connection_bps if held_back.any() else None
        count = b - a
        gate_sums = None if gate_cost is None else _Sums(gate_cost, count)
        link_sums = None if link_cost is None else _Sums(link_cost, count)
        tail_sums = None if tail_s is None else _cumsum_down(tail_s, np.float64)
        for r in range(0, count, window):
            part = slice(r, min(count, r + window))
            n = part.stop - part.start
            start = delivered[r : r + n]  # deliveries of items k - P
            previous = delivered[r + window - 1]  # delivery of item k - 1
            fifo = delivered[r + window : r + n + window]
            first_byte = start + _rows(latency, part)
            if gate_sums is not None:
                gate_clock = gate_sums.clock(start, part, gate)
                gate[:] = gate_clock[-1]
                np.maximum(first_byte, gate_clock, out=first_byte)
            np.add(first_byte, transfer[part], out=fifo)
            if link_sums is not None:
                link_clock = link_sums.clock(first_byte, part, link)
                link[:] = link_clock[-1]
                np.maximum(fifo, link_clock, out=fifo)
            if empty is not None:
                np.copyto(fifo, start, where=empty[part])
            if tail_sums is None:
                _accumulate(np.maximum, fifo, previous)
            else:  # running sums of the tails from the round's first item
                tail_total = tail_sums[part] - (tail_sums[r - 1] if r else 0.0)
                fifo -= tail_total
                _accumulate(np.maximum, fifo, previous)
                fifo += tail_total
            np.maximum(
                first_byte,
                delivered[r + window - 1 : r + n + window - 1],
                out=stream_start[r : r + n],
            )
        cells = order[bounds[number] : bounds[number + 1]]
        if cells.size:
            k = flat_item[cells] - a
            column = cells % rows
            step_start.ravel()[cells] = stream_start[k, column]
            step_done.ravel()[cells] = delivered[k + window, column]
        if count >= window:
            delivered[:window] = delivered[count : count + window]
    safe = np.where(ends.size > 0, ends.size, 1.0)
    fraction = np.where(ends.size > 0, (ends.position - ends.before) / safe, 1.0)
    return step_start + fraction * (step_done - step_start), first_data


def _steps_per_row(total: np.ndarray, step_bytes: float) -> np.ndarray:
    return np.ceil(total / step_bytes).astype(np.int64)


def _step_positions(total: np.ndarray, step_bytes: float, steps: int) -> np.ndarray:
    """(steps, rows): byte position of each step's last byte (clipped at the row's total)."""
    position = (np.arange(1, steps + 1, dtype=np.float64) * step_bytes)[:, None]
    return np.minimum(position, total[None, :])


def _step_compute(total: np.ndarray, step_bytes: float, steps: int, compute_bps: float):
    """(steps, rows) compute seconds per step, 0 past a row's last step."""
    position = _step_positions(total, step_bytes, steps)
    before = np.vstack((np.zeros((1, total.size)), position[:-1]))
    amount = np.maximum(position - before, 0.0)
    return amount / compute_bps if compute_bps > 0 else np.zeros_like(amount), amount > 0


@dataclass
class _FastFileEpoch:
    step_end: np.ndarray  # (steps, rows) consumer-paced step ends, no barrier, relative times
    compute: np.ndarray  # (steps, rows)
    active: np.ndarray  # (steps, rows) bool
    first_data_s: np.ndarray  # (rows,)
    step_requests: np.ndarray  # (steps, rows) requests made for the data of each step
    step_bytes: np.ndarray  # (steps, rows) bytes fetched for each step
    step_verified: np.ndarray  # (steps, rows) of those, bytes checked against their ETag
    held: np.ndarray  # (steps, rows) seconds each step holds the consumer (compute, timer)


@dataclass
class _Parts:
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


def _fastfile_epoch(
    sizes: np.ndarray,
    links: _Links,
    params: PathParams,
    training: Training,
    start: np.ndarray,
    *,
    verified: _Links | None = None,
    timer: tuple[float, float] = (0.0, 0.0),
) -> _FastFileEpoch:
    """One FastFile epoch per row from ``start``: files one at a time, parts with read-ahead.

    ``verified``: the links of a request that reads a whole object and checks its ETag (None:
    no check). ``timer``: the consumer's (tick, wake-up) seconds. Rows are taken in blocks of
    at most ``FASTFILE_BLOCK_CELLS`` (file, row) cells.
    """
    items, rows = sizes.shape
    block = max(1, FASTFILE_BLOCK_CELLS // max(1, items))
    pieces = [
        _expand_steps(
            _fastfile_parts(
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
        return _FastFileEpoch(
            empty, empty, empty.astype(bool), np.zeros(0), empty, empty, empty, empty
        )
    # Each block of rows has its own number of steps: pad them to the longest, row by row,
    # then turn (rows, steps) into (steps, rows).
    longest = max(piece.step_end.shape[1] for piece in pieces)
    joined = {}
    for name in (f.name for f in fields(_FastFileEpoch)):
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
        joined[name] = np.ascontiguousarray(array.T)
    return _FastFileEpoch(**joined)


def _whole_objects(flat: np.ndarray, params: PathParams) -> np.ndarray:
    """FastFile requests that read a whole object (checked against its ETag when verifying):
    one part covers it, or, with random access, one record does."""
    limit = params.record_size if params.access == "random" else params.part_size
    return (flat > 0) & (flat <= limit)


def _held(compute, timer: tuple[float, float]):
    """Seconds a compute step of ``compute`` seconds holds the consumer: until the first whole
    timer tick at or after it, plus the wake-up latency; no compute, no wait."""
    tick, wake = timer
    compute = np.asarray(compute, dtype=np.float64)
    ticked = np.ceil(compute / tick) * tick if tick > 0 else compute
    return np.where(compute > 0, ticked + wake, 0.0)


def _fastfile_parts(
    sizes: np.ndarray,
    links: _Links,
    params: PathParams,
    training: Training,
    start: np.ndarray,
    *,
    verified: _Links | None = None,
    timer: tuple[float, float] = (0.0, 0.0),
) -> _Parts:
    """The parts of every file of a block of rows, without a loop over files.

    A file opens when the consumer is done with everything before it, so every earlier request
    has ended and the host's gate and link are idle: a file's timeline measured from its open
    depends only on the file and on the partial step carried into it (known from the
    cumulative bytes). So all files are worked out together, one part index at a time (part j
    only for the files that have it), and chained by a cumulative sum of their durations.
    """
    step = float(training.step_bytes)
    step_s = float(_held(step / training.compute_bps if training.compute_bps > 0 else 0.0, timer))
    rows, items = sizes.shape[1], sizes.shape[0]
    flat = sizes.T.astype(np.float64).ravel()  # row-major: cell = row * items + file
    # Seconds per byte on the link: a whole object checked against its ETag costs more.
    per_byte = 1.0 / links.link_bps if links.link_bps else 0.0
    whole = _whole_objects(flat, params) if verified is not None else np.zeros(flat.size, bool)
    link_s: float | np.ndarray = per_byte
    if whole.any():
        link_s = np.where(whole, 1.0 / verified.link_bps if verified.link_bps else 0.0, per_byte)
    has_link = bool(np.any(link_s))
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
    bytes_before = (np.cumsum(read.reshape(by_row), axis=1) - read.reshape(by_row)).ravel()
    checked = np.where(whole, read, 0.0).reshape(by_row)
    verified_before = (np.cumsum(checked, axis=1) - checked).ravel()
    requests_before = (np.cumsum(parts.reshape(by_row), axis=1) - parts.reshape(by_row)).ravel()
    duration = np.zeros(flat.size)  # from each file's open until its last part is used
    first_end = np.zeros(flat.size)
    # The files that have part j (None: all) and their state, in times from each file's open.
    cells = None
    gate = link = offset = running = 0.0
    crossed = np.floor(bytes_before / step)  # step boundaries before the part, per file
    launch: list = [0.0] * window  # the consumer's clock when part j - window was used
    found: list[tuple[np.ndarray, ...]] = []
    for j in range(int(parts.max(initial=0))):
        keep = parts > j if cells is None else parts[cells] > j
        if not keep.all():
            cells = np.flatnonzero(keep) if cells is None else cells[keep]
            gate, link, offset, running, crossed, *launch = (
                x if np.ndim(x) == 0 else x[keep]
                for x in (gate, link, offset, running, crossed, *launch)
            )

        def pick(values: np.ndarray, cells=cells) -> np.ndarray:
            return values if cells is None else values[cells]

        part = pick(part_size) if random_access else np.minimum(part_size, pick(flat) - offset)
        issued = launch[j % window]
        first_byte = issued + links.latency_s
        if links.gate_interval_s:
            gate = np.maximum(gate, issued) + links.gate_interval_s
            first_byte = np.maximum(first_byte, gate)
        end = first_byte + part / links.connection_bps
        if has_link:
            link = np.maximum(link, first_byte) + part * (
                link_s if np.ndim(link_s) == 0 else pick(link_s)
            )
            end = np.maximum(end, link)
        offset = offset + part
        through = pick(bytes_before) + offset  # bytes used once the part is
        checked_through = pick(verified_before) + np.where(pick(whole), offset, 0.0)
        done = np.floor(through / step)
        done, crossed = done - crossed, done
        step_start = np.maximum(running, end)
        running = step_start + done * step_s
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
            (
                cell,
                np.full(cell.size, j),
                step_start[completes],
                done[completes],
                requests_before[cell] + (j + 1.0),
                through[completes],
                checked_through[completes],
            )
        )
    duration = duration.reshape(by_row)
    through_files = np.cumsum(duration, axis=1)
    opened = (through_files - duration + start[:, None]).ravel()
    has_parts = parts.reshape(by_row) > 0
    first = np.arange(rows) * items + has_parts.argmax(axis=1)
    first_data = np.where(has_parts.any(axis=1), opened[first] + first_end[first], start)
    running = start + through_files[:, -1] if items else start.astype(np.float64)
    if found:
        cell, j, begin, steps, requests, fetched, checked_bytes = (
            np.concatenate(a) for a in zip(*found, strict=True)
        )
        if len(found) > 1:  # sorted runs, one per part index: a stable sort merges them
            order = np.argsort(cell * len(found) + j, kind="stable")
            cell, begin, steps, requests, fetched, checked_bytes = (
                a[order] for a in (cell, begin, steps, requests, fetched, checked_bytes)
            )
        begin = begin + opened[cell]
        row = cell // items
    else:
        row = np.zeros(0, dtype=np.int64)
        begin = steps = requests = fetched = checked_bytes = np.zeros(0)
    return _Parts(
        row,
        begin,
        steps.astype(np.int64),
        requests,
        fetched,
        checked_bytes,
        running,
        first_data,
        parts.reshape(by_row).sum(axis=1).astype(np.float64),
        read.reshape(by_row).sum(axis=1),
        checked.sum(axis=1),
    )


def _expand_steps(
    parts: _Parts, training: Training, timer: tuple[float, float] = (0.0, 0.0)
) -> _FastFileEpoch:
    """Part records to per-step arrays, with the partial step at the end of the epoch; the
    arrays are (rows, steps), the transpose of ``_FastFileEpoch``'s.

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
    held = _held(compute, timer)
    ends = begin[record] + np.where(last, held, within * float(_held(step_s, timer)))
    new_row = np.ones(record.size, dtype=bool)
    new_row[1:] = step_row[1:] != step_row[:-1]

    def since_previous(through: np.ndarray) -> np.ndarray:
        values = through[record]
        return values - np.where(new_row, 0.0, np.concatenate(([0.0], values[:-1])))

    # The records run row by row, so writing them into (rows, steps) is sequential; the
    # caller transposes.
    longest = int(per_row.max(initial=0))
    cell = step_row * longest + position

    def by_step(values: np.ndarray, dtype=np.float64) -> np.ndarray:
        array = np.zeros(rows * longest, dtype=dtype)
        array[cell] = values
        return array.reshape(rows, longest)

    step_end, step_compute, step_requests, step_fetched, step_checked, step_held = (
        by_step(values)
        for values in (
            ends,
            compute,
            since_previous(requests),
            since_previous(fetched),
            since_previous(checked),
            held,
        )
    )
    active = by_step(True, bool)
    return _FastFileEpoch(
        step_end,
        step_compute,
        active,
        parts.first_data,
        step_requests,
        step_fetched,
        step_checked,
        step_held,
    )


# --- the consumer ---------------------------------------------------------------------------


@dataclass
class _EpochOutcome:
    end: np.ndarray  # (rows,)
    compute: np.ndarray
    barrier: np.ndarray
    timer: np.ndarray | float = 0.0  # the consumer's timer lateness beyond compute (not stall)


def _consume(
    avail: np.ndarray,
    compute: np.ndarray,
    active: np.ndarray,
    start: np.ndarray,
    barrier: bool,
    timer: tuple[float, float] = (0.0, 0.0),
) -> _EpochOutcome:
    """Steps whose data is ready at ``avail``: ends with or without a global step barrier.

    Without a barrier, end_s = max(end_{s-1}, avail_s) + c_s is a max-plus recursion with the
    closed form end_s = C_s + max(start, max_{j<=s}(avail_j - C_{j-1})), C the cumulative
    compute; with one, the release of step s is max(release_{s-1} + max c_s, max(avail_s + c_s))
    over hosts still training, which has the same closed form. Inputs are (steps, rows); c_s is
    the time a step holds the consumer (``_held``: its compute on the consumer's timer).
    """
    compute_total = compute.sum(axis=0)
    held = _held(compute, timer)
    lateness = np.where(active, held - compute, 0.0).sum(axis=0)
    outcome = _consume_held(avail, held, active, start, barrier)
    return _EpochOutcome(outcome.end, compute_total, outcome.barrier, lateness)


def _consume_held(
    avail: np.ndarray, compute: np.ndarray, active: np.ndarray, start: np.ndarray, barrier: bool
) -> _EpochOutcome:
    rows = start.size
    steps = avail.shape[0]
    compute_total = compute.sum(axis=0)
    if steps == 0:
        return _EpochOutcome(start.copy(), compute_total, np.zeros(rows))
    last_step = active.sum(axis=0) - 1
    has_steps = last_step >= 0
    if not barrier:
        cumulative = np.cumsum(compute, axis=0)
        lag = np.where(active, avail - (cumulative - compute), -np.inf)
        best = np.maximum(np.maximum.accumulate(lag, axis=0), start[None, :])
        ends = cumulative + best
        end = np.where(has_steps, ends[np.maximum(last_step, 0), np.arange(rows)], start)
        return _EpochOutcome(end, compute_total, np.zeros(rows))
    ready = np.maximum(avail, np.where(np.arange(steps)[:, None] == 0, start[None, :], -np.inf))
    reach = np.where(active, ready + compute, -np.inf).max(axis=1)
    c_max = np.where(active, compute, -np.inf).max(axis=1)
    c_max = np.where(np.isfinite(c_max), c_max, 0.0)
    k = np.cumsum(c_max)
    release = k + np.maximum.accumulate(reach - k)
    previous = np.concatenate(([-np.inf], release[:-1]))
    own_end = np.maximum(previous[:, None], ready) + compute
    wait = np.where(active, release[:, None] - own_end, 0.0)
    end = np.where(has_steps, release[np.maximum(last_step, 0)], start)
    return _EpochOutcome(end, compute_total, wait.sum(axis=0))


def _consume_paced(
    ff: _FastFileEpoch,
    start: np.ndarray,
    barrier: bool,
    *,
    fetch_start: np.ndarray | None = None,
    request_s: float = 0.0,
    byte_s: float = 0.0,
    verify_s: float = 0.0,
) -> _EpochOutcome:
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
        return _EpochOutcome(start.copy(), compute_total, np.zeros(rows))
    last_step = ff.active.sum(axis=0) - 1
    has_steps = last_step >= 0
    index = np.maximum(last_step, 0)
    if not barrier:
        end = np.where(has_steps, ff.step_end[index, np.arange(rows)], start)
        return _EpochOutcome(end, compute_total, np.zeros(rows), lateness)
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
    return _EpochOutcome(end, compute_total, wait.sum(axis=0), lateness)


# --- the job --------------------------------------------------------------------------------


def _epoch_order(
    sizes: np.ndarray, counts: np.ndarray, seed: int | None, epoch: int, head: int | None = None
) -> np.ndarray:
    """Each row's objects in this epoch's order (``paths.base.epoch_order`` per host); with
    ``head``, only its first ``head`` objects."""
    items = sizes.shape[0] if head is None else min(head, sizes.shape[0])
    if seed is None:
        return sizes[:items]
    out = sizes[:items].copy()
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        order = np.random.default_rng([seed, epoch]).permutation(int(count))[:items]
        out[: order.size, rows] = sizes[np.ix_(order, rows)]
    return out


def _coarsen_steps(step_bytes: int, total: np.ndarray, max_steps: int) -> int:
    steps = float(np.ceil(total.max() / step_bytes)) if total.size else 0.0
    cells = steps * total.size
    if cells <= max_steps:
        return step_bytes
    return int(step_bytes * math.ceil(cells / max_steps))


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
    """Model every mode in ``modes`` for a job; see the module docstring for the semantics.

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
    listed = int(np.asarray(sizes).size if prefix_objects is None else prefix_objects)
    return {
        mode: _model_mode(
            mode,
            shards,
            storage,
            params,
            training,
            listed,
            startup_only,
            max_exact_items,
            max_steps,
        )
        for mode in modes
    }


def _model_mode(
    mode: str,
    shards: Shards,
    storage: Storage,
    params: PathParams,
    training: Training,
    listed: int,
    startup_only: bool,
    limit: int,
    max_steps: int,
) -> ModeResult:
    sizes, counts = shards.sizes, shards.counts
    rows = counts.size
    reading = shards.reading_hosts
    shard_bytes = sizes.sum(axis=0).astype(np.float64)
    epochs = training.epochs
    barrier = training.barrier and shards.hosts > 1 and rows > 1
    step_bytes = _coarsen_steps(training.step_bytes, shard_bytes, max_steps)
    train = Training(
        epochs, training.compute_bps, step_bytes, training.barrier, training.shuffle_seed
    )
    listing = np.zeros(rows)
    lists = np.zeros(rows, dtype=np.int64)
    gets = counts.astype(np.int64) * (1 if mode == "file" else epochs)
    fetched = shard_bytes * (1 if mode == "file" else epochs)
    nan = np.full((epochs, rows), np.nan)
    epoch_start, epoch_end = nan.copy(), nan.copy()
    compute_s, stall_s, barrier_s = nan.copy(), nan.copy(), nan.copy()
    notes: list[str] = []

    def links(volume: bool = False, verify: bool = False) -> _Links:
        return _Links.of(storage, rows, reading, volume=volume, verify=verify)

    timer = (storage.timer_tick_s, storage.timer_wake_s)

    verify = params.verify_etag

    if mode == "file":
        startup = _file_download(
            sizes, links(volume=True, verify=verify), params.concurrency, limit
        )
        if not startup_only:
            begin = startup.copy()
            for epoch in range(epochs):
                steps = int(_steps_per_row(shard_bytes, step_bytes).max()) if rows else 0
                compute, active = _step_compute(shard_bytes, step_bytes, steps, train.compute_bps)
                position = _step_positions(shard_bytes, step_bytes, steps)
                if storage.volume_read_bps > 0:
                    avail = begin[None, :] + position / storage.volume_read_bps
                else:
                    avail = np.broadcast_to(begin, position.shape)
                out = _consume(avail, compute, active, begin, barrier, timer)
                _record(epoch, begin, out, epoch_start, epoch_end, compute_s, stall_s, barrier_s)
                begin = out.end
    elif mode == "pipe":
        if startup_only:  # the first data needs only the first `prefetch` objects of epoch 0
            window = max(1, params.prefetch)
            head = _epoch_order(sizes, counts, training.shuffle_seed, 0, head=window)
            startup = _pipe_first_data(head, links(verify=verify), params.chunk_bytes, window)
        else:
            begin = np.zeros(rows)
            for epoch in range(epochs):
                ordered = _epoch_order(sizes, counts, training.shuffle_seed, epoch)
                steps = int(_steps_per_row(shard_bytes, step_bytes).max()) if rows else 0
                stream, stream_first = _pipe_epoch(
                    ordered,
                    links(verify=verify),
                    params.prefetch,
                    params.chunk_bytes,
                    limit,
                    step_bytes,
                    steps,
                    shard_bytes,
                )
                compute, active = _step_compute(shard_bytes, step_bytes, steps, train.compute_bps)
                offset = begin if epoch else np.zeros(rows)
                avail = offset[None, :] + stream
                first_data = offset + stream_first
                start = first_data if epoch == 0 else begin
                out = _consume(avail, compute, active, start, barrier, timer)
                _record(epoch, start, out, epoch_start, epoch_end, compute_s, stall_s, barrier_s)
                begin = out.end
            startup = epoch_start[0]
    else:
        pages = max(1, -(-listed // LIST_PAGE_KEYS))
        stretch = max(1.0, reading / storage.list_parallel) if storage.list_parallel > 0 else 1.0
        listing_time = listing_s(listed, storage) * stretch
        listing = np.full(rows, listing_time)
        lists = np.full(rows, pages, dtype=np.int64)
        random_access = params.access == "random"
        if random_access:
            read = np.minimum(sizes, params.record_size) * params.reads_per_file
            fetched = read.sum(axis=0).astype(np.float64) * epochs
            gets = np.sum(np.where(sizes > 0, params.reads_per_file, 0), axis=0) * epochs
        else:
            gets = _parts_per_row(sizes, params.part_size) * epochs
        first = sizes[0] if sizes.shape[0] else np.zeros(rows, dtype=np.int64)
        first_read = np.minimum(first, params.record_size if random_access else params.part_size)
        first_read = first_read.astype(np.float64)
        first_alone = _request_alone(links(), first_read, first_read > 0)
        if verify:  # a first read that covers its whole object is checked against the ETag
            checked = _request_alone(links(verify=True), first_read, first_read > 0)
            first_alone = np.where(_whole_objects(first, params), checked, first_alone)
        single = np.where(first > 0, listing_time + first_alone, listing_time)
        startup = single
        if not startup_only:
            begin = listing.copy()
            share = 1 if barrier else reading
            verify_s = 0.0
            if verify and storage.verify_bps > 0 and storage.endpoint_bps > 0:
                verify_s = 1 / storage.verify_bps  # the endpoint's CPU also hashes
            for epoch in range(epochs):
                ordered = _epoch_order(sizes, counts, training.shuffle_seed, epoch)
                alone = _Links.of(storage, rows, share, volume=False)
                checked_links = (
                    _Links.of(storage, rows, share, volume=False, verify=True) if verify else None
                )
                ff = _fastfile_epoch(
                    ordered, alone, params, train, begin, verified=checked_links, timer=timer
                )
                start = ff.first_data_s if epoch == 0 else begin
                out = _consume_paced(
                    ff,
                    start,
                    barrier,
                    fetch_start=begin,
                    request_s=1 / storage.requests_per_s if storage.requests_per_s > 0 else 0.0,
                    byte_s=1 / storage.endpoint_bps if storage.endpoint_bps > 0 else 0.0,
                    verify_s=verify_s,
                )
                _record(epoch, start, out, epoch_start, epoch_end, compute_s, stall_s, barrier_s)
                begin = out.end
            startup = epoch_start[0]
    end = startup.copy() if startup_only else np.nanmax(epoch_end, axis=0)
    if step_bytes != training.step_bytes:
        notes.append(f"steps merged to {step_bytes} bytes to bound memory")
    row = shards.host_row
    return ModeResult(
        mode=mode,
        objects=counts[row],
        bytes=shard_bytes[row].astype(np.int64),
        bytes_fetched=np.asarray(fetched)[row].astype(np.int64),
        gets=np.asarray(gets)[row].astype(np.int64),
        lists=lists[row],
        startup_s=startup[row],
        end_s=end[row],
        listing_s=listing[row],
        epoch_start_s=epoch_start[:, row],
        epoch_end_s=epoch_end[:, row],
        compute_s=compute_s[:, row],
        stall_s=stall_s[:, row],
        barrier_s=barrier_s[:, row],
        notes=notes,
    )


def listing_s(keys: int, storage: Storage) -> float:
    """Seconds to list ``keys`` keys alone: 1,000-key pages one after another, the last one
    (or the only one, for fewer keys) shorter by what its missing keys save."""
    pages = max(1, -(-keys // LIST_PAGE_KEYS))
    missing = pages * LIST_PAGE_KEYS - keys
    return max(pages * storage.list_page_s - missing * storage.list_key_s, 0.0)


def _parts_per_row(sizes: np.ndarray, part_size: int) -> np.ndarray:
    """Per row, the parts of ``part_size`` its objects are read in (ceil per object).

    Item rows are taken a few thousand at a time so the temporaries stay small.
    """
    total = np.zeros(sizes.shape[1], dtype=np.int64)
    for a in range(0, sizes.shape[0], PARTS_BLOCK_ITEMS):
        block = sizes[a : a + PARTS_BLOCK_ITEMS]
        total += ((block + (part_size - 1)) // part_size).sum(axis=0)
    return total


def _request_alone(links: _Links, nbytes: np.ndarray, has_request: np.ndarray) -> np.ndarray:
    """Duration of one request on a host whose resources are idle."""
    first_byte = links.latency_s
    if links.gate_interval_s:
        first_byte = max(first_byte, links.gate_interval_s)
    end = first_byte + nbytes / links.connection_bps
    if links.link_bps:
        end = np.maximum(end, first_byte + nbytes / links.link_bps)
    return np.where(has_request, end, 0.0)


def _pipe_first_data(sizes: np.ndarray, links: _Links, chunk_bytes: int, window: int) -> np.ndarray:
    """Per row, when the first chunk of the first object reaches the consumer.

    On an endpoint that serves in order this is one request on idle resources. On one that
    works on requests together (``burst_s_per_request``), the first ``window`` requests of every
    host go out at once, host after host (when that is more than one request); the first answer
    of the burst comes after its whole count times that cost (its first chunk, not its bytes: a
    large burst is not slower to begin), and the endpoint then answers in issue order: a host's
    first request waits, beyond that, for one gate slot of the whole endpoint
    (``1 / requests_per_s``) and the whole-object bytes (at the endpoint's bandwidth) of every
    request issued before it. Hosts that share one row (FullyReplicated) take the last of them,
    the one the job waits for.
    """
    rows = sizes.shape[1]
    first = sizes[0] if sizes.shape[0] else np.zeros(rows, dtype=np.int64)
    alone = _request_alone(links, np.minimum(first, chunk_bytes).astype(np.float64), first > 0)
    if not links.burst_s or window <= 1:
        return alone
    burst = sizes[:window]
    count = np.count_nonzero(burst, axis=0)
    copies = max(1, links.sharing_hosts // max(1, int(np.count_nonzero(count))))
    if int(count.sum()) * copies <= 1:  # a single request is no burst
        return alone
    slot = links.gate_interval_s / links.sharing_hosts if links.gate_interval_s else 0.0
    per_byte = 1.0 / links.endpoint_bps if links.endpoint_bps > 0 else 0.0
    own = count * slot + burst.sum(axis=0, dtype=np.float64) * per_byte  # one host's burst
    before = np.cumsum(own) - own + (copies - 1) * own  # the hosts issued before it
    wait = float(count.sum()) * copies * links.burst_s + before
    return np.where(first > 0, np.maximum(alone, wait), 0.0)


def _record(epoch, start, out, epoch_start, epoch_end, compute_s, stall_s, barrier_s) -> None:
    epoch_start[epoch] = start
    epoch_end[epoch] = out.end
    compute_s[epoch] = out.compute
    barrier_s[epoch] = out.barrier
    stall_s[epoch] = np.maximum(out.end - start - out.compute - out.barrier - out.timer, 0.0)
