"""Live File-mode download: stagebench against the tools a user would otherwise run.

    python benchmarks/bench_live.py [--endpoint URL] [--concurrency 16] [--repeats 3]
                                    [--small 10000] [--large 50] [--aws PATH] [--out results/]

Populates two datasets once (many 64 KiB objects; a few 64 MiB objects) on the embedded S3
server (or ``--endpoint``), then downloads each into a fresh local folder with every contender,
alternating them repeat by repeat (A B C D A B C D ...), after an untimed warm-up:

- ``stagebench``: File mode's data path for one simulated host (``download_shard``) with the
  scenario defaults (event log, uncapped NIC, resumable GETs, every object verified: by the
  CRC64NVME checksum populate stores with it, through botocore and awscrt),
  its client created and warmed before the clock starts, as ``stagebench run`` does;
- ``aws s3 sync``: the CLI with max_concurrent_requests = concurrency, in a child process; its
  time includes the interpreter start and the LIST of the prefix, as a user's does (skipped,
  with a message, when no ``aws`` is found);
- ``boto3 transfer``: ``download_file`` per object from a thread pool, one shared client;
- ``bare loop``: aiobotocore get_object + chunked ``body.read()`` into files; the ceiling.

Every download is checked (file names, sizes, and the content of a few objects): a wrong
download fails the harness instead of being reported as fast. Prints a table per dataset with
medians, the ratios the product aims at, and writes ``<out>/bench_live-<UTC stamp>.csv`` (a new
file, never an existing one). Client CPU is ``time.process_time()`` for in-process contenders
(the embedded server is a child process, so it is not counted) and the child's rusage for
``aws``. Downloads go to /dev/shm when there is one (``--scratch`` to choose): a disk's file
creation cost varies with its state and would decide close comparisons by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers  # noqa: E402
from _peers import Measurement, PeerError  # noqa: E402

from bench.core.content import content_block, object_range  # noqa: E402
from bench.errors import StagebenchError  # noqa: E402
from bench.s3.client import Endpoint  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
SEED = 20240611
BUCKET = "stagebench-live"
CHANNEL = "train"
# Untimed warm-up per in-process contender: enough bytes that the page cache the downloads
# write into has been touched once (first touches of memory are slow on some VMs).
WARMUP_OBJECTS = 200
WARMUP_BYTES = 1024 * MIB
SPOT_CHECKS = 3  # objects per download whose content is compared byte for byte
# stagebench's data-path settings for the run (ModeSettings fields; --no-verify-etag).
STAGEBENCH_OPTIONS: dict[str, Any] = {"verify_etag": True}
# How stagebench's last download of each dataset verified its objects: check -> GETs.
CHECKS_SEEN: dict[str, Counter[str]] = {}


class HarnessError(Exception):
    """Stops the harness with one line: a failed tool, a wrong download, a missing disk."""


@dataclass(frozen=True)
class LiveDataset:
    name: str
    prefix: str
    keys: list[str]
    sizes: np.ndarray

    @property
    def objects(self) -> int:
        return len(self.keys)

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum())

    def describe(self) -> str:
        size = int(self.sizes[0])
        unit = f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"
        return f"{self.objects} x {unit} ({self.total_bytes / 1e6:,.1f} MB)"


def make_dataset(name: str, objects: int, object_bytes: int) -> LiveDataset:
    from bench.run.dataset import synthetic_keys

    prefix = f"bench-live/{name}-{objects}x{object_bytes}/"
    sizes = np.full(objects, object_bytes, dtype=np.int64)
    return LiveDataset(name, prefix, synthetic_keys(prefix, objects), sizes)


def head(dataset: LiveDataset, objects: int) -> LiveDataset:
    """The first ``objects`` objects of ``dataset``, under the same prefix (for warm-up)."""
    return LiveDataset(
        dataset.name, dataset.prefix, dataset.keys[:objects], dataset.sizes[:objects]
    )


def fingerprint(dataset: LiveDataset) -> str:
    digest = hashlib.sha256(f"{SEED}|{dataset.prefix}|{dataset.objects}".encode())
    digest.update(dataset.sizes.tobytes())
    return digest.hexdigest()[:16]


def populate(endpoint: Endpoint, dataset: LiveDataset) -> float:
    from bench.s3.populate import populate_async

    report = asyncio.run(
        populate_async(
            endpoint,
            bucket=BUCKET,
            prefix=dataset.prefix,
            keys=dataset.keys,
            sizes=dataset.sizes,
            content_index=np.arange(dataset.objects),
            seed=SEED,
            fingerprint=fingerprint(dataset),
            progress=False,
        )
    )
    return report.seconds


# --- contenders ------------------------------------------------------------------------------


async def _stagebench(
    endpoint: Endpoint,
    dataset: LiveDataset,
    dest: Path,
    concurrency: int,
    download: Callable[[Any], Awaitable[float]] | None = None,
    options: dict[str, Any] | None = None,
) -> Measurement:
    """One simulated host's File-mode download, its context built as ``run_mode`` builds it.

    ``download`` replaces ``bench.live.file.download_shard`` (to measure a candidate change);
    ``options`` are fields of the data path's ``ModeSettings``, e.g. verify_etag.
    """
    from bench.live.base import EVENT_COLUMNS, EventLog, HostContext, HostPlan, ModeSettings, NicCap
    from bench.live.file import download_shard
    from bench.s3.client import async_client, client_config

    plan = HostPlan(
        host=0,
        bucket=BUCKET,
        prefix=dataset.prefix,
        keys=list(dataset.keys),
        sizes=dataset.sizes,
        content_index=np.arange(dataset.objects),
    )
    config = client_config(max_pool_connections=concurrency + 2)
    async with async_client(endpoint, config) as client:
        await client.head_bucket(Bucket=BUCKET)  # as run_mode warms each host's client
        log = EventLog(time.perf_counter())
        ctx = HostContext(
            plan=plan,
            client=client,
            endpoint=endpoint,
            log=log,
            volume=dest,
            channel=CHANNEL,
            concurrency=concurrency,
            nic=NicCap(0.0),
            first_byte_delay_s=0.0,
            settings=ModeSettings(**(STAGEBENCH_OPTIONS if options is None else options)),
        )
        cpu0, t0 = time.process_time(), time.perf_counter()
        log.t0 = t0
        await (download or download_shard)(ctx)
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    failed = getattr(ctx, "failed_keys", None) or {}
    if failed:
        # File mode goes on without a key that failed after its retries; a benchmark must not.
        key, why = next(iter(failed.items()))
        raise HarnessError(f"stagebench: {len(failed)} objects failed, e.g. {key}: {why}")
    attempts, check = EVENT_COLUMNS.index("attempts"), EVENT_COLUMNS.index("check")
    gets = sum(row[attempts] for row in log.rows)  # retries included
    CHECKS_SEEN[dataset.name] = Counter(row[check] for row in log.rows)
    return Measurement(wall_s, cpu_s, gets, dest / "data" / CHANNEL)


def stagebench(
    endpoint: Endpoint, dataset: LiveDataset, dest: Path, concurrency: int
) -> Measurement:
    return asyncio.run(_stagebench(endpoint, dataset, dest, concurrency))


Runner = Callable[[Endpoint, LiveDataset, Path, int], Measurement]


@dataclass(frozen=True)
class Contender:
    name: str
    run: Runner
    in_process: bool = True


def peer(function: Callable[..., Measurement]) -> Runner:
    def run(endpoint: Endpoint, dataset: LiveDataset, dest: Path, concurrency: int) -> Measurement:
        return function(
            endpoint, BUCKET, dataset.prefix, dataset.keys, dataset.sizes, dest, concurrency
        )

    return run


def contenders(aws: str | None) -> list[Contender]:
    found = [Contender("stagebench", stagebench)]
    if aws:
        sync = peer(lambda *args: _peers.aws_sync(aws, *args))
        found.append(Contender("aws s3 sync", sync, in_process=False))
    found.append(Contender("boto3 transfer", peer(_peers.boto3_transfer)))
    found.append(Contender("bare loop", peer(_peers.bare_loop)))
    return found


# --- checking a download ---------------------------------------------------------------------


def verify(measurement: Measurement, dataset: LiveDataset, block: bytes) -> None:
    """Every key is there under its name with its size, and a few objects byte for byte."""
    root = measurement.data_root
    expected = {
        key[len(dataset.prefix) :]: int(size)
        for key, size in zip(dataset.keys, dataset.sizes, strict=True)
    }
    found: dict[str, int] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = path.stat().st_size
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        raise HarnessError(
            f"wrong download in {root}: {len(missing)} missing (e.g. {missing[:2]}), "
            f"{len(extra)} unexpected (e.g. {extra[:2]}), {len(wrong)} of the wrong size "
            f"(e.g. {wrong[:2]}); {sum(found.values())} bytes instead of {dataset.total_bytes}"
        )
    n = dataset.objects
    for index in sorted({0, n // 2, n - 1})[:SPOT_CHECKS]:
        name = dataset.keys[index][len(dataset.prefix) :]
        want = object_range(block, index, 0, int(dataset.sizes[index]))
        if (root / name).read_bytes() != want:
            raise HarnessError(f"wrong content in {root / name} (object {index})")


# --- one session -----------------------------------------------------------------------------


@dataclass
class Run:
    dataset: str
    contender: str
    repeat: int
    objects: int
    bytes: int
    wall_s: float
    cpu_s: float
    requests: int

    @property
    def objects_per_s(self) -> float:
        return self.objects / self.wall_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.wall_s / 1e6

    @property
    def cpu_ms_per_object(self) -> float:
        return self.cpu_s / self.objects * 1e3


@dataclass
class Summary:
    dataset: str
    contender: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    @property
    def wall_s(self) -> float:
        return self.median("wall_s")

    @property
    def objects_per_s(self) -> float:
        return self.median("objects_per_s")

    @property
    def mb_per_s(self) -> float:
        return self.median("mb_per_s")

    @property
    def cpu_s(self) -> float:
        return self.median("cpu_s")

    @property
    def cpu_ms_per_object(self) -> float:
        return self.median("cpu_ms_per_object")


@contextmanager
def fresh_folder(scratch: Path, label: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-live-{label}-", dir=scratch))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(
    contender: Contender,
    endpoint: Endpoint,
    dataset: LiveDataset,
    *,
    scratch: Path,
    concurrency: int,
    repeat: int,
    block: bytes,
) -> Run:
    label = contender.name.replace(" ", "-")
    with fresh_folder(scratch, label) as dest:
        gc.collect()
        try:
            measurement = contender.run(endpoint, dataset, dest, concurrency)
        except PeerError as exc:
            raise HarnessError(f"{contender.name} on {dataset.name}: {exc}") from exc
        verify(measurement, dataset, block)
    return Run(
        dataset=dataset.name,
        contender=contender.name,
        repeat=repeat,
        objects=dataset.objects,
        bytes=dataset.total_bytes,
        wall_s=measurement.wall_s,
        cpu_s=measurement.cpu_s,
        requests=measurement.requests,
    )


def check_disk(scratch: Path, datasets: Sequence[LiveDataset]) -> None:
    # One download at a time, deleted before the next; the embedded server may spill objects
    # above 16 MiB to temporary files on the same disk.
    needed = max(d.total_bytes for d in datasets) + sum(d.total_bytes for d in datasets)
    free = shutil.disk_usage(scratch).free
    if needed > free * 0.9:
        raise HarnessError(
            f"{scratch} has {free / 1e9:.1f} GB free, the run needs about {needed / 1e9:.1f} GB; "
            "use --scratch on a larger disk or lower --small/--large"
        )


# --- report ----------------------------------------------------------------------------------


def table(dataset: LiveDataset, summaries: Sequence[Summary], concurrency: int) -> str:
    repeats = max(len(s.runs) for s in summaries)
    lines = [
        f"{dataset.name}: {dataset.describe()}, concurrency {concurrency}, "
        f"medians of {repeats} repeats",
        f"  {'contender':<16}{'wall s':>9}{'range s':>15}{'obj/s':>9}{'MB/s':>9}"
        f"{'CPU s':>8}{'CPU ms/obj':>12}",
    ]
    for s in summaries:
        walls = [run.wall_s for run in s.runs]
        spread = f"{min(walls):.2f}-{max(walls):.2f}"
        lines.append(
            f"  {s.contender:<16}{s.wall_s:>9.2f}{spread:>15}{s.objects_per_s:>9.0f}"
            f"{s.mb_per_s:>9.1f}{s.cpu_s:>8.2f}{s.cpu_ms_per_object:>12.3f}"
        )
    return "\n".join(lines)


def _faster(a: float, b: float) -> str:
    """How ``a`` compares with ``b``, both throughputs, in plain words."""
    if a >= b:
        return f"{a / b:.2f}x faster"
    return f"{b / a:.2f}x slower"


def ratios(dataset: LiveDataset, by_name: dict[str, Summary]) -> tuple[list[str], list[str]]:
    """Lines for the report and lines for the goals (each ending in met / missed)."""
    lines: list[str] = []
    goals: list[str] = []
    ours = by_name["stagebench"]
    bare = by_name.get("bare loop")
    sync = by_name.get("aws s3 sync")
    boto = by_name.get("boto3 transfer")
    if bare:
        share = ours.mb_per_s / bare.mb_per_s
        lines.append(f"  stagebench / bare loop throughput: {share:.3f}")
        goals.append(
            f"{dataset.name}: stagebench >= 95 % of bare-loop throughput: {share:.1%} -> "
            + ("met" if share >= 0.95 else "missed")
        )
        cpu = ours.cpu_ms_per_object / bare.cpu_ms_per_object
        lines.append(
            f"  stagebench CPU per GET vs bare loop: {ours.cpu_ms_per_object:.3f} vs "
            f"{bare.cpu_ms_per_object:.3f} ms ({cpu - 1:+.1%})"
        )
        if dataset.name == "small":
            goals.append(
                f"{dataset.name}: stagebench CPU per GET within 10 % of the bare loop's: "
                f"{cpu - 1:+.1%} -> " + ("met" if cpu <= 1.10 else "missed")
            )
    if sync:
        lines.append(
            f"  stagebench vs aws s3 sync: {_faster(ours.mb_per_s, sync.mb_per_s)} "
            f"(speedup {ours.mb_per_s / sync.mb_per_s:.2f}); CPU "
            f"{ours.cpu_s:.2f} vs {sync.cpu_s:.2f} s"
        )
        goals.append(
            f"{dataset.name}: stagebench faster than aws s3 sync: "
            f"{ours.mb_per_s / sync.mb_per_s:.2f}x -> "
            + ("met" if ours.mb_per_s > sync.mb_per_s else "missed")
        )
    else:
        goals.append(f"{dataset.name}: stagebench faster than aws s3 sync: not measured")
    if boto:
        lines.append(
            f"  stagebench vs boto3 transfer: {_faster(ours.mb_per_s, boto.mb_per_s)}; CPU "
            f"{ours.cpu_s:.2f} vs {boto.cpu_s:.2f} s"
        )
    return lines, goals


CSV_COLUMNS = (
    "dataset",
    "contender",
    "repeat",
    "objects",
    "bytes",
    "wall_s",
    "objects_per_s",
    "mb_per_s",
    "cpu_s",
    "cpu_ms_per_object",
    "requests",
    "concurrency",
    "endpoint",
    "stagebench",
    "aiobotocore",
    "boto3",
    "aws",
    "verify_etag",
    "started_utc",
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def write_csv(
    out: Path,
    stamp: str,
    summaries: Sequence[Summary],
    *,
    concurrency: int,
    endpoint: Endpoint,
    aws: str,
) -> Path:
    """A new ``bench_live-<stamp>.csv`` (never an existing file): a row per run, then a row per
    contender and dataset with the medians (repeat = "median")."""
    out.mkdir(parents=True, exist_ok=True)
    fixed = {
        "concurrency": concurrency,
        "endpoint": endpoint.describe(),
        "stagebench": _version("stagebench"),
        "aiobotocore": _version("aiobotocore"),
        "boto3": _version("boto3"),
        "aws": aws,
        "verify_etag": STAGEBENCH_OPTIONS["verify_etag"],
        "started_utc": stamp,
    }
    for attempt in range(100):
        path = out / (f"bench_live-{stamp}" + (f"-{attempt}" if attempt else "") + ".csv")
        try:
            handle = path.open("x", newline="")
        except FileExistsError:
            continue
        with handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for s in summaries:
                for run in s.runs:
                    writer.writerow({**_row(run, run.repeat, run.requests), **fixed})
            for s in summaries:
                median_requests = round(s.median("requests"))
                writer.writerow({**_row(s, "median", median_requests), **fixed})
        return path
    raise HarnessError(f"{out}: too many files named bench_live-{stamp}*.csv")


def _row(figures: Run | Summary, repeat: int | str, requests: int) -> dict[str, Any]:
    first = figures.runs[0] if isinstance(figures, Summary) else figures
    return {
        "dataset": figures.dataset,
        "contender": figures.contender,
        "repeat": repeat,
        "objects": first.objects,
        "bytes": first.bytes,
        "wall_s": f"{figures.wall_s:.6g}",
        "objects_per_s": f"{figures.objects_per_s:.6g}",
        "mb_per_s": f"{figures.mb_per_s:.6g}",
        "cpu_s": f"{figures.cpu_s:.6g}",
        "cpu_ms_per_object": f"{figures.cpu_ms_per_object:.6g}",
        "requests": requests,
    }


def profile_stagebench(
    endpoint: Endpoint, dataset: LiveDataset, *, scratch: Path, concurrency: int, path: Path
) -> str:
    """One more stagebench download under cProfile; the stats go to ``path``."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    with fresh_folder(scratch, "profile") as dest:
        profiler.enable()
        stagebench(endpoint, dataset, dest, concurrency)
        profiler.disable()
    profiler.dump_stats(path)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    return text.getvalue()


