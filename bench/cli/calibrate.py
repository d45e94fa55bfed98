"""``stagebench calibrate``: measure an endpoint and write a storage profile for the model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import add_common


def register(commands: Any) -> None:
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


def cmd_calibrate(args: argparse.Namespace) -> int:
    import os

    from bench.analysis.calibrate import calibrate_endpoint

    calibration = calibrate_endpoint(
        args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "embedded",
        out=args.out,
        bucket=args.bucket,
        quick=args.quick,
        aws_profile=args.profile,
        results_root=args.results,
        say=lambda text: print(text, flush=True),
    )
    print(
        f"profile: {calibration.profile_path} ({calibration.seconds:.0f} s); "
        f"measurements: {calibration.run_dir}"
    )
    return 0
