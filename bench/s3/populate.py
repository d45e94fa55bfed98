"""Create a synthetic dataset on an endpoint: deterministic content, concurrent uploads.

Idempotent: objects already present with the right size are skipped. A marker object under
``.stagebench/<prefix>`` records that stagebench created the prefix and which keys it wrote;
stagebench refuses to write into a non-empty prefix that has no such marker, and only ever
deletes keys its own marker lists.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import __version__
from bench.core.content import content_block, object_range
from bench.errors import SafetyError, StagebenchError
from bench.progress import NO_PROGRESS, Progress, as_progress
from bench.s3.client import Endpoint, async_client, client_config, translate_error
from bench.s3.listing import list_prefix
from bench.vocabulary import DELETE_BATCH_KEYS

MARKER_ROOT = ".stagebench/"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def marker_key(prefix: str) -> str:
    return f"{MARKER_ROOT}{prefix}marker.json"


@dataclass(frozen=True)
class PopulateReport:
    uploaded: int
    skipped: int
    deleted: int
    bytes_uploaded: int
    seconds: float
    created_bucket: bool


async def _ensure_bucket(client: Any, endpoint: Endpoint, bucket: str) -> bool:
    import botocore.exceptions as bce

    try:
        await client.head_bucket(Bucket=bucket)
        return False
    except bce.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "403":
            # HEAD answers carry no error body; a LIST says whether it is the credentials
            # or a policy that refuses us.
            try:
                await client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            except bce.ClientError as detailed:
                raise translate_error(detailed, endpoint=endpoint, bucket=bucket) from detailed
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise translate_error(exc, endpoint=endpoint, bucket=bucket) from exc
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if endpoint.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": endpoint.region}
    try:
        await client.create_bucket(**kwargs)
    except Exception as exc:
        raise translate_error(exc, endpoint=endpoint, bucket=bucket) from exc
    return True


async def _read_marker(client: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    import botocore.exceptions as bce

    try:
        response = await client.get_object(Bucket=bucket, Key=marker_key(prefix))
    except bce.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            return None
        raise
    async with response["Body"] as body:
        return json.loads(await body.read())


async def _write_marker(client: Any, bucket: str, prefix: str, marker: dict[str, Any]) -> None:
    body = json.dumps(marker, sort_keys=True).encode()
    await client.put_object(Bucket=bucket, Key=marker_key(prefix), Body=body)


async def _upload(client: Any, bucket: str, key: str, block: bytes, index: int, size: int) -> None:
    if size <= MULTIPART_THRESHOLD:
        await client.put_object(Bucket=bucket, Key=key, Body=object_range(block, index, 0, size))
        return
    upload = await client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    try:
        for number, offset in enumerate(range(0, size, PART_BYTES), start=1):
            data = object_range(block, index, offset, min(PART_BYTES, size - offset))
            part = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=data
            )
            parts.append({"ETag": part["ETag"], "PartNumber": number})
        await client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        raise


async def populate_async(
    endpoint: Endpoint,
    *,
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    sizes: np.ndarray,
    content_index: np.ndarray,
    seed: int,
    fingerprint: str,
    concurrency: int = 16,
    progress: Progress | bool = NO_PROGRESS,
) -> PopulateReport:
    """Make ``bucket/prefix`` hold exactly ``keys`` with ``sizes``, writing only what is missing."""
    started = time.perf_counter()
    config = client_config(max_pool_connections=concurrency)
    async with async_client(endpoint, config) as client:
        created_bucket = await _ensure_bucket(client, endpoint, bucket)
        try:
            marker = await _read_marker(client, bucket, prefix)
            existing = await list_prefix(client, bucket, prefix)
        except StagebenchError:
            raise
        except Exception as exc:
            raise translate_error(exc, endpoint=endpoint, bucket=bucket) from exc
        present = dict(zip(existing.keys, existing.sizes, strict=True))
        if present and marker is None:
            raise SafetyError(
                f"s3://{bucket}/{prefix} already holds {len(present)} objects that stagebench "
                "did not create; choose another dataset.prefix, or benchmark it as is with "
                f'dataset.uri = "s3://{bucket}/{prefix}"'
            )
        same_content = marker is not None and marker.get("fingerprint") == fingerprint
        wanted = set(keys)
        owned_before = set(marker.get("keys", ())) if marker else set()
        stale = sorted((owned_before - wanted) & set(present))
        todo = [
            i
            for i, key in enumerate(keys)
            if not (same_content and present.get(key) == int(sizes[i]))
        ]
        # Claim the keys before writing them, so an interrupted populate can be resumed or cleaned.
        new_marker = {
            "created_by": "stagebench",
            "version": __version__,
            "created": (marker or {}).get("created", _utc_now()),
            "bucket_created_by_stagebench": created_bucket
            or bool((marker or {}).get("bucket_created_by_stagebench")),
            "fingerprint": fingerprint,
            "seed": seed,
            "objects": len(keys),
            "bytes": int(np.sum(sizes)),
            "keys": sorted(owned_before | wanted),
        }
        if marker != new_marker:
            await _write_marker(client, bucket, prefix, new_marker)

        block = content_block(seed)
        phase = as_progress(progress).phase(
            f"populate s3://{bucket}/{prefix}",
            total_objects=len(todo),
            total_bytes=int(np.sum(sizes[todo])) if todo else 0,
        )
        queue = iter(todo)

        async def worker() -> None:
            for i in queue:
                size = int(sizes[i])
                try:
                    await _upload(client, bucket, keys[i], block, int(content_index[i]), size)
                except Exception as exc:
                    raise translate_error(
                        exc, endpoint=endpoint, bucket=bucket, key=keys[i]
                    ) from exc
                phase.advance(objects=1, nbytes=size)

        with phase:
            await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(todo))))))
        for start in range(0, len(stale), DELETE_BATCH_KEYS):
            batch = stale[start : start + DELETE_BATCH_KEYS]
            await client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        if owned_before - wanted:
            new_marker["keys"] = sorted(wanted)
            await _write_marker(client, bucket, prefix, new_marker)
    return PopulateReport(
        uploaded=len(todo),
        skipped=len(keys) - len(todo),
        deleted=len(stale),
        bytes_uploaded=int(np.sum(sizes[todo])) if todo else 0,
        seconds=time.perf_counter() - started,
        created_bucket=created_bucket,
    )
