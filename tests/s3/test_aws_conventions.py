"""Region, endpoint URL and anonymous requests follow the AWS CLI's conventions."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from bench.s3.client import Endpoint, async_client, client_config, sync_client
from bench.s3.endpoint import configured_endpoint_url, open_endpoint
from tests.support import stagebench, write_scenario

AWS_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


@pytest.fixture
def aws_config(tmp_path, monkeypatch):
    """A shared config file with a profile that names a region, and no region in the env."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text(
        "[profile lab]\nregion = eu-west-3\n\n"
        "[profile minio]\nregion = us-east-2\nendpoint_url = http://127.0.0.1:9\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return config


def _client_region(**kwargs) -> str:
    with open_endpoint("http://127.0.0.1:9", **kwargs) as endpoint:
        return sync_client(endpoint).meta.region_name


def test_region_follows_the_chain_and_the_option_wins(aws_config, monkeypatch):
    assert _client_region() == "us-east-1"  # nothing names one
    assert _client_region(profile="lab") == "eu-west-3"  # the profile's region
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert _client_region(profile="lab") == "ap-south-1"  # environment over the profile
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert _client_region(profile="lab") == "ca-central-1"  # AWS_REGION over AWS_DEFAULT_REGION
    assert _client_region(profile="lab", region="sa-east-1") == "sa-east-1"  # explicit wins


def test_aws_endpoint_is_described_with_the_resolved_region(aws_config):
    with open_endpoint("aws", profile="lab") as endpoint:
        assert endpoint.region == "eu-west-3"
        assert endpoint.describe() == "AWS S3 (eu-west-3)"
        assert sync_client(endpoint).meta.region_name == "eu-west-3"


def test_endpoint_url_comes_from_the_service_variable_then_the_global_then_the_profile(
    aws_config, monkeypatch
):
    assert configured_endpoint_url() is None
    assert configured_endpoint_url("minio") == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://global:1")
    assert configured_endpoint_url("minio") == "http://global:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:2")
    assert configured_endpoint_url("minio") == "http://s3-only:2"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert configured_endpoint_url("minio") is None


def test_a_missing_profile_is_one_line(aws_config, tmp_path):
    path = write_scenario(
        tmp_path,
        '[dataset]\nuri = "s3://some-bucket/p/"\n[storage]\nendpoint = "http://127.0.0.1:9"\n',
    )
    done = stagebench("skew", str(path), "--profile", "nosuch")
    assert done.returncode == 2
    assert "nosuch" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _public_object(embedded, bucket: str, key: str, body: bytes = b"open data") -> None:
    """An object anyone may read, in a bucket anyone may list (as AWS Open Data buckets)."""
    client = sync_client(embedded)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket, ACL="public-read")
    client.put_object(Bucket=bucket, Key=key, Body=body, ACL="public-read")


def test_no_sign_request_sends_no_authorization(embedded, unique_prefix):
    bucket, key = "stagebench-public", f"{unique_prefix}a.bin"
    _public_object(embedded, bucket, key)
    anonymous = Endpoint("url", embedded.url, "us-east-1", unsigned=True)
    sent: list[dict] = []

    def record(request, **_):
        sent.append(dict(request.headers))

    client = sync_client(anonymous)
    client.meta.events.register("before-send.s3", record)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"open data"

    async def read_async() -> bytes:
        async with async_client(anonymous, client_config()) as aio:
            aio.meta.events.register("before-send.s3", record)
            response = await aio.get_object(Bucket=bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()

    assert asyncio.run(read_async()) == b"open data"
    assert len(sent) == 2 and all("Authorization" not in headers for headers in sent)

    signed = sync_client(embedded)
    signed.meta.events.register("before-send.s3", record)
    signed.head_object(Bucket=bucket, Key=key)
    assert "Authorization" in sent[-1]  # the hook does see signatures when there are some


def test_run_reads_a_public_dataset_unsigned_through_endpoint_url(
    embedded, tmp_path, unique_prefix
):
    bucket = "stagebench-public"
    _public_object(embedded, bucket, f"{unique_prefix}a.bin")
    _public_object(embedded, bucket, f"{unique_prefix}b.bin", b"x" * 2048)
    path = write_scenario(
        tmp_path,
        f'[dataset]\nuri = "s3://{bucket}/{unique_prefix}"\n'
        f'[storage]\nvolume_root = "{tmp_path / "vol"}"\n',
    )
    done = stagebench(
        "run",
        str(path),
        "--endpoint-url",
        embedded.url,
        "--no-sign-request",
        "--region",
        "us-east-1",
        "--no-report",
        "--results",
        str(tmp_path / "r"),
        env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    )
    assert done.returncode == 0, done.stderr
    assert f"endpoint: url {embedded.url} (us-east-1, unsigned)" in done.stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["dataset"]["objects"] == 2
    assert summary["environment"]["endpoint"] == {
        "kind": "url",
        "url": embedded.url,
        "region": "us-east-1",
    }


def test_skew_lists_an_s3_dataset_at_the_endpoint_the_environment_names(
    embedded, tmp_path, unique_prefix
):
    bucket = "stagebench-public"
    _public_object(embedded, bucket, f"{unique_prefix}a.bin")
    path = write_scenario(tmp_path, f'[dataset]\nuri = "s3://{bucket}/{unique_prefix}"\n')
    done = stagebench(
        "skew",
        str(path),
        "--results",
        str(tmp_path / "r"),
        env={"AWS_ENDPOINT_URL_S3": embedded.url, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 0, done.stderr
    assert "1 objects" in done.stdout
