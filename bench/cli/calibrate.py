"""``stagebench calibrate``: measure an endpoint and write a storage profile for the model, or
(``--from-jobs``) fit a platform profile to DescribeTrainingJob records."""

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
            # a platform profile from real jobs (DescribeTrainingJob JSON + .channels.toml):
            stagebench calibrate --from-jobs scenarios/fidelity/*.json --out my-platform.toml
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
    calibrate.add_argument(
        "--from-jobs",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="fit a platform profile to these DescribeTrainingJob JSON files (each with a "
        "<stem>.channels.toml sidecar) instead of measuring an endpoint",
    )
    calibrate.add_argument(
        "--platform",
        default="sagemaker",
        help="with --from-jobs: the platform whose numbers no job shows are kept "
        "(preset or .toml; default %(default)s)",
    )
    add_common(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.from_jobs:
        return _from_jobs(args)

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


def _from_jobs(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from bench.analysis.jobs import fit_platform, fitted_comments, read_jobs
    from bench.config.platform import PlatformError, load_platform
    from bench.errors import ResultsError

    base = load_platform(args.platform)
    if not base.phased:
        raise PlatformError("--platform none has no phases to fit; use sagemaker or a .toml")
    jobs = read_jobs(args.from_jobs)
    out = args.out or args.results / time.strftime("platform-%Y%m%dT%H%M%SZ.toml", time.gmtime())
    fit = fit_platform(jobs, base, name=Path(out).stem)
    modes = ", ".join(f"{sum(j.mode == m for j in jobs)} {m}" for m in ("file", "pipe", "fastfile"))
    print(f"{len(jobs)} jobs ({modes}); base platform: {base.name}")
    for group in fit.groups:
        values = ", ".join(f"{key} = {value:.6g}" for key, value in group.values.items())
        print(f"{group.group}: {values}")
        residuals = " ".join(
            f"{name} {r:+.3g}" for name, r in zip(group.jobs, group.residuals_s, strict=True)
        )
        print(
            f"  residuals s (model - record), RMS {group.rms_s:.3g}, largest "
            f"{np.abs(group.residuals_s).max():.3g}: {residuals}"
        )
        if group.note:
            print(f"  note: {group.note}")
    for kept in fit.kept:
        print(f"kept from {base.name}: {kept}")
    if fit.billable_gaps_s:
        worst = max(fit.billable_gaps_s.items(), key=lambda item: abs(item[1]))
        print(
            "billable check: BillableTimeInSeconds - (Downloading + Training + Uploading), "
            f"largest {worst[1]:+.3g} s ({worst[0]})"
        )
    text = fit.platform.to_toml(comments=fitted_comments(fit))
    header = (
        f"# Platform profile fitted by 'stagebench calibrate --from-jobs' to {len(jobs)} jobs.\n"
    )
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "x", encoding="utf-8") as handle:
            handle.write(header + text)
    except FileExistsError as exc:
        raise ResultsError(f"{out}: exists; it is never overwritten: give another --out") from exc
    except OSError as exc:
        raise ResultsError(f"{out}: cannot write the platform profile: {exc.strerror}") from exc
    print(f"platform: {out}")
    return 0
