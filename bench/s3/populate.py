"""Create a synthetic dataset on an endpoint: deterministic content, concurrent uploads.

Idempotent: objects already present with the right size are skipped. A marker object under
``.stagebench/<prefix>`` records that stagebench created the prefix and which keys it wrote;
stagebench refuses to write into a non-empty prefix that has no such marker, and only ever
deletes keys its own marker lists.
"""

from __future__ import annotations

import asyncio
import contextlib
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
# The full-object checksum stored with every object written: the store checks it on upload and
# sends it back on GETs that ask (ChecksumMode), so readers verify an object by a CRC that awscrt
# computes at memory speed instead of MD5 against its ETag. (S3 itself stores CRC64NVME for
# uploads that name none since December 2024.)
CHECKSUM_ALGORITHM = "CRC64NVME"
_BATCH = 50_000  # keys handled between two chances for a Ctrl-C to land
_ABORT_SECONDS = 1.0  # how long a cancelled multipart upload may take to abort


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


def marker_uri(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{marker_key(prefix)}"


def parse_marker(raw: bytes, *, bucket: str, prefix: str) -> dict[str, Any]:
    """The marker object's content, checked: a JSON object whose ``keys`` is a list of strings.

    Anything else raises SafetyError naming the marker: with a marker it cannot read,
    stagebench cannot tell its own objects from the user's, so it touches none of them.
    """
    where = marker_uri(bucket, prefix)
    remedy = (
        "stagebench cannot tell which objects it wrote and touches none; remove that object by "
        "hand (the prefix is then not stagebench's) or choose another dataset.prefix"
    )
    try:
        marker = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and bytes that are not UTF-8.
        raise SafetyError(f"{where}: marker is not valid JSON ({exc}); {remedy}") from exc
    if not isinstance(marker, dict):
        raise SafetyError(
            f"{where}: marker must be a JSON object, got {_json_type(marker)}; {remedy}"
        )
    keys = marker.get("keys")
    if not isinstance(keys, list):
        raise SafetyError(
            f"{where}: marker 'keys' must be a list of keys, got {_json_type(keys)}; {remedy}"
        )
    # One C-level pass: a 5,000,000-key marker is checked in a fraction of a second.
    if not set(map(type, keys)) <= {str}:
        odd = next(k for k in keys if not isinstance(k, str))
        raise SafetyError(
            f"{where}: marker 'keys' must hold only strings, got {_json_type(odd)} "
            f"{json.dumps(odd)[:40]}; {remedy}"
        )
    owns_bucket = marker.get("bucket_created_by_stagebench", False)
    if not isinstance(owns_bucket, bool):
        # clean deletes the bucket on this flag: "no" must not read as yes.
        raise SafetyError(
            f"{where}: marker 'bucket_created_by_stagebench' must be true or false, "
            f"got {_json_type(owns_bucket)}; {remedy}"
        )
    return marker


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


async def read_marker(client: Any, bucket: str, prefix: str) -> dict[str, Any] | None:
    """The prefix's marker, checked by ``parse_marker``; None when there is none."""
    import botocore.exceptions as bce

    try:
        response = await client.get_object(Bucket=bucket, Key=marker_key(prefix))
    except bce.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            return None
        raise
    async with response["Body"] as body:
        raw = await body.read()
    return parse_marker(raw, bucket=bucket, prefix=prefix)


async def _pause() -> None:
    # asyncio.run turns Ctrl-C into a cancellation of the task, which lands only at an await:
    # long loops over millions of keys await between batches so it lands within a second.
    await asyncio.sleep(0)


async def _as_set(items: Sequence[str]) -> set[str]:
    result: set[str] = set()
    for start in range(0, len(items), _BATCH):
        result.update(items[start : start + _BATCH])
        await _pause()
    return result


async def _not_in(items: Sequence[str], excluded: set[str]) -> list[str]:
    result: list[str] = []
    for start in range(0, len(items), _BATCH):
        result += [item for item in items[start : start + _BATCH] if item not in excluded]
        await _pause()
    return result


async def _encode_marker(marker: dict[str, Any]) -> bytes:
    """``json.dumps(marker)`` batch by batch, so millions of keys do not hold off a Ctrl-C."""
    keys = marker["keys"]
    head = json.dumps({k: v for k, v in marker.items() if k != "keys"}, sort_keys=True)
    parts = [head[:-1], ", " if len(head) > 2 else "", '"keys": [']
    for start in range(0, len(keys), _BATCH):
        parts.append((", " if start else "") + json.dumps(keys[start : start + _BATCH])[1:-1])
        await _pause()
    parts.append("]}")
    return "".join(parts).encode()


async def _write_marker(client: Any, bucket: str, prefix: str, marker: dict[str, Any]) -> None:
    body = await _encode_marker(marker)
    await client.put_object(Bucket=bucket, Key=marker_key(prefix), Body=body)


async def _upload(
    client: Any,
    bucket: str,
    key: str,
    block: bytes,
    index: int,
    size: int,
    checksum: str | None = CHECKSUM_ALGORITHM,
) -> None:
    """Write one object, with a full-object ``checksum`` (None: none, as older objects have)."""
    algorithm = {"ChecksumAlgorithm": checksum} if checksum else {}
    if size <= MULTIPART_THRESHOLD:
        body = object_range(block, index, 0, size)
        await client.put_object(Bucket=bucket, Key=key, Body=body, **algorithm)
        return
    # FULL_OBJECT: the parts' CRCs combine into the whole object's, which GETs can check.
    full = {"ChecksumType": "FULL_OBJECT"} if checksum else {}
    upload = await client.create_multipart_upload(Bucket=bucket, Key=key, **algorithm, **full)
    parts = []
    try:
        for number, offset in enumerate(range(0, size, PART_BYTES), start=1):
            data = object_range(block, index, offset, min(PART_BYTES, size - offset))
            part = await client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=data,
                **algorithm,
            )
            field = f"Checksum{checksum}"
            parts.append(
                {"ETag": part["ETag"], "PartNumber": number}
                | ({field: part[field]} if checksum else {})
            )
        await client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        # Bounded, so a Ctrl-C is not held up by a slow endpoint; an upload left unaborted
        # holds no object and expires under the bucket's lifecycle rules.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"]),
                _ABORT_SECONDS,
            )
        raise


