"""The model-side subcommands: ``calibrate``, ``validate`` and ``startup``.

``bench.cli`` calls ``register`` when this module imports; each handler lives in its own module
(imported only when its command runs, so ``stagebench --help`` stays instant) and returns the
exit code, raising ``StagebenchError`` with one line for anything the user can fix.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bench.calibrate import run_calibrate_command

    return run_calibrate_command(args)


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.validate import run_validate_command

    return run_validate_command(args)


def cmd_startup(args: argparse.Namespace) -> int:
    from bench.startup import run_startup_command

    return run_startup_command(args)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number >= 1")
    return value


def register(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the model's subcommands to the CLI's subparsers."""
    calibrate = commands.add_parser(
        "calibrate", help="measure an endpoint and write a storage profile for the model"
    )
    calibrate.add_argument(
        "--endpoint", help="'embedded' (default), 'aws' or an http(s) URL to measure"
    )
    calibrate.add_argument("--profile", help="AWS profile for --endpoint aws")
    calibrate.add_argument(
        "--bucket",
        default="stagebench-calibrate",
        help="bucket for the calibration objects (created if missing; default %(default)s)",
    )
    calibrate.add_argument("--out", type=Path, help="profile file to write (never overwritten)")
    calibrate.add_argument("--results", type=Path, default=Path("results"))
    calibrate.add_argument(
        "--quick", action="store_true", help="a few seconds of measuring: rough figures"
    )
    add_common(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)

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
        type=_positive,
        default=3,
        help="live runs, each pinned before; live figures are their medians (default 3)",
    )
    add_common(validate)
    validate.set_defaults(func=cmd_validate)

    startup = commands.add_parser(
        "startup", help="startup per mode against file count, 10 to 10,000,000 files"
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
    startup.add_argument("--profile-file", help="storage profile (preset name or .toml)")
    startup.add_argument("--endpoint", help="'embedded', 'aws' or an http(s) URL")
    startup.add_argument("--results", type=Path, default=Path("results"))
    add_common(startup)
    startup.set_defaults(func=cmd_startup)
