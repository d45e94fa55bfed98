"""Remove a dataset stagebench created, and nothing else.

Only keys listed in the prefix's marker object are deleted; any other object under the prefix
stays. The bucket itself goes only if stagebench created it and it is empty afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import SafetyError
from bench.s3.client import Endpoint, async_client, client_config, translate_error
from bench.s3.listing import list_prefix
from bench.s3.populate import marker_key, read_marker
from bench.vocabulary import DELETE_BATCH_KEYS


@dataclass(frozen=True)
class CleanPlan:
    bucket: str
    prefix: str
    keys: list[str]  # ours and present
    bytes: int
    others: int  # objects under the prefix that stagebench did not write: kept
    bucket_ours: bool


async def plan_clean(endpoint: Endpoint, bucket: str, prefix: str) -> CleanPlan:
    async with async_client(endpoint, client_config()) as client:
        try:
            marker = await read_marker(client, bucket, prefix)
            listing = await list_prefix(client, bucket, prefix)
        except Exception as exc:
            raise translate_error(exc, endpoint=endpoint, bucket=bucket) from exc
    if marker is None:
        raise SafetyError(
            f"s3://{bucket}/{prefix} has no stagebench marker ({marker_key(prefix)}): "
            "stagebench did not create it and will not delete anything there"
        )
    ours = set(marker.get("keys", ()))
    present = dict(zip(listing.keys, listing.sizes, strict=True))
    keys = sorted(k for k in present if k in ours)
    return CleanPlan(
        bucket=bucket,
        prefix=prefix,
        keys=keys,
        bytes=sum(present[k] for k in keys),
        others=len(present) - len(keys),
        bucket_ours=bool(marker.get("bucket_created_by_stagebench")),
    )


async def execute_clean(endpoint: Endpoint, plan: CleanPlan) -> bool:
    """Delete the planned keys and the marker; the bucket too if ours and now empty.

    Returns whether the bucket was removed.
    """
    async with async_client(endpoint, client_config()) as client:
        try:
            for start in range(0, len(plan.keys), DELETE_BATCH_KEYS):
                batch = plan.keys[start : start + DELETE_BATCH_KEYS]
                await client.delete_objects(
                    Bucket=plan.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            await client.delete_object(Bucket=plan.bucket, Key=marker_key(plan.prefix))
            if not plan.bucket_ours:
                return False
            remaining = await client.list_objects_v2(Bucket=plan.bucket, MaxKeys=1)
            if remaining.get("KeyCount", 0) == 0:
                await client.delete_bucket(Bucket=plan.bucket)
                return True
            return False
        except Exception as exc:
            raise translate_error(exc, endpoint=endpoint, bucket=plan.bucket) from exc