@dataclass(frozen=True)
class _Plan:
    """What one populate does: the indices to upload, and the keys the marker gives up."""

    todo: np.ndarray
    bytes_to_upload: int
    given_up: list[str]
    stale: list[str]


async def _survey(
    client: Any, endpoint: Endpoint, bucket: str, prefix: str
) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """The prefix's marker (None when unclaimed) and the size of every object under it."""
    try:
        marker = await read_marker(client, bucket, prefix)
        existing = await list_prefix(client, bucket, prefix)
    except StagebenchError:
        raise
    except Exception as exc:
        raise translate_error(exc, endpoint=endpoint, bucket=bucket) from exc
    present: dict[str, int] = {}
    for start in range(0, len(existing.keys), _BATCH):
        batch = slice(start, start + _BATCH)
        present.update(zip(existing.keys[batch], existing.sizes[batch], strict=True))
        await _pause()
    return marker, present


def _refuse_unclaimed(
    present: dict[str, int], marker: dict[str, Any] | None, bucket: str, prefix: str
) -> None:
    if present and marker is None:
        raise SafetyError(
            f"s3://{bucket}/{prefix} already holds {len(present)} objects that stagebench "
            "did not create; choose another dataset.prefix, or benchmark it as is with "
            f'dataset.uri = "s3://{bucket}/{prefix}"'
        )


async def _classify(
    keys: Sequence[str],
    size_of: list[int],
    present: dict[str, int],
    owned: set[str],
    *,
    same_content: bool,
) -> tuple[np.ndarray, list[str]]:
    """Which keys need writing, and which present keys stagebench did not write (foreign).

    A key is kept only when the marker owns it, the content fingerprint matches and the size
    is right; everything else owned is rewritten."""
    need = np.ones(len(keys), dtype=bool)
    foreign: list[str] = []
    if present:
        for start in range(0, len(keys), _BATCH):
            for i in range(start, min(start + _BATCH, len(keys))):
                found = present.get(keys[i])
                if found is None:
                    continue
                if keys[i] not in owned:
                    foreign.append(keys[i])
                elif same_content and found == size_of[i]:
                    need[i] = False
            await _pause()
    return need, foreign


def _refuse_foreign(foreign: list[str], bucket: str, prefix: str) -> None:
    if foreign:
        more = f" (and {len(foreign) - 1} more keys of the dataset)" if len(foreign) > 1 else ""
        raise SafetyError(
            f"s3://{bucket}/{foreign[0]}{more} exists but stagebench did not write it "
            f"(its marker {marker_key(prefix)} does not list it): populate will not overwrite "
            f"it; move it out of s3://{bucket}/{prefix} or choose another dataset.prefix"
        )


