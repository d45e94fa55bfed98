"""The plan report: ``report.md`` and a self-contained ``report.html`` built from the model alone.

Titled as a plan: nothing was measured, so it has no status and no measured sections. It shares
the capacity report's sections where they read the same for a plan (dataset, skew, volume size,
the input-mode rules, what-ifs, startup against file count; ``bench.report.build``) and adds its
own Answers (time and cost per mode), the host sweep, and an Assumptions list naming every
default that drove the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import build, capacity
from bench.report.capacity import MODE_NAMES
from bench.report.document import (
    Alert,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    bullets,
    render_html,
    render_markdown,
)
from bench.units import format_bytes, format_frame
from bench.vocabulary import MODES

if TYPE_CHECKING:
    import pandas as pd

    from bench.analysis.plan import HostsAnswer, PlanContext
    from bench.config.profile import Instance

Step = Callable[[str], None]


def write_plan_report(
    plan_dir: Path,
    context: PlanContext,
    answer: HostsAnswer,
    *,
    sweep: Sequence[HostsAnswer] = (),
    sweep_plot: list[Path] | None = None,
    step: Step | None = None,
) -> list[Path]:
    """Write ``report.md``, ``report.html``, ``whatifs.csv`` and the figures into ``plan_dir``
    (a fresh folder); return the paths written."""
    from bench.run import results as results_io

    step = step or (lambda _: None)
    facts = _facts(plan_dir, context, answer)
    document = Document(f"Capacity plan: {context.scenario.name}")
    document.add(*_overview(context, answer))
    document.add(*_answers(context, answer))
    if answer.channels:
        document.add(*_channels_section(context, answer))
    if sweep:
        document.add(*_sweep_section(context, sweep, sweep_plot))

    def sections_without_what_ifs() -> None:
        step("report: dataset and skew")
        document.add(*build.dataset_section(facts))
        document.add(*build.skew_section(facts))
        document.add(*build.volume_section(facts))
        document.add(*build.mode_section(facts))

    # The skew and volume sections are built here while worker processes model the what-ifs.
    _what_ifs(plan_dir, context, answer, facts, step, meanwhile=sections_without_what_ifs)
    document.add(*build.what_if_section(facts))
    step("report: startup against file count")
    document.add(*build.startup_section(facts))
    document.add(*_assumptions(context, answer, facts))
    step("report: writing")
    markdown_path = plan_dir / build.REPORT_MD
    html_path = plan_dir / build.REPORT_HTML
    results_io.write_text(markdown_path, render_markdown(document, relative_to=plan_dir))
    results_io.write_text(html_path, render_html(document))
    return [markdown_path, html_path, *facts.written]


def _facts(plan_dir: Path, context: PlanContext, answer: HostsAnswer) -> build.Facts:
    """The capacity report's shared facts for a plan: no measurements, the model's figures."""
    import pandas as pd

    from bench.analysis.plan import volume_limit
    from bench.report.rundata import RunData, settings_from_config
    from bench.run.summary import DatasetRecord, RunSummary

    scenario = context.at_hosts(answer.hosts)
    ds = scenario.dataset
    summary = RunSummary(
        status="planned",
        scenario_name=scenario.name,
        scenario_path=str(scenario.path),
        config=scenario.raw,
        environment={"endpoint": {"kind": "none (a plan contacts no endpoint)"}},
        dataset=DatasetRecord("plan", ds.bucket, ds.prefix, context.objects, context.total_bytes),
        cluster={
            "hosts": answer.hosts,
            "instance": context.instance.name,
            "hourly_price": context.instance.hourly_price,
        },
        distribution={
            "type": scenario.distribution.type,
            "assignment": scenario.distribution.assignment,
        },
    )
    empty = pd.DataFrame()
    plan_data = RunData(
        run_dir=plan_dir,
        summary=summary,
        hosts=empty,
        epochs=empty,
        events=empty,
        scenario=scenario,
        sizes=context.sizes,
        sizes_source=context.sizes_source,
        settings=settings_from_config(scenario.report),
    )
    limit, limit_source = volume_limit(context.instance)
    facts = build.Facts(
        run=plan_data,
        instances=context.instances,
        instance=context.instance,
        hourly_price=context.instance.hourly_price,
        price_source=_price_source(context),
        largest_shard_bytes=answer.largest_shard_bytes,
        largest_shard_host=None,
        file_sizing=answer.file_volume,
        artifacts_sizing=answer.artifacts_volume,
        volume_limit_gb=limit,
        volume_limit_source=limit_source,
        measured={},
        profile=context.profile,
    )
    facts.modelled = {mode: figures.figures() for mode, figures in answer.modes.items()}
    return facts


def _what_ifs(
    plan_dir: Path,
    context: PlanContext,
    answer: HostsAnswer,
    facts: build.Facts,
    step: Step,
    *,
    meanwhile: Callable[[], None],
) -> None:
    """The what-if table into ``facts`` and ``whatifs.csv``; ``meanwhile`` runs while the
    worker processes model."""
    from bench.analysis.plan import model_context
    from bench.report import whatif
    from bench.run import results as results_io

    baseline = "as planned"
    table, notes = whatif.what_if_table(
        context.sizes,
        model_context(context, answer.hosts, answer.file_volume.volume_gb),
        container_bytes=context.container_bytes,
        baseline=baseline,
        # The what-ifs compare the data path alone, so the baseline row is its figures too.
        known={baseline: {mode: a.model_figures() for mode, a in answer.modes.items()}},
        on_variant=lambda name: step(f"what-if: {name}"),
        workers=2,
        meanwhile=meanwhile,
    )
    facts.what_ifs, facts.what_if_notes = table, notes
    path = plan_dir / "whatifs.csv"
    results_io.write_csv(path, table)
    facts.written.append(path)


def _price_source(context: PlanContext) -> str:
    instance = context.instance
    if instance.source == "preset":
        return (
            f"the example on-demand price of {instance.name} in bench/profiles/instances.toml, "
            f"${instance.hourly_price:g}/h (set cluster.hourly_price for yours)"
        )
    return f"cluster.hourly_price ${instance.hourly_price:g}/h"


def _overview(context: PlanContext, answer: HostsAnswer) -> list[Any]:
    scenario = context.scenario
    distribution = scenario.distribution
    return [
        Paragraph(
            f"A **plan** for scenario **{scenario.name}**: every figure comes from the timeline "
            f"model on storage profile **{context.profile.name}**; nothing was measured and no "
            f"data was moved. {context.job_objects:,} objects, "
            f"{format_bytes(context.job_bytes)}"
            + (
                f" in {len(answer.channels)} channels (Channels below; the training channel's "
                "sharding here)"
                if answer.channels
                else ""
            )
            + f"; {answer.hosts} × {context.instance.name}, "
            f"{distribution.type}"
            + (f" ({distribution.assignment})" if distribution.type == "ShardedByS3Key" else "")
            + f"; {scenario.training.epochs} epoch(s); compute "
            f"{scenario.training.describe()}."
        )
    ]


def _answers(context: PlanContext, answer: HostsAnswer) -> list[Any]:
    import pandas as pd

    rows = [
        {
            "mode": MODE_NAMES[mode],
            "starting s": figures.starting_s,
            "downloading s": figures.downloading_s,
            "training s": figures.training_phase_s,
            "uploading s": figures.uploading_s,
            "billable s": figures.billable_s,
            "time to first step s": figures.startup_s,
            "job s": figures.job_s,
            "AU": figures.au,
            "GETs": figures.gets,
            "LISTs": figures.lists,
            "instance $": figures.instance_usd,
            "requests $": figures.request_usd,
            "cost $": figures.cost_usd,
            "VolumeSizeInGB": figures.volume_size_gb,
        }
        for mode, figures in answer.modes.items()
    ]
    recommendation = answer.recommendation
    items = [
        f"**Recommended input mode:** {recommendation.headline()}. {answer.why()}.",
        volume_line(context.instance, answer),
    ]
    for mode, why in recommendation.ruled_out.items():
        items.append(f"not {MODE_NAMES[mode]}: {why}")
    blocks: list[Any] = [
        Heading(1, "Answers"),
        bullets(items),
        Table(format_frame(pd.DataFrame(rows))),
        Paragraph(
            _phases_text(context)
            + " Time to first step: job start to the slowest host's first training step, "
            "the phases before it included. Job: that plus training until the last host ends. "
            "Cost = hosts × billable time × hourly price "
            f"({_price_source(context)}) + requests at {context.profile.name}'s prices."
        ),
    ]
    warning = capacity.local_disk_warning(
        answer.file_volume.volume_gb, context.instance.name, context.instance.local_nvme_gib
    )
    if warning:
        blocks.append(Alert(warning))
    return blocks


def channels_frame(answer: HostsAnswer) -> pd.DataFrame:
    """A job's channels: a row per channel and job mode, with the data path the channel plays
    then, its size, and its first data, mean pass and end in seconds from the job's start."""
    import pandas as pd

    rows = [
        {
            "channel": name,
            "role": channel.role,
            "job mode": mode,
            "data path": figures.data_path,
            "objects": channel.objects,
            "bytes": format_bytes(channel.bytes),
            "startup_s": figures.startup_s,
            "epoch_s": figures.epoch_s,
            "end_s": figures.end_s,
            "GETs": figures.gets,
        }
        for name, channel in answer.channels.items()
        for mode, figures in channel.modes.items()
    ]
    return pd.DataFrame(rows)


