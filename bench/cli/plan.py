"""``stagebench plan SCENARIO``: the capacity answer from the model alone, with no data moved.

Prints the Answers block (or, with ``--json``, one JSON object and nothing else on stdout) and
writes a plan folder: ``plan.json``, ``report.md``, a self-contained ``report.html``,
``whatifs.csv`` and, for a host sweep, ``sweep.csv`` and the sweep plot. Progress goes to
stderr, only on a terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cli.common import (
    add_command,
    add_common,
    add_endpoint_options,
    add_platform_option,
    add_progress_option,
    add_storage_profile_option,
    endpoint_overrides,
    format_table,
    progress_from,
)
from bench.units import format_bytes

if TYPE_CHECKING:
    from bench.analysis.plan import HostsAnswer, PlanContext
    from bench.config.profile import Instance
    from bench.config.scenario import Scenario

MAX_SWEEP_COUNTS = 16


def register(commands: Any) -> None:
    plan = add_command(
        commands,
        "plan",
        help="input mode, VolumeSizeInGB, startup, job time and cost from the model, no data moved",
        examples="""
            stagebench plan scenarios/images-5m.toml
            stagebench plan scenarios/images-5m.toml --hosts 4-64 --instance ml.p4d.24xlarge
            stagebench plan big.toml --json > plan.json        # one JSON object, nothing else
            stagebench plan big.toml --platform none           # plain EC2/EKS: no job phases
            stagebench plan big.toml --platform my-platform.toml   # from calibrate --from-jobs
            # sizes from an S3 Inventory report or a saved 'aws s3 ls --recursive' listing:
            #   [dataset] manifest = "inventory/my-config/2026-12-01T01-00Z/manifest.json"
        """,
    )
    plan.add_argument(
        "scenario", type=Path, help="scenario TOML file, or a SageMaker training job JSON"
    )
    plan.add_argument(
        "--hosts",
        type=host_counts,
        help="host count, a list (4,8,16) or a range doubling from A to B (4-64); a list or "
        "range plans each and finds the largest count that keeps AU >= 0.90",
    )
    plan.add_argument(
        "--instance",
        help="instance preset (bench/profiles/instances.toml); default: cluster.instance",
    )
    add_storage_profile_option(
        plan, "storage profile (preset name or .toml); default: report.model_profile"
    )
    add_platform_option(plan)
    plan.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    plan.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    add_progress_option(plan)
    plan.add_argument(
        "--relist", action="store_true", help="list a dataset.uri again instead of its cache"
    )
    add_endpoint_options(plan)
    plan.add_argument("--sidecar", type=Path, help="for a JOB.json: its sidecar TOML")
    add_common(plan)
    plan.set_defaults(func=cmd_plan)


def host_counts(text: str) -> list[int]:
    """argparse type: "16", "4,8,16" or "4-64" (doubling from 4 up to 64)."""
    text = text.strip()
    try:
        if "-" in text and "," not in text:
            low_text, _, high_text = text.partition("-")
            low, high = int(low_text), int(high_text)
            if low < 1 or high < low:
                raise ValueError
            counts = []
            count = low
            while count <= high:
                counts.append(count)
                count *= 2
            if counts[-1] != high:
                counts.append(high)
        else:
            counts = sorted({int(part) for part in text.split(",") if part.strip()})
            if not counts or counts[0] < 1:
                raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a host count (16), a list (4,8,16) or a range A-B (4-64, doubling)"
        ) from None
    if len(counts) > MAX_SWEEP_COUNTS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {len(counts)} host counts; give at most {MAX_SWEEP_COUNTS}"
        )
    return counts


class _Steps:
    """One progress line over a plan's steps, on stderr, only on a terminal."""

    def __init__(self, total: int, progress: Any) -> None:
        self.phase = progress.phase("plan", total_objects=total, unit="step")

    def __call__(self, name: str) -> None:
        self.phase.advance(objects=1)

    def close(self) -> None:
        self.phase.close()


def cmd_plan(args: argparse.Namespace) -> int:
    from bench.analysis import plan as planning
    from bench.config.scenario import load_scenario
    from bench.report.plan import write_plan_report
    from bench.run import results as results_io

    if args.scenario.suffix.lower() == ".json":  # a SageMaker training job
        from bench.cli.job import run_job_plan

        return run_job_plan(args)
    progress = progress_from(args)
    scenario = load_scenario(args.scenario, overrides=endpoint_overrides(args))
    context = read_context(args, scenario, progress)
    counts = args.hosts or [scenario.cluster.hosts]
    steps = _Steps(len(counts) + 9, progress)
    try:
        if len(counts) == 1:
            steps(f"model: {counts[0]} hosts")
            sweep: list[HostsAnswer] = []
            answer = planning.plan_hosts(context, counts[0])
        else:
            sweep = planning.plan_sweep(
                context, counts, workers=2, on_done=lambda h: steps(f"model: {h} hosts")
            )
            answer = chosen_answer(sweep)
        plan_dir = results_io.new_run_dir(args.results, f"{scenario.name}-plan")
        sweep_plot = None
        if sweep:
            results_io.write_csv(plan_dir / "sweep.csv", planning.sweep_table(sweep))
            sweep_plot = planning.plot_sweep(sweep, plan_dir / "sweep")
        written = write_plan_report(
            plan_dir, context, answer, sweep=sweep, sweep_plot=sweep_plot, step=steps
        )
        document = planning.plan_json(context, answer, sweep)
        results_io.write_json(plan_dir / "plan.json", document)
    finally:
        steps.close()
    if args.json:
        print(json.dumps(document, default=_json_default))
        return 0
    if sweep:
        print(format_sweep(sweep))
        print()
    what = f"{context.job_objects:,} objects, {format_bytes(context.job_bytes)}"
    if answer.channels:
        what += f" in {len(answer.channels)} channels"
    print(
        format_answers(
            answer,
            context.instance,
            title=f"Answers (plan: the model on {context.profile.name}, platform "
            f"{context.platform_name or 'none'}, "
            f"{answer.hosts} × {context.instance.name}, {what}; nothing measured)",
        )
    )
    if answer.channels:
        print()
        print(format_channels(answer))
    print(f"plan: {plan_dir}")
    print(f"report: {written[0]}  ({written[1].name}: self-contained, plots embedded)")
    return 0


