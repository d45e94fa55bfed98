"""``stagebench job-check JOB.json``: a SageMaker training job checked as SageMaker would run it.

Reads a ``CreateTrainingJob`` request, a ``TrainingJobDefinition`` or a ``DescribeTrainingJob``
output (``bench.config.job``) and its optional ``JOB.stagebench.toml``, gets each channel's
object sizes (the sidecar's manifest, inventory, listing or synthetic spec; else a listing of
the channel's ``S3Uri`` at the sidecar's ``storage.endpoint``), and prints the job, its
channels and the findings of ``bench.analysis.jobcheck``. It writes nothing.

Exit code: 0 when no finding is an error, 1 when SageMaker would refuse or stop the job as
given, 2 for a job file that does not validate (one line per problem, naming its JSON path).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cli.common import add_command, add_common, format_table

if TYPE_CHECKING:
    from bench.analysis.jobplan import JobPlan
    from bench.config.job import ChannelScenario, TrainingJob


def register(commands: Any) -> None:
    check = add_command(
        commands,
        "job-check",
        help="check a SageMaker training job's JSON: channels, volume, runtime, sharding",
        description="Check a CreateTrainingJob request, TrainingJobDefinition or "
        "DescribeTrainingJob output as SageMaker would run it (no data moved, nothing written).",
        examples="""
            stagebench job-check scenarios/jobs/image-classifier.json
            # channels without sizes in the sidecar are listed at this endpoint:
            stagebench job-check job.json --sidecar job.stagebench.toml --endpoint-url http://127.0.0.1:9000
        """,
    )
    check.add_argument("job", type=Path, help="the job's JSON file")
    check.add_argument(
        "--sidecar",
        type=Path,
        help="what the job does not say (default: JOB.stagebench.toml beside JOB.json)",
    )
    check.add_argument(
        "--endpoint",
        "--endpoint-url",
        dest="endpoint",
        help="where to list channels without sizes in the sidecar (embedded|aws|URL)",
    )
    add_common(check)
    check.set_defaults(func=run_job_check)


def run_job_check(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.analysis.jobcheck import check_job_channels
    from bench.config.job import channel_scenarios, load_job, load_sidecar

    job = load_job(args.job)
    sidecar = load_sidecar(args.job, path=args.sidecar)
    overrides = {"storage.endpoint": args.endpoint} if args.endpoint else None
    checked = check_job_channels(job, channel_scenarios(job, sidecar, overrides=overrides))

    volume = job.volume_size_gb if job.volume_size_gb is not None else "(unset)"
    runtime = job.max_runtime_s if job.max_runtime_s is not None else "(unset: 1 day)"
    print(
        f"{job.heading}; {job.instance_count} × {job.instance_type}, VolumeSizeInGB {volume}, "
        f"MaxRuntimeInSeconds {runtime}"
    )
    print(format_table(pd.DataFrame(checked.channel_rows())))
    print("* the training channel: read every step; the others once per epoch")
    print()
    for finding in checked.findings:
        print(finding.line())
    if not checked.runtime_checked:
        print(
            "   note  StoppingCondition.MaxRuntimeInSeconds: not checked; set "
            "training.compute_rate in the sidecar for a floor under the job's time"
        )
    return 1 if checked.refused else 0


# --- stagebench plan JOB.json ------------------------------------------------------------------


def run_job_plan(args: argparse.Namespace) -> int:
    """``stagebench plan JOB.json``: every channel planned, combined into the job's answer,
    the plan folder and ``recommended-job.json`` written, the answers printed."""
    from bench.analysis import jobplan
    from bench.cli.common import endpoint_overrides
    from bench.config.job import channel_scenarios, load_job, load_sidecar, read_job_json
    from bench.errors import StagebenchError
    from bench.report.jobplan import RECOMMENDED_JOB
    from bench.run import results as results_io

    if getattr(args, "instance", None):
        raise StagebenchError(
            f"--instance {args.instance}: a job's instance is its ResourceConfig.InstanceType; "
            "change it in the job's JSON"
        )
    job_json = read_job_json(args.scenario)
    job = load_job(args.scenario)
    sidecar = load_sidecar(args.scenario, path=getattr(args, "sidecar", None))
    scenarios = channel_scenarios(job, sidecar, overrides=endpoint_overrides(args) or None)
    plan, changes, plan_dir, written = _plan_and_write(args, job, job_json, scenarios)
    if args.json:
        document = jobplan.job_plan_json(
            plan, changes=changes, recommended_path=str(plan_dir / RECOMMENDED_JOB)
        )
        print(results_io.json_text(document))
    else:
        _print_job_plan(plan, changes, plan_dir, written)
    return 0


def _plan_and_write(
    args: argparse.Namespace,
    job: TrainingJob,
    job_json: dict[str, Any],
    scenarios: dict[str, ChannelScenario],
) -> tuple[JobPlan, list[str], Path, list[Path]]:
    """Plan the job and write its plan folder, one progress step per channel planned and per
    channel report: the plan, the changes, the folder and the files written."""
    from bench.analysis import jobplan
    from bench.cli.common import progress_from
    from bench.report.jobplan import write_job_plan
    from bench.run import results as results_io

    progress = progress_from(args)
    phase = progress.phase("plan", total_objects=len(scenarios) * 2 + 1, unit="step")
    try:
        plan = jobplan.plan_job(
            job,
            scenarios,
            counts=args.hosts,
            results_root=args.results,
            relist=args.relist,
            progress=progress,
            aws_profile=args.profile,
            storage_profile=args.storage_profile,
            on_channel=lambda _: phase.advance(objects=1),
        )
        recommended, changes = jobplan.recommend_job(plan, job_json, source=str(args.scenario))
        plan_dir = results_io.new_run_dir(args.results, f"{job.short_name}-plan")
        written = write_job_plan(
            plan_dir,
            plan,
            recommended=recommended,
            changes=changes,
            step=lambda _: phase.advance(objects=1),
        )
    finally:
        phase.close()
    return plan, changes, plan_dir, written


def _print_job_plan(plan: JobPlan, changes: list[str], plan_dir: Path, written: list[Path]) -> None:
    import pandas as pd

    from bench.analysis import jobplan
    from bench.report.jobplan import RECOMMENDED_JOB
    from bench.units import format_bytes

    job = plan.job
    given, chosen = plan.as_given, plan.chosen.totals
    print(
        f"Answers (plan of {job.heading}; the model on {plan.training.context.profile.name}, "
        f"{len(plan.channels)} channels, {format_bytes(plan.total_bytes)}; nothing measured)"
    )
    print(format_table(pd.DataFrame(jobplan.channel_rows(plan))))
    print(
        f"* the training channel, at {chosen.hosts} × {job.instance_type}; "
        "first_step_s and reading_s in the recommended mode"
    )
    print()
    print(format_table(pd.DataFrame(jobplan.totals_rows(plan))))
    print(f"as given:    {jobplan.first_step_line(given)}")
    print(f"recommended: {jobplan.first_step_line(chosen)}")
    if plan.swept:
        print()
        print(format_table(pd.DataFrame(jobplan.sweep_rows(plan))))
    print()
    for finding in plan.findings:
        print(finding.line())
    print()
    print(f"recommended job ({job.request_kind}):")
    for line in changes:
        print(f"  {line}")
    print(
        "assumed: File channels download one after another before the first step; Pipe and "
        "FastFile stream at once; other channels: one validation pass per epoch"
    )
    print(f"plan: {plan_dir}")
    print(f"report: {written[0]}  ({written[1].name}: self-contained)")
    print(f"recommended job: {plan_dir / RECOMMENDED_JOB}  (changes: {written[3].name})")