def _channels_section(context: PlanContext, answer: HostsAnswer) -> list[Any]:
    """The job's channels, and which sections below are the training channel's alone."""
    training = next(iter(answer.channels))
    sources = [f"{name}: sizes {source}" for name, source in context.channel_sources.items()]
    return [
        Heading(1, "Channels"),
        Paragraph(
            f"The job reads {len(answer.channels)} channels, as a live run plays them: each "
            "host first copies every File channel and lists every FastFile channel, one after "
            f"another; then every epoch trains on **{training}** and makes one pass over each "
            "other channel at the same compute rate. The Answers above are that job's: every "
            "channel modelled on its own data path and composed host by host, then placed in "
            "the platform's phases (File's Downloading copies every channel that plays File, "
            "FastFile's lists every channel that plays FastFile). VolumeSizeInGB holds the "
            "largest shard of every channel that plays File. Times below are seconds from the "
            "job's start, as the Answers'."
        ),
        Table(format_frame(channels_frame(answer))),
        bullets(sources),
        Paragraph(
            f"**The dataset, skew, what-if and startup sections below are those of the training "
            f"channel {training} alone**; the volume section counts every channel that plays "
            "File in File mode (its largest shard is their sum)."
        ),
    ]


def _phases_text(context: PlanContext) -> str:
    if not context.platform.phased:
        return (
            "No platform (--platform none: plain EC2 or EKS): nothing before or after the data "
            "path, so Starting and Uploading are 0, Downloading is the data path's startup and "
            "the whole job is billed."
        )
    return (
        f"Phases as {context.platform.name} reports them: Starting (instances provisioned; not "
        "billed), Downloading (File: the platform's copy of each host's shard; Pipe and "
        "FastFile: a fixed part, FastFile's listing of the keys), Training (the training "
        "image's start, the rest of the data path's startup, then training) and Uploading. "
        "Billable = Downloading + Training + Uploading. The recommendation reads times from the "
        "end of Starting, which every mode waits for alike."
    )


