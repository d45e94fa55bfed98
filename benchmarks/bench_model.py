"""Speed and memory of the timeline model at full scale, and its speed against the simulation.

    python benchmarks/bench_model.py [--objects 10000000 --hosts 1024]

Times the model for each mode on 10M lognormal objects over 1,024 hosts (ShardedByS3Key),
reports the peak resident memory, then compares the model with the slow reference simulation
(``bench.core.reference``) at 100,000 objects over 8 hosts (the judged target) and, for context,
at 1,000,000 objects over 1,024 hosts, and checks that they agree.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.core import reference  # noqa: E402
from bench.core.model import MODES, PathParams, Storage, Training, model_job  # noqa: E402
from bench.core.sizes import sample_sizes  # noqa: E402

TOTAL_TARGET_S = 3.0
PEAK_RSS_TARGET_BYTES = 2e9
SPEEDUP_TARGET = 100.0

# An S3 Standard-like job on 10 Gbps hosts (aws-s3-standard preset numbers).
STORAGE = Storage(
    latency_s=0.036, connection_bps=90e6, nic_bps=1.25e9, requests_per_s=5500, list_page_s=0.11
)
PARAMS = PathParams(concurrency=8, prefetch=8)
TRAINING = Training(compute_bps=200e6)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = f"Python {platform.python_version()}, numpy {np.__version__}"
    return f"{model}, {os.cpu_count()} cores, {versions}"


def timed(function, repeat: int) -> tuple[list[float], object]:
    """Wall seconds of ``repeat`` calls (the first pays for fresh memory) and the last result."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def compare(sizes: np.ndarray, objects: int, hosts: int, repeat: int, *, judged: bool) -> None:
    """The model against the reference simulation on the first ``objects`` sizes: speed and
    the largest relative difference of startup_s and epoch_s."""
    small = sizes[:objects]
    kwargs = dict(hosts=hosts, storage=STORAGE, params=PARAMS, training=TRAINING)
    model_seconds, fast = timed(lambda: model_job(small, **kwargs), repeat)
    reference_seconds, slow = timed(lambda: reference.simulate(small, **kwargs), 1)
    model_s, reference_s = statistics.median(model_seconds), reference_seconds[0]
    worst = 0.0
    for mode in MODES:
        for key in ("startup_s", "epoch_s"):
            a = np.asarray(getattr(fast[mode], key), dtype=float)
            b = np.asarray(slow[mode][key], dtype=float)
            worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    ratio = reference_s / model_s
    verdict = (
        f"target >= {SPEEDUP_TARGET:g}x: {'met' if ratio >= SPEEDUP_TARGET else 'MISSED'}"
        if judged
        else "for context"
    )
    print(
        f"reference: {objects:,} objects, {hosts} hosts, 3 modes: model {model_s:.3f} s "
        f"(median of {repeat}), simulation {reference_s:.2f} s: {ratio:.0f}x faster ({verdict}); "
        f"largest relative difference {worst:.2e}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=1024)
    parser.add_argument("--reference-objects", type=int, default=100_000)
    parser.add_argument("--reference-hosts", type=int, default=8)
    parser.add_argument("--context-objects", type=int, default=1_000_000)
    parser.add_argument(
        "--context-hosts", type=int, default=1024, help="0: skip the second comparison"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the model per mode (the first is judged)"
    )
    args = parser.parse_args()

    print(f"machine: {machine()}")
    spec = {"distribution": "lognormal", "median": 64 * 1024, "sigma": 1.0}
    sizes = sample_sizes(spec, args.objects, np.random.default_rng(0))
    print(
        f"model: {args.objects:,} objects, {args.hosts:,} hosts, ShardedByS3Key; "
        f"{args.repeat} runs per mode in one process (first, median); the first is judged: it "
        "also pays for fresh memory, as a single model run in a command does"
    )
    first_total = median_total = 0.0
    for mode in MODES:
        seconds, result = timed(
            lambda mode=mode: model_job(
                sizes,
                hosts=args.hosts,
                storage=STORAGE,
                params=PARAMS,
                training=TRAINING,
                modes=(mode,),
            )[mode],
            args.repeat,
        )
        first_total += seconds[0]
        median_total += statistics.median(seconds)
        job = result.job()
        print(
            f"  {mode:<9} {seconds[0]:6.2f} s {statistics.median(seconds):6.2f} s   "
            f"startup {job.startup_s:9.1f} s   epoch {job.epoch_s:9.1f} s   "
            f"peak RSS {peak_rss_bytes() / 1e9:.2f} GB"
        )
    rss = peak_rss_bytes()
    print(
        f"  total     {first_total:6.2f} s {median_total:6.2f} s (first: target <= "
        f"{TOTAL_TARGET_S:g} s: {'met' if first_total <= TOTAL_TARGET_S else 'MISSED'}); "
        f"peak RSS {rss / 1e9:.2f} GB (target <= {PEAK_RSS_TARGET_BYTES / 1e9:g} GB: "
        f"{'met' if rss <= PEAK_RSS_TARGET_BYTES else 'MISSED'})"
    )

    compare(sizes, args.reference_objects, args.reference_hosts, args.repeat, judged=True)
    if args.context_objects and args.context_hosts:
        compare(sizes, args.context_objects, args.context_hosts, args.repeat, judged=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
