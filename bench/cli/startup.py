"""``stagebench startup SCENARIO``: startup per mode against file count."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    add_storage_profile_option,
    format_table,
    scenario_overrides,
)


def register(commands: Any) -> None:
    startup = add_command(
        commands,
        "startup",
        help="startup per mode against file count, 10 to 10,000,000 files",
        examples="""
            stagebench startup scenarios/quickstart.toml --no-live --storage-profile aws-s3-standard
            stagebench startup scenarios/quickstart.toml --max-files 1000
        """,
    )
    startup.add_argument("scenario", type=Path, help="scenario TOML file (hosts, modes, paths)")
    startup.add_argument(
        "--fixed-file-size",
        action="store_true",
        help="keep each file's size (the scenario's median) instead of the total size",
    )
    startup.add_argument("--no-live", action="store_true", help="model only, no live points")
    startup.add_argument(
        "--max-files", type=int, help="largest live point (default 10,000; model goes to 10^7)"
    )
    add_storage_profile_option(
        startup, "the model's storage profile (preset name or .toml from 'stagebench calibrate')"
    )
    add_endpoint_options(startup)
    startup.add_argument("--results", type=Path, default=Path("results"))
    add_common(startup)
    startup.set_defaults(func=cmd_startup)


def format_startup(table: Any) -> str:
    grid = table.pivot_table(index="files", columns=["mode", "source"], values="startup_s")
    grid.columns = [f"{mode} {source}" for mode, source in grid.columns]
    return format_table(grid.reset_index())


def cmd_startup(args: argparse.Namespace) -> int:
    import sys

    from bench.analysis.inputs import default_profile, endpoint_kind
    from bench.analysis.startup import startup_sweep
    from bench.config.profile import load_profile
    from bench.config.scenario import load_scenario
    from bench.report import plots

    scenario = load_scenario(args.scenario, overrides=scenario_overrides(args))
    profile = load_profile(
        args.storage_profile or default_profile(endpoint_kind(scenario.storage.endpoint))
    )
    sweep = startup_sweep(
        scenario,
        profile,
        fixed_file_size=args.fixed_file_size,
        live=not args.no_live,
        max_files=args.max_files,
        results_root=args.results,
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
    table = sweep.table
    written = plots.startup_vs_files(
        table[table["source"] == "model"],
        sweep.run_dir / "startup",
        live=table[table["source"] == "live"],
        title=sweep.title,
    )
    print(f"{sweep.title}; startup_s of the slowest host:")
    print(format_startup(sweep.table))
    names = ", ".join(p.name for p in [sweep.run_dir / "startup.csv", *written])
    print(f"results: {sweep.run_dir} ({names})")
    return 0
