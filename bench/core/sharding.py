"""Assignments of a dataset's objects to training hosts, and the load each host ends up with.

``sizes`` is always an int64 array of object sizes in lexicographic key order (the order S3
lists them), so "object i" means the i-th key. Five strategies are compared:

- ``fully-replicated``: every host reads every object (SageMaker's default).
- ``sharded-by-s3-key``: about 1/n of the *objects* per host, whole objects, round-robin over
  the sorted keys (see ``SHARDED_BY_S3_KEY_ASSUMPTION``).
- ``sharded-by-s3-key-contiguous``: the same counts, as contiguous ranges of keys.
- ``bytes-balanced``: whole objects, largest first onto the least-loaded host (LPT).
- ``uniform``: exactly equal bytes per host, objects split into byte ranges where needed.

Everything is vectorised so that 10M objects on 1,024 hosts take a fraction of a second.
"""

from __future__ import annotations

import contextlib
import heapq
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bench.vocabulary import ASSIGNMENTS, STRATEGIES, Distribution, Strategy, sharded_strategy

SHARDED_BY_S3_KEY_ASSUMPTION = (
    "ShardedByS3Key is modelled as: keys sorted lexicographically, object i goes to host "
    "i mod n (round-robin), so host counts differ by at most one. SageMaker documents only "
    "that each host gets about 1/n of the objects, not which ones; the 'contiguous' variant "
    "(consecutive key ranges with the same counts) shows the other plausible rule."
)

SHARDED_BY_S3_KEY_VARIANTS = ASSIGNMENTS

# bincount sums in float64, which is exact for every partial sum below 2**53 bytes (8 PiB).
_EXACT_FLOAT_BYTES = 2**53
# Composite int64 keys (load * hosts + host, or -size * n + index) must stay below this.
_INT64_LIMIT = 2**63 - 1
# Elements (rounds x hosts) evaluated per speculative step of the LPT; bounds the scratch memory.
_SPECULATION_ELEMENTS = 1 << 16
# A vectorised LPT step that places fewer objects than this hands over to a heap for a while.
_HEAP_HANDOVER = 16
# Objects the heap places per handover: long enough to amortise the switch (~0.5 us each).
_HEAP_STRETCH = 1024
# Below this many hosts a heap beats a vectorised round when the speculative check fails.
_SMALL_CLUSTER = 32
# Longest pause, in rounds, between speculative checks that keep failing.
_MAX_BACKOFF_ROUNDS = 16
# Objects per step where a whole-array temporary would be wasteful (8 MB of int64).
_CHUNK = 1 << 20
# Arrays of zeros above this size are mapped lazily rather than allocated (see _sparse_zeros).
_SPARSE_MIN_BYTES = 1 << 22


@dataclass(frozen=True)
class UniformShards:
    """Byte ranges of objects per host for uniform sharding, one row per piece.

    Host h reads bytes ``[offset, offset + length)`` of object ``object_index`` for every row
    where ``host == h``. Rows are ordered by host, then by key, then by offset, so each host's
    pieces are one contiguous run of the dataset's bytes.

    ``host`` is int32, ``object_index`` int32 (int64 from 2**31 objects), ``offset`` and
    ``length`` int64. Only split pieces have a non-zero offset, so for large datasets
    ``offset`` sits on a lazily mapped buffer that takes memory only where it is non-zero.
    """

    host: np.ndarray
    object_index: np.ndarray
    offset: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return int(self.host.size)


