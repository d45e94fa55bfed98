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
from typing import Any

from bench.cli.common import add_command, add_common, format_table


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
    import numpy as np
    import pandas as pd

    from bench.analysis.jobcheck import check_job, compute_bound_s
    from bench.config.job import channel_scenarios, load_job, load_sidecar
    from bench.report.capacity import Allowances

    job = load_job(args.job)
    sidecar = load_sidecar(args.job, path=args.sidecar)
    overrides = {"storage.endpoint": args.endpoint} if args.endpoint else None
    scenarios = channel_scenarios(job, sidecar, overrides=overrides)
    training = next(name for name, item in scenarios.items() if item.is_training)

    sizes: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for name, item in scenarios.items():
        local = item.local_sizes()
        if local is not None:
            sizes[name] = local
            origin[name] = str(item.sizes_from) if item.sizes_from else "synthetic"
        else:
            from bench.run.dataset import dataset_sizes

            sizes[name] = dataset_sizes(item.scenario)
            origin[name] = f"listed at {item.scenario.storage.endpoint}"

    volume = job.volume_size_gb if job.volume_size_gb is not None else "(unset)"
    runtime = job.max_runtime_s if job.max_runtime_s is not None else "(unset: 1 day)"
    print(
        f"{job.source}: {job.kind}{f' {job.name}' if job.name else ''}; "
        f"{job.instance_count} × {job.instance_type}, VolumeSizeInGB {volume}, "
        f"MaxRuntimeInSeconds {runtime}"
    )
    rows = []
    for channel in job.channels:
        channel_sizes = sizes.get(channel.name)
        rows.append(
            {
                "channel": channel.name + (" *" if channel.name == training else ""),
                "mode": channel.input_mode + ("" if channel.mode_given else " (job)"),
                "distribution": channel.distribution,
                "objects": int(channel_sizes.size) if channel_sizes is not None else None,
                "GB": float(channel_sizes.sum()) / 1e9 if channel_sizes is not None else None,
                "sizes": origin.get(channel.name, f"{channel.source}: not modelled"),
                "s3_uri": channel.s3_uri or "",
            }
        )
    print(format_table(pd.DataFrame(rows)))
    print("* the training channel: it drives the job's time (channels are planned one at a time)")

    first = scenarios[training].scenario
    report = first.report
    allowances = Allowances(
        report.model_gb, report.checkpoint_gb, report.scratch_gb, report.headroom
    )
    job_s = basis = None
    compute = first.training.compute_bps
    if compute > 0:
        job_s = compute_bound_s(
            job,
            sizes,
            training_channel=training,
            compute_bps=compute,
            epochs=first.training.epochs,
        )
        basis = (
            f"compute alone at {compute / 1e6:g} MB/s per host × {first.training.epochs} "
            "epochs: a floor, reading the data only adds to it"
        )
    findings = check_job(
        job,
        sizes,
        allowances,
        training_channel=training,
        job_s=job_s,
        job_s_basis=basis or "",
        assignment=first.distribution.assignment,
    )
    print()
    for finding in findings:
        print(finding.line())
    if job_s is None:
        print(
            "   note  StoppingCondition.MaxRuntimeInSeconds: not checked; set "
            "training.compute_rate in the sidecar for a floor under the job's time"
        )
    return 1 if any(finding.severity == "error" for finding in findings) else 0
