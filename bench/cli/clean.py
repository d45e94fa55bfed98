"""``stagebench clean``: delete a dataset stagebench created, only the keys it wrote."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench.cli.common import add_common, confirm_or_fail
from bench.errors import StagebenchError


def register(commands: Any) -> None:
    clean = commands.add_parser(
        "clean", help="delete a dataset stagebench created (only the keys it wrote)"
    )
    clean.add_argument("target", help="a scenario file, or s3://bucket/prefix/")
    clean.add_argument("--endpoint", help="'embedded', 'aws' or an http(s) URL")
    clean.add_argument("--profile", help="AWS profile")
    clean.add_argument("--yes", action="store_true", help="delete without asking")
    add_common(clean)
    clean.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    import asyncio

    from bench.config.scenario import dataset_prefix, load_scenario, parse_s3_uri
    from bench.s3.clean import execute_clean, plan_clean
    from bench.s3.endpoint import open_endpoint

    region, profile = "us-east-1", args.profile
    if args.target.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_uri(args.target)
            prefix = dataset_prefix(prefix)
        except ValueError as exc:
            raise StagebenchError(f"{args.target}: {exc}") from exc
        spec = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "aws"
    else:
        scenario = load_scenario(args.target)
        bucket, prefix = scenario.dataset.bucket, scenario.dataset.prefix
        spec = args.endpoint or scenario.storage.endpoint
        region, profile = scenario.storage.region, profile or scenario.storage.profile
    if spec == "embedded":
        raise StagebenchError(
            "the embedded server forgets its data when the command ends: nothing to clean; "
            "give --endpoint for a server started with 'stagebench serve' or for AWS"
        )
    with open_endpoint(spec, region=region, profile=profile) as endpoint:
        plan = asyncio.run(plan_clean(endpoint, bucket, prefix))
        print(
            f"s3://{bucket}/{prefix}: {len(plan.keys)} objects ({plan.bytes / 1e6:.1f} MB) "
            f"written by stagebench; {plan.others} other objects will be kept"
        )
        if not args.yes and not confirm_or_fail("delete them?"):
            print("nothing deleted")
            return 1
        removed_bucket = asyncio.run(execute_clean(endpoint, plan))
    print(f"deleted {len(plan.keys)} objects" + (f" and bucket {bucket}" if removed_bucket else ""))
    return 0
