"""The tools a user would otherwise run to stage a dataset, driven the way bench_live.py needs.

Each peer downloads every key of a prefix into a local folder with ``concurrency`` requests in
flight and returns a ``Measurement``: wall seconds and client CPU seconds of the download alone
(client creation is left out, as stagebench leaves it out of a host's start-up).

- ``bare_loop``: the ceiling. ``concurrency`` coroutines on one aiobotocore client doing
  get_object and chunked ``body.read()`` into files; no retries of its own, no bookkeeping.
- ``boto3_transfer``: ``client.download_file`` per object from a thread pool sharing one boto3
  client; objects above the multipart threshold are fetched as parallel ranged GETs.
- ``aws_sync``: ``aws s3 sync`` in a child process; its CPU is the child's rusage.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.s3.client import Endpoint, async_client, client_config

CHUNK_BYTES = 1024 * 1024  # what stagebench reads per body.read()
# boto3/awscli defaults: objects above 8 MiB are fetched as 8 MiB ranged GETs.
TRANSFER_THRESHOLD = 8 * 1024 * 1024
BOTO3_PART_CONCURRENCY = 4


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float
    requests: int  # GETs the tool sent, where it can be known; 0 = unknown
    data_root: Path  # where the objects landed, named by their key relative to the prefix


class PeerError(RuntimeError):
    """A peer tool failed or is missing; the message says what to do."""


def _relative(key: str, prefix: str) -> str:
    return key[len(prefix) :] if key.startswith(prefix) else key


def _make_parents(dest: Path, relatives: Sequence[str]) -> None:
    for parent in {(dest / name).parent for name in relatives}:
        parent.mkdir(parents=True, exist_ok=True)


# --- bare aiobotocore GET loop ---------------------------------------------------------------


async def _bare_loop(
    endpoint: Endpoint, bucket: str, prefix: str, keys: Sequence[str], dest: Path, concurrency: int
) -> Measurement:
    relatives = [_relative(key, prefix) for key in keys]
    _make_parents(dest, relatives)
    config = client_config(max_pool_connections=concurrency + 2)
    async with async_client(endpoint, config) as client:
        await client.head_bucket(Bucket=bucket)  # session and first connection, untimed
        pending = iter(range(len(keys)))

        async def worker() -> None:
            for i in pending:
                response = await client.get_object(Bucket=bucket, Key=keys[i])
                body = response["Body"]
                fd = os.open(dest / relatives[i], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    while chunk := await body.read(CHUNK_BYTES):
                        os.write(fd, chunk)
                finally:
                    os.close(fd)
                    body.close()

        workers = min(concurrency, max(1, len(keys)))
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    return Measurement(wall_s, cpu_s, len(keys), dest)


def bare_loop(
    endpoint: Endpoint,
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    sizes: Sequence[int],
    dest: Path,
    concurrency: int,
) -> Measurement:
    return asyncio.run(_bare_loop(endpoint, bucket, prefix, keys, dest, concurrency))


# --- boto3 transfer manager ------------------------------------------------------------------


def boto3_transfer(
    endpoint: Endpoint,
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    sizes: Sequence[int],
    dest: Path,
    concurrency: int,
) -> Measurement:
    """``concurrency`` requests in flight: one thread per object for single-GET objects; for
    multipart ones, ``concurrency / 4`` objects at a time with 4 ranged GETs each."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    relatives = [_relative(key, prefix) for key in keys]
    _make_parents(dest, relatives)
    session = boto3.session.Session(profile_name=endpoint.profile)
    client = session.client(
        "s3",
        config=client_config(aio=False, max_pool_connections=concurrency),
        **endpoint.client_kwargs(),
    )
    transfer = TransferConfig(
        max_concurrency=BOTO3_PART_CONCURRENCY,
        multipart_threshold=TRANSFER_THRESHOLD,
        multipart_chunksize=TRANSFER_THRESHOLD,
    )
    client.head_bucket(Bucket=bucket)  # session and first connection, untimed
    multipart = any(int(size) > TRANSFER_THRESHOLD for size in sizes)
    threads = max(1, concurrency // BOTO3_PART_CONCURRENCY) if multipart else concurrency
    requests = sum(max(1, -(-int(size) // TRANSFER_THRESHOLD)) for size in sizes)

    def fetch(i: int) -> None:
        client.download_file(bucket, keys[i], str(dest / relatives[i]), Config=transfer)

    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="boto3-peer") as pool:
            # list() re-raises the first failure.
            list(pool.map(fetch, range(len(keys))))
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        client.close()
    return Measurement(wall_s, cpu_s, requests, dest)


# --- aws s3 sync -----------------------------------------------------------------------------


def find_aws(explicit: str | None) -> str | None:
    """The aws executable: ``--aws PATH`` if given (it must exist), else the one on PATH."""
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PeerError(f"--aws {explicit}: no executable there")
        return str(path)
    return shutil.which("aws")


def aws_version(aws: str) -> str:
    done = subprocess.run([aws, "--version"], capture_output=True, text=True, timeout=60)
    return (done.stdout or done.stderr).strip().split(" ")[0]


def _aws_environment(endpoint: Endpoint, config_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AWS_CONFIG_FILE"] = str(config_file)
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_ENDPOINT_URL_S3", None)
    if endpoint.access_key:
        # The embedded server's dummy keys; keep any real credentials file out of the run.
        env["AWS_ACCESS_KEY_ID"] = endpoint.access_key
        env["AWS_SECRET_ACCESS_KEY"] = endpoint.secret_key or ""
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    elif endpoint.profile:
        env["AWS_PROFILE"] = endpoint.profile
    return env


def _run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run ``command``; return wall seconds, the child's CPU seconds, exit code, stderr."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
        )
        # wait4 gives this child's own rusage (and its waited-for children's), nothing else.
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        return wall_s, usage.ru_utime + usage.ru_stime, process.returncode, errors.read()


def aws_startup(aws: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``aws --version``: the interpreter start every sync pays."""
    wall_s, cpu_s, _, _ = _run_measured([aws, "--version"], dict(os.environ))
    return wall_s, cpu_s


def aws_sync(
    aws: str,
    endpoint: Endpoint,
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    sizes: Sequence[int],
    dest: Path,
    concurrency: int,
) -> Measurement:
    """``aws s3 sync s3://bucket/prefix dest`` with max_concurrent_requests = concurrency.

    Its time includes the interpreter start and the LIST of the prefix, as a user's does.
    """
    with tempfile.TemporaryDirectory(prefix="bench-live-aws-") as scratch:
        config_file = Path(scratch) / "config"
        config_file.write_text(
            "[default]\n"
            f"region = {endpoint.region}\n"
            "s3 =\n"
            f"  max_concurrent_requests = {concurrency}\n"
            "  addressing_style = path\n"
        )
        command = [aws, "s3", "sync", f"s3://{bucket}/{prefix}", str(dest)]
        command += ["--only-show-errors", "--no-progress"]
        if endpoint.url:
            command += ["--endpoint-url", endpoint.url]
        wall_s, cpu_s, code, errors = _run_measured(
            command, _aws_environment(endpoint, config_file)
        )
    if code != 0:
        tail = " | ".join(errors.strip().splitlines()[-3:]) or "no message"
        raise PeerError(f"aws s3 sync exited with {code}: {tail}")
    requests = sum(max(1, -(-int(size) // TRANSFER_THRESHOLD)) for size in sizes)
    return Measurement(wall_s, cpu_s, requests, dest)
