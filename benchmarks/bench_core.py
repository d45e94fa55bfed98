"""Speed and memory of the numpy core at full scale: 10M objects on 1,024 hosts.

    python benchmarks/bench_core.py [--objects 10000000 --hosts 1024]

Times each step (sizes, the five sharding strategies, the metrics), reports the peak resident
memory, checks bytes-balanced against the obvious heap-based LPT on seeded cases, and compares
its speed with that heap at a size the heap finishes in seconds.
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# numpy picks its sort kernels when it is imported. On AMD Zen 4 its AVX-512 sort runs about
# five times slower than its AVX2 sort (the compress instruction it relies on is microcoded
# there), and sorting is the largest step below, so prefer AVX2 there unless told otherwise.
ZEN4_NUMPY_DISPATCH = "X86_V4 AVX512_ICL AVX512_SPR"


def is_zen4_with_avx512() -> bool:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    fields = dict(
        line.split(":", 1) for line in cpuinfo.split("\n\n", 1)[0].splitlines() if ":" in line
    )
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    return (
        fields.get("vendor_id") == "AuthenticAMD"
        and fields.get("cpu family") == "25"
        and "avx512f" in fields.get("flags", "").split()
    )


NUMPY_DISPATCH_NOTE = "numpy default CPU dispatch"
if "--numpy-default-dispatch" not in sys.argv and "NPY_DISABLE_CPU_FEATURES" not in os.environ:
    if is_zen4_with_avx512():
        os.environ["NPY_DISABLE_CPU_FEATURES"] = ZEN4_NUMPY_DISPATCH
        NUMPY_DISPATCH_NOTE = (
            f"AMD Zen 4: NPY_DISABLE_CPU_FEATURES={ZEN4_NUMPY_DISPATCH!r} (AVX2 sort); "
            "--numpy-default-dispatch to measure without"
        )
elif "NPY_DISABLE_CPU_FEATURES" in os.environ:
    NUMPY_DISPATCH_NOTE = f"NPY_DISABLE_CPU_FEATURES={os.environ['NPY_DISABLE_CPU_FEATURES']!r}"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.core import metrics, sharding  # noqa: E402
from bench.core.sizes import sample_sizes  # noqa: E402
from bench.units import format_bytes, parse_size  # noqa: E402

TOTAL_TARGET_S = 2.0
PEAK_RSS_TARGET_BYTES = 1.5e9


def heapq_lpt(sizes: list[int], hosts: int) -> list[int]:
    """The peer: textbook LPT with a heap of (load, host), largest object first."""
    heap = [(0, host) for host in range(hosts)]
    host_of_object = [0] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        load, host = heap[0]
        host_of_object[index] = host
        heapq.heapreplace(heap, (load + sizes[index], host))
    return host_of_object


def peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(steps: list[tuple[str, float, float, int]], name: str, action: Callable[[], Any]) -> Any:
    """Run one step, recording wall time, CPU time and the peak RSS reached so far."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = action()
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    steps.append((name, wall_s, cpu_s, peak_rss_bytes()))
    return result


def assign_and_account(strategy: str, sizes: np.ndarray, hosts: int) -> tuple[Any, Any]:
    """Build the per-object assignment (or pieces), then count bytes and objects per host."""
    if strategy == "fully-replicated":
        return sharding.fully_replicated_loads(sizes, hosts)
    if strategy == "uniform":
        shards = sharding.uniform(sizes, hosts)
        return (
            sharding.bytes_per_host(shards.length, shards.host, hosts),
            sharding.objects_per_host(shards.host, hosts),
        )
    if strategy == "bytes-balanced":
        host_of_object = sharding.bytes_balanced(sizes, hosts)
    else:
        variant = "contiguous" if strategy.endswith("contiguous") else "round-robin"
        host_of_object = sharding.sharded_by_s3_key(sizes.size, hosts, variant)
    return (
        sharding.bytes_per_host(sizes, host_of_object, hosts),
        sharding.objects_per_host(host_of_object, hosts),
    )


