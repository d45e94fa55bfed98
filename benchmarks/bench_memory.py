"""Peak client memory while one large object streams through Pipe and FastFile.

    python benchmarks/bench_memory.py [--size 512MiB] [--endpoint URL]

Each mode runs in a fresh child process against the same endpoint (the embedded server unless
--endpoint is given). The child resets its peak-RSS mark (/proc/self/clear_refs) once its
imports are done, runs the scenario, and reports VmHWM - VmRSS(before): the memory the data
path itself needed. The target is < 64 MiB for a 512 MiB object: memory must be bounded by
prefetch x chunk (Pipe) or read-ahead x part size (FastFile), never by the object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_MIB = 64


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _scenario(mode: str, size: str, endpoint: str, volume_root: str, prefix: str):
    from bench.config.scenario import build_scenario

    raw = {
        "scenario": {"name": f"memory-{mode}"},
        "dataset": {
            "objects": 1,
            "prefix": prefix,
            "sizes": {"distribution": "fixed", "size": size},
        },
        "cluster": {"hosts": 1, "concurrency": 8},
        "storage": {"endpoint": endpoint, "volume_root": volume_root},
        "training": {"step_bytes": "1MiB"},
        "pipe": {"prefetch": 4, "chunk_size": "1MiB"},
        "fastfile": {"part_size": "8MiB", "read_ahead": 2},
        "modes": {"run": [mode]},
    }
    return build_scenario(raw, path=Path(f"memory-{mode}.toml"))


def child(mode: str, size: str, endpoint: str) -> None:
    import bench.run.runner  # noqa: F401  (imports before the baseline)
    from bench.run.runner import run_scenario

    with tempfile.TemporaryDirectory() as tmp:
        # A small run first, so that lazy imports (pyarrow, botocore's S3 model, ...) and
        # first-use caches are in the baseline and not charged to the large object.
        warmup = _scenario(mode, "1MiB", endpoint, tmp, "bench-memory-warmup/")
        run_scenario(warmup, results_root=Path(tmp) / "warmup", progress=False, say=lambda _: None)
        scenario = _scenario(mode, size, endpoint, tmp, "bench-memory/")
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
    parser.add_argument("--endpoint", help="an S3 URL (default: start the embedded server)")
    parser.add_argument("--child", choices=("pipe", "fastfile"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.endpoint)
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
        for mode in ("pipe", "fastfile"):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
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
    print(f"{'mode':<9} {'object':>10} {'seconds':>8} {'MB/s':>7} {'peak RSS +MiB':>14} target")
    ok = True
    for row in rows:
        passed = row["status"] == "ok" and row["peak_increase_mib"] < TARGET_MIB
        ok &= passed
        print(
            f"{row['mode']:<9} {row['bytes'] / 2**20:>7.0f} MiB {row['seconds']:>8.2f} "
            f"{row['bytes'] / row['seconds'] / 1e6:>7.1f} {row['peak_increase_mib']:>14.1f} "
            f"< {TARGET_MIB} {'met' if passed else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
