"""Skew and imbalance metrics: how unequal object sizes are, and what it costs a cluster.

A sharded training job starts computing only when its slowest host has its data, and every
host is billed until then; the metrics here turn bytes per host into that delay and that bill.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_CHUNK = 1 << 20


def gini(sizes: np.ndarray) -> float:
    """Gini coefficient of object sizes: 0 when all are equal, towards 1 when few hold all.

    Computed from the sorted sizes as ``2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n``.
    An empty or all-zero array has no inequality and gives 0.
    """
    values = np.asarray(sizes)
    if values.ndim != 1:
        raise ValueError(f"gini needs a 1-D array, got shape {values.shape}")
    count = values.size
    if count == 0:
        return 0.0
    # Whole sizes below 2**31 sort as int32: half the memory and about half the time.
    narrow = values.dtype.kind in "iu" and int(values.min()) >= 0 and int(values.max()) < 2**31
    ordered = values.astype(np.int32) if narrow else np.array(values, copy=True)
    ordered.sort()
    if ordered[0] < 0:
        raise ValueError("gini needs values >= 0")
    total = float(ordered.sum(dtype=np.float64))
    if total == 0.0:
        return 0.0
    # sum(i * x_i) in chunks: whole-array float copies of 10M sizes would double the memory.
    weighted = 0.0
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        rank = np.arange(start + 1, stop + 1, dtype=np.float64)
        weighted += float(np.dot(rank, ordered[start:stop].astype(np.float64)))
    return max(0.0, 2.0 * weighted / (count * total) - (count + 1) / count)


def coefficient_of_variation(values: np.ndarray) -> float:
    """Population standard deviation over the mean; 0 for an empty or all-zero array."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return 0.0
    mean = float(array.mean())
    if mean == 0.0:
        return 0.0
    return float(array.std()) / mean


def imbalance_ratio(bytes_per_host: np.ndarray) -> float:
    """Max over mean bytes per host: 1.0 is perfectly even (and so is no data at all)."""
    array = np.asarray(bytes_per_host, dtype=np.float64)
    mean_bytes = float(array.mean()) if array.size else 0.0
    return float(array.max()) / mean_bytes if mean_bytes else 1.0


def skew_metrics(
    bytes_per_host: np.ndarray,
    objects_per_host: np.ndarray,
    *,
    throughput_bps: float,
    hourly_price: float,
) -> dict[str, Any]:
    """What an uneven split costs, assuming every host reads at ``throughput_bps``.

    - ``imbalance_ratio``: max / mean bytes per host (1 is perfect).
    - ``cv_bytes``: coefficient of variation of bytes per host.
    - ``empty_hosts``: hosts with no object; they read nothing but are billed like the rest.
    - ``straggler_delay_s``: how much later the slowest host finishes than an even split would.
    - ``idle_host_s``: host-seconds spent waiting for the slowest host, sum of (max - t_h).
    - ``idle_cost``: those host-seconds at ``hourly_price`` per host-hour.

    With no bytes at all nothing is unequal: the ratio is 1 and the delays are 0.
    """
    bytes_array = np.asarray(bytes_per_host)
    objects_array = np.asarray(objects_per_host)
    if bytes_array.ndim != 1 or bytes_array.size == 0:
        raise ValueError("bytes_per_host must be a non-empty 1-D array, one entry per host")
    if objects_array.shape != bytes_array.shape:
        raise ValueError(
            f"objects_per_host has {objects_array.size} hosts, bytes_per_host {bytes_array.size}"
        )
    if not math.isfinite(throughput_bps) or throughput_bps <= 0:
        raise ValueError(f"throughput_bps = {throughput_bps!r}: must be > 0")
    if not math.isfinite(hourly_price) or hourly_price < 0:
        raise ValueError(f"hourly_price = {hourly_price!r}: must be >= 0")

    hosts = bytes_array.size
    total_bytes = int(bytes_array.sum(dtype=np.int64))
    max_bytes = int(bytes_array.max())
    mean_bytes = total_bytes / hosts
    idle_host_s = (hosts * max_bytes - total_bytes) / throughput_bps
    return {
        "hosts": hosts,
        "imbalance_ratio": max_bytes / mean_bytes if total_bytes else 1.0,
        "cv_bytes": coefficient_of_variation(bytes_array),
        "empty_hosts": int(np.count_nonzero(objects_array == 0)),
        "max_bytes": max_bytes,
        "mean_bytes": mean_bytes,
        "straggler_delay_s": (max_bytes - mean_bytes) / throughput_bps,
        "idle_host_s": idle_host_s,
        "idle_cost": idle_host_s / 3600.0 * hourly_price,
    }
