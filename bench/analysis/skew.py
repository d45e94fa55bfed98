"""The ``skew`` subcommand's library side: how much skewed object sizes cost each strategy.

Functions take arrays and output paths and return tables or written files; reading scenarios
and creating run folders is the command's job. pandas and matplotlib are imported inside the
functions so that importing this module (and ``stagebench --help``) stays instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.core import metrics, sharding
from bench.core.sizes import sample_sizes

if TYPE_CHECKING:
    import pandas as pd

SWEEP_STRATEGIES: tuple[str, ...] = ("sharded-by-s3-key", "bytes-balanced", "uniform")
"""What the sweep compares: SageMaker's sharding, the whole-object fix, the byte-range ideal."""

SWEEP_MAX_OBJECTS = 20_000
"""The sweep samples the dataset's own object count up to this many (its time grows with it)."""

DEFAULT_SWEEP_HOSTS: tuple[int, ...] = tuple(2**power for power in range(1, 11))
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(sigma) for sigma in np.linspace(0.0, 3.0, 13))
DEFAULT_ALPHAS: tuple[float, ...] = (4.0, 3.0, 2.5, 2.0, 1.75, 1.5, 1.25, 1.1, 1.0)


def skew_table(
    sizes: np.ndarray, hosts: int, *, throughput_bps: float, hourly_price: float
) -> pd.DataFrame:
    """One row per strategy in ``sharding.STRATEGIES`` with the skew metrics of its loads.

    Columns: strategy, hosts, objects, total_bytes, gini_sizes, the keys of
    ``metrics.skew_metrics`` and max_objects_per_host (for uniform: byte-range pieces).
    """
    import pandas as pd

    sizes = np.asarray(sizes)
    size_gini = metrics.gini(sizes)
    total_bytes = int(sizes.sum(dtype=np.int64)) if sizes.size else 0
    rows = []
    for strategy in sharding.STRATEGIES:
        bytes_per_host, objects_per_host = sharding.loads(strategy, sizes, hosts)
        row: dict[str, Any] = {
            "strategy": strategy,
            "objects": int(sizes.size),
            "total_bytes": total_bytes,
            "gini_sizes": size_gini,
        }
        row.update(
            metrics.skew_metrics(
                bytes_per_host,
                objects_per_host,
                throughput_bps=throughput_bps,
                hourly_price=hourly_price,
            )
        )
        row["max_objects_per_host"] = int(objects_per_host.max())
        rows.append(row)
    table = pd.DataFrame(rows)
    leading = ["strategy", "hosts", "objects", "total_bytes", "gini_sizes"]
    return table[leading + [column for column in table.columns if column not in leading]]


def skew_sweep(
    *,
    n_objects: int = 100_000,
    median_bytes: int = 1024**2,
    hosts_list: Sequence[int] = DEFAULT_SWEEP_HOSTS,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    family: str = "lognormal",
    rng: np.random.Generator | int = 0,
) -> pd.DataFrame:
    """Imbalance ratio of each ``SWEEP_STRATEGIES`` entry against size skew and host count.

    ``family`` is ``lognormal`` (skew = sigma, over ``sigmas``) or ``pareto`` (skew = alpha,
    over ``alphas``; smaller alpha, heavier tail), both with median ``median_bytes``. Every skew
    value reuses the same underlying random numbers, so the curves move with the skew alone.
    Returns one row per (skew, hosts, strategy) with columns family, parameter, skew, objects,
    median_bytes, gini, hosts, strategy, imbalance_ratio, empty_hosts.
    """
    import pandas as pd

    if family not in ("lognormal", "pareto"):
        raise ValueError(f"family = {family!r}: unknown; use lognormal or pareto")
    generator = np.random.default_rng(rng)
    # One seed for every skew value: common random numbers across the sweep.
    seed = int(generator.integers(2**63))
    parameter = "sigma" if family == "lognormal" else "alpha"
    values = sigmas if family == "lognormal" else alphas
    rows = []
    for value in values:
        if family == "lognormal":
            spec = {"distribution": "lognormal", "median": median_bytes, "sigma": float(value)}
        else:
            # A Pareto's median is min * 2**(1/alpha).
            minimum = max(1.0, median_bytes / 2 ** (1.0 / float(value)))
            spec = {"distribution": "pareto", "alpha": float(value), "min": minimum}
        sizes = sample_sizes(spec, n_objects, np.random.default_rng(seed))
        size_gini = metrics.gini(sizes)
        for hosts in hosts_list:
            for strategy in SWEEP_STRATEGIES:
                bytes_per_host, objects_per_host = sharding.loads(strategy, sizes, int(hosts))
                mean_bytes = float(bytes_per_host.sum()) / int(hosts)
                rows.append(
                    {
                        "family": family,
                        "parameter": parameter,
                        "skew": float(value),
                        "objects": int(n_objects),
                        "median_bytes": int(median_bytes),
                        "gini": size_gini,
                        "hosts": int(hosts),
                        "strategy": strategy,
                        "imbalance_ratio": float(bytes_per_host.max()) / mean_bytes
                        if mean_bytes
                        else 1.0,
                        "empty_hosts": int(np.count_nonzero(objects_per_host == 0)),
                    }
                )
    return pd.DataFrame(rows)


def lognormal_sigma(sizes: np.ndarray) -> float:
    """The skew of a dataset as the sweep measures it: the standard deviation of the natural log
    of its non-empty object sizes (a lognormal's sigma); NaN with fewer than two objects."""
    positive = np.asarray(sizes, dtype=np.float64)
    positive = positive[positive > 0]
    return float(np.log(positive).std()) if positive.size > 1 else float("nan")