def full_scale(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    spec = {"distribution": "lognormal", "median": args.median, "sigma": args.sigma}
    steps: list[tuple[str, float, float, int]] = []
    sizes = timed(steps, "sample lognormal sizes", lambda: sample_sizes(spec, args.objects, rng))
    per_strategy = {}
    for strategy in sharding.STRATEGIES:
        per_strategy[strategy] = timed(
            steps, strategy, lambda s=strategy: assign_and_account(s, sizes, args.hosts)
        )
    size_gini = timed(steps, "gini of sizes", lambda: metrics.gini(sizes))
    table = timed(
        steps,
        "skew metrics x5",
        lambda: {
            strategy: metrics.skew_metrics(
                bytes_per_host,
                objects_per_host,
                throughput_bps=args.throughput,
                hourly_price=args.hourly_price,
            )
            for strategy, (bytes_per_host, objects_per_host) in per_strategy.items()
        },
    )
    total_s = sum(seconds for _, seconds, _, _ in steps)
    total_cpu_s = sum(cpu_s for _, _, cpu_s, _ in steps)
    peak = peak_rss_bytes()

    print(
        f"{args.objects:,} objects (lognormal, median {format_bytes(args.median)}, "
        f"sigma {args.sigma}), {args.hosts:,} hosts, {format_bytes(int(sizes.sum()))} in all"
    )
    print(f"numpy {np.__version__}, {NUMPY_DISPATCH_NOTE}, {os.cpu_count()} CPUs")
    print("per-object assignment (pieces for uniform), then bytes and objects per host:")
    print(f"  {'step':<32} {'wall':>7}   {'cpu':>7}   peak RSS so far")
    for name, seconds, cpu_s, peak_so_far in steps:
        print(f"  {name:<32} {seconds:7.3f} s {cpu_s:7.3f} s   {peak_so_far / 1e6:5.0f} MB")
    verdict = "met" if total_s <= TOTAL_TARGET_S else "MISSED"
    print(
        f"  {'total':<32} {total_s:7.3f} s {total_cpu_s:7.3f} s   "
        f"(target <= {TOTAL_TARGET_S:.1f} s wall: {verdict})"
    )
    if total_s > 1.2 * total_cpu_s:
        print(
            f"  note: wall is {total_s / total_cpu_s:.1f}x the CPU time: other processes "
            f"competed for the {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})"
        )
    verdict = "met" if peak <= PEAK_RSS_TARGET_BYTES else "MISSED"
    print(
        f"  {'peak RSS':<32} {peak / 1e9:7.3f} GB  "
        f"(target <= {PEAK_RSS_TARGET_BYTES / 1e9:.1f} GB: {verdict})"
    )
    print(f"  gini of sizes {size_gini:.3f}")
    for strategy, row in table.items():
        print(
            f"  {strategy:<30} imbalance {row['imbalance_ratio']:7.4f}  "
            f"straggler {row['straggler_delay_s']:8.2f} s  idle cost {row['idle_cost']:8.2f}"
        )

    # What skew tables use: loads() takes shortcuts and builds no per-object arrays.
    shortcut_steps: list[tuple[str, float, float, int]] = []
    for strategy in sharding.STRATEGIES:
        shortcut = timed(
            shortcut_steps, strategy, lambda s=strategy: sharding.loads(s, sizes, args.hosts)
        )
        for mine, theirs in zip(shortcut, per_strategy[strategy], strict=True):
            if not np.array_equal(mine, theirs):
                raise SystemExit(f"loads({strategy!r}) differs from accounting its assignment")
    print("loads() alone (same numbers, checked):")
    for name, seconds, _, _ in shortcut_steps:
        print(f"  {name:<32} {seconds:7.3f} s")


def exactness(args: argparse.Namespace) -> None:
    """bytes_balanced against the heap on seeded small cases: it should match exactly."""
    specs = [
        {"distribution": "lognormal", "median": 1 << 20, "sigma": 1.0},
        {"distribution": "lognormal", "median": 1 << 20, "sigma": 3.0},
        {"distribution": "pareto", "alpha": 1.1, "min": 1 << 16},
        {"distribution": "log2-uniform", "min": 1, "max": 1 << 30},
        {"distribution": "uniform", "min": 1, "max": 8},
        {"distribution": "fixed", "size": 4096},
    ]
    cases = identical = 0
    worst_ratio = 1.0
    for case in range(args.check_cases):
        rng = np.random.default_rng([args.seed, case])
        spec = specs[case % len(specs)]
        hosts = int(rng.choice([2, 3, 7, 64, 1024]))
        sizes = sample_sizes(spec, int(rng.integers(1, 20_000)), rng)
        fast = sharding.bytes_balanced(sizes, hosts)
        peer = np.array(heapq_lpt(sizes.tolist(), hosts))
        fast_max = sharding.bytes_per_host(sizes, fast, hosts).max()
        peer_max = sharding.bytes_per_host(sizes, peer, hosts).max()
        worst_ratio = max(worst_ratio, fast_max / peer_max)
        cases += 1
        identical += bool(np.array_equal(fast, peer))
    print(
        f"bytes_balanced vs heapq LPT on {cases} seeded cases: identical assignments in "
        f"{identical}/{cases}; worst max-load ratio {worst_ratio:.6f} (1 = exact)"
    )


def against_peer(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    spec = {"distribution": "lognormal", "median": args.median, "sigma": args.sigma}
    sizes = sample_sizes(spec, args.peer_objects, rng)
    started = time.perf_counter()
    fast = sharding.bytes_balanced(sizes, args.hosts)
    fast_s = time.perf_counter() - started
    as_list = sizes.tolist()
    started = time.perf_counter()
    peer = heapq_lpt(as_list, args.hosts)
    peer_s = time.perf_counter() - started
    same = np.array_equal(fast, np.array(peer))
    print(
        f"peer, {args.peer_objects:,} objects on {args.hosts:,} hosts: bytes_balanced "
        f"{fast_s:.3f} s, heapq LPT {peer_s:.3f} s -> {peer_s / fast_s:.1f}x faster; "
        f"same assignment: {'yes' if same else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=1024)
    parser.add_argument("--median", type=parse_size, default=parse_size("1MiB"))
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--throughput",
        type=float,
        default=parse_size("200MB"),
        help="bytes/s each host reads (for delays and idle cost)",
    )
    parser.add_argument(
        "--hourly-price", type=float, default=1.41, help="price per host-hour, an example value"
    )
    parser.add_argument("--peer-objects", type=int, default=1_000_000)
    parser.add_argument("--check-cases", type=int, default=24)
    parser.add_argument(
        "--numpy-default-dispatch",
        action="store_true",
        help="keep numpy's AVX-512 kernels on AMD Zen 4 (read before numpy is imported)",
    )
    args = parser.parse_args()
    full_scale(args)
    exactness(args)
    against_peer(args)


if __name__ == "__main__":
    main()
