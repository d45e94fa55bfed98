"""Never touch what stagebench did not create; say what AWS will cost before spending it."""

from __future__ import annotations

import contextlib

import boto3
import pytest

from bench.cost import estimate_run
from tests.support import make_scenario, quiet_run, stagebench, write_scenario


def test_clean_deletes_only_its_own_keys(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, dataset={"objects": 5})
    assert quiet_run(scenario, tmp_path).status == "ok"
    s3 = boto3.client("s3", **embedded.client_kwargs())
    user_key = f"{unique_prefix}notes-of-the-user.txt"
    s3.put_object(Bucket="stagebench-tests", Key=user_key, Body=b"keep me")

    done = stagebench(
        "clean", f"s3://stagebench-tests/{unique_prefix}", "--endpoint", embedded.url, "--yes"
    )
    assert done.returncode == 0, done.stderr
    assert "5 objects" in done.stdout and "1 other objects will be kept" in done.stdout
    left = s3.list_objects_v2(Bucket="stagebench-tests", Prefix=unique_prefix)["Contents"]
    assert [o["Key"] for o in left] == [user_key]


def test_clean_refuses_a_prefix_without_marker(embedded, unique_prefix):
    s3 = boto3.client("s3", **embedded.client_kwargs())
    s3.put_object(Bucket="stagebench-tests", Key=f"{unique_prefix}a", Body=b"x")
    done = stagebench(
        "clean", f"s3://stagebench-tests/{unique_prefix}", "--endpoint", embedded.url, "--yes"
    )
    assert done.returncode == 2 and "did not create it" in done.stderr
    assert s3.get_object(Bucket="stagebench-tests", Key=f"{unique_prefix}a")["Body"].read() == b"x"


def test_clean_without_yes_off_a_terminal_deletes_nothing(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, dataset={"objects": 2})
    quiet_run(scenario, tmp_path)
    done = stagebench("clean", f"s3://stagebench-tests/{unique_prefix}", "--endpoint", embedded.url)
    assert done.returncode == 2 and "--yes" in done.stderr
    s3 = boto3.client("s3", **embedded.client_kwargs())
    assert s3.list_objects_v2(Bucket="stagebench-tests", Prefix=unique_prefix)["KeyCount"] == 2


def test_estimate_counts_requests_per_mode():
    estimate = estimate_run(
        objects_per_host=[3, 2],
        bytes_per_host=[300, 200],
        modes=("file", "pipe", "fastfile"),
        epochs=2,
        populate_objects=5,
        populate_bytes=500,
        listed_keys=2500,
    )
    # file reads each shard once; pipe and fastfile every epoch; fastfile lists 3 pages a host
    assert estimate.gets == 5 + 5 * 2 + 5 * 2
    assert estimate.get_bytes == 500 + 500 * 2 + 500 * 2
    assert estimate.lists == 2 * 3
    assert estimate.request_usd == pytest.approx((25 * 0.0004 + 5 * 0.005 + 6 * 0.005) / 1000)


def test_costly_aws_run_asks_first(tmp_path):
    path = write_scenario(
        tmp_path,
        '[dataset]\nobjects = 200000\n[dataset.sizes]\ndistribution = "fixed"\nsize = "1MiB"\n'
        '[storage]\nendpoint = "aws"\n[modes]\nrun = ["pipe"]\n',
    )
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "not started" in done.stderr and "200000 PUTs" in done.stderr
    assert "--yes" in done.stderr


def test_clean_takes_a_prefix_without_its_trailing_slash(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, dataset={"objects": 3})
    assert quiet_run(scenario, tmp_path).status == "ok"
    done = stagebench(
        "clean",
        f"s3://stagebench-tests/{unique_prefix.rstrip('/')}",
        "--endpoint",
        embedded.url,
        "--yes",
    )
    assert done.returncode == 0, done.stderr
    assert f"s3://stagebench-tests/{unique_prefix}: 3 objects" in done.stdout
    s3 = boto3.client("s3", **embedded.client_kwargs())
    assert s3.list_objects_v2(Bucket="stagebench-tests", Prefix=unique_prefix)["KeyCount"] == 0


BAD_MARKERS = {
    "a list": b"[]",
    "a string": b'"text"',
    "keys a number": b'{"keys": 5}',
    "keys not strings": b'{"keys": [1, 2]}',
    "not JSON": b'{"keys": ["a"',
}


def _one_line_naming_the_marker(done, prefix: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stagebench: ")]
    assert len(errors) == 1, done.stderr
    assert f"s3://stagebench-tests/.stagebench/{prefix}marker.json: " in errors[0]
    assert "choose another dataset.prefix" in errors[0]


@pytest.mark.parametrize("body", BAD_MARKERS.values(), ids=BAD_MARKERS.keys())
def test_a_marker_of_the_wrong_shape_is_one_line_in_clean_and_run(
    tmp_path, embedded, unique_prefix, body
):
    s3 = boto3.client("s3", **embedded.client_kwargs())
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="stagebench-tests")
    users_key = f"{unique_prefix}0.bin"
    s3.put_object(Bucket="stagebench-tests", Key=users_key, Body=b"user data")
    s3.put_object(
        Bucket="stagebench-tests", Key=f".stagebench/{unique_prefix}marker.json", Body=body
    )

    cleaned = stagebench(
        "clean", f"s3://stagebench-tests/{unique_prefix}", "--endpoint", embedded.url, "--yes"
    )
    _one_line_naming_the_marker(cleaned, unique_prefix)

    scenario = write_scenario(
        tmp_path,
        f'[dataset]\nobjects = 2\nbucket = "stagebench-tests"\nprefix = "{unique_prefix}"\n'
        '[dataset.sizes]\ndistribution = "fixed"\nsize = "1KiB"\n'
        f'[cluster]\nhosts = 1\n[storage]\nendpoint = "{embedded.url}"\n[modes]\nrun = ["pipe"]\n',
    )
    ran = stagebench("run", str(scenario), "--results", str(tmp_path / "r"), "--no-report")
    _one_line_naming_the_marker(ran, unique_prefix)

    assert s3.get_object(Bucket="stagebench-tests", Key=users_key)["Body"].read() == b"user data"