# --- command line ----------------------------------------------------------------------------


def default_scratch() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_live.py",
        description="stagebench's live File-mode download against aws s3 sync, boto3's "
        "transfer manager and a bare aiobotocore GET loop.",
    )
    parser.add_argument("--endpoint", help="S3 endpoint URL (default: start the embedded server)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--profile", dest="aws_profile", help="AWS profile for --endpoint")
    parser.add_argument("--concurrency", "-c", type=int, default=16, help="requests in flight")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=10_000, help="number of 64 KiB objects")
    parser.add_argument("--large", type=int, default=50, help="number of 64 MiB objects")
    parser.add_argument("--small-size", type=int, default=64 * KIB, help=argparse.SUPPRESS)
    parser.add_argument("--large-size", type=int, default=64 * MIB, help=argparse.SUPPRESS)
    parser.add_argument("--aws", help="aws executable (default: 'aws' on PATH; skipped if none)")
    parser.add_argument(
        "--only",
        help="comma-separated contenders to run (stagebench is always run), "
        "e.g. 'bare loop' or 'aws s3 sync,bare loop'",
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for the CSV")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=default_scratch(),
        help="where the download folders go (default: /dev/shm if there is one, so the "
        "state of a disk's file system does not decide the comparison; a disk folder "
        "such as /tmp adds its file-creation cost to every contender)",
    )
    parser.add_argument(
        "--no-verify-etag",
        dest="verify_etag",
        action="store_false",
        help="stagebench skips verifying whole objects (checksum or MD5 against the ETag; "
        "storage.verify_etag = false); the other contenders never check content",
    )
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="then profile one stagebench download of the small dataset (cProfile, to --out)",
    )
    args = parser.parse_args(argv)
    for name in ("concurrency", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.small < 1 and args.large < 1:
        parser.error("--small and --large are both 0: nothing to download")
    return args


@contextmanager
def open_endpoint(args: argparse.Namespace) -> Iterator[Endpoint]:
    if args.endpoint:
        yield Endpoint("url", args.endpoint, args.region, args.aws_profile)
        return
    from bench.s3.server import EmbeddedServer

    with EmbeddedServer() as server:
        yield Endpoint.embedded(server.url, args.region)


def run(
    args: argparse.Namespace,
    say: Callable[[str], None] = print,
    *,
    extra: Sequence[Contender] = (),
) -> int:
    """The whole session; ``extra`` contenders run after the standard ones in each round."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    STAGEBENCH_OPTIONS["verify_etag"] = args.verify_etag
    aws = _peers.find_aws(args.aws)
    chosen = contenders(aws) + list(extra)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")} | {"stagebench"}
        unknown = wanted - {c.name for c in contenders("aws") + list(extra)}
        if unknown:
            raise HarnessError(f"--only: unknown contender(s) {sorted(unknown)}")
        chosen = [c for c in chosen if c.name in wanted]
    datasets = []
    if args.small > 0:
        datasets.append(make_dataset("small", args.small, args.small_size))
    if args.large > 0:
        datasets.append(make_dataset("large", args.large, args.large_size))
    args.scratch.mkdir(parents=True, exist_ok=True)
    check_disk(args.scratch, datasets)

    aws_label = ""
    if aws and any(not c.in_process for c in chosen):
        aws_label = _peers.aws_version(aws)
        start_wall, start_cpu = _peers.aws_startup(aws)
        say(f"aws: {aws} ({aws_label}); start-up alone {start_wall:.2f} s, {start_cpu:.2f} s CPU")
    elif not args.only or "aws s3 sync" in args.only:
        say("aws: not found on PATH; 'aws s3 sync' is skipped (install awscli in a venv of its")
        say("     own and pass --aws /path/to/venv/bin/aws)")
    block = content_block(SEED)
    summaries: list[Summary] = []
    goals: list[str] = []
    report: list[str] = []
    with open_endpoint(args) as endpoint:
        say(f"endpoint: {endpoint.describe()}; contenders: {', '.join(c.name for c in chosen)}")
        say(
            f"downloads into fresh folders under {args.scratch}; stagebench verify_etag="
            f"{'on' if args.verify_etag else 'off'}"
        )
        for dataset in datasets:
            seconds = populate(endpoint, dataset)
            say(f"populated {dataset.name}: {dataset.describe()} in {seconds:.1f} s")
        # Untimed: first requests of a client, imports, the server's first touch of each prefix.
        for dataset in datasets:
            object_bytes = max(1, int(dataset.sizes.max()))
            warm = head(dataset, max(1, min(WARMUP_OBJECTS, WARMUP_BYTES // object_bytes)))
            # aws is a new process each time: nothing to warm (and it syncs the whole prefix).
            for contender in (c for c in chosen if c.in_process):
                measure(
                    contender,
                    endpoint,
                    warm,
                    scratch=args.scratch,
                    concurrency=args.concurrency,
                    repeat=-1,
                    block=block,
                )
        say("warm-up done")
        for dataset in datasets:
            by_name = {c.name: Summary(dataset.name, c.name) for c in chosen}
            for repeat in range(args.repeats):
                for contender in chosen:
                    result = measure(
                        contender,
                        endpoint,
                        dataset,
                        scratch=args.scratch,
                        concurrency=args.concurrency,
                        repeat=repeat,
                        block=block,
                    )
                    by_name[contender.name].runs.append(result)
                    say(
                        f"  {dataset.name} #{repeat + 1} {contender.name:<15} "
                        f"{result.wall_s:7.2f} s {result.mb_per_s:8.1f} MB/s "
                        f"{result.cpu_s:6.2f} s CPU"
                    )
            section = [table(dataset, list(by_name.values()), args.concurrency)]
            ratio_lines, dataset_goals = ratios(dataset, by_name)
            section += ratio_lines
            checks = CHECKS_SEEN.get(dataset.name, Counter())
            section.append(
                "  stagebench verified its GETs by: "
                + (", ".join(f"{name} {count}" for name, count in sorted(checks.items())) or "-")
            )
            report.append("\n".join(section))
            goals += dataset_goals
            summaries += by_name.values()
        profile_text = ""
        if args.cprofile and datasets[0].name == "small":
            path = args.out / f"bench_live-{stamp}.prof"
            args.out.mkdir(parents=True, exist_ok=True)
            profile_text = profile_stagebench(
                endpoint,
                datasets[0],
                scratch=args.scratch,
                concurrency=args.concurrency,
                path=path,
            )
    say("")
    for section in report:
        say(section)
        say("")
    say("goals:")
    for line in goals:
        say(f"  {line}")
    csv_path = write_csv(
        args.out,
        stamp,
        summaries,
        concurrency=args.concurrency,
        endpoint=endpoint,
        aws=aws_label,
    )
    say(f"csv: {csv_path}")
    if profile_text:
        say(f"profile: {args.out / f'bench_live-{stamp}.prof'}")
        say(profile_text)
    return 0


def main(argv: Sequence[str] | None = None, *, extra: Sequence[Contender] = ()) -> int:
    args = parse_args(argv)
    try:
        return run(args, extra=extra)
    except (HarnessError, PeerError, StagebenchError) as exc:
        print(f"bench_live: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_live: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
