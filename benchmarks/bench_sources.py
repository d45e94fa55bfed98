"""Reading a large S3 Inventory report: seconds and peak memory of ``read_sizes``.

    python benchmarks/bench_sources.py [--rows 5000000] [--files 1]

Writes a gzipped S3 Inventory CSV report of ``--rows`` objects into a temporary folder, in the
S3 layout (``<config-ID>/<date>/manifest.json`` beside ``<config-ID>/data/``), as S3 writes it:
no header, every field quoted, the default fields (Bucket, Key, Size, LastModifiedDate, ETag,
StorageClass), keys URL-encoded (every key holds '%2F' and '+', so every key is decoded).
Rows are in key order, as S3 lists them. Then a fresh child process times
``read_sizes(manifest, prefix="train/")`` and reports its wall and CPU time and its peak RSS
(``resource.getrusage``), imports included; the load average beside them says how busy the
machine was. Targets: a few seconds and < 2 GB on 2 cores.
The temporary folder is removed at the end.
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 5.0
TARGET_PEAK_GB = 2.0
SEED = 20261201


def write_report(folder: Path, rows: int, files: int) -> Path:
    """The report's manifest.json, its data files written with pyarrow (no per-row Python)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(SEED)
    config = folder / "training-data" / "daily-all"
    dated = config / "2025-11-30T01-00Z"
    (config / "data").mkdir(parents=True)
    dated.mkdir()
    entries = []
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        count = int(stop - start)
        index = pa.array(np.arange(start, stop)).cast(pa.string())
        classes = pa.array(np.arange(start, stop) // 1000).cast(pa.string())
        keys = pc.binary_join_element_wise(
            "train%2Fclass+",
            pc.utf8_lpad(classes, 4, "0"),
            "%2Fimg_",
            pc.utf8_lpad(index, 8, "0"),
            ".jpg",
            "",
        )
        sizes = rng.lognormal(np.log(110_000), 1.0, count).astype(np.int64)
        etag_hex = binascii.hexlify(rng.bytes(16 * count))
        etags = pa.Array.from_buffers(
            pa.string(),
            count,
            [None, pa.py_buffer(np.arange(count + 1, dtype=np.int32) * 32), pa.py_buffer(etag_hex)],
        )
        table = pa.table(
            {
                "Bucket": pa.array(["training-data"] * count),
                "Key": keys,
                "Size": sizes,
                "LastModifiedDate": pa.array(["2026-11-29T10:00:00.000Z"] * count),
                "ETag": etags,
                "StorageClass": pa.array(["STANDARD"] * count),
            }
        )
        name = f"{number:04d}-5f3a.csv.gz"
        path = config / "data" / name
        with pa.CompressedOutputStream(str(path), "gzip") as sink:
            pa_csv.write_csv(
                table,
                sink,
                write_options=pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"),
            )
        digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        entries.append(
            {
                "key": f"training-data/daily-all/data/{name}",
                "size": path.stat().st_size,
                "MD5checksum": digest,
            }
        )
    manifest = dated / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "sourceBucket": "training-data",
                "destinationBucket": "arn:aws:s3:::inventory-reports",
                "version": "2016-11-30",
                "creationTimestamp": "1764464400000",
                "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass",
                "files": entries,
            },
            indent=2,
        )
    )
    return manifest


def read_child(manifest: str) -> None:
    """Runs in a fresh process: imports, then one timed read; prints one JSON line."""
    from bench.sources import read_sizes

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    listing = read_sizes(manifest, prefix="train/")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": (after.ru_utime + after.ru_stime)
                - (before.ru_utime + before.ru_stime),
                "peak_rss_kib": after.ru_maxrss,
                "after_imports_kib": before.ru_maxrss,
                "objects": listing.objects,
                "bytes": listing.total_bytes,
                "description": listing.description,
            }
        )
    )


def _run_child(*args: str) -> str:
    # Each step in a process of its own, started from this small parent: Linux carries a
    # parent's peak RSS into a forked child's getrusage, which would hide the reader's own.
    return subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--files", type=int, default=1, help="data files in the report")
    parser.add_argument("--write-into", help=argparse.SUPPRESS)
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_into:
        print(write_report(Path(args.write_into), args.rows, args.files))
        return
    if args.read:
        read_child(args.read)
        return
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        started = time.perf_counter()
        manifest = _run_child(
            "--write-into", tmp, "--rows", str(args.rows), "--files", str(args.files)
        ).strip()
        data_bytes = sum(p.stat().st_size for p in Path(manifest).parent.parent.glob("data/*"))
        print(
            f"wrote {args.rows:,} rows in {args.files} gzip CSV file(s), "
            f"{data_bytes / 1e6:,.0f} MB, in {time.perf_counter() - started:.1f} s"
        )
        figures = json.loads(_run_child("--read", manifest).strip().splitlines()[-1])
    peak_gb = figures["peak_rss_kib"] * 1024 / 1e9
    met = figures["seconds"] <= TARGET_S and peak_gb <= TARGET_PEAK_GB
    print(figures["description"].replace(manifest, "<tmp>/manifest.json"))
    print(
        f"read_sizes: {figures['seconds']:.2f} s wall, {figures['cpu_seconds']:.2f} s CPU, "
        f"peak RSS {peak_gb:.2f} GB ({figures['after_imports_kib'] / 1024:.0f} MiB after "
        f"imports); targets {TARGET_S:.0f} s and {TARGET_PEAK_GB:.0f} GB: "
        f"{'met' if met else 'MISSED'}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
