"""``stagebench clean``: delete a dataset stagebench created, only the keys it wrote."""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    confirm_or_fail,
    scenario_overrides,
)
from bench.errors import StagebenchError


def register(commands: Any) -> None:
    clean = add_command(
        commands,
        "clean",
        help="delete a dataset stagebench created (only the keys it wrote)",
        examples="""
            stagebench clean scenarios/quickstart.toml --endpoint http://127.0.0.1:9000
            stagebench clean s3://my-bucket/quickstart/ --endpoint aws --region eu-west-1 --yes
        """,
    )
    clean.add_argument("target", help="a scenario file, or s3://bucket/prefix/")
    add_endpoint_options(clean, anonymous=False)
    clean.add_argument("--yes", action="store_true", help="delete without asking")
    add_common(clean)
    clean.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    import asyncio

    from bench.config.scenario import dataset_prefix, load_scenario, parse_s3_uri
    from bench.s3.clean import execute_clean, plan_clean
    from bench.s3.endpoint import configured_endpoint_url, open_endpoint

    region, profile = args.region, args.profile
    if args.target.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_uri(args.target)
            prefix = dataset_prefix(prefix)
        except ValueError as exc:
            raise StagebenchError(f"{args.target}: {exc}") from exc
        spec = args.endpoint or configured_endpoint_url(profile) or "aws"
    else:
        scenario = load_scenario(args.target, overrides=scenario_overrides(args))
        bucket, prefix = scenario.dataset.bucket, scenario.dataset.prefix
        spec = scenario.storage.endpoint
        region, profile = scenario.storage.region, scenario.storage.profile
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
