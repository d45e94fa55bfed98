"""``stagebench run SCENARIO``: the live data paths on the scenario's endpoint, a results folder,
the per-host and per-mode tables and the capacity report."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    add_platform_option,
    add_progress_option,
    ask_if_terminal,
    format_table,
    positive_int,
    progress_from,
    scenario_overrides,
)
from bench.errors import StagebenchError


def register(commands: Any) -> None:
    run = add_command(
        commands,
        "run",
        help="stage a dataset from S3 onto simulated hosts",
        examples="""
            stagebench run scenarios/quickstart.toml
            stagebench run scenarios/quickstart.toml --hosts 8 --modes file,pipe
            stagebench run a.toml --repeat 3 --no-report      # three run folders for compare
            stagebench run open-data.toml --endpoint aws --region us-west-2 --no-sign-request
            stagebench run scenarios/quickstart.toml --platform none   # Answers without job phases
            stagebench run scenarios/train-and-validation.toml      # two channels, one job
            stagebench run scenarios/jobs/image-classifier.json --hosts 2   # a SageMaker job
        """,
    )
    run.add_argument(
        "scenario", type=Path, help="scenario TOML file, or a SageMaker training job JSON"
    )
    run.add_argument("--sidecar", type=Path, help="for a JOB.json: its sidecar TOML")
    run.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    add_endpoint_options(run)
    run.add_argument("--hosts", type=int, help="override cluster.hosts")
    run.add_argument("--modes", help="override modes.run, comma-separated: file,pipe,fastfile")
    run.add_argument("--keep-volumes", action="store_true", help="keep the hosts' volume folders")
    run.add_argument("--yes", action="store_true", help="accept the estimated AWS cost")
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run hosts on a Dask cluster: tcp://scheduler:8786, or local:N worker processes",
    )
    add_progress_option(run)
    add_platform_option(run)
    run.add_argument(
        "--no-report", action="store_true", help="skip the capacity report (report.md, .html)"
    )
    run.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="N",
        help="run the scenario N times, a run folder each, for 'stagebench compare'",
    )
    add_common(run)
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.config.platform import load_platform
    from bench.config.scenario import load_scenario

    if args.scenario.suffix.lower() == ".json":
        from bench.config.job import job_scenario, load_job, load_sidecar

        # A SageMaker training job: its channels played live as the job would read them.
        job = load_job(args.scenario)
        sidecar = load_sidecar(args.scenario, path=args.sidecar)
        scenario = job_scenario(job, sidecar, overrides=scenario_overrides(args))
    else:
        scenario = load_scenario(args.scenario, overrides=scenario_overrides(args))
    # The platform of the Answers block, read before anything runs so a bad name costs nothing.
    args.platform_profile = load_platform(args.platform) if args.platform else None
    run_dirs: list[Path] = []
    for repeat in range(args.repeat):
        if args.repeat > 1:
            print(f"run {repeat + 1}/{args.repeat}", file=sys.stderr)
        code = _run_once(args, scenario, run_dirs)
        if code:
            return code
    if args.repeat > 1:
        folders = " ".join(map(str, run_dirs))
        print(f"runs: {folders}")
        print(f"compare with: stagebench compare {folders} -- OTHER_RUNS")
    return 0


def _run_once(args: argparse.Namespace, scenario: Any, run_dirs: list[Path]) -> int:
    from bench.run.runner import run_scenario

    result = run_scenario(
        scenario,
        results_root=args.results,
        profile=args.profile,
        progress=progress_from(args),
        keep_volumes=args.keep_volumes,
        say=lambda text: print(text, file=sys.stderr),
        confirm=(lambda _: True) if args.yes else ask_if_terminal,
    )
    if len(result.hosts):
        print(format_hosts(result.hosts))
        print()
        print(format_comparison(result.summary["modes"]))
        channels = result.summary.get("channels")
        if channels:
            print()
            print(format_channels(channels))
    print(f"results: {result.run_dir}")
    run_dirs.append(result.run_dir)
    if result.status != "interrupted" and len(result.hosts) and not args.no_report:
        _write_report(result.run_dir, progress=progress_from(args))
    if result.status != "interrupted" and len(result.hosts):
        print()
        print(_answers(scenario, result, platform=args.platform_profile))
    if result.status == "interrupted":
        print(f"stagebench: interrupted; partial results in {result.run_dir}", file=sys.stderr)
        return 130
    if result.error is not None:
        # summary.json's one line: exception groups unwrapped, host and key named.
        raise StagebenchError(f"run {result.status}: {result.summary['error']}") from result.error
    return 0


def _answers(scenario: Any, result: Any, *, platform: Any = None) -> str:
    """The Answers block of a run, from its measured job figures placed in ``platform``'s
    job phases (default: the scenario's)."""
    from bench.analysis.plan import measured_answer
    from bench.cli.plan import format_answers
    from bench.config.scenario import with_compute_rate
    from bench.report.channels import run_volumes
    from bench.report.rundata import sizes_from_events

    try:
        sizes, _ = sizes_from_events(result.events, result.summary["dataset"]["objects"])
    except (StagebenchError, KeyError, TypeError):
        import numpy as np

        sizes = np.zeros(0, dtype=np.int64)
    answer, instance = measured_answer(
        with_compute_rate(scenario, sizes),
        result.summary,
        result.hosts,
        sizes,
        platform=platform,
        volumes=run_volumes(scenario, result.run_dir),
    )
    return format_answers(
        answer,
        instance,
        title=f"Answers (measured on {result.summary['environment']['endpoint']['kind']}, "
        f"platform {answer.platform or 'none'}, {answer.hosts} × {instance.name})",
    )


def _write_report(run_dir: Path, *, progress: Any = False) -> None:
    """The capacity report at the end of a run; a report that fails leaves the results as
    they are and says why in one line."""
    from bench.report import write_report

    try:
        written = write_report(run_dir, progress=progress)
    except StagebenchError as exc:
        print(f"stagebench: report not written: {exc}", file=sys.stderr)
        return
    print(f"report: {written[0]}  ({written[1].name}: self-contained, plots embedded)")


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
    return format_table(view[columns])


FIGURE_LEGEND = (
    "startup_s: job start to the slowest host's first training step; "
    "tail_s: how long the last host's first step trails the first host's; "
    "epoch_s: mean epoch from the first host's start to the last host's end; "
    "stall_s: the slowest host's wait for data per epoch; "
    "AU: compute / (compute + stall + barrier), — with no compute; "
    "end_s: job start to the last host's end"
)


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
    return format_table(pd.DataFrame(rows)) + "\n" + textwrap.fill(FIGURE_LEGEND, width=100)


def format_channels(channels: dict[str, Any]) -> str:
    """A row per (channel, job mode) of a job of several channels: the data path it played and
    its figures on the job's clock (summary.json's ``channels``)."""
    import pandas as pd

    rows = []
    for name, channel in channels.items():
        for mode, figures in channel["modes"].items():
            rows.append(
                {
                    "channel": name,
                    "role": channel["role"],
                    "job mode": mode,
                    "input mode": channel["input_mode"] or mode,
                    "objects": figures["objects"],
                    "startup_s": figures["startup_s"],
                    "epoch_s": figures["epoch_s"],
                    "end_s": figures["end_s"],
                    "stall_s": figures["stall_s"],
                    "GETs": figures["gets"],
                }
            )
    legend = (
        "per channel on the job's clock: startup_s its first data (File: every File channel "
        "on the volume); epoch_s its pass per epoch; end_s its last pass's end"
    )
    return format_table(pd.DataFrame(rows)) + "\n" + textwrap.fill(legend, width=100)
