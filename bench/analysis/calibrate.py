"""``stagebench calibrate``: measure an endpoint and write the storage profile the model reads.

What the model needs, and how each figure is measured (all under a dedicated prefix that
``populate_async`` creates and marks, so nothing else in the bucket is touched):

- first-byte latency: small GETs one after another (concurrency 1), time to response headers;
  p50 / p90 / p99 go into ``[latency]``;
- per-connection bandwidth: large GETs at concurrency 1, bytes / (last byte - first byte);
- the shared endpoint ceiling: GET/s of small objects and MB/s of medium objects with C
  connections at once, C = 1, 4, 16, 64; the best of each is what every host of a job shares
  (``requests.endpoint_get_per_s``, ``bandwidth.endpoint``);
- burst: ``BURST`` small GETs issued at once; the time to the first answer, per request of the
  burst, is what the model charges a burst of requests issued together (Pipe's first objects);
- client MD5: bytes/s one core hashes (the ETag check of whole objects in File and Pipe);
- the consumer's timer: ``asyncio.sleep`` of durations spread over the range of training
  steps; each ends late by up to one timer tick (Linux's epoll waits in whole milliseconds,
  rounded up) plus a wake-up latency, and the tick and latency that explain the lateness best
  are what the model adds to each compute step;
- LIST: the time of a 1,000-key page while the bucket holds N keys, for a few N, fitted as
  ``a + b × N`` (moto's page time grows with the bucket; S3's does not, and the fit says so),
  and of a page of ``SHORT_PAGE_KEYS`` keys: what a page saves per key it does not return.

The profile is written to a new file only: an existing one is never overwritten.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.inputs import endpoint_kind
from bench.errors import StagebenchError
from bench.run import results as results_io
from bench.units import MIB
from bench.vocabulary import LIST_PAGE_KEYS

CALIBRATE_BUCKET = "stagebench-calibrate"
SWEEP_CONCURRENCY = (1, 4, 16, 64)
LIST_CLIENTS = 4
BURST = 32
# Keys of the short LIST page timed beside the full ones.
SHORT_PAGE_KEYS = 10
# Compute steps the timer measurement sleeps: spread over the range of training steps.
TIMER_SLEEPS_S = (0.001, 0.03)
# Timer ticks tried (seconds): exact, sub-millisecond, Linux epoll's 1 ms, coarser clocks.
TIMER_TICKS_S = (0.0, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 1e-2, 0.015625)


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full plan takes ~2 minutes on the embedded server, ``quick``
    a few seconds (for tests; its figures are rough)."""

    small_objects: int
    small_bytes: int
    small_gets: int
    large_objects: int
    large_bytes: int
    large_gets: int
    medium_objects: int
    medium_bytes: int
    sweep_s: float
    list_bucket_keys: tuple[int, ...]
    list_pages: int
    list_prefix_min_keys: int  # a full page is what the model prices; quick accepts less
    timer_sleeps: int = 150

    @classmethod
    def full(cls) -> Plan:
        return cls(
            300, 4096, 300, 3, 32 * MIB, 6, 16, 8 * MIB, 2.0, (1500, 5000, 12000), 3, 1000, 150
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(40, 4096, 40, 1, 4 * MIB, 2, 4, 1 * MIB, 0.3, (200, 400), 1, 0, 30)


@dataclass
class Measurements:
    first_byte_s: list[float] = field(default_factory=list)
    connection_bps: list[float] = field(default_factory=list)
    sweep: list[dict[str, float]] = field(default_factory=list)  # concurrency, get_per_s, mb_per_s
    list_points: list[tuple[int, float]] = field(default_factory=list)  # keys in bucket, page s
    list_parallel: float = 0.0
    list_short_page_s: float = 0.0  # a SHORT_PAGE_KEYS-key page at the largest bucket size
    burst: list[tuple[float, float]] = field(default_factory=list)  # first, last answer (s)
    md5_bps: float = 0.0
    timer: list[tuple[float, float]] = field(default_factory=list)  # (asked, slept) seconds
    seconds: float = 0.0

    @property
    def burst_first_last(self) -> tuple[float, float]:
        """Median seconds to the first and to the last answer of a burst."""
        first, last = np.median(np.array(self.burst), axis=0)
        return float(first), float(last)


async def _get(client: Any, bucket: str, key: str) -> tuple[float, float, int]:
    """(seconds to first byte, seconds to last byte, bytes) of one whole-object GET."""
    started = time.perf_counter()
    response = await client.get_object(Bucket=bucket, Key=key)
    first_byte = time.perf_counter() - started
    received = 0
    async with response["Body"] as body:
        while chunk := await body.read(MIB):
            received += len(chunk)
    return first_byte, time.perf_counter() - started, received


async def _populate(endpoint: Any, bucket: str, prefix: str, count: int, size: int) -> list[str]:
    from bench.s3.populate import populate_async

    keys = [f"{prefix}{i:07d}" for i in range(count)]
    sizes = np.full(count, size, dtype=np.int64)
    await populate_async(
        endpoint,
        bucket=bucket,
        prefix=prefix,
        keys=keys,
        sizes=sizes,
        content_index=np.arange(count, dtype=np.int64),
        seed=0,
        fingerprint=f"calibrate-{count}x{size}",
    )
    return keys


async def sweep_level(
    endpoint: Any, bucket: str, keys: Sequence[str], concurrency: int, seconds: float
) -> tuple[float, float]:
    """Requests/s and bytes/s that ``concurrency`` connections sustain for ``seconds``."""
    from bench.s3.client import async_client, client_config

    config = client_config(max_pool_connections=concurrency + 2)
    rng = random.Random(concurrency)
    async with async_client(endpoint, config) as client:
        await _get(client, bucket, keys[0])  # warm the connection pool's first connection
        started = time.perf_counter()
        deadline = started + seconds
        done = [0, 0]

        async def worker() -> None:
            while time.perf_counter() < deadline:
                _, _, received = await _get(client, bucket, rng.choice(keys))
                done[0] += 1
                done[1] += received

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return done[0] / elapsed, done[1] / elapsed


def md5_rate(seconds: float = 0.5) -> float:
    """Bytes/s ``hashlib.md5`` takes on one core, in the 1 MiB chunks the readers hash."""
    import hashlib

    chunk = os.urandom(MIB)
    digest = hashlib.md5(usedforsecurity=False)
    hashed = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        digest.update(chunk)
        hashed += len(chunk)
    return hashed / elapsed


async def timer_sleeps(count: int, seed: int = 0) -> list[tuple[float, float]]:
    """(asked, slept) seconds of ``count`` asyncio sleeps of durations spread over
    ``TIMER_SLEEPS_S``, as the training consumer sleeps its compute steps."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        asked = rng.uniform(*TIMER_SLEEPS_S)
        started = time.perf_counter()
        await asyncio.sleep(asked)
        out.append((asked, time.perf_counter() - started))
    return out


def fit_timer(sleeps: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(tick, wake-up) seconds that explain the sleeps best: a sleep of s ends at the first
    whole tick at or after s, plus the wake-up latency (the median of what is left). The tick
    is the one of ``TIMER_TICKS_S`` with the smallest mean deviation from that."""
    asked = np.array([a for a, _ in sleeps])
    late = np.array([s for _, s in sleeps]) - asked
    best = (math.inf, 0.0, 0.0)
    for tick in TIMER_TICKS_S:
        ticked = np.ceil(asked / tick) * tick - asked if tick > 0 else np.zeros_like(asked)
        rest = late - ticked
        wake = float(max(np.median(rest), 0.0))
        spread = float(np.mean(np.abs(rest - wake)))
        if spread < best[0] - 1e-6:  # a coarser tick must explain clearly more
            best = (spread, tick, wake)
    return best[1], best[2]


async def _burst(
    endpoint: Any, bucket: str, keys: Sequence[str], count: int
) -> tuple[float, float]:
    """Seconds to the first and to the last response headers of ``count`` GETs issued at once."""
    from bench.s3.client import async_client, client_config

    async with async_client(endpoint, client_config(max_pool_connections=count + 2)) as client:
        await _get(client, bucket, keys[0])  # client set-up is not service time
        started = time.perf_counter()

        async def headers(key: str) -> float:
            response = await client.get_object(Bucket=bucket, Key=key)
            answered = time.perf_counter() - started
            async with response["Body"] as body:
                await body.read()
            return answered

        answered = await asyncio.gather(*(headers(keys[i % len(keys)]) for i in range(count)))
    return min(answered), max(answered)


async def _list_page_s(
    client: Any, bucket: str, prefix: str, pages: int, *, keys: int = LIST_PAGE_KEYS
) -> float:
    """Median time of the first page of ``keys`` keys of ``prefix`` over ``pages`` tries."""
    times = []
    for _ in range(pages):
        started = time.perf_counter()
        await client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=keys)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


