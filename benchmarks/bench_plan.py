"""Speed and memory of ``stagebench plan`` at scale: prints seconds and peak RSS per case.

(a) 5,000,000 objects (synthetic lognormal) x 16 hosts, the whole command with its report
    (target <= 15 s, <= 2 GB); also a 5,000,000-row manifest CSV read through ``plan_sizes``,
    and the whole command on a 5,000,000-row gzipped S3 Inventory CSV (<= 15 s, <= 2 GB);
(b) 10,000,000 objects x 1,024 hosts with what-ifs (<= 30 s, <= 3 GB);
(c) a sweep of 8 host counts at 1,000,000 objects (<= 20 s).

Each case runs in a fresh process (as a user's command does); peak RSS is the largest of that
process and its workers. Not a test: run it by hand, ``python benchmarks/bench_plan.py``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCENARIO = """
[scenario]
name = "{name}"
[dataset]
seed = 1
{dataset}
[cluster]
hosts = {hosts}
instance = "ml.p4d.24xlarge"
concurrency = 64
[distribution]
type = "ShardedByS3Key"
[training]
compute_rate = "1500 objects/s"
[pipe]
prefetch = 64
"""
SYNTHETIC = """objects = {objects}
[dataset.sizes]
distribution = "lognormal"
median = "360KB"
sigma = 0.5"""

# Runs one command in this process and writes its wall time and peak RSS (self and children).
WRAPPER = """
import json, resource, sys, time
started = time.perf_counter()
from bench.cli.app import main
code = main(sys.argv[2:])
seconds = time.perf_counter() - started
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024
open(sys.argv[1], "w").write(json.dumps({"code": code, "seconds": seconds, "rss": rss}))
"""


def measured(args: list[str], work: Path) -> dict:
    out = work / f"measure-{time.monotonic_ns()}.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out.exists() or json.loads(out.read_text())["code"] != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{done.stderr}")
    return json.loads(out.read_text()) | {"stdout": done.stdout}


def scenario(work: Path, name: str, objects: int, hosts: int) -> Path:
    path = work / f"{name}.toml"
    dataset = SYNTHETIC.format(objects=objects)
    path.write_text(SCENARIO.format(name=name, dataset=dataset, hosts=hosts))
    return path


def line(label: str, seconds: float, rss: float, s_target: float, gb_target: float | None):
    met = seconds <= s_target and (gb_target is None or rss / 1e9 <= gb_target)
    gb = f" and <= {gb_target:g} GB" if gb_target else ""
    print(
        f"  {label:<44} {seconds:7.2f} s  peak RSS {rss / 1e9:5.2f} GB  "
        f"(target <= {s_target:g} s{gb}: {'met' if met else 'MISSED'})"
    )


def manifest_case(work: Path) -> None:
    """A 5,000,000-row manifest CSV (keys in random order) read through plan_sizes."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import csv

    rng = np.random.default_rng(0)
    n = 5_000_000
    path = work / "manifest-5m.csv"
    names = pa.array(rng.permutation(n).astype("U8"))
    keys = pa.compute.binary_join_element_wise("img/", names, ".jpg", "")
    csv.write_csv(pa.table({"key": keys, "size": rng.integers(1, 10**6, n)}), path)
    text = SCENARIO.format(name="manifest-5m", dataset=f'manifest = "{path.name}"', hosts=16)
    (work / "manifest-5m.toml").write_text(text)
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from bench.config.scenario import load_scenario\n"
        "from bench.analysis.plan import plan_sizes\n"
        "s = load_scenario(sys.argv[1]); t = time.perf_counter()\n"
        "n = plan_sizes(s, results_root=Path(sys.argv[2])).sizes.size\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': int(n), 'rss': "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(work / "manifest-5m.toml"), str(work / "results")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout)
    print(
        f"  {'manifest CSV, 5,000,000 rows -> plan_sizes':<44} {figures['seconds']:7.2f} s  "
        f"peak RSS {figures['rss'] / 1e9:5.2f} GB  ({figures['rows']:,} sizes in key order)"
    )


def inventory_case(work: Path) -> None:
    """The whole ``plan`` command on a 5,000,000-row gzipped S3 Inventory CSV report (written by
    ``bench_sources.write_report`` in S3's layout and format), 16 hosts."""
    from bench_sources import write_report

    manifest = write_report(work / "inventory", 5_000_000, 1)
    dataset = f'prefix = "train/"\nmanifest = "{manifest}"'
    text = SCENARIO.format(name="inventory-5m", dataset=dataset, hosts=16)
    path = work / "inventory-5m.toml"
    path.write_text(text)
    results = str(work / "results")
    figures = measured(["plan", str(path), "--json", "--no-progress", "--results", results], work)
    line("plan on the inventory, report, what-ifs", figures["seconds"], figures["rss"], 15, 2)


def main() -> None:
    import numpy as np

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        work = Path(folder)
        results = str(work / "results")
        common = ["--json", "--no-progress", "--results", results]

        print("(a) 5,000,000 objects x 16 hosts, whole plan with its report")
        path = scenario(work, "a-5m-16", 5_000_000, 16)
        figures = measured(["plan", str(path), *common], work)
        line("plan, report, what-ifs", figures["seconds"], figures["rss"], 15, 2)
        manifest_case(work)
        inventory_case(work)

        print("(b) 10,000,000 objects x 1,024 hosts, with what-ifs")
        path = scenario(work, "b-10m-1024", 10_000_000, 1024)
        figures = measured(["plan", str(path), *common], work)
        line("plan, report, what-ifs", figures["seconds"], figures["rss"], 30, 3)

        print("(c) a sweep of 8 host counts at 1,000,000 objects")
        path = scenario(work, "c-1m-sweep", 1_000_000, 16)
        sweep = ["--hosts", "4-512"]
        figures = measured(["plan", str(path), *sweep, *common], work)
        chosen = json.loads(figures["stdout"])["max_hosts_au_0_90"]
        line("sweep 4..512 hosts, report", figures["seconds"], figures["rss"], 20, None)
        print(f"  largest count keeping AU >= 0.90: {chosen}")


if __name__ == "__main__":
    main()