def sharded_by_s3_key(n_objects: int, hosts: int, variant: str = "round-robin") -> np.ndarray:
    """Host index (int32) of each object under ShardedByS3Key.

    ``round-robin`` sends object i to host ``i % hosts``; ``contiguous`` gives each host one
    run of consecutive keys, the first ``n_objects % hosts`` hosts one object more. Either
    way counts differ by at most one. Which rule SageMaker uses is an assumption:
    ``SHARDED_BY_S3_KEY_ASSUMPTION`` says so in words a report can print.
    """
    _check_hosts(hosts)
    if isinstance(n_objects, bool) or not isinstance(n_objects, int | np.integer) or n_objects < 0:
        raise ValueError(f"n_objects = {n_objects!r}: must be an int >= 0")
    if variant == "round-robin":
        # Repeating 0..hosts-1 is a memory copy; i % hosts would be a division per object.
        return np.resize(np.arange(hosts, dtype=np.int32), int(n_objects))
    if variant == "contiguous":
        quotient, remainder = divmod(int(n_objects), hosts)
        counts = np.full(hosts, quotient, dtype=np.int64)
        counts[:remainder] += 1
        return np.repeat(np.arange(hosts, dtype=np.int32), counts)
    raise ValueError(
        f"variant = {variant!r}: unknown; use one of {', '.join(SHARDED_BY_S3_KEY_VARIANTS)}"
    )


def bytes_balanced(sizes: np.ndarray, hosts: int) -> np.ndarray:
    """Host index (int32) of each object under greedy largest-first balancing (LPT).

    Objects are taken largest first (equal sizes in key order) and each goes to the host with
    the fewest bytes so far (ties: the lowest host index). The result is exactly that of the
    textbook heap-based LPT, computed with about one numpy step per ``hosts`` objects.

    How: a host's state is the int64 key ``load * hosts + host``, so "least-loaded, lowest
    index" is simply the smallest key. With the keys sorted, the next m objects land on the m
    smallest keys in order as long as every key created in the block stays above the keys
    still waiting; one comparison settles that for a whole block, and the block's new keys
    are merged back in. When loads are tied (few distinct sizes), many rounds of ``hosts``
    objects keep the keys in order and are accepted together after one cumulative sum. Below
    32 hosts, or where a few hosts lag far behind and blocks shrink, a heap takes over for a
    stretch: the worst case is the heap's own speed.
    """
    sizes = _as_sizes(sizes)
    _check_hosts(hosts)
    host_of_object = np.zeros(sizes.size, dtype=np.int32)
    if sizes.size == 0 or hosts == 1:
        return host_of_object
    order, sorted_sizes = _largest_first(sizes)
    if _keys_fit(sorted_sizes, hosts):
        sorted_sizes *= hosts
        # Hosts are written straight to their objects through the order: no per-position
        # array and no separate 10M-element scatter at the end.
        _lpt_scaled(sorted_sizes, hosts, host_of_object, order)
    else:
        host_of_object[order] = _lpt_heap(sorted_sizes, hosts)[0]
    return host_of_object


def uniform(sizes: np.ndarray, hosts: int) -> UniformShards:
    """Split the dataset's bytes evenly: host h reads global bytes [h*T//hosts, (h+1)*T//hosts).

    T is the total size and bytes are numbered through the objects in key order; an object that
    straddles a boundary is read by both hosts as two byte ranges. Zero-byte objects hold no
    bytes and so appear in no piece.
    """
    sizes = _as_sizes(sizes)
    _check_hosts(hosts)
    object_ids = None
    if sizes.size and int(sizes.min()) == 0:
        object_ids = np.flatnonzero(sizes)
        sizes = sizes[object_ids]
    plan = _UniformPlan.of(sizes, hosts)
    count, cut_count = sizes.size, plan.cut.size
    piece_count = count + cut_count

    # At most hosts - 1 boundaries fall strictly inside an object and split it; every other
    # row is one whole object, so the piece arrays are copies of the objects with a few rows
    # spliced in: copy the runs between splits, then fill the split rows from small arrays.
    object_index = np.arange(piece_count, dtype=np.int32 if count < 2**31 else np.int64)
    length = np.empty(piece_count, dtype=np.int64)
    row_bounds = np.concatenate(([0], plan.cut_row, [piece_count]))
    for cuts_before in range(cut_count + 1):
        first_row = int(row_bounds[cuts_before]) + (cuts_before > 0)
        end_row = int(row_bounds[cuts_before + 1])
        object_index[first_row:end_row] -= cuts_before
        length[first_row:end_row] = sizes[first_row - cuts_before : end_row - cuts_before]
    object_index[plan.cut_row] = plan.cut_object
    length[plan.cut_row] = plan.cut_length
    length[plan.cut_row[plan.first_cut] - 1] = plan.cut_offset[plan.first_cut]
    offset = _sparse_zeros(piece_count)
    offset[plan.cut_row] = plan.cut_offset
    host = np.repeat(np.arange(hosts, dtype=np.int32), plan.pieces_per_host)
    if object_ids is not None:
        object_index = object_ids[object_index]
    return UniformShards(host=host, object_index=object_index, offset=offset, length=length)