def platform_where(context: PlanContext) -> str:
    """Where the plan's platform profile comes from, for the Assumptions."""
    from bench.config.platform import PLATFORM_PRESETS

    platform = context.platform
    if platform.path is None:
        return "built in"
    if platform.path.stem in PLATFORM_PRESETS and not platform.path.is_absolute():
        return f"bench/profiles/{platform.path.name}"
    return str(platform.path)


def volume_line(instance: Instance, answer: HostsAnswer) -> str:
    """``VolumeSizeInGB`` per host in one line of plain text, naming the kind of volume."""
    file_gb, other_gb = answer.file_volume.volume_gb, answer.artifacts_volume.volume_gb
    if instance.local_nvme_gib > 0:
        fits = "fits" if file_gb <= instance.local_nvme_gib else "does NOT fit"
        return (
            f"VolumeSizeInGB per host: does not apply on {instance.name}, which trains on its "
            f"fixed {instance.local_nvme_gib:,.0f} GiB local NVMe; File mode needs {file_gb:,} "
            f"GB there ({fits}), Pipe or FastFile {other_gb:,} GB."
        )
    return (
        f"VolumeSizeInGB per host: {file_gb:,} GB for File mode (gp2 "
        f"{answer.file_volume.throughput_bps / 1024**2:.0f} MiB/s), {other_gb:,} GB for Pipe or "
        "FastFile."
    )


