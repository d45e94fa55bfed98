from __future__ import annotations

import asyncio

import boto3
import numpy as np
import pytest

from bench.core.content import content_block, object_range
from bench.errors import SafetyError
from bench.s3.populate import marker_key, populate_async

BUCKET = "stagebench-tests"


def _populate(endpoint, prefix, sizes, seed=1, fingerprint="f1"):
    keys = [f"{prefix}{i:04d}.bin" for i in range(len(sizes))]
    return keys, asyncio.run(
        populate_async(
            endpoint,
            bucket=BUCKET,
            prefix=prefix,
            keys=keys,
            sizes=np.asarray(sizes, dtype=np.int64),
            content_index=np.arange(len(sizes)),
            seed=seed,
            fingerprint=fingerprint,
            progress=False,
        )
    )


def _s3(endpoint):
    return boto3.client("s3", **endpoint.client_kwargs())


def test_populate_writes_deterministic_content_then_skips(embedded, unique_prefix):
    sizes = [1, 1000, 70_000, 5]
    keys, first = _populate(embedded, unique_prefix, sizes)
    assert (first.uploaded, first.skipped) == (4, 0)
    s3 = _s3(embedded)
    block = content_block(1)
    for i, key in enumerate(keys):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == object_range(block, i, 0, sizes[i])
    assert len(set(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()[:4] for k in keys[1:3])) == 2
    _, second = _populate(embedded, unique_prefix, sizes)
    assert (second.uploaded, second.skipped, second.bytes_uploaded) == (0, 4, 0)


def test_populate_rewrites_only_wrong_sizes_and_removes_its_own_stale_keys(embedded, unique_prefix):
    _populate(embedded, unique_prefix, [10, 20, 30])
    s3 = _s3(embedded)
    s3.put_object(Bucket=BUCKET, Key=f"{unique_prefix}0001.bin", Body=b"short")
    keys, report = _populate(embedded, unique_prefix, [10, 20])
    assert report.uploaded == 1 and report.skipped == 1 and report.deleted == 1
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=unique_prefix)["Contents"]]
    assert listed == keys


def test_populate_refuses_a_prefix_it_did_not_create(embedded, unique_prefix):
    s3 = _s3(embedded)
    s3.create_bucket(Bucket=BUCKET) if BUCKET not in [
        b["Name"] for b in s3.list_buckets()["Buckets"]
    ] else None
    s3.put_object(Bucket=BUCKET, Key=f"{unique_prefix}user-data.txt", Body=b"precious")
    with pytest.raises(SafetyError, match="did not create"):
        _populate(embedded, unique_prefix, [10])
    assert s3.get_object(Bucket=BUCKET, Key=f"{unique_prefix}user-data.txt")["Body"].read() == (
        b"precious"
    )
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key=marker_key(unique_prefix))
