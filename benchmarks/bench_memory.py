"""Peak client memory while large objects stream through Pipe and FastFile.

    python benchmarks/bench_memory.py [--size 512MiB] [--readers 4] [--endpoint URL]

Each case runs in a fresh child process against the same endpoint (the embedded server unless
--endpoint is given). The child resets its peak-RSS mark (/proc/self/clear_refs) once its
imports are done, runs the scenario, and reports VmHWM - VmRSS(before): the memory the data
path itself needed. Memory must be bounded by prefetch x chunk (Pipe) or readers x (read_ahead
+ 1) x part size (FastFile), never by the object: one 512 MiB object through Pipe and through
FastFile with one reader, then --readers objects of size / readers through FastFile with that
many readers, all open at once. The target is that bound plus a fixed allowance for the
client's own buffers and the interpreter (Pipe: 64 MiB in all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_MIB = 64  # Pipe's target, and FastFile's at one reader (its parts: 24 MiB)
PART_MIB, READ_AHEAD = 8, 2
ALLOWANCE_MIB = TARGET_MIB - (READ_AHEAD + 1) * PART_MIB


def target_mib(mode: str, readers: int) -> float:
    if mode == "pipe":
        return TARGET_MIB
    return readers * (READ_AHEAD + 1) * PART_MIB + ALLOWANCE_MIB


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _scenario(mode: str, size: str, endpoint: str, volume_root: str, prefix: str, readers: int = 1):
    from bench.config.scenario import build_scenario
    from bench.units import parse_size

    raw = {
        "scenario": {"name": f"memory-{mode}"},
        "dataset": {
            "objects": readers,
            "prefix": prefix,
            "sizes": {"distribution": "fixed", "size": parse_size(size) // readers},
        },
        "cluster": {"hosts": 1, "concurrency": 8},
        "storage": {"endpoint": endpoint, "volume_root": volume_root},
        "training": {"step_bytes": "1MiB", "readers": readers},
        "pipe": {"prefetch": 4, "chunk_size": "1MiB"},
        "fastfile": {"part_size": f"{PART_MIB}MiB", "read_ahead": READ_AHEAD},
        "modes": {"run": [mode]},
    }
    return build_scenario(raw, path=Path(f"memory-{mode}.toml"))


def child(mode: str, size: str, endpoint: str, readers: int) -> None:
    import bench.run.runner  # noqa: F401  (imports before the baseline)
    from bench.run.runner import run_scenario

    with tempfile.TemporaryDirectory() as tmp:
        # A small run first, so that lazy imports (pyarrow, botocore's S3 model, ...) and
        # first-use caches are in the baseline and not charged to the large object.
        warmup = _scenario(mode, "1MiB", endpoint, tmp, "bench-memory-warmup/", readers)
        run_scenario(warmup, results_root=Path(tmp) / "warmup", progress=False, say=lambda _: None)
        scenario = _scenario(mode, size, endpoint, tmp, f"bench-memory-{readers}/", readers)
        before_kib = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        result = run_scenario(
            scenario, results_root=Path(tmp) / "results", progress=False, say=lambda _: None
        )
        peak_kib = _status_kib("VmHWM")
    figures = result.summary["modes"][mode]
    print(
        json.dumps(
            {
                "mode": mode,
                "readers": readers,
                "status": result.status,
                "bytes": figures["bytes_fetched"],
                "seconds": figures["end_s"],
                "rss_before_mib": before_kib / 1024,
                "peak_increase_mib": (peak_kib - before_kib) / 1024,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512MiB")
    parser.add_argument("--readers", type=int, default=4, help="FastFile readers (default 4)")
    parser.add_argument("--endpoint", help="an S3 URL (default: start the embedded server)")
    parser.add_argument("--child", choices=("pipe", "fastfile"), help=argparse.SUPPRESS)
    parser.add_argument("--child-readers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.endpoint, args.child_readers)
        return 0

    from bench.s3.server import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, EmbeddedServer

    server = None
    endpoint = args.endpoint
    env = dict(os.environ)
    if endpoint is None:
        server = EmbeddedServer()
        endpoint = server.start()
        env.update(AWS_ACCESS_KEY_ID=EMBEDDED_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=EMBEDDED_SECRET_KEY)
    try:
        rows = []
        for mode, readers in (("pipe", 1), ("fastfile", 1), ("fastfile", args.readers)):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--child-readers",
                    str(readers),
                    "--size",
                    args.size,
                    "--endpoint",
                    endpoint,
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if server is not None:
            server.stop()
    print(
        f"{'mode':<9} {'readers':>7} {'objects':>15} {'seconds':>8} {'MB/s':>7} "
        f"{'peak RSS +MiB':>14} target (bound + {ALLOWANCE_MIB} MiB for FastFile)"
    )
    ok = True
    for row in rows:
        target = target_mib(row["mode"], row["readers"])
        passed = row["status"] == "ok" and row["peak_increase_mib"] < target
        ok &= passed
        objects = f"{row['readers']} x {row['bytes'] / 2**20 / row['readers']:.0f} MiB"
        print(
            f"{row['mode']:<9} {row['readers']:>7} {objects:>15} {row['seconds']:>8.2f} "
            f"{row['bytes'] / row['seconds'] / 1e6:>7.1f} {row['peak_increase_mib']:>14.1f} "
            f"< {target:.0f} {'met' if passed else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