def sweep_frame(sweep: Sequence[HostsAnswer]) -> pd.DataFrame:
    """The sweep as one row per host count, a column group per mode."""
    import pandas as pd

    rows = []
    for answer in sweep:
        row: dict[str, Any] = {"hosts": answer.hosts}
        for mode in MODES:
            figures = answer.modes[mode]
            name = MODE_NAMES[mode]
            row[f"{name} startup s"] = figures.startup_s
            row[f"{name} job s"] = figures.job_s
            row[f"{name} AU"] = figures.au
            row[f"{name} cost $"] = figures.cost_usd
        row["recommended"] = MODE_NAMES.get(answer.recommended_mode or "", "none")
        rows.append(row)
    return pd.DataFrame(rows)


def _sweep_section(
    context: PlanContext, sweep: Sequence[HostsAnswer], plot: list[Path] | None
) -> list[Any]:
    from bench.analysis.plan import AU_TARGET, AU_TARGET_SOURCE, max_hosts_for_au

    lines = []
    for mode in MODES:
        most = max_hosts_for_au(sweep, mode)
        lines.append(
            f"{MODE_NAMES[mode]}: "
            + (
                f"up to **{most} hosts** keep AU ≥ {AU_TARGET:.2f}"
                if most
                else f"no host count here keeps AU ≥ {AU_TARGET:.2f}"
            )
        )
    blocks: list[Any] = [
        Heading(1, "How many hosts can this data feed?"),
        Paragraph(
            f"The same plan at {', '.join(str(a.hosts) for a in sweep)} hosts. The criterion: "
            f"{AU_TARGET_SOURCE}."
        ),
        bullets(lines),
        Table(format_frame(sweep_frame(sweep))),
    ]
    if context.scenario.training.compute_unit == "none":
        blocks.append(
            Alert(
                "no compute rate was given, so training takes data as fast as it arrives and "
                "AU says little: set training.compute_rate (bytes/s or objects/s) or "
                "training.step_time with training.batch_objects"
            )
        )
    if plot:
        blocks.append(Figure(plot[0], plot[1], "Job time and cost against hosts, per mode."))
    return blocks


def _platform_assumption(context: PlanContext) -> str:
    platform = context.platform
    if not platform.phased:
        return (
            "**Platform:** none (--platform none: plain EC2 or EKS): no job phases around the "
            "data path; starting = uploading = 0, downloading = time to first step, billable = "
            "job time."
        )
    mode_fixed = ", ".join(
        f"{MODE_NAMES[mode]} {platform.fixed_download_s(mode):g} s" for mode in MODES
    )
    return (
        f"**Platform:** {platform.name} ({platform_where(context)}"
        + (f"; {platform.description}" if platform.description else "")
        + f"): Starting {platform.starting_s:g} s (not billed); Downloading's fixed part "
        f"{mode_fixed}; File's copy by the platform's downloader at "
        f"{platform.file_per_object_s * 1e3:g} ms per object"
        + (
            f", {platform.file_bandwidth_bps / 1e6:g} MB/s"
            if platform.file_bandwidth_bps
            else ", capped by the volume and the NIC"
        )
        + f" (cluster.concurrency does not apply); FastFile lists "
        f"{platform.fastfile_list_keys_per_s:,.0f} keys/s; the training image starts in "
        f"{platform.image_s:g} s; Uploading {platform.uploading_fixed_s:g} s"
        + (
            f" + the model allowance at {platform.uploading_bandwidth_bps / 1e6:g} MB/s"
            if platform.uploading_bandwidth_bps
            else ""
        )
        + ". Each number's public source or stated assumption is beside it in that file; "
        "`stagebench calibrate --from-jobs` fits them to your own jobs. The what-ifs and "
        "startup against file count compare the data path alone, without these phases."
    )


def _assumptions(context: PlanContext, answer: HostsAnswer, facts: build.Facts) -> list[Any]:
    scenario = context.scenario
    items = [
        "**Nothing measured:** every figure is the timeline model's (`bench.core.model`); "
        "no endpoint was contacted"
        + (" except to list the dataset" if scenario.dataset.source == "s3" else "")
        + ".",
        f"**Dataset{_training_channel(answer)}:** {context.objects:,} objects, "
        f"{format_bytes(context.total_bytes)}; sizes {context.sizes_source}.",
        _compute_assumption(context),
        _concurrency_assumption(context),
        _readers_assumption(context),
        _instance_assumption(context),
        _volume_assumption(context),
        _profile_assumption(context),
        _platform_assumption(context),
        f"**Sharding:** {scenario.distribution.type}"
        + (
            f", keys sorted and dealt {scenario.distribution.assignment} (SageMaker does not "
            "publish its rule)"
            if scenario.distribution.type == "ShardedByS3Key"
            else ": every host reads every object"
        )
        + ".",
    ]
    items += [f"Not drawn: {note}" for note in facts.notes]
    return [Heading(1, "Assumptions"), bullets(items)]


