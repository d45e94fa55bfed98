"""Command line: parse, call the library, print. One user-facing error type is caught here.

stagebench run SCENARIO      live data paths on the scenario's endpoint, results folder
stagebench skew SCENARIO     sharding imbalance per strategy (numpy model, no I/O)
stagebench serve             the embedded S3 server, standalone
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

from bench import __version__
from bench.errors import StagebenchError


def _common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not undo a --debug given before the subcommand.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagebench",
        description="Data-staging throughput benchmark for ML training on S3 "
        "(SageMaker File, Pipe and FastFile input modes).",
    )
    parser.add_argument("--version", action="version", version=f"stagebench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="stage a dataset from S3 onto simulated hosts")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    run.add_argument(
        "--endpoint", help="'embedded', 'aws' or an http(s) URL (overrides storage.endpoint)"
    )
    run.add_argument("--profile", help="AWS profile for --endpoint aws")
    run.add_argument("--hosts", type=int, help="override cluster.hosts")
    run.add_argument("--modes", help="override modes.run, comma-separated: file,pipe,fastfile")
    run.add_argument("--keep-volumes", action="store_true", help="keep the hosts' volume folders")
    run.add_argument("--yes", action="store_true", help="accept the estimated AWS cost")
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run hosts on a Dask cluster: tcp://scheduler:8786, or local:N worker processes",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--no-report", action="store_true", help="skip the capacity report (report.md, .html)"
    )
    _common(run)

    skew = commands.add_parser("skew", help="how skewed sizes unbalance ShardedByS3Key")
    skew.add_argument("scenario", type=Path)
    skew.add_argument("--results", type=Path, default=Path("results"))
    skew.add_argument("--hosts", type=int, help="override cluster.hosts")
    skew.add_argument(
        "--throughput",
        default="100MB/s",
        help="per-host download rate for straggler times (default 100MB/s)",
    )
    skew.add_argument("--sweep", action="store_true", help="imbalance vs skew for 2..1024 hosts")
    skew.add_argument(
        "--family", choices=("lognormal", "pareto"), default="lognormal", help="sweep family"
    )
    _common(skew)

    serve = commands.add_parser("serve", help="run the embedded S3 server until Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    _common(serve)

    clean = commands.add_parser(
        "clean", help="delete a dataset stagebench created (only the keys it wrote)"
    )
    clean.add_argument("target", help="a scenario file, or s3://bucket/prefix/")
    clean.add_argument("--endpoint", help="'embedded', 'aws' or an http(s) URL")
    clean.add_argument("--profile", help="AWS profile")
    clean.add_argument("--yes", action="store_true", help="delete without asking")
    _common(clean)

    # Commands of the model side register themselves (each sets ``func`` on its parser).
    from bench import modelcmd

    modelcmd.register(commands, _common)
    from bench import reportcmd

    reportcmd.register(commands, _common)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if getattr(args, "hosts", None) is not None:
        overrides["cluster.hosts"] = args.hosts
    if getattr(args, "modes", None):
        overrides["modes.run"] = [m.strip() for m in args.modes.split(",") if m.strip()]
    if getattr(args, "endpoint", None):
        overrides["storage.endpoint"] = args.endpoint
    if getattr(args, "dask", None):
        overrides["execution.engine"] = "dask"
        overrides["execution.dask"] = args.dask
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import run_scenario
    from bench.scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=_overrides(args))
    result = run_scenario(
        scenario,
        results_root=args.results,
        profile=args.profile,
        progress=not args.no_progress and sys.stderr.isatty(),
        keep_volumes=args.keep_volumes,
        say=lambda text: print(text, file=sys.stderr),
        confirm=(lambda _: True) if args.yes else _ask_if_terminal,
    )
    if len(result.hosts):
        print(format_hosts(result.hosts))
        print()
        print(format_comparison(result.summary["modes"]))
    print(f"results: {result.run_dir}")
    if result.status != "interrupted" and len(result.hosts) and not args.no_report:
        _write_report(result.run_dir)
    if result.status == "interrupted":
        print(f"stagebench: interrupted; partial results in {result.run_dir}", file=sys.stderr)
        return 130
    if result.error is not None:
        if isinstance(result.error, StagebenchError):
            raise StagebenchError(f"run {result.status}: {result.error}") from result.error
        raise result.error
    return 0


def _write_report(run_dir: Path) -> None:
    """The capacity report at the end of a run; a report that fails leaves the results as
    they are and says why in one line."""
    from bench.report import write_report

    try:
        written = write_report(run_dir)
    except StagebenchError as exc:
        print(f"stagebench: report not written: {exc}", file=sys.stderr)
        return
    print(f"report: {written[0]}  ({written[1].name}: self-contained, plots embedded)")


def _table(frame: object) -> str:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    return frame.to_string(
        index=False,
        float_format=lambda v: f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}",
        na_rep="-",
    )


def format_hosts(hosts: object, *, max_hosts: int = 16) -> str:
    """The per-host table; with many hosts, the slowest ones of each mode."""
    import pandas as pd

    assert isinstance(hosts, pd.DataFrame)
    view = hosts.copy()
    view["MB"] = view["bytes"] / 1e6
    columns = ["mode", "host", "objects", "MB", "startup_s"]
    columns += [c for c in ("epoch_s", "stall_s", "au", "gets", "lists") if c in view.columns]
    columns += ["mb_per_s"]
    if (view.groupby("mode").size() > max_hosts).any():
        view = (
            view.sort_values("startup_s", ascending=False)
            .groupby("mode", sort=False)
            .head(max_hosts)
        )
    return _table(view[columns])


def format_comparison(modes: dict[str, dict[str, float]]) -> str:
    """One row per mode: the figures that decide between File, Pipe and FastFile."""
    import pandas as pd

    columns = {
        "startup_s": "startup_s",
        "tail_s": "tail_s",
        "epoch_s": "epoch_s",
        "stall_s": "stall_s",
        "au": "AU",
        "gets": "GETs",
        "lists": "LISTs",
        "mb_per_s": "MB/s",
    }
    rows = []
    for mode, figures in modes.items():
        rows.append({"mode": mode, **{label: figures.get(k) for k, label in columns.items()}})
    return _table(pd.DataFrame(rows))


def cmd_skew(args: argparse.Namespace) -> int:
    from bench.skewcmd import run_skew_command

    return run_skew_command(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from bench.s3.server import EMBEDDED_ACCESS_KEY, EmbeddedServer

    server = EmbeddedServer(port=args.port)
    url = server.start()
    print(f"embedded S3 server at {url} (region us-east-1, access key id {EMBEDDED_ACCESS_KEY});")
    print("any secret key is accepted. Ctrl-C stops it.", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    import asyncio

    from bench.s3.clean import execute_clean, plan_clean
    from bench.s3.endpoint import open_endpoint
    from bench.scenario import dataset_prefix, load_scenario, parse_s3_uri

    region, profile = "us-east-1", args.profile
    if args.target.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_uri(args.target)
            prefix = dataset_prefix(prefix)
        except ValueError as exc:
            raise StagebenchError(f"{args.target}: {exc}") from exc
        spec = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "aws"
    else:
        scenario = load_scenario(args.target)
        bucket, prefix = scenario.dataset.bucket, scenario.dataset.prefix
        spec = args.endpoint or scenario.storage.endpoint
        region, profile = scenario.storage.region, profile or scenario.storage.profile
    if spec == "embedded":
        raise StagebenchError(
            "the embedded server forgets its data when the command ends: nothing to clean; "
            "give --endpoint for a server started with 'stagebench serve' or for AWS"
        )
    with open_endpoint(spec, region=region, profile=profile) as endpoint:
        plan = asyncio.run(plan_clean(endpoint, bucket, prefix))
        print(
            f"s3://{bucket}/{prefix}: {len(plan.keys)} objects ({plan.bytes / 1e6:.1f} MB) "
            f"written by stagebench; {plan.others} other objects will be kept"
        )
        if not args.yes and not _confirm("delete them?"):
            print("nothing deleted")
            return 1
        removed_bucket = asyncio.run(execute_clean(endpoint, plan))
    print(f"deleted {len(plan.keys)} objects" + (f" and bucket {bucket}" if removed_bucket else ""))
    return 0


def _ask_if_terminal(question: str) -> bool:
    """Ask on a terminal; elsewhere the answer is no (the error then names --yes)."""
    return sys.stdin.isatty() and input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise StagebenchError(f"{question} needs an answer: run in a terminal or pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


COMMANDS = {"run": cmd_run, "skew": cmd_skew, "serve": cmd_serve, "clean": cmd_clean}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug
    # SIGTERM stops a run as Ctrl-C does: readers stop, FIFOs and volumes are removed, partial
    # results are written, the embedded server is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *a, **k: f"warning: {message}\n"
    try:
        handler = COMMANDS.get(args.command) or args.func
        return handler(args)
    except StagebenchError as exc:
        if debug:
            raise
        print(f"stagebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("stagebench: interrupted", file=sys.stderr)
        return 130
