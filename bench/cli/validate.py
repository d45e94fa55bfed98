"""``stagebench validate SCENARIO``: the scenario live and in the model; the model's error."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import add_common, positive_int


def register(commands: Any) -> None:
    validate = commands.add_parser(
        "validate", help="run a scenario live and in the model; print the model's error"
    )
    validate.add_argument("scenario", type=Path, help="scenario TOML file")
    validate.add_argument(
        "--profile-file",
        help="storage profile (preset name or .toml); default: 'embedded' for the embedded "
        "endpoint, 'aws-s3-standard' for aws",
    )
    validate.add_argument("--endpoint", help="'embedded', 'aws' or an http(s) URL")
    validate.add_argument("--profile", help="AWS profile for --endpoint aws")
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


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.analysis.validate import run_validate_command

    return run_validate_command(args)
