from __future__ import annotations

import asyncio

import boto3
import numpy as np
import pytest

from bench.core.content import content_block, object_range
from bench.errors import SafetyError
from bench.s3.clean import execute_clean, plan_clean
from bench.s3.populate import marker_key, parse_marker, populate_async

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


def test_populate_refuses_to_overwrite_an_object_its_marker_does_not_list(embedded, unique_prefix):
    keys, _ = _populate(embedded, unique_prefix, [10, 20])
    s3 = _s3(embedded)
    users_key = f"{unique_prefix}0002.bin"  # the next key a larger dataset wants
    s3.put_object(Bucket=BUCKET, Key=users_key, Body=b"the user's own bytes")
    marker_before = s3.get_object(Bucket=BUCKET, Key=marker_key(unique_prefix))["Body"].read()

    with pytest.raises(SafetyError) as refused:
        _populate(embedded, unique_prefix, [10, 20, 30])

    message = str(refused.value)
    assert users_key in message and "choose another dataset.prefix" in message
    assert "\n" not in message
    assert s3.get_object(Bucket=BUCKET, Key=users_key)["Body"].read() == b"the user's own bytes"
    marker_after = s3.get_object(Bucket=BUCKET, Key=marker_key(unique_prefix))["Body"].read()
    assert marker_after == marker_before
    assert users_key not in parse_marker(marker_after, bucket=BUCKET, prefix=unique_prefix)["keys"]
    assert sorted(keys) == sorted(
        parse_marker(marker_after, bucket=BUCKET, prefix=unique_prefix)["keys"]
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[]", "must be a JSON object, got a list"),
        (b'"text"', "must be a JSON object, got a string"),
        (b'{"keys": 5}', "'keys' must be a list of keys, got a number"),
        (b'{"created_by": "stagebench"}', "'keys' must be a list of keys, got null"),
        (b'{"keys": ["a", 7]}', "'keys' must hold only strings, got a number"),
        (b'{"keys": [], "bucket_created_by_stagebench": "no"}', "must be true or false"),
        (b'{"keys": [', "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_parse_marker_names_the_marker_and_what_is_wrong(body, why):
    with pytest.raises(SafetyError) as refused:
        parse_marker(body, bucket=BUCKET, prefix="p/")
    message = str(refused.value)
    assert message.startswith(f"s3://{BUCKET}/.stagebench/p/marker.json: ")
    assert why in message and "\n" not in message


@pytest.mark.slow
def test_populate_of_millions_of_keys_answers_ctrl_c_and_lists_what_it_wrote(
    embedded, unique_prefix, monkeypatch
):
    """asyncio.run turns Ctrl-C into a cancellation, which only lands between two steps of the
    event loop: no step may hold the loop for long, however many keys there are."""
    import asyncio.events
    import time

    longest_step = {"cpu_s": 0.0}
    run_step = asyncio.events.Handle._run

    def timed_step(handle):
        started = time.thread_time()
        try:
            run_step(handle)
        finally:
            longest_step["cpu_s"] = max(longest_step["cpu_s"], time.thread_time() - started)

    count = 2_000_000
    keys = [f"{unique_prefix}{i:07d}.bin" for i in range(count)]

    async def populate_then_cancel() -> None:
        from bench.s3.client import async_client, client_config

        populate = asyncio.create_task(
            populate_async(
                embedded,
                bucket=BUCKET,
                prefix=unique_prefix,
                keys=keys,
                sizes=np.full(count, 8, dtype=np.int64),
                content_index=np.arange(count),
                seed=3,
                fingerprint="many",
                progress=False,
            )
        )
        async with async_client(embedded, client_config()) as watcher:
            written = 0
            while written < 20 and not populate.done():
                await asyncio.sleep(0.1)
                listing = await watcher.list_objects_v2(
                    Bucket=BUCKET, Prefix=unique_prefix, MaxKeys=20
                )
                written = listing.get("KeyCount", 0)
        populate.cancel()
        with pytest.raises(asyncio.CancelledError):
            await populate

    monkeypatch.setattr(asyncio.events.Handle, "_run", timed_step)
    asyncio.run(populate_then_cancel())
    monkeypatch.undo()

    # Measured in CPU time, so a busy machine does not decide the outcome.
    assert longest_step["cpu_s"] < 1.2
    s3 = _s3(embedded)
    marker = parse_marker(
        s3.get_object(Bucket=BUCKET, Key=marker_key(unique_prefix))["Body"].read(),
        bucket=BUCKET,
        prefix=unique_prefix,
    )
    claimed = set(marker["keys"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=unique_prefix)
    written = [item["Key"] for page in pages for item in page.get("Contents", ())]
    assert written and all(key in claimed for key in written)

    plan = asyncio.run(plan_clean(embedded, BUCKET, unique_prefix))
    assert sorted(plan.keys) == sorted(written) and plan.others == 0
    asyncio.run(execute_clean(embedded, plan))
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=unique_prefix)["KeyCount"] == 0
