"""The plan folder of a SageMaker training job: the job's own ``report.md`` and self-contained
``report.html`` (the job as given and as recommended, per channel figures, the checks, what
changed in the job and why, the assumptions), ``plan.json``, ``recommended-job.json``,
``recommended-job.diff.txt`` and one plan report per channel under ``channels/<name>/`` (the
same report ``stagebench plan SCENARIO`` writes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report.capacity import MODE_NAMES
from bench.report.document import (
    Alert,
    Document,
    Heading,
    Paragraph,
    Table,
    bullets,
    render_html,
    render_markdown,
)
from bench.units import format_bytes, format_frame

if TYPE_CHECKING:
    from bench.analysis.jobplan import JobPlan

RECOMMENDED_JOB = "recommended-job.json"
RECOMMENDED_DIFF = "recommended-job.diff.txt"
CHANNELS_DIR = "channels"

Step = Callable[[str], None]


def diff_text(plan: JobPlan, changes: Sequence[str], recommended: Mapping[str, Any]) -> str:
    """What changed in the job and why, one line per change, with the figures behind it."""
    from bench.analysis.jobplan import first_step_line

    given, chosen = plan.as_given, plan.chosen.totals
    lines = [
        f"# {plan.job.source} → {RECOMMENDED_JOB} ({plan.job.kind} in, "
        f"{plan.job.request_kind} out)",
        *changes,
        "",
        f"as given:    {given.hosts} hosts, job {given.job_s:.0f} s, ${given.cost_usd:.2f}, "
        f"{first_step_line(given)}",
        f"recommended: {chosen.hosts} hosts, job {chosen.job_s:.0f} s, ${chosen.cost_usd:.2f}, "
        f"{first_step_line(chosen)}",
    ]
    kept = [
        f"{channel.path}.InputMode (channel {channel.name}): {channel.input_mode} kept: "
        f"{plan.chosen.reasons[channel.name]}"
        for channel in plan.job.channels
        if channel.name in plan.chosen.totals.modes
        and recommended["InputDataConfig"][channel.index].get("InputMode", channel.input_mode)
        == channel.input_mode
    ]
    if kept:
        lines += ["", *kept]
    return "\n".join(lines) + "\n"


def write_job_plan(
    plan_dir: Path,
    plan: JobPlan,
    *,
    recommended: Mapping[str, Any],
    changes: Sequence[str],
    step: Step | None = None,
) -> list[Path]:
    """Write the whole plan folder into ``plan_dir`` (a fresh folder); the paths written, the
    job's report.md first."""
    import pandas as pd

    from bench.analysis import jobplan
    from bench.analysis.plan import plan_json
    from bench.config.job import dump_job
    from bench.report.plan import write_plan_report
    from bench.run import results as results_io

    step = step or (lambda _: None)
    written: list[Path] = []
    recommended_path = plan_dir / RECOMMENDED_JOB
    results_io.write_text(recommended_path, dump_job(recommended))
    diff_path = plan_dir / RECOMMENDED_DIFF
    results_io.write_text(diff_path, diff_text(plan, changes, recommended))
    document_json = jobplan.job_plan_json(plan, changes=changes, recommended_path=RECOMMENDED_JOB)
    results_io.write_json(plan_dir / "plan.json", document_json)
    if plan.swept:
        results_io.write_csv(plan_dir / "sweep.csv", pd.DataFrame(jobplan.sweep_rows(plan)))

    hosts = plan.chosen.hosts
    for name, channel in plan.channels.items():
        step(f"report: channel {name}")
        channel_dir = plan_dir / CHANNELS_DIR / _safe(name)
        channel_dir.mkdir(parents=True, exist_ok=True)
        sweep = [channel.answers[h] for h in plan.counts] if plan.swept else []
        write_plan_report(channel_dir, channel.context, channel.answers[hosts], sweep=sweep)
        results_io.write_json(
            channel_dir / "plan.json", plan_json(channel.context, channel.answers[hosts], sweep)
        )

    document = _document(plan, changes)
    markdown_path = plan_dir / "report.md"
    html_path = plan_dir / "report.html"
    results_io.write_text(markdown_path, render_markdown(document, relative_to=plan_dir))
    results_io.write_text(html_path, render_html(document))
    written += [markdown_path, html_path, recommended_path, diff_path, plan_dir / "plan.json"]
    return written


def _safe(name: str) -> str:
    # Channel names match [A-Za-z0-9\.\-_]+ in the service model; keep a dot-only name off "..".
    return name if name.strip(".") else name.replace(".", "_")


def _document(plan: JobPlan, changes: Sequence[str]) -> Document:
    import pandas as pd

    from bench.analysis import jobplan

    job = plan.job
    document = Document(f"Capacity plan: {job.short_name}")
    training = plan.training.context
    document.add(
        Paragraph(
            f"A **plan** of the {job.kind} `{job.source}` from the model on "
            f"{training.profile.name}: {len(plan.channels)} S3 channel(s) on "
            f"{plan.chosen.hosts} × {job.instance_type}; nothing was measured. The training "
            f"channel is `{plan.training_channel}`."
        )
    )
    errors = [f for f in plan.findings if f.severity == "error"]
    for finding in errors:
        document.add(Alert(f"{finding.subject}: {finding.message}"))
    document.add(Heading(2, "Answers"))
    document.add(Table(format_frame(pd.DataFrame(jobplan.totals_rows(plan)))))
    document.add(
        Paragraph(
            "As given: "
            + jobplan.first_step_line(plan.as_given)
            + ". Recommended: "
            + jobplan.first_step_line(plan.chosen.totals)
            + "."
        )
    )
    document.add(Heading(2, "Channels"))
    document.add(Table(format_frame(pd.DataFrame(jobplan.channel_rows(plan)))))
    document.add(
        bullets(
            [
                f"**{name}**: {MODE_NAMES[plan.chosen.totals.modes[name]]}: {why}"
                for name, why in plan.chosen.reasons.items()
            ]
            + [
                f"**{name}**: {format_bytes(channel.context.total_bytes)} in "
                f"{channel.context.objects:,} objects, sizes {channel.context.sizes_source}; "
                f"its plan: `{CHANNELS_DIR}/{_safe(name)}/report.md`"
                for name, channel in plan.channels.items()
            ]
        )
    )
    if plan.swept:
        document.add(Heading(2, "Host sweep"))
        document.add(Table(format_frame(pd.DataFrame(jobplan.sweep_rows(plan)))))
    document.add(Heading(2, "Recommended job"))
    document.add(
        Paragraph(
            f"`{RECOMMENDED_JOB}`: the job with these changes, ready for "
            f"`aws sagemaker create-training-job --cli-input-json file://{RECOMMENDED_JOB}`."
        )
    )
    document.add(bullets(list(changes)))
    document.add(Heading(2, "Checks of the job as given"))
    document.add(bullets([f"{f.severity}: {f.subject}: {f.message}" for f in plan.findings]))
    document.add(Heading(2, "Assumptions"))
    document.add(bullets(list(jobplan.ASSUMPTIONS)))
    return document