def read_context(args: argparse.Namespace, scenario: Scenario, progress: Any) -> PlanContext:
    """Every channel's sizes, read as one channel's are (the first is the training channel's),
    and the plan's context; an old listing's age is said on stderr."""
    from bench.analysis import plan as planning

    channels = planning.plan_channel_sizes(
        scenario,
        results_root=args.results,
        relist=args.relist,
        progress=progress,
        aws_profile=args.profile,
    )
    for name, found in channels.items():
        if found.listing_age_s is not None and found.listing_age_s > 0 and not args.json:
            label = f"channel {name}" if scenario.several_channels else "dataset"
            print(f"{label}: {found.source}", file=sys.stderr)
    sizes = next(iter(channels.values()))
    return planning.plan_context(
        scenario,
        sizes.sizes,
        sizes_source=sizes.source,
        profile=args.storage_profile,
        instance=args.instance,
        platform=args.platform,
        channels=channels if scenario.several_channels else None,
    )


def chosen_answer(sweep: list[HostsAnswer]) -> HostsAnswer:
    """The count a sweep's report details: the largest at which the mode recommended there
    keeps AU >= 0.90, else the smallest count."""
    from bench.analysis.plan import AU_TARGET

    fitting = [
        a
        for a in sweep
        if a.recommended_mode is not None
        and math.isfinite(a.modes[a.recommended_mode].au)
        and a.modes[a.recommended_mode].au >= AU_TARGET
    ]
    return max(fitting, key=lambda a: a.hosts) if fitting else sweep[0]


def format_answers(answer: HostsAnswer, instance: Instance, *, title: str) -> str:
    """The Answers block: per mode the platform phases (starting, downloading, training) and
    billable time, time to first step, job time, AU, cost; the recommended mode and why in one
    line; VolumeSizeInGB per host."""
    import pandas as pd

    from bench.report.capacity import MODE_NAMES
    from bench.report.plan import volume_line

    rows = [
        {
            "mode": mode,
            "starting_s": figures.starting_s,
            "downloading_s": figures.downloading_s,
            "training_phase_s": figures.training_phase_s,
            "uploading_s": figures.uploading_s,
            "billable_s": figures.billable_s,
            "first_step_s": figures.startup_s,
            "job_s": figures.job_s,
            "AU": figures.au,
            "cost_usd": figures.cost_usd,
            "VolumeSizeInGB": figures.volume_size_gb,
        }
        for mode, figures in answer.modes.items()
    ]
    recommendation = answer.recommendation
    if recommendation.mode is not None:
        line = f"recommended: {MODE_NAMES[recommendation.mode]}. {answer.why()}"
    else:
        line = f"recommended: {recommendation.headline()}. {answer.why()}"
    ruled_out = [
        f"  not {MODE_NAMES[mode]}: {why}" for mode, why in recommendation.ruled_out.items()
    ]
    table = format_table(pd.DataFrame(rows))
    if answer.platform is None:
        phases_line = "platform none: no phases around the data path; billable = job time"
    else:
        phases_line = (
            f"phases from platform {answer.platform}'s profile; billable = downloading + "
            "training_phase + uploading (starting is not billed); recommended: times after "
            "starting"
        )
    phases_line += "; cost = hosts × billable × hourly price + requests"
    return "\n".join([title, table, phases_line, line, *ruled_out, volume_line(instance, answer)])


def format_channels(answer: HostsAnswer) -> str:
    """The job's channels: a row per channel and job mode, with the data path it plays and its
    first data and end on the job's clock (seconds from the job's start, as the Answers)."""
    from bench.report.plan import channels_frame

    return "\n".join(
        [
            "Channels (the job's clock: seconds from the job's start; a validation channel "
            "makes one pass after each training epoch)",
            format_table(channels_frame(answer)),
        ]
    )


def format_sweep(sweep: list[HostsAnswer]) -> str:
    """A table per mode (startup, job time, AU, cost against hosts) and the largest count that
    keeps AU >= 0.90."""
    import pandas as pd

    from bench.analysis.plan import AU_TARGET, max_hosts_for_au
    from bench.report.capacity import MODE_NAMES
    from bench.vocabulary import MODES

    parts = []
    for mode in MODES:
        frame = pd.DataFrame(
            [
                {
                    "hosts": a.hosts,
                    "startup_s": a.modes[mode].startup_s,
                    "job_s": a.modes[mode].job_s,
                    "AU": a.modes[mode].au,
                    "cost_usd": a.modes[mode].cost_usd,
                }
                for a in sweep
            ]
        )
        most = max_hosts_for_au(sweep, mode)
        verdict = (
            f"largest count keeping AU >= {AU_TARGET:.2f}: {most}"
            if most
            else f"no count keeps AU >= {AU_TARGET:.2f}"
        )
        parts.append(f"{MODE_NAMES[mode]} ({verdict})\n{format_table(frame)}")
    parts.append(
        "AU >= 0.90: the MLPerf Storage criterion for a storage system that feeds its "
        "accelerators (MLPerf Storage rules)."
    )
    return "\n\n".join(parts)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