async def measure(endpoint: Any, plan: Plan, *, bucket: str, say: Any = print) -> Measurements:
    """Run every measurement of ``plan`` against ``endpoint``."""
    from bench.s3.client import async_client, client_config

    started = time.perf_counter()
    out = Measurements()
    root = "calibrate/"
    say(
        f"populating {plan.small_objects} small, {plan.medium_objects} medium and "
        f"{plan.large_objects} large objects under s3://{bucket}/{root}"
    )
    small = await _populate(endpoint, bucket, f"{root}small/", plan.small_objects, plan.small_bytes)
    medium = await _populate(
        endpoint, bucket, f"{root}medium/", plan.medium_objects, plan.medium_bytes
    )
    large = await _populate(endpoint, bucket, f"{root}large/", plan.large_objects, plan.large_bytes)
    async with async_client(endpoint, client_config(max_pool_connections=2)) as client:
        await _get(client, bucket, small[0])  # connection set-up is not latency
        for i in range(plan.small_gets):
            first_byte, _, _ = await _get(client, bucket, small[i % len(small)])
            out.first_byte_s.append(first_byte)
        for i in range(plan.large_gets):
            first_byte, last_byte, received = await _get(client, bucket, large[i % len(large)])
            if last_byte > first_byte:
                out.connection_bps.append(received / (last_byte - first_byte))
    say(
        f"first byte p50 {np.median(out.first_byte_s) * 1e3:.1f} ms; one connection "
        f"{np.median(out.connection_bps) / 1e6:.0f} MB/s"
    )
    for concurrency in SWEEP_CONCURRENCY:
        get_per_s, _ = await sweep_level(endpoint, bucket, small, concurrency, plan.sweep_s)
        _, bytes_per_s = await sweep_level(endpoint, bucket, medium, concurrency, plan.sweep_s)
        out.sweep.append(
            {"concurrency": concurrency, "get_per_s": get_per_s, "mb_per_s": bytes_per_s / 1e6}
        )
        say(f"C={concurrency:<3} {get_per_s:7.0f} small GET/s  {bytes_per_s / 1e6:7.0f} MB/s")
    for _ in range(plan.list_pages):
        out.burst.append(await _burst(endpoint, bucket, small, BURST))
    first, last = out.burst_first_last
    say(f"{BURST} GETs at once: first answer {first * 1e3:.1f} ms, last {last * 1e3:.1f} ms")
    out.md5_bps = md5_rate()
    say(f"MD5 on one core: {out.md5_bps / 1e6:.0f} MB/s")
    out.timer = await timer_sleeps(plan.timer_sleeps)
    tick, wake = fit_timer(out.timer)
    say(f"consumer timer: {tick * 1e3:g} ms ticks, wake-up {wake * 1e3:.3f} ms")
    # LIST: grow one prefix to each bucket size (the earlier prefixes count too) and time a page.
    # The bucket is the calibration's own, so it holds what was written here and one marker
    # per prefix (counted, not listed: listing 20k keys would cost more than the measurement).
    already = plan.small_objects + plan.medium_objects + plan.large_objects + 3
    list_prefix_name = f"{root}list/"
    async with async_client(endpoint, client_config(max_pool_connections=2)) as client:
        for target in plan.list_bucket_keys:
            # A full page in the prefix: a short page is cheaper than the model's pages.
            count = max(plan.list_prefix_min_keys, target - already, 1)
            await _populate(endpoint, bucket, list_prefix_name, count, 16)
            in_bucket = already + count + 1
            page_s = await _list_page_s(client, bucket, list_prefix_name, plan.list_pages)
            out.list_points.append((in_bucket, page_s))
            say(f"LIST page with {in_bucket} keys in the bucket: {page_s:.3f} s")
        # A short page in the same bucket: what a page saves per key it does not return.
        out.list_short_page_s = await _list_page_s(
            client, bucket, list_prefix_name, plan.list_pages, keys=SHORT_PAGE_KEYS
        )
        say(f"LIST page of {SHORT_PAGE_KEYS} keys: {out.list_short_page_s:.3f} s")
    _, out.list_parallel = await list_parallel(
        endpoint, bucket, list_prefix_name, LIST_CLIENTS, tries=plan.list_pages
    )
    say(f"LIST pages served at once with {LIST_CLIENTS} clients: {out.list_parallel:.1f}")
    out.seconds = time.perf_counter() - started
    return out