async def _plan(
    keys: Sequence[str],
    sizes: np.ndarray,
    present: dict[str, int],
    marker: dict[str, Any] | None,
    *,
    fingerprint: str,
    bucket: str,
    prefix: str,
) -> _Plan:
    """Refuse to touch what stagebench does not own; otherwise, what to write and drop."""
    _refuse_unclaimed(present, marker, bucket, prefix)
    same_content = marker is not None and marker.get("fingerprint") == fingerprint
    owned_before: list[str] = marker["keys"] if marker else []
    owned_set = await _as_set(owned_before)
    wanted = await _as_set(keys)
    need, foreign = await _classify(
        keys, sizes.tolist(), present, owned_set, same_content=same_content
    )
    _refuse_foreign(foreign, bucket, prefix)
    given_up = await _not_in(owned_before, wanted)
    return _Plan(
        todo=np.flatnonzero(need),
        bytes_to_upload=int(sizes[need].sum()),
        given_up=given_up,
        stale=[key for key in given_up if key in present],
    )


def _claim(
    marker: dict[str, Any] | None,
    *,
    keys: Sequence[str],
    given_up: list[str],
    sizes: np.ndarray,
    seed: int,
    fingerprint: str,
    created_bucket: bool,
) -> dict[str, Any]:
    """The marker listing every key this populate may write, plus those it gives up."""
    return {
        "created_by": "stagebench",
        "version": __version__,
        "created": (marker or {}).get("created", _utc_now()),
        "bucket_created_by_stagebench": created_bucket
        or bool((marker or {}).get("bucket_created_by_stagebench")),
        "fingerprint": fingerprint,
        "seed": seed,
        "objects": len(keys),
        "bytes": int(np.sum(sizes)),
        "keys": [*keys, *given_up],
    }


async def _upload_missing(
    client: Any,
    endpoint: Endpoint,
    *,
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    sizes: np.ndarray,
    content_index: np.ndarray,
    seed: int,
    plan: _Plan,
    concurrency: int,
    progress: Progress | bool,
    checksum: str | None,
) -> None:
    block = content_block(seed)
    size_of = sizes.tolist()
    phase = as_progress(progress).phase(
        f"populate s3://{bucket}/{prefix}",
        total_objects=len(plan.todo),
        total_bytes=plan.bytes_to_upload,
    )
    queue = iter(plan.todo.tolist())

    async def worker() -> None:
        for i in queue:
            size = size_of[i]
            try:
                await _upload(client, bucket, keys[i], block, int(content_index[i]), size, checksum)
            except Exception as exc:
                raise translate_error(exc, endpoint=endpoint, bucket=bucket, key=keys[i]) from exc
            phase.advance(objects=1, nbytes=size)

    try:
        # A TaskGroup, unlike gather, stops the other workers when one fails.
        with phase:
            async with asyncio.TaskGroup() as workers:
                for _ in range(min(concurrency, max(1, len(plan.todo)))):
                    workers.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - keeps the cause translate_error set


async def _delete(client: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH_KEYS):
        batch = keys[start : start + DELETE_BATCH_KEYS]
        await client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )


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
    checksum: str | None = CHECKSUM_ALGORITHM,
) -> PopulateReport:
    """Make ``bucket/prefix`` hold exactly ``keys`` with ``sizes``, writing only what is missing.

    Objects written carry a full-object ``checksum`` (None writes them without one)."""
    started = time.perf_counter()
    config = client_config(max_pool_connections=concurrency)
    async with async_client(endpoint, config) as client:
        created_bucket = await _ensure_bucket(client, endpoint, bucket)
        marker, present = await _survey(client, endpoint, bucket, prefix)
        plan = await _plan(
            keys, sizes, present, marker, fingerprint=fingerprint, bucket=bucket, prefix=prefix
        )
        # Claim the keys before writing them, so an interrupted populate can be resumed or
        # cleaned: whatever it wrote is listed.
        new_marker = _claim(
            marker,
            keys=keys,
            given_up=plan.given_up,
            sizes=sizes,
            seed=seed,
            fingerprint=fingerprint,
            created_bucket=created_bucket,
        )
        if marker != new_marker:
            await _write_marker(client, bucket, prefix, new_marker)
        await _upload_missing(
            client,
            endpoint,
            bucket=bucket,
            prefix=prefix,
            keys=keys,
            sizes=sizes,
            content_index=content_index,
            seed=seed,
            plan=plan,
            concurrency=concurrency,
            progress=progress,
            checksum=checksum,
        )
        await _delete(client, bucket, plan.stale)
        if plan.given_up:
            # The stale keys are gone: the marker now lists exactly the dataset.
            new_marker["keys"] = list(keys)
            await _write_marker(client, bucket, prefix, new_marker)
    return PopulateReport(
        uploaded=len(plan.todo),
        skipped=len(keys) - len(plan.todo),
        deleted=len(plan.stale),
        bytes_uploaded=plan.bytes_to_upload,
        seconds=time.perf_counter() - started,
        created_bucket=created_bucket,
    )
