"""``stagebench calibrate``: measure an endpoint and write a storage profile for the model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import add_command, add_common, add_endpoint_options


def register(commands: Any) -> None:
    calibrate = add_command(
        commands,
        "calibrate",
        help="measure an endpoint and write a storage profile for the model",
        examples="""
            stagebench calibrate --quick
            stagebench calibrate --endpoint http://127.0.0.1:9000 --out minio.toml
            stagebench calibrate --endpoint aws --region eu-west-1 --bucket my-scratch-bucket
        """,
    )
    add_endpoint_options(calibrate, anonymous=False)
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
    from bench.analysis.calibrate import calibrate_endpoint
    from bench.s3.endpoint import default_endpoint_spec

    calibration = calibrate_endpoint(
        args.endpoint or default_endpoint_spec(args.profile),
        out=args.out,
        bucket=args.bucket,
        quick=args.quick,
        aws_profile=args.profile,
        region=args.region,
        results_root=args.results,
        say=lambda text: print(text, flush=True),
    )
    print(
        f"profile: {calibration.profile_path} ({calibration.seconds:.0f} s); "
        f"measurements: {calibration.run_dir}"
    )
    return 0