async def list_parallel(
    endpoint: Any, bucket: str, prefix: str, clients: int, *, tries: int = 3
) -> tuple[float, float]:
    """(seconds of one 1,000-key page alone, pages the endpoint serves at once).

    Each of ``clients`` clients (as each simulated host has its own) lists one page of
    ``prefix`` at the same moment; ``clients × alone / together`` is how many pages the
    endpoint (and, locally, the readers' shared CPU) serves at once.
    """
    import contextlib

    from bench.s3.client import async_client, client_config

    async with contextlib.AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(
                async_client(endpoint, client_config(max_pool_connections=2))
            )
            for _ in range(max(1, clients))
        ]
        for client in opened:
            await client.head_bucket(Bucket=bucket)  # connection set-up is not LIST time

        async def page(client: Any) -> float:
            started = time.perf_counter()
            await client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LIST_PAGE_KEYS)
            return time.perf_counter() - started

        alone = float(np.median([await page(opened[0]) for _ in range(tries)]))
        if clients <= 1:
            return alone, 0.0
        started = time.perf_counter()
        await asyncio.gather(*(page(client) for client in opened))
        together = time.perf_counter() - started
    return alone, float(np.clip(clients * alone / together, 1.0, clients))


def fit_list(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``page_s = a + b × keys``, with a, b >= 0 (one point: b = 0)."""
    keys = np.array([p[0] for p in points], dtype=float)
    page_s = np.array([p[1] for p in points], dtype=float)
    if keys.size < 2 or np.ptp(keys) == 0:
        return float(max(page_s.mean(), 0.0)), 0.0
    slope, intercept = np.polyfit(keys, page_s, 1)
    if slope < 0:
        return float(max(page_s.mean(), 0.0)), 0.0
    if intercept < 0:  # through the origin instead
        return 0.0, float((keys @ page_s) / (keys @ keys))
    return float(intercept), float(slope)


def list_key_s(m: Measurements) -> float:
    """Seconds a LIST page saves per key fewer than 1,000: the full page at the largest bucket
    size against the short page timed there, at least 0 and at most a full page's share."""
    if not m.list_points or m.list_short_page_s <= 0:
        return 0.0
    full = m.list_points[-1][1]
    saved = (full - m.list_short_page_s) / (LIST_PAGE_KEYS - SHORT_PAGE_KEYS)
    return float(min(max(saved, 0.0), full / LIST_PAGE_KEYS))


def profile_text(m: Measurements, *, name: str, endpoint_text: str, quick: bool) -> str:
    """The profile TOML, each number with a comment saying how it was measured."""
    p50, p90, p99 = np.percentile(m.first_byte_s, [50, 90, 99]) * 1e3
    connection = float(np.median(m.connection_bps))
    best_rate = max(m.sweep, key=lambda row: row["get_per_s"])
    best_bandwidth = max(m.sweep, key=lambda row: row["mb_per_s"])
    page_base, per_key = fit_list(m.list_points)
    per_key_listed = list_key_s(m)
    burst_first, burst_last = m.burst_first_last
    tick, wake = fit_timer(m.timer) if m.timer else (0.0, 0.0)
    sleeps_ms = f"{TIMER_SLEEPS_S[0] * 1e3:g}-{TIMER_SLEEPS_S[1] * 1e3:g}"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores"
    sweep_lines = "\n".join(
        f"#   C={row['concurrency']:<3.0f} {row['get_per_s']:7.0f} small GET/s "
        f"{row['mb_per_s']:7.0f} MB/s"
        for row in m.sweep
    )
    list_lines = "\n".join(f"#   {keys:>7} keys in bucket: {s:.3f} s" for keys, s in m.list_points)
    how = "'stagebench calibrate --quick' (rough figures)" if quick else "'stagebench calibrate'"
    return f"""# Storage profile measured by {how}
# on {stamp}, {machine}, endpoint {endpoint_text}; {m.seconds:.0f} s of measuring.
# The readers share the machine with the endpoint when it is local: these are this machine's
# figures, not the store's alone. Rates in bytes/s unless the key says otherwise.
[profile]
version = 1
name = "{name}"
description = "calibrated: {endpoint_text}, {machine}"

[latency]
# Time to response headers of {len(m.first_byte_s)} small GETs, one at a time.
first_byte_p50_ms = {p50:.3f}
first_byte_p90_ms = {p90:.3f}
first_byte_p99_ms = {p99:.3f}

[bandwidth]
# Whole-object GETs of large objects at concurrency 1: bytes / (last byte - first byte).
connection = {connection:.4g}
host_nic = 0
# The best MB/s of the concurrency sweep (medium objects), shared by every host of a job:
{sweep_lines}
endpoint = {best_bandwidth["mb_per_s"] * 1e6:.4g}

[requests]
# The best small-GET rate of the sweep above (at C={best_rate["concurrency"]:.0f}), shared by
# every host of a job.
endpoint_get_per_s = {best_rate["get_per_s"]:.1f}
# {BURST} small GETs issued at once: the first answered after {burst_first * 1e3:.1f} ms, the
# last after {burst_last * 1e3:.1f} ms (medians of {len(m.burst)}); per request of the burst:
burst_first_answer_ms_per_request = {burst_first * 1e3 / BURST:.4g}

[list]
# One 1,000-key page (median of a few) while the bucket held N keys, fitted as a + b x N:
{list_lines}
page_base_s = {page_base:.4g}
page_per_key_in_bucket_s = {per_key:.4g}
# A page of {SHORT_PAGE_KEYS} keys took {m.list_short_page_s:.3f} s at the largest bucket size: a
# page saves this much per key it returns fewer than 1,000 (the short last page of a listing).
page_per_key_listed_s = {per_key_listed:.4g}
# Pages served at once: {LIST_CLIENTS} clients listing together took {LIST_CLIENTS}/parallel pages.
parallel = {m.list_parallel:.3g}

[volume]
# Host volumes are local folders of this machine: uncapped in the model.
kind = "none"

[client]
# MD5 bytes/s on one core of this machine (the ETag check of whole objects: File, Pipe, and
# FastFile requests that cover a whole object).
# The model adds it to the endpoint's time per byte: here the server and the readers share
# the same cores.
md5 = {m.md5_bps:.4g}
# The consumer's compute steps are asyncio sleeps: {len(m.timer)} sleeps of {sleeps_ms} ms
# each ended at the first whole tick at or after their time, plus a wake-up latency (the
# tick that fits best; 0: exact). The model holds each compute step that long.
timer_tick_ms = {tick * 1e3:.4g}
timer_wake_ms = {wake * 1e3:.4g}
"""


def measurements_table(m: Measurements) -> Any:
    """A long table of every measured figure, for the run folder."""
    import pandas as pd

    rows: list[dict[str, Any]] = [
        {"measure": "first_byte_s", "concurrency": 1, "keys_in_bucket": np.nan, "value": v}
        for v in m.first_byte_s
    ]
    rows += [
        {"measure": "connection_bps", "concurrency": 1, "keys_in_bucket": np.nan, "value": v}
        for v in m.connection_bps
    ]
    for row in m.sweep:
        for key in ("get_per_s", "mb_per_s"):
            rows.append(
                {
                    "measure": key,
                    "concurrency": row["concurrency"],
                    "keys_in_bucket": np.nan,
                    "value": row[key],
                }
            )
    rows += [
        {"measure": "list_page_s", "concurrency": 1, "keys_in_bucket": k, "value": s}
        for k, s in m.list_points
    ]
    rows.append(
        {
            "measure": "list_parallel",
            "concurrency": LIST_CLIENTS,
            "keys_in_bucket": m.list_points[-1][0] if m.list_points else np.nan,
            "value": m.list_parallel,
        }
    )
    rows.append(
        {
            "measure": f"list_page_{SHORT_PAGE_KEYS}_keys_s",
            "concurrency": 1,
            "keys_in_bucket": m.list_points[-1][0] if m.list_points else np.nan,
            "value": m.list_short_page_s,
        }
    )
    rows.append(
        {"measure": "md5_bps", "concurrency": 1, "keys_in_bucket": np.nan, "value": m.md5_bps}
    )
    for asked, slept in m.timer:
        rows.append(
            {"measure": "timer_asked_s", "concurrency": 1, "keys_in_bucket": np.nan, "value": asked}
        )
        rows.append(
            {"measure": "timer_slept_s", "concurrency": 1, "keys_in_bucket": np.nan, "value": slept}
        )
    for first, last in m.burst:
        for measure, value in (("burst_first_s", first), ("burst_last_s", last)):
            rows.append(
                {"measure": measure, "concurrency": BURST, "keys_in_bucket": np.nan, "value": value}
            )
    return pd.DataFrame(rows)


def _default_out(kind: str) -> Path:
    return Path(f"profile-{kind}-{results_io.utc_stamp()}.toml")


@dataclass(frozen=True)
class Calibration:
    """A written profile and the measurements behind it."""

    profile_path: Path
    run_dir: Path
    seconds: float


def calibrate_endpoint(
    spec: str,
    *,
    out: Path | None,
    bucket: str,
    quick: bool,
    aws_profile: str | None,
    results_root: Path,
    say: Callable[[str], None],
    region: str | None = None,
) -> Calibration:
    """Measure the endpoint ``spec`` names and write its storage profile to ``out`` (never
    overwritten) and the raw measurements to a fresh run folder."""
    from bench.config.profile import parse_profile
    from bench.s3.endpoint import open_endpoint

    kind = endpoint_kind(spec)
    out = Path(out) if out else _default_out(kind)
    if out.exists():
        raise StagebenchError(f"{out} exists and is never overwritten; give a new path with --out")
    if not out.parent.exists():
        raise StagebenchError(f"{out.parent}: no such folder; give --out in an existing folder")
    plan = Plan.quick() if quick else Plan.full()
    with open_endpoint(spec, region=region, profile=aws_profile) as endpoint:
        say(f"calibrating {endpoint.describe()} ...")
        measured = asyncio.run(measure(endpoint, plan, bucket=bucket, say=say))
        endpoint_text = endpoint.describe() if kind != "embedded" else "embedded moto server"
    text = profile_text(measured, name=out.stem, endpoint_text=endpoint_text, quick=quick)
    parse_profile(text, path=out)  # what is written must load
    try:
        with out.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise StagebenchError(f"{out} exists and is never overwritten; give --out") from exc
    except OSError as exc:
        raise StagebenchError(f"cannot write {out}: {exc.strerror}; choose --out") from exc
    run_dir = results_io.new_run_dir(results_root, "calibrate")
    results_io.write_csv(run_dir / "measurements.csv", measurements_table(measured))
    return Calibration(out, run_dir, measured.seconds)
