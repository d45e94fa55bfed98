"""``stagebench skew SCENARIO``: how skewed object sizes unbalance ShardedByS3Key, per strategy.

Reads the scenario's dataset sizes (synthetic, a manifest, or a listing of an s3:// prefix),
prints one row per sharding strategy, and writes the table and a bytes-per-host chart to
``results/<scenario>-skew-<UTC timestamp>/``. With ``--sweep``, also imbalance against skew for
2 … 1,024 hosts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    add_progress_option,
    format_table,
    progress_from,
    scenario_overrides,
)
from bench.config.scenario import load_scenario
from bench.core.sharding import SHARDED_BY_S3_KEY_ASSUMPTION
from bench.errors import StagebenchError
from bench.run import results as results_io
from bench.units import parse_rate

_SHOWN = {
    "strategy": "strategy",
    "imbalance_ratio": "max/mean",
    "cv_bytes": "CV",
    "max_bytes": "max MB",
    "empty_hosts": "empty",
    "straggler_delay_s": "straggler_s",
    "idle_host_s": "idle_host_s",
    "idle_cost": "idle_cost_$",
}


def register(commands: Any) -> None:
    skew = add_command(
        commands,
        "skew",
        help="how skewed sizes unbalance ShardedByS3Key",
        examples="""
            stagebench skew scenarios/quickstart.toml
            stagebench skew scenarios/quickstart.toml --hosts 64 --sweep
            stagebench skew s3-dataset.toml --endpoint aws --profile prod   # lists s3:// sizes
        """,
    )
    skew.add_argument("scenario", type=Path, help="scenario TOML file")
    skew.add_argument("--results", type=Path, default=Path("results"))
    skew.add_argument("--hosts", type=int, help="override cluster.hosts")
    skew.add_argument(
        "--throughput",
        default="100MB/s",
        help="per-host download rate for straggler times (default 100MB/s)",
    )
    skew.add_argument("--sweep", action="store_true", help="imbalance vs skew for 2..1024 hosts")
    skew.add_argument(
        "--family", choices=("lognormal", "pareto"), default="lognormal", help="sweep family"
    )
    add_endpoint_options(skew)
    add_progress_option(skew)
    add_common(skew)
    skew.set_defaults(func=run_skew_command)


def format_skew_table(table: Any) -> str:
    view = table.copy()
    view["max_bytes"] = view["max_bytes"] / 1e6
    view = view[list(_SHOWN)].rename(columns=_SHOWN)
    return format_table(view)


def run_skew_command(args: argparse.Namespace) -> int:
    from bench.analysis.skew import SWEEP_MAX_OBJECTS, lognormal_sigma, skew_sweep, skew_table
    from bench.report import plots
    from bench.run.dataset import dataset_sizes

    scenario = load_scenario(args.scenario, overrides=scenario_overrides(args))
    try:
        throughput = parse_rate(args.throughput)
    except ValueError as exc:
        raise StagebenchError(f"--throughput {args.throughput!r}: {exc}") from exc
    if throughput <= 0:
        raise StagebenchError("--throughput must be above 0, e.g. --throughput 200MB/s")
    sizes = dataset_sizes(scenario, progress=progress_from(args))
    hosts = scenario.cluster.hosts
    table = skew_table(
        sizes, hosts, throughput_bps=throughput, hourly_price=scenario.cluster.hourly_price
    )
    run_dir = results_io.new_run_dir(args.results, f"{scenario.name}-skew")
    results_io.write_csv(run_dir / "skew.csv", table)
    written = plots.bytes_per_host(sizes, hosts, run_dir / "bytes_per_host")

    print(
        f"{scenario.name}: {sizes.size} objects, {sizes.sum() / 1e9:.3f} GB, {hosts} hosts, "
        f"Gini of sizes {table['gini_sizes'].iloc[0]:.3f}; host times at "
        f"{throughput / 1e6:.0f} MB/s, ${scenario.cluster.hourly_price:.3f}/h per host"
    )
    print(format_skew_table(table))
    print(f"assumption: {SHARDED_BY_S3_KEY_ASSUMPTION}")
    if args.sweep:
        median = int(np.median(sizes)) if sizes.size else 1
        sweep = skew_sweep(
            n_objects=max(2, min(sizes.size, SWEEP_MAX_OBJECTS)),
            median_bytes=max(1, median),
            family=args.family,
            rng=scenario.dataset.seed,
        )
        results_io.write_csv(run_dir / "sweep.csv", sweep)
        written += plots.imbalance_vs_skew(
            sweep,
            run_dir / "sweep",
            dataset_sigma=lognormal_sigma(sizes) if args.family == "lognormal" else None,
        )
        print(format_sweep(sweep))
    results_io.write_json(
        run_dir / "summary.json",
        {
            "schema_version": results_io.SCHEMA_VERSION,
            "kind": "skew",
            "scenario": {"name": scenario.name, "path": str(scenario.path)},
            "hosts": hosts,
            "throughput_bps": throughput,
            "assumptions": [SHARDED_BY_S3_KEY_ASSUMPTION],
        },
    )
    print(f"results: {run_dir} ({', '.join(p.name for p in written)})")
    return 0


def format_sweep(sweep: Any) -> str:
    """Sharded-by-s3-key imbalance as a skew × hosts grid (the sweep's headline)."""
    sharded = sweep[sweep["strategy"] == "sharded-by-s3-key"]
    grid = sharded.pivot_table(index="skew", columns="hosts", values="imbalance_ratio")
    title = "sharded-by-s3-key max/mean bytes (rows: skew, columns: hosts)"
    grid.columns = [f"{hosts} hosts" for hosts in grid.columns]
    return title + "\n" + format_table(grid.reset_index())