def _training_channel(answer: HostsAnswer) -> str:
    """ " (training channel NAME)" for a job of several channels, else nothing."""
    return f" (training channel {next(iter(answer.channels))})" if answer.channels else ""


def _origin(key: str, keys: set[str]) -> str:
    return "given" if key in keys else "default"


def _compute_assumption(context: PlanContext) -> str:
    scenario = context.scenario
    training = scenario.training
    return (
        f"**Compute rate:** {training.describe()}"
        + (
            f"; the model reads it as {training.compute_bps_for(context.sizes.mean()) / 1e6:,.1f}"
            f" MB/s per host through the mean object size "
            f"{format_bytes(context.sizes.mean())}"
            if training.compute_objects_per_s > 0
            else ""
        )
        + f". Steps of {format_bytes(training.step_bytes)} "
        f"({_origin('step_bytes', set(scenario.raw.get('training', {})))}), "
        f"{training.epochs} epoch(s), barrier {'on' if training.barrier else 'off'}."
    )


def _concurrency_assumption(context: PlanContext) -> str:
    cluster = context.scenario.cluster
    return (
        f"**Concurrency:** stagebench's File reader downloads {cluster.concurrency} objects at "
        f"once per host (cluster.concurrency, {_origin('concurrency', set(cluster.given))}); "
        "SageMaker does not publish its downloader's concurrency"
        + (
            f", so with platform {context.platform.name} File's Downloading is the platform's "
            "copy instead (below)"
            if context.platform.phased
            else ""
        )
        + "."
    )


def _readers_assumption(context: PlanContext) -> str:
    scenario = context.scenario
    return (
        f"**Readers:** Pipe prefetches {scenario.pipe.prefetch} objects in "
        f"{format_bytes(scenario.pipe.chunk_size)} reads; FastFile reads "
        f"{format_bytes(scenario.fastfile.part_size)} parts, {scenario.fastfile.read_ahead} "
        f"ahead, {scenario.fastfile.access} access ([pipe], [fastfile]; "
        + ("given" if scenario.raw.get("pipe") or scenario.raw.get("fastfile") else "defaults")
        + ")."
    )


def _instance_assumption(context: PlanContext) -> str:
    instance = context.instance
    return (
        f"**Instance:** {instance.name} ({instance.source}): NIC "
        f"{instance.nic_bps * 8 / 1e9:g} Gbit/s, local NVMe "
        + (
            f"{instance.local_nvme_gib:,.0f} GiB (File's copy goes there)"
            if instance.local_nvme_gib
            else "none (File's copy goes on a gp2 EBS volume)"
        )
        + f", {_price_source(context)}. Presets and their sources: bench/profiles/instances.toml."
    )


def _volume_assumption(context: PlanContext) -> str:
    allowances = context.allowances
    report_given = set(context.scenario.report.given)
    volume_defaults = [
        k for k in ("model_gb", "checkpoint_gb", "scratch_gb", "headroom") if k not in report_given
    ]
    return (
        f"**Volume:** VolumeSizeInGB = ceil((largest shard + model {allowances.model_gb:g} + "
        f"checkpoint {allowances.checkpoint_gb:g} + scratch {allowances.scratch_gb:g}) GiB × "
        f"(1 + {allowances.headroom:g})) ([report]; defaults for "
        f"{', '.join(volume_defaults) or 'none'}); {capacity.GP2_RULE} ({capacity.GP2_SOURCE})."
    )


def _profile_assumption(context: PlanContext) -> str:
    profile = context.profile
    return (
        f"**Profile:** {profile.name} ({build.profile_where(profile)}), "
        + (
            "given with --profile-file or report.model_profile"
            if "model_profile" in context.scenario.report.given
            else "the default report.model_profile"
        )
        + f": first byte p50 {profile.first_byte_p50_s * 1e3:g} ms, p90 "
        f"{profile.first_byte_p90_s * 1e3:g} ms; {profile.connection_bps / 1e6:g} MB/s per "
        f"connection; {profile.get_per_s_per_prefix:g} GET/s per prefix; LIST page "
        f"{profile.list_page_base_s:g} s; each number's public source is beside it in that file."
    )
