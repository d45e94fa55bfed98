"""``stagebench validate SCENARIO``: the scenario live and in the model; the model's error."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    add_storage_profile_option,
    format_table,
    positive_int,
    scenario_overrides,
)


def register(commands: Any) -> None:
    validate = add_command(
        commands,
        "validate",
        help="run a scenario live and in the model; print the model's error",
        examples="""
            stagebench validate scenarios/quickstart.toml
            stagebench validate s.toml --endpoint http://127.0.0.1:9000 --storage-profile my.toml
        """,
    )
    validate.add_argument("scenario", type=Path, help="scenario TOML file")
    add_storage_profile_option(
        validate,
        "the model's storage profile (preset name or .toml from 'stagebench calibrate'); "
        "default: 'embedded' for the embedded endpoint, 'aws-s3-standard' for aws",
    )
    add_endpoint_options(validate)
    validate.add_argument("--results", type=Path, default=Path("results"))
    validate.add_argument("--modes", help="override modes.run, comma-separated")
    validate.add_argument(
        "--repeat",
        type=positive_int,
        default=3,
        help="live runs, each pinned before; live figures are their medians (default 3)",
    )
    add_common(validate)
    validate.set_defaults(func=cmd_validate)


def format_errors(table: Any) -> str:
    view = table.drop(columns=["scenario"]).copy()
    if (view["live_min"] == view["live_max"]).all():
        view = view.drop(columns=["live_min", "live_max"])
    for column in ("error", "error_profile"):
        view[column] = view[column].map(lambda v: f"{v * 100:+.1f}%" if math.isfinite(v) else "-")
    return format_table(view)


def cmd_validate(args: argparse.Namespace) -> int:
    import sys

    from bench.analysis.inputs import default_profile, endpoint_kind
    from bench.analysis.validate import TARGET_ERROR, explain, validate_scenario
    from bench.config.profile import load_profile
    from bench.config.scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=scenario_overrides(args))
    profile = load_profile(
        args.storage_profile or default_profile(endpoint_kind(scenario.storage.endpoint))
    )
    validation = validate_scenario(
        scenario,
        profile,
        repeat=args.repeat,
        results_root=args.results,
        aws_profile=getattr(args, "profile", None),
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
    results, table = validation.results, validation.table
    run_dir = results[-1].run_dir
    median_of = f"medians of {len(results)} runs" if len(results) > 1 else "one run"
    print(
        f"{scenario.name}: live ({median_of}) vs model ({profile.name}; "
        f"model {validation.model_s:.2f} s), error = (model - live) / live"
    )
    print(format_errors(table))
    median_error = validation.median_error
    verdict = "within" if median_error <= TARGET_ERROR else "OUTSIDE"
    print(
        f"median |error| of startup_s and epoch_s: {median_error * 100:.1f}% "
        f"({verdict} the {TARGET_ERROR * 100:.0f}% target)"
    )
    live_modes = results[-1].run_summary.modes
    pinned = validation.pinned
    for line in explain(table, pinned=pinned, profile=profile, live_modes=live_modes):
        print(f"  {line}")
    for result in results[:-1]:
        print(f"run:     {result.run_dir}")
    print(f"results: {run_dir} (validate.csv)")
    return 0