def fully_replicated_loads(sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    """Bytes and objects per host when every host reads the whole dataset."""
    sizes = _as_sizes(sizes)
    _check_hosts(hosts)
    return (
        np.full(hosts, _total(sizes), dtype=np.int64),
        np.full(hosts, sizes.size, dtype=np.int64),
    )


def bytes_per_host(sizes: np.ndarray, host_of_object: np.ndarray, hosts: int) -> np.ndarray:
    """Total bytes (int64) each host reads, given the host of every object."""
    sizes = _as_sizes(sizes)
    host_of_object = _as_hosts(host_of_object, sizes.size, hosts)
    loads = np.zeros(hosts, dtype=np.int64)
    # In chunks: bincount's float64 weights are a temporary as large as its input, and its
    # sums are exact only below 2**53 bytes, which a chunk can check cheaply.
    for start in range(0, sizes.size, _CHUNK):
        chunk_sizes = sizes[start : start + _CHUNK]
        chunk_hosts = host_of_object[start : start + _CHUNK]
        if int(chunk_sizes.max()) * chunk_sizes.size < _EXACT_FLOAT_BYTES:
            weighted = np.bincount(chunk_hosts, weights=chunk_sizes, minlength=hosts)
            loads += weighted.astype(np.int64)
        else:
            np.add.at(loads, chunk_hosts, chunk_sizes)
    return loads


def objects_per_host(host_of_object: np.ndarray, hosts: int) -> np.ndarray:
    """Number of objects (int64) each host reads."""
    host_of_object = _as_hosts(host_of_object, None, hosts)
    counts = np.zeros(hosts, dtype=np.int64)
    # In chunks: bincount widens its input to intp, a temporary as large as the input.
    for start in range(0, host_of_object.size, _CHUNK):
        counts += np.bincount(host_of_object[start : start + _CHUNK], minlength=hosts)
    return counts


def host_object_indices(host_of_object: np.ndarray, hosts: int) -> list[np.ndarray]:
    """Object indices per host, each in key order: the reading order of a sharded channel."""
    host_of_object = _as_hosts(host_of_object, None, hosts)
    order = np.argsort(host_of_object, kind="stable")
    counts = np.bincount(host_of_object, minlength=hosts)
    return np.split(order, np.cumsum(counts)[:-1])


# (strategy, hosts, id of the sizes array) -> (the array, its loads), while remembering.
_remembered: dict[tuple[str, int, int], tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] | None
_remembered = None


@contextlib.contextmanager
def remembered_loads() -> Iterator[None]:
    """Within the block, ``loads`` of the same array object, strategy and host count is worked
    out once: a report's table and plot both need the LPT of millions of objects (seconds each).
    The arrays must not be changed inside the block."""
    global _remembered
    outer = _remembered
    _remembered = {} if outer is None else outer
    try:
        yield
    finally:
        _remembered = outer


def loads(strategy: str, sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes_per_host, objects_per_host)`` under one of ``STRATEGIES``.

    The same numbers as accounting the assignment object by object, computed without building
    it where a shortcut exists (closed forms for the key-based rules, the LPT's final loads).
    For ``uniform`` the object count is the number of byte-range pieces a host reads, since
    each piece costs a request just as a whole object does.
    """
    if _remembered is None or not isinstance(sizes, np.ndarray):
        return _loads(strategy, sizes, hosts)
    key = (strategy, int(hosts), id(sizes))
    found = _remembered.get(key)
    # The array is kept with its loads, so its id cannot be reused by another array meanwhile.
    if found is None or found[0] is not sizes:
        found = (sizes, _loads(strategy, sizes, hosts))
        _remembered[key] = found
    bytes_per_host, objects_per_host = found[1]
    return bytes_per_host.copy(), objects_per_host.copy()


def distribution_loads(
    sizes: np.ndarray, hosts: int, distribution: str, assignment: str = "round-robin"
) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes_per_host, objects_per_host)`` of a channel under a SageMaker distribution:
    ShardedByS3Key by its ``assignment`` rule, FullyReplicated every object on every host."""
    if distribution == Distribution.SHARDED_BY_S3_KEY:
        return loads(sharded_strategy(assignment), sizes, hosts)
    return loads(Strategy.FULLY_REPLICATED, sizes, hosts)


def busiest_host_bytes(
    sizes: np.ndarray, hosts: int, distribution: str, assignment: str = "round-robin"
) -> int:
    """The bytes on the busiest host: what File mode copies onto it (FullyReplicated: all)."""
    bytes_per_host, _ = distribution_loads(sizes, hosts, distribution, assignment)
    return int(bytes_per_host.max()) if bytes_per_host.size else 0


def _loads(strategy: str, sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    sizes = _as_sizes(sizes)
    _check_hosts(hosts)
    if strategy == "fully-replicated":
        return fully_replicated_loads(sizes, hosts)
    if strategy == "sharded-by-s3-key":
        return _round_robin_loads(sizes, hosts)
    if strategy == "sharded-by-s3-key-contiguous":
        return _contiguous_loads(sizes, hosts)
    if strategy == "bytes-balanced":
        return _lpt_loads(sizes, hosts)
    if strategy == "uniform":
        positive = sizes[sizes > 0] if sizes.size and int(sizes.min()) == 0 else sizes
        plan = _UniformPlan.of(positive, hosts)
        return np.diff(plan.boundaries), plan.pieces_per_host
    raise ValueError(f"strategy = {strategy!r}: unknown; use one of {', '.join(STRATEGIES)}")


@dataclass(frozen=True)
class _UniformPlan:
    """Where the host boundaries cut objects (sizes all > 0), without building any pieces."""

    boundaries: np.ndarray  # hosts + 1 global byte offsets
    cut: np.ndarray  # global offsets of boundaries strictly inside an object
    cut_object: np.ndarray  # object each cut falls in
    cut_offset: np.ndarray  # the cut's offset within that object
    cut_length: np.ndarray  # bytes from the cut to the next cut in the object or its end
    cut_row: np.ndarray  # row of the piece starting at the cut
    first_cut: np.ndarray  # whether the cut is its object's first
    pieces_per_host: np.ndarray

    @classmethod
    def of(cls, sizes: np.ndarray, hosts: int) -> _UniformPlan:
        total = _total(sizes)
        boundaries = _uniform_boundaries(total, hosts)
        # Which object holds each boundary byte, found chunk by chunk so that the cumulative
        # sizes never exist as one array as large as the dataset.
        objects_ending_by = np.zeros(boundaries.size, dtype=np.int64)
        holder = np.zeros(boundaries.size, dtype=np.int64)
        holder_start = np.zeros(boundaries.size, dtype=np.int64)
        bytes_before = 0
        for start in range(0, sizes.size, _CHUNK):
            chunk_ends = np.cumsum(sizes[start : start + _CHUNK])
            chunk_ends += bytes_before
            ending = np.searchsorted(chunk_ends, boundaries, side="right")
            objects_ending_by += ending
            inside = (boundaries >= bytes_before) & (boundaries < chunk_ends[-1])
            in_chunk = ending[inside]
            holder[inside] = start + in_chunk
            holder_start[inside] = chunk_ends[in_chunk] - sizes[start + in_chunk]
            bytes_before = int(chunk_ends[-1])
        # A boundary strictly inside an object cuts it; one at an object's start does not.
        is_cut = (boundaries > holder_start) & (boundaries > 0) & (boundaries < total)
        is_cut[1:] &= boundaries[1:] != boundaries[:-1]  # equal boundaries cut once
        cut = boundaries[is_cut]
        cut_object = holder[is_cut]
        cut_offset = cut - holder_start[is_cut]
        same_object_next = np.zeros(cut.size, dtype=bool)
        same_object_next[:-1] = cut_object[1:] == cut_object[:-1]
        piece_end = holder_start[is_cut] + sizes[cut_object]
        piece_end[same_object_next] = cut[1:][same_object_next[:-1]]
        first_cut = np.ones(cut.size, dtype=bool)
        first_cut[1:] = ~same_object_next[:-1]
        # The row of the piece starting at byte b counts the objects ending at or before b and
        # the cuts at or before b (a cut at b stands in for the first piece of its object).
        first_piece = objects_ending_by + np.searchsorted(cut, boundaries, side="right")
        return cls(
            boundaries=boundaries,
            cut=cut,
            cut_object=cut_object,
            cut_offset=cut_offset,
            cut_length=piece_end - cut,
            cut_row=cut_object + np.arange(1, cut.size + 1),
            first_cut=first_cut,
            pieces_per_host=np.diff(first_piece),
        )


def _uniform_boundaries(total: int, hosts: int) -> np.ndarray:
    # floor(h * total / hosts) without forming h * total, which can overflow int64.
    quotient, remainder = divmod(total, hosts)
    host_index = np.arange(hosts + 1, dtype=np.int64)
    return host_index * quotient + (host_index * remainder) // hosts


def _round_robin_loads(sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    full_rounds, remainder = divmod(sizes.size, hosts)
    # Object i sits in column i % hosts of a (rounds x hosts) table: sum the columns.
    bytes_loads = sizes[: full_rounds * hosts].reshape(full_rounds, hosts).sum(axis=0)
    bytes_loads[:remainder] += sizes[full_rounds * hosts :]
    objects = np.full(hosts, full_rounds, dtype=np.int64)
    objects[:remainder] += 1
    return bytes_loads.astype(np.int64, copy=False), objects


def _contiguous_loads(sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    quotient, remainder = divmod(sizes.size, hosts)
    objects = np.full(hosts, quotient, dtype=np.int64)
    objects[:remainder] += 1
    bytes_loads = np.zeros(hosts, dtype=np.int64)
    nonempty = objects > 0  # the empty hosts, if any, are the last ones
    starts = np.concatenate(([0], np.cumsum(objects)[:-1]))[nonempty]
    if starts.size:
        bytes_loads[nonempty] = np.add.reduceat(sizes, starts)
    return bytes_loads, objects


def _lpt_loads(sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    if hosts == 1:
        return fully_replicated_loads(sizes, 1)
    if sizes.size == 0:
        return np.zeros(hosts, dtype=np.int64), np.zeros(hosts, dtype=np.int64)
    # Loads do not depend on which of several equal-sized objects goes first, so sorting the
    # sizes alone is enough: no composite keys, no permutation.
    ascending = sizes.astype(np.int64)
    ascending.sort()
    if _keys_fit(ascending, hosts):
        ascending *= hosts
        host_sorted = np.empty(sizes.size, dtype=np.int32)
        bytes_loads = _lpt_scaled(ascending[::-1], hosts, host_sorted)
    else:
        host_sorted, bytes_loads = _lpt_heap(ascending[::-1], hosts)
    return bytes_loads, objects_per_host(host_sorted, hosts)


def _keys_fit(sizes: np.ndarray, hosts: int) -> bool:
    """Whether every key ``load * hosts + host`` fits in int64, with room to spare."""
    return (float(sizes.sum(dtype=np.float64)) + 1.0) * hosts * 2.0 < _INT64_LIMIT


def _largest_first(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object order for LPT (largest first, equal sizes in key order) and the sizes in it."""
    count = sizes.size
    if int(sizes.max()) * count + count > _INT64_LIMIT:
        order = np.argsort(-sizes, kind="stable")
        return order, sizes[order]
    # One unstable sort of the unique int64 keys -size * n + index is several times faster
    # than a stable argsort, and both the order and the sizes fall out of the key.
    composite = np.multiply(sizes, -count)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        composite[start:stop] += np.arange(start, stop, dtype=np.int64)
    composite.sort()
    order = np.empty(count, dtype=np.int32 if count < 2**31 else np.int64)
    for start in range(0, count, _CHUNK):
        chunk = composite[start : start + _CHUNK]
        # key // n is -size (index < n); key - (key // n) * n is the index. Division by a
        # scalar is several times faster than np.remainder here.
        negative_size = chunk // count
        order[start : start + _CHUNK] = chunk - negative_size * count
        np.negative(negative_size, out=chunk)
    return order, composite


def _host_of(hosts: int) -> Callable[[np.ndarray], np.ndarray]:
    """Keys are ``load * hosts + host``: the host is the key modulo ``hosts``."""
    if hosts & (hosts - 1) == 0:
        # Cluster sizes are usually powers of two, where a mask is cheaper than a division.
        return lambda keys: keys & (hosts - 1)
    return lambda keys: keys % hosts


def _placer(
    host_out: np.ndarray, order: np.ndarray | None
) -> Callable[[int, int, np.ndarray], None]:
    """Write the hosts of LPT positions ``start:stop`` to their objects' slots."""
    if order is None:

        def place(start: int, stop: int, hosts_placed: np.ndarray) -> None:
            host_out[start:stop] = hosts_placed
    else:

        def place(start: int, stop: int, hosts_placed: np.ndarray) -> None:
            host_out[order[start:stop]] = hosts_placed

    return place


@dataclass
class _Speculation:
    """How many whole rounds to try placing in key order at once, and when to try again."""

    rounds: int = 1
    speculate_from: int = 0
    misses: int = 0


def _lpt_scaled(
    scaled_sizes: np.ndarray,
    hosts: int,
    host_out: np.ndarray,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Run LPT over ``sizes * hosts`` given in LPT order; return bytes per host.

    The host of the object at LPT position i is written to ``host_out[i]``, or to
    ``host_out[order[i]]`` when ``order`` maps positions to objects. Sizes come
    pre-multiplied by ``hosts`` so that adding one to a key is one addition; any stride works
    (a reversed view of an ascending sort is fine) and the array is not modified.
    """
    host_of = _host_of(hosts)
    place = _placer(host_out, order)
    keys = np.arange(hosts, dtype=np.int64)
    positive = int(np.count_nonzero(scaled_sizes))
    position = 0
    speculation = _Speculation()
    max_rounds = max(1, _SPECULATION_ELEMENTS // hosts)
    while position < positive:
        if positive - position >= hosts and position >= speculation.speculate_from:
            position, keys, whole = _speculate(
                scaled_sizes[:positive], position, keys, speculation, max_rounds, place, host_of
            )
            if whole:
                continue
            if position >= positive:
                break
        if hosts < _SMALL_CLUSTER:
            # A round of a few hosts is cheaper on a heap than in a dozen numpy calls.
            stretch = min(positive - position, _HEAP_STRETCH)
            placed_keys, keys = _lpt_heap_stretch(scaled_sizes[position : position + stretch], keys)
            place(position, position + stretch, host_of(placed_keys))
            position += stretch
            continue
        position, keys = _place_block(scaled_sizes[:positive], position, keys, place, host_of)
    # Zero-byte objects come last and never change a load: all go to the least-loaded host.
    place(positive, scaled_sizes.size, host_of(keys[:1]))
    bytes_loads = np.empty(hosts, dtype=np.int64)
    bytes_loads[host_of(keys)] = keys // hosts
    return bytes_loads


def _speculate(
    sizes: np.ndarray,
    position: int,
    keys: np.ndarray,
    speculation: _Speculation,
    max_rounds: int,
    place: Callable[[int, int, np.ndarray], None],
    host_of: Callable[[np.ndarray], np.ndarray],
) -> tuple[int, np.ndarray, bool]:
    """Place as many whole rounds as keep the hosts' order; say whether all tried were placed.

    ``sizes`` ends at the last non-empty object. Rounds double while they all fit and back off
    while the pattern keeps failing (continuous sizes rarely keep the order), so the check
    costs little where it does not pay.
    """
    hosts = keys.size
    round_count = min(speculation.rounds, (sizes.size - position) // hosts)
    accepted, last_keys = _order_preserving_rounds(
        sizes[position : position + round_count * hosts], keys, hosts
    )
    if accepted:
        place(position, position + accepted * hosts, np.tile(host_of(keys), accepted))
        keys = last_keys
        position += accepted * hosts
        speculation.misses = 0
    if accepted == round_count:
        speculation.rounds = min(2 * speculation.rounds, max_rounds)
        return position, keys, True
    speculation.rounds = max(1, accepted)
    if not accepted:
        speculation.misses += 1
        speculation.speculate_from = position + hosts * min(
            1 << speculation.misses, _MAX_BACKOFF_ROUNDS
        )
    return position, keys, False


def _place_block(
    sizes: np.ndarray,
    position: int,
    keys: np.ndarray,
    place: Callable[[int, int, np.ndarray], None],
    host_of: Callable[[np.ndarray], np.ndarray],
) -> tuple[int, np.ndarray]:
    """Place up to one object per host at once, as far as LPT keeps the hosts in key order;
    hand over to the heap when few fit. ``sizes`` ends at the last non-empty object."""
    hosts = keys.size
    block = min(hosts, sizes.size - position)
    new_keys = sizes[position : position + block] + keys[:block]
    placed_count = block
    # Object j lands on keys[j] iff every key created before it in the block is larger;
    # prefix minima fall and keys rise, so checking the last object settles the block.
    if block > 1 and new_keys[:-1].min() < keys[block - 1]:
        waiting_below = np.minimum.accumulate(new_keys[:-1]) > keys[1:block]
        placed_count = 1 + int(np.argmin(waiting_below))
    place(position, position + placed_count, host_of(keys[:placed_count]))
    if placed_count == hosts:
        keys = new_keys
    else:
        keys = np.concatenate((new_keys[:placed_count], keys[placed_count:]))
    keys.sort()
    position += placed_count
    if placed_count < _HEAP_HANDOVER and position < sizes.size:
        stretch = min(sizes.size - position, max(4 * hosts, _HEAP_STRETCH))
        placed_keys, keys = _lpt_heap_stretch(sizes[position : position + stretch], keys)
        place(position, position + stretch, host_of(placed_keys))
        position += stretch
    return position, keys


def _order_preserving_rounds(
    round_sizes: np.ndarray, keys: np.ndarray, hosts: int
) -> tuple[int, np.ndarray]:
    """How many leading rounds give object i of the round to ``keys[i]``, keeping key order.

    Round r is such a round when its new keys are ascending and the smallest new key exceeds
    the largest key of round r - 1: then every object in it finds the next-smallest untouched
    key at the top of the heap. ``round_sizes`` are pre-multiplied by ``hosts``. Returns the
    count and the keys after the last accepted round.
    """
    cumulative = np.cumsum(round_sizes.reshape(-1, hosts), axis=0)
    cumulative += keys
    previous_largest = np.empty(cumulative.shape[0], dtype=np.int64)
    previous_largest[0] = keys[-1]
    previous_largest[1:] = cumulative[:-1, -1]
    valid = cumulative[:, 0] > previous_largest
    valid &= (cumulative[:, 1:] > cumulative[:, :-1]).all(axis=1)
    accepted = cumulative.shape[0] if valid.all() else int(np.argmin(valid))
    last_keys = cumulative[accepted - 1].copy() if accepted else keys
    return accepted, last_keys


def _lpt_heap_stretch(scaled_sizes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Place a stretch of objects with a heap of int keys.

    Returns the key each object landed on and the keys afterwards, sorted again.
    """
    heap = keys.tolist()  # ascending, hence already a heap
    placed: list[int] = []
    place, replace = placed.append, heapq.heapreplace  # local names: this loop is hot
    for size in scaled_sizes.tolist():
        smallest = heap[0]
        place(smallest)
        replace(heap, smallest + size)
    return np.array(placed, dtype=np.int64), np.sort(np.array(heap, dtype=np.int64))


def _lpt_heap(sorted_sizes: np.ndarray, hosts: int) -> tuple[np.ndarray, np.ndarray]:
    # For totals too large for int64 keys (exabytes): tuples of Python ints never overflow.
    host_out = np.empty(sorted_sizes.size, dtype=np.int32)
    heap = [(0, host) for host in range(hosts)]
    for index, size in enumerate(sorted_sizes.tolist()):
        load, host = heap[0]
        host_out[index] = host
        heapq.heapreplace(heap, (load + size, host))
    bytes_loads = np.empty(hosts, dtype=np.int64)
    for load, host in heap:
        bytes_loads[host] = load
    return host_out, bytes_loads


def _sparse_zeros(count: int) -> np.ndarray:
    """int64 zeros that occupy memory only where written.

    Only a few offsets of a uniform split are non-zero. numpy asks for 2 MiB transparent huge
    pages on large arrays, so a thousand scattered writes into ``np.zeros`` would commit (and
    zero) the whole array; an anonymous memory map keeps 4 KiB pages and commits almost none.
    """
    if count * 8 < _SPARSE_MIN_BYTES:
        return np.zeros(count, dtype=np.int64)
    return np.frombuffer(mmap.mmap(-1, count * 8), dtype=np.int64)


def _total(sizes: np.ndarray) -> int:
    return int(sizes.sum(dtype=np.int64)) if sizes.size else 0


def _as_sizes(sizes: np.ndarray) -> np.ndarray:
    array = np.asarray(sizes)
    if array.ndim != 1:
        raise ValueError(f"sizes must be a 1-D array of byte counts, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu" and (
        array.dtype.kind != "f" or not np.array_equal(array, np.floor(array))
    ):
        raise ValueError(f"sizes must be whole numbers of bytes, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if int(array.min()) < 0:
        raise ValueError(f"sizes must be >= 0 bytes, found {int(array.min())}")
    return array


def _as_hosts(host_of_object: np.ndarray, count: int | None, hosts: int) -> np.ndarray:
    _check_hosts(hosts)
    array = np.asarray(host_of_object)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError("host_of_object must be a 1-D integer array")
    if count is not None and array.size != count:
        raise ValueError(f"host_of_object has {array.size} entries for {count} objects")
    if array.size == 0:
        return np.zeros(0, dtype=np.intp)
    if int(array.min()) < 0 or int(array.max()) >= hosts:
        raise ValueError(f"host_of_object must lie in [0, {hosts}), hosts = {hosts}")
    # Narrow types stay as they are (bincount widens chunk by chunk); only uint64 needs it.
    return array if np.can_cast(array.dtype, np.intp) else array.astype(np.intp)


def _check_hosts(hosts: int) -> None:
    if isinstance(hosts, bool) or not isinstance(hosts, int | np.integer) or hosts < 1:
        raise ValueError(f"hosts = {hosts!r}: must be an int >= 1")
