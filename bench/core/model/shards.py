"""Who reads what, in which order: shards as padded matrices, merged runs, epoch orders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


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


class MergedRuns(NamedTuple):
    """Items of ``group`` consecutive objects each, ``(items, rows)``."""

    nbytes: np.ndarray
    # Non-empty objects per item; None when every item is exactly one request (no merging, no
    # empty object), which spares the loops a multiplication and 8 bytes per object.
    requests: np.ndarray | None
    group: int


def merge_runs(sizes: np.ndarray, limit: int) -> MergedRuns:
    """Merge runs of ``group`` consecutive items so that at most ``limit`` remain per row."""
    items = sizes.shape[0]
    if items <= limit:
        return MergedRuns(sizes, None if sizes.size == 0 or sizes.min() > 0 else sizes > 0, 1)
    g = -(-items // limit)
    pad = (-items) % g
    if pad:
        sizes = np.concatenate((sizes, np.zeros((pad, sizes.shape[1]), dtype=sizes.dtype)))
    rows = sizes.shape[1]
    merged = sizes.reshape(-1, g, rows)
    return MergedRuns(merged.sum(axis=1, dtype=np.float64), np.count_nonzero(merged, axis=1), g)


def epoch_order(
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
