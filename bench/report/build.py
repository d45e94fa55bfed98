"""The capacity report of one run folder: ``report.md`` and a self-contained ``report.html``.

It answers the three questions users bring (volume size per host, input mode, startup and
cost, and how much skew costs) from the run's own files, the timeline model and the presets in
``bench/profiles``. Every number in it comes from those; the rules that turn them into advice
live in ``bench.report.capacity`` and are stated in the report.

The report and its figures are derived files: writing them again replaces them (atomically);
the measured files of the run are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.core.figures import JobFigures
from bench.errors import StagebenchError
from bench.progress import Phase, Progress, as_progress
from bench.report import capacity
from bench.report.capacity import (
    MODE_NAMES,
    DecisionFigures,
    Recommendation,
    VolumeSizing,
)
from bench.report.channels import (
    ChannelsVolume,
    channel_volumes,
    channels_section,
    streaming_volume,
)
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
from bench.report.rundata import RunData, load_run
from bench.units import format_bytes, format_frame, format_number, format_seconds, format_size
from bench.vocabulary import Assignment, sharded_strategy

if TYPE_CHECKING:
    import pandas as pd

    from bench.config.profile import Instance, Profile

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SWEEP_SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass
class Facts:
    """What several sections share, computed once from the run, the presets and the model."""

    run: RunData
    instances: dict[str, Instance]
    instance: Instance | None
    hourly_price: float
    price_source: str
    largest_shard_bytes: int
    largest_shard_host: int | None
    file_sizing: VolumeSizing
    artifacts_sizing: VolumeSizing
    volume_limit_gb: float
    volume_limit_source: str
    measured: dict[str, JobFigures]
    profile: Profile | None = None
    profile_note: str = ""
    modelled: dict[str, JobFigures] = field(default_factory=dict)
    what_ifs: pd.DataFrame | None = None
    what_if_notes: list[str] = field(default_factory=list)
    # A job of several channels: per job mode, the volume holding its File channels.
    channel_volumes: dict[str, ChannelsVolume] | None = None
    written: list[Path] = field(default_factory=list)  # figures and tables, for the caller
    notes: list[str] = field(default_factory=list)  # figures that could not be drawn, and why


def write_report(
    run_dir: Path, *, model_profile: str | None = None, progress: Progress | bool = False
) -> list[Path]:
    """Write ``report.md``, ``report.html`` and the figures into ``run_dir``; return the paths.

    ``model_profile`` (a preset name or a profile file) overrides the scenario's
    ``[report] model_profile`` for the what-ifs.
    """
    from bench.run import results as results_io

    # Reading the run, the sections, and writing the two documents.
    steps = 1 + len(_SECTIONS) + 1
    with as_progress(progress).phase("report", total_objects=steps, unit="step") as phase:
        run = load_run(Path(run_dir))
        phase.advance(1)
        document, figures = build_report(run, model_profile=model_profile, phase=phase)
        markdown_path = run.run_dir / REPORT_MD
        html_path = run.run_dir / REPORT_HTML
        results_io.write_text(markdown_path, render_markdown(document, relative_to=run.run_dir))
        results_io.write_text(html_path, render_html(document))
        phase.advance(1)
    return [markdown_path, html_path, *figures]


def build_report(
    run: RunData, *, model_profile: str | None = None, phase: Phase | None = None
) -> tuple[Document, list[Path]]:
    """The report as a document (rendered by the caller) and the figure files it wrote."""
    from bench.core import sharding

    facts = _facts(run, model_profile)
    document = Document(f"Capacity report: {run.name}")
    # The answers, the skew table and its plot all need the same loads per strategy.
    with sharding.remembered_loads():
        for section in _SECTIONS:
            document.add(*section(facts))
            if phase is not None:
                phase.advance(1)
    return document, facts.written


# --- shared facts -----------------------------------------------------------------------------


def _facts(run: RunData, model_profile: str | None) -> Facts:
    from bench.config.profile import load_instances

    try:
        instances = load_instances()
    except (OSError, ValueError, KeyError):
        instances = {}
    cluster = run.summary.cluster
    instance_name = str(cluster.get("instance") or "")
    instance = instances.get(instance_name)
    hourly = float(cluster.get("hourly_price") or 0.0)
    if hourly > 0:
        price_source = f"cluster.hourly_price ${hourly:g}/h"
    elif instance is not None and instance.hourly_price > 0:
        hourly = instance.hourly_price
        price_source = (
            f"the example on-demand price of {instance_name} in bench/profiles/instances.toml, "
            f"${hourly:g}/h (set cluster.hourly_price for yours)"
        )
    else:
        price_source = "no hourly price: set cluster.hourly_price to cost instance time"
    allowances = run.settings.allowances
    volumes = None
    if run.scenario is not None:
        volumes = channel_volumes(run.scenario, run.channels, allowances)
    if volumes is None:
        shard_host, shard_bytes = _largest_shard(run)
        file_sizing = capacity.size_volume(shard_bytes, allowances)
        artifacts_sizing = capacity.size_volume(0, allowances)
    else:
        # Every File channel on the volume at once: no single host's shard to name.
        file_sizing = volumes["file"].sizing
        shard_host, shard_bytes = None, file_sizing.data_bytes
        artifacts_sizing = streaming_volume(volumes)
    if instance is not None and instance.local_nvme_gib > 0:
        limit, limit_source = instance.local_nvme_gib, f"local NVMe of {instance_name} (fixed)"
    else:
        limit, limit_source = float(capacity.GP2_MAX_GIB), "gp2 maximum volume size"
    facts = Facts(
        run=run,
        instances=instances,
        instance=instance,
        hourly_price=hourly,
        price_source=price_source,
        largest_shard_bytes=shard_bytes,
        largest_shard_host=shard_host,
        file_sizing=file_sizing,
        artifacts_sizing=artifacts_sizing,
        volume_limit_gb=limit,
        volume_limit_source=limit_source,
        measured=_measured_figures(run),
        channel_volumes=volumes,
    )
    _model(facts, model_profile or run.settings.model_profile)
    return facts


def _largest_shard(run: RunData) -> tuple[int | None, int]:
    """The host holding the most bytes: from the live hosts table, else from the sharding."""
    hosts = run.hosts
    if len(hosts) and "bytes" in hosts.columns:
        first_mode = hosts[hosts["mode"] == hosts["mode"].iloc[0]]
        row = first_mode.loc[first_mode["bytes"].idxmax()]
        return int(row["host"]), int(row["bytes"])
    from bench.core import sharding

    scenario = run.scenario
    count = run.hosts_count
    if scenario is None or scenario.distribution.type == "FullyReplicated":
        return None, int(run.sizes.sum())
    strategy = sharded_strategy(scenario.distribution.assignment)
    per_host, _ = sharding.loads(strategy, run.sizes, count)
    return int(per_host.argmax()), int(per_host.max())


def _measured_figures(run: RunData) -> dict[str, JobFigures]:
    return dict(run.summary.modes)


def _model(facts: Facts, profile_name: str) -> None:
    """Load the profile and run the what-ifs; on any model-side failure, say why instead."""
    from bench.report import whatif

    if not whatif.model_available():
        facts.profile_note = "the timeline model is not installed with this version"
        return
    if facts.run.scenario is None:
        facts.profile_note = "the run's scenario no longer validates, so the model cannot replay it"
        return
    from bench.config.profile import load_profile

    try:
        facts.profile = load_profile(profile_name)
    except StagebenchError as exc:
        facts.profile_note = f"profile {profile_name!r} could not be loaded: {exc}"
        return
    # The volume the user asks for (cluster.volume_size_gb) caps File's modelled download.
    volume_gb, _, volume_warning = capacity.asked_volume(
        facts.run.scenario.cluster.volume_size_gb, facts.file_sizing
    )
    if volume_warning:
        facts.what_if_notes.append(volume_warning)
    context = whatif.ModelContext(
        profile=facts.profile,
        instances=facts.instances,
        scenario=facts.run.scenario,
        volume_gb=volume_gb,
    )
    try:
        table, notes = whatif.what_if_table(
            facts.run.sizes, context, container_bytes=facts.run.settings.container_bytes
        )
    except (ValueError, MemoryError) as exc:
        facts.profile_note = f"the model could not replay this run: {exc}"
        return
    facts.what_ifs, facts.what_if_notes = table, facts.what_if_notes + notes
    from bench.run import results as results_io

    path = facts.run.run_dir / "whatifs.csv"
    results_io.write_csv(path, table)
    facts.written.append(path)
    base = table[table["what_if"] == "as run"]
    for row in base.itertuples():
        facts.modelled[str(row.mode)] = JobFigures(
            startup_s=float(row.startup_s),
            end_s=float(row.job_s),
            au=float(row.au),
            gets=int(row.gets),
            lists=int(row.lists),
            epoch_s=float(row.epoch_s),
        )


# --- sections ---------------------------------------------------------------------------------


def _overview(facts: Facts) -> list[Any]:
    run = facts.run
    summary = run.summary
    endpoint = summary.endpoint
    distribution = summary.distribution
    cluster = summary.cluster
    training = summary.training
    blocks: list[Any] = [
        Paragraph(
            f"Run `{run.run_dir.name}` of scenario **{run.name}**, started {summary.started}"
            f", status **{summary.status}**. Endpoint: {endpoint.kind}"
            + (f" ({endpoint.url})" if endpoint.url else "")
            + f". Cluster: {cluster.get('hosts')} × {cluster.get('instance')}, "
            f"{distribution.get('type')}"
            + (
                f" ({distribution.get('assignment')})"
                if distribution.get("type") == "ShardedByS3Key"
                else ""
            )
            + f"; {training.get('epochs')} epoch(s) of simulated training"
            + (
                f" at {float(training['compute_bps']) / 1e6:g} MB/s per host."
                if training.get("compute_bps")
                else ", consuming data as fast as it arrives."
            )
        )
    ]
    if summary.status != "ok":
        blocks.append(
            Alert(
                f"this run ended {summary.status} ({summary.error}); its figures "
                "are partial. Re-run the scenario before forwarding this report."
            )
        )
    if _on_this_machine(run):
        blocks.append(
            Alert(
                f"the measured figures come from {_server_name(run)} on this machine, which "
                "shares its CPU with the simulated hosts: they show how the modes differ, not "
                "AWS throughput. The modelled figures use the storage profile named below."
            )
        )
    return blocks


def _answers(facts: Facts) -> list[Any]:
    measured = _recommend(facts, facts.measured, modelled=False)
    items = [
        f"**VolumeSizeInGB per host:** {facts.file_sizing.volume_gb} GB for File mode "
        f"(gp2 {facts.file_sizing.throughput_bps / 1024**2:.0f} MiB/s), "
        f"{facts.artifacts_sizing.volume_gb} GB for Pipe or FastFile.",
    ]
    warning = _nvme_warning(facts)
    if warning:
        items.append(f"**Local disk:** {warning}.")
    elif facts.instance is not None and facts.instance.local_nvme_gib > 0:
        items.append(
            f"**Local disk:** {facts.instance.name} trains on its fixed "
            f"{format_number(facts.instance.local_nvme_gib)} GiB local NVMe, where "
            f"`VolumeSizeInGB` does not apply; the {facts.file_sizing.volume_gb} GB File mode "
            "needs fits."
        )
    if measured is not None:
        items.append(f"**Input mode (measured here):** {measured.headline()}.")
        if measured.mode is not None:
            costs = _mode_costs(facts)
            row = costs.get(measured.mode)
            if row is not None:
                items.append(
                    f"**{MODE_NAMES[measured.mode]} as measured:** startup "
                    f"{format_seconds(row['startup_s'])}, job {format_seconds(row['job_s'])}, "
                    f"${row['total_usd']:.4f} ({row['hosts']} hosts)."
                )
    if facts.modelled and facts.profile is not None:
        modelled = _recommend(facts, facts.modelled, modelled=True)
        if modelled is not None:
            items.append(
                f"**Input mode (modelled on {facts.profile.name}):** {modelled.headline()}."
            )
    skew = _skew_rows(facts)
    if skew is not None:
        sharded = skew.iloc[0]
        is_sharded = facts.run.summary.sharded
        items.append(
            f"**Skew:** {sharded['strategy']} {'puts' if is_sharded else 'would put'} "
            f"{sharded['imbalance_ratio']:.2f}× the mean bytes on the busiest host; bytes-balanced "
            f"{skew.set_index('strategy').loc['bytes-balanced', 'imbalance_ratio']:.2f}×."
        )
    return [Heading(1, "Answers"), bullets(items)]


def _platform_section(facts: Facts) -> list[Any]:
    """The measured modes placed in the scenario's platform's job phases, as ``run`` prints
    them in its Answers block; nothing when the run has no scenario or no platform."""
    import pandas as pd

    from bench.analysis.plan import measured_answer
    from bench.config.scenario import with_compute_rate

    run = facts.run
    if run.scenario is None or not len(run.hosts):
        return []
    try:
        answer, _ = measured_answer(
            with_compute_rate(run.scenario, run.sizes),
            run.summary.to_dict(),
            run.hosts,
            run.sizes,
        )
    except StagebenchError as exc:
        return [Heading(2, "In the platform's job phases"), Paragraph(f"Not shown: {exc}.")]
    if answer.platform is None:
        return []
    rows = [
        {
            "mode": MODE_NAMES.get(mode, mode),
            "starting s": figures.starting_s,
            "downloading s": figures.downloading_s,
            "training s": figures.training_phase_s,
            "uploading s": figures.uploading_s,
            "billable s": figures.billable_s,
            "first step s": figures.startup_s,
            "cost $": figures.cost_usd,
        }
        for mode, figures in answer.modes.items()
    ]
    return [
        Heading(2, f"In the platform's job phases ({answer.platform})"),
        Paragraph(
            "The measured data path placed in the platform profile's phases, as `stagebench "
            'run` prints them (`--platform` picks another; see "Platform phases and '
            'fidelity" in the README). '
            "Starting, Downloading and Uploading are the profile's figures, not measured here; "
            "billable time is Downloading + Training + Uploading and prices the cost."
        ),
        Table(format_frame(pd.DataFrame(rows))),
    ]


def dataset_section(facts: Facts) -> list[Any]:
    """The Dataset section: where the dataset lives and its size figures."""
    import pandas as pd

    from bench.core import metrics

    sizes = facts.run.sizes
    if sizes.size == 0:
        return [Heading(1, "Dataset"), Paragraph("The dataset holds no objects.")]
    p50, p90, p99 = np.percentile(sizes, [50, 90, 99])
    rows = [
        ("objects", f"{sizes.size:,}"),
        ("total", f"{format_bytes(sizes.sum())} ({sizes.sum():,} bytes)"),
        ("mean", format_bytes(sizes.mean())),
        ("p50", format_bytes(p50)),
        ("p90", format_bytes(p90)),
        ("p99", format_bytes(p99)),
        ("max", format_bytes(sizes.max())),
        ("Gini of sizes", f"{metrics.gini(sizes):.3f}"),
        ("CV of sizes", f"{metrics.coefficient_of_variation(sizes):.3f}"),
    ]
    dataset = facts.run.summary.dataset
    where = f"s3://{dataset.bucket}/{dataset.prefix}" if dataset else "unknown"
    return [
        Heading(1, "Dataset"),
        Paragraph(f"{where}; sizes {facts.run.sizes_source}."),
        Table(pd.DataFrame(rows, columns=["figure", "value"])),
    ]


def _mode_costs(facts: Facts) -> dict[str, dict[str, Any]]:
    from bench import cost

    out = {}
    for mode, job in facts.run.summary.modes.items():
        requests_usd = cost.requests_usd(job.gets, job.lists)
        instance_usd = cost.instance_usd(job.hosts, job.end_s, facts.hourly_price)
        out[mode] = {
            "mode": mode,
            "hosts": job.hosts,
            "startup_s": job.startup_s,
            "epoch_s": job.epoch_s,
            "stall_s": job.stall_s,
            "au": job.au,
            "job_s": job.end_s,
            "gets": job.gets,
            "lists": job.lists,
            "mb_per_s": job.mb_per_s,
            "request_usd": requests_usd,
            "instance_usd": instance_usd,
            "total_usd": requests_usd + instance_usd,
        }
    return out


def _modes_section(facts: Facts) -> list[Any]:
    import pandas as pd

    from bench import cost
    from bench.report import plots

    costs = _mode_costs(facts)
    blocks: list[Any] = [Heading(1, "Modes as measured")]
    if not costs:
        return blocks + [Paragraph("No mode completed in this run: nothing was measured.")]
    table = pd.DataFrame(list(costs.values())).rename(
        columns={
            "au": "AU",
            "gets": "GETs",
            "lists": "LISTs",
            "mb_per_s": "MB/s",
            "request_usd": "requests $",
            "instance_usd": "instance $",
            "total_usd": "total $",
        }
    )
    blocks += [
        Paragraph(
            "A job's startup and end are its slowest host's. `job_s` runs from the job's start to "
            "the last host's end of training; File's download counts as billable start-up. "
            f"Requests at S3 Standard list prices (GET ${cost.GET_PER_1000}/1,000, LIST "
            f"${cost.LIST_PER_1000}/1,000, `bench/cost.py`); instance time = hosts × job_s × "
            f"{facts.price_source}."
        ),
        Table(format_frame(table)),
    ]
    run = facts.run
    drawn = [
        (
            "timeline",
            lambda stem: plots.host_timeline(run.hosts, run.epochs, run.events, stem),
            "Per-host timeline per mode: download, stream, list and fetch spans above; each "
            "epoch's compute, stall and barrier wait below (totals within the epoch, in that "
            "order, not their true interleaving).",
        ),
        (
            "throughput",
            lambda stem: plots.throughput_over_time(run.events, stem),
            "Bytes completed per time bin, all hosts, per mode.",
        ),
        (
            "first_byte_cdf",
            lambda stem: plots.first_byte_cdf(run.events, stem),
            "First-byte latency of every GET, per mode.",
        ),
    ]
    for stem, draw, caption in drawn:
        blocks += _figure(facts, stem, draw, caption)
    return blocks


def _skew_throughput(facts: Facts) -> tuple[float, str]:
    hosts = facts.run.hosts
    if len(hosts) and "mb_per_s" in hosts.columns:
        for mode, label in (("file", "File-mode download rate"), (None, "per-host read rate")):
            rows = hosts if mode is None else hosts[hosts["mode"] == mode]
            rates = rows["mb_per_s"].to_numpy(dtype=float)
            rates = rates[np.isfinite(rates) & (rates > 0)]
            if rates.size:
                return float(np.median(rates)) * 1e6, f"the median measured {label}"
    if facts.profile is not None:
        scenario = facts.run.scenario
        concurrency = scenario.cluster.concurrency if scenario else 1
        rate = facts.profile.connection_bps * concurrency
        return rate, f"{facts.profile.name}'s per-connection bandwidth × {concurrency} connections"
    return 0.0, "no throughput measured"


def _skew_rows(facts: Facts) -> pd.DataFrame | None:
    from bench.analysis.skew import skew_table

    sizes = facts.run.sizes
    if sizes.size == 0:
        return None
    rate, _ = _skew_throughput(facts)
    table = skew_table(
        sizes,
        facts.run.hosts_count,
        throughput_bps=rate if rate > 0 else 1.0,
        hourly_price=facts.hourly_price,
    )
    scenario = facts.run.scenario
    sharded = sharded_strategy(
        scenario.distribution.assignment if scenario is not None else Assignment.ROUND_ROBIN
    )
    keep = [sharded, "bytes-balanced", "uniform"]
    table = table[table["strategy"].isin(keep)].copy()
    table["strategy"] = table["strategy"].astype(str)
    return table.set_index("strategy").loc[keep].reset_index()


def skew_section(facts: Facts) -> list[Any]:
    """The Skew section: ShardedByS3Key's load per host against balanced sharding."""
    from bench.core import sharding

    # The table and the bytes-per-host plot need the same loads (an LPT of every object).
    with sharding.remembered_loads():
        return _skew_blocks(facts)


def _skew_blocks(facts: Facts) -> list[Any]:
    import pandas as pd

    from bench.analysis import skew
    from bench.report import plots

    run = facts.run
    blocks: list[Any] = [Heading(1, "Skew: ShardedByS3Key against balanced sharding")]
    table = _skew_rows(facts)
    if table is None:
        return blocks + [Paragraph("No objects: no skew.")]
    rate, rate_source = _skew_throughput(facts)
    shown = pd.DataFrame(
        {
            "strategy": table["strategy"],
            "max/mean bytes": table["imbalance_ratio"],
            "CV of host bytes": table["cv_bytes"],
            "busiest host": table["max_bytes"].map(format_bytes),
            "empty hosts": table["empty_hosts"],
        }
    )
    if rate > 0:
        shown["straggler delay s"] = table["straggler_delay_s"]
        shown["idle host-s"] = table["idle_host_s"]
        shown["idle $"] = table["idle_cost"]
    blocks += [
        Paragraph(
            f"{run.hosts_count} hosts. ShardedByS3Key gives each host about 1/n of the "
            "**objects**, not of the bytes; bytes-balanced assigns whole objects largest first "
            "to the least-loaded host; uniform splits objects into byte ranges for equal bytes. "
            + (
                f"Times at {rate / 1e6:.2f} MB/s per host ({rate_source}); idle cost at "
                f"{facts.price_source}."
                if rate > 0
                else "No throughput was measured, so no times."
            )
        ),
        Table(format_frame(shown)),
    ]
    blocks += _straggler(facts)
    sizes = run.sizes
    hosts = run.hosts_count
    blocks += _figure(
        facts,
        "bytes_per_host",
        lambda stem: plots.bytes_per_host(sizes, hosts, stem),
        "Bytes per host under ShardedByS3Key (round-robin), bytes-balanced and uniform.",
    )
    median = max(1, int(np.median(sizes)))
    objects = int(min(sizes.size, skew.SWEEP_MAX_OBJECTS))
    sweep_hosts = sorted({h for h in (2, 8, 32, 128, hosts) if 1 < h <= max(2, objects)})
    seed = run.scenario.dataset.seed if run.scenario is not None else 0
    dataset_sigma = skew.lognormal_sigma(sizes)
    blocks += _figure(
        facts,
        "imbalance_vs_skew",
        lambda stem: plots.imbalance_vs_skew(
            skew.skew_sweep(
                n_objects=max(objects, 2),
                median_bytes=median,
                hosts_list=sweep_hosts,
                sigmas=SWEEP_SIGMAS,
                rng=seed,
            ),
            stem,
            dataset_sigma=dataset_sigma,
        ),
        f"Imbalance against lognormal skew for {objects:,} objects of median "
        f"{format_bytes(median)} (this dataset's) on {', '.join(map(str, sweep_hosts))} hosts; "
        f"the red line marks this dataset's own skew (sigma {dataset_sigma:.2f}).",
    )
    return blocks


def _straggler(facts: Facts) -> list[Any]:
    """The slowest host of the live run: who, how late, and what its lateness cost."""
    hosts = facts.run.hosts
    if not len(hosts):
        return []
    if "file" in set(hosts["mode"]):
        rows, column, what = hosts[hosts["mode"] == "file"], "startup_s", "its download"
        mode = "File"
    else:
        mode = str(hosts["mode"].iloc[0])
        rows, column, what = hosts[hosts["mode"] == mode], "end_s", "its job"
        mode = MODE_NAMES.get(mode, mode)
    if len(rows) < 2:
        return [Paragraph(f"One host in {mode} mode: no straggler to name.")]
    times = rows[column].to_numpy(dtype=float)
    slowest = rows.loc[rows[column].idxmax()]
    median = float(np.median(times))
    delay = float(slowest[column]) - median
    idle_s = float(np.sum(times.max() - times))
    idle_usd = idle_s / 3600 * facts.hourly_price
    share = float(slowest["bytes"]) / float(rows["bytes"].mean()) if rows["bytes"].mean() else 1
    return [
        Paragraph(
            f"**Straggler (live, {mode} mode): host {int(slowest['host'])}** finished {what} at "
            f"{float(slowest[column]):.3f} s, {delay:.3f} s after the median host; it holds "
            f"{format_bytes(float(slowest['bytes']))} in {int(slowest['objects']):,} objects, "
            f"{share:.2f}× the mean host. The other hosts waited {idle_s:.3f} host-seconds for "
            f"it: ${idle_usd:.6f} at {facts.price_source}."
        )
    ]


def _nvme_warning(facts: Facts) -> str | None:
    instance = facts.instance
    if instance is None:
        return None
    return capacity.local_disk_warning(
        facts.file_sizing.volume_gb, instance.name, instance.local_nvme_gib
    )


def _volume_data_sentences(facts: Facts) -> str:
    """What File mode (and Pipe or FastFile) put on the volume: one dataset's largest shard,
    or, for a job of several channels, every File channel's at once."""
    volumes = facts.channel_volumes
    if volumes is None:
        host = "" if facts.largest_shard_host is None else f" (host {facts.largest_shard_host})"
        return (
            f"File mode copies a host's shard onto its ML storage volume before training; the "
            f"largest shard{host} is {format_bytes(facts.largest_shard_bytes)}. Pipe and "
            "FastFile keep no copy: the volume holds the model, checkpoints and scratch only."
        )
    text = (
        "SageMaker copies every File channel onto the same ML storage volume before training "
        "and keeps them there, so the volume must hold the sum of each File channel's largest "
        "per-host shard (a FullyReplicated channel: its whole dataset), "
        f"{format_bytes(volumes['file'].sizing.data_bytes)}: {volumes['file'].describe()}."
    )
    streaming = [volumes[m] for m in ("pipe", "fastfile") if volumes[m].counted]
    if streaming:
        text += " " + "; ".join(v.describe() for v in streaming).capitalize() + "."
    else:
        text += " With the job in Pipe or FastFile mode no channel is copied: the volume "
        text += "holds the model, checkpoints and scratch only."
    return text


def volume_section(facts: Facts) -> list[Any]:
    """The Volume size section: VolumeSizeInGB per host for File and for Pipe or FastFile."""
    import pandas as pd

    run = facts.run
    file_sizing, artifacts = facts.file_sizing, facts.artifacts_sizing
    settings = run.settings
    given = ", ".join(settings.given) or "none"
    allowance_keys = ("model_gb", "checkpoint_gb", "scratch_gb", "headroom")
    defaults = [k for k in allowance_keys if k not in settings.given]
    blocks: list[Any] = [
        Heading(1, "Volume size per host"),
        Paragraph(
            _volume_data_sentences(facts)
            + f" Allowances from the scenario's [report] section (given: {given}; defaults for "
            f"{', '.join(defaults) or 'none'})."
        ),
    ]
    rows = [
        {
            "mode": "File",
            "on the volume": format_bytes(file_sizing.data_bytes) + " + allowances",
            "VolumeSizeInGB": file_sizing.volume_gb,
            "gp2 MiB/s": file_sizing.throughput_bps / 1024**2,
            "arithmetic": file_sizing.formula(),
        },
        {
            "mode": "Pipe, FastFile",
            "on the volume": (
                format_bytes(artifacts.data_bytes) + " + allowances"
                if artifacts.data_bytes
                else "allowances"
            ),
            "VolumeSizeInGB": artifacts.volume_gb,
            "gp2 MiB/s": artifacts.throughput_bps / 1024**2,
            "arithmetic": artifacts.formula(),
        },
    ]
    blocks.append(Table(format_frame(pd.DataFrame(rows))))
    if file_sizing.throughput_bps > 0 and file_sizing.data_bytes:
        write_s = file_sizing.data_bytes / file_sizing.throughput_bps
        blocks.append(
            Paragraph(
                f"At {file_sizing.throughput_bps / 1024**2:.0f} MiB/s the volume alone needs at "
                f"least {write_s:.2f} s to take the largest shard; a larger volume is faster "
                "only between 170 and 334 GiB."
            )
        )
    blocks.append(Paragraph(f"Rule: {capacity.GP2_RULE}. Source: {capacity.GP2_SOURCE}."))
    if facts.instances:
        nvme_rows = [
            {
                "instance": i.name,
                "local NVMe GiB": i.local_nvme_gib or None,
                "File data goes on": "local NVMe (fixed size)" if i.local_nvme_gib else "gp2 EBS",
                "File fits": (file_sizing.volume_gb <= i.local_nvme_gib)
                if i.local_nvme_gib
                else file_sizing.volume_gb <= capacity.GP2_MAX_GIB,
            }
            for i in facts.instances.values()
        ]
        blocks += [
            Paragraph(
                "On instances with local NVMe, SageMaker trains on that disk and "
                "`VolumeSizeInGB` does not apply; its size is fixed "
                "(bench/profiles/instances.toml)."
            ),
            Table(format_frame(pd.DataFrame(nvme_rows))),
        ]
    warning = _nvme_warning(facts)
    if warning:
        blocks.append(Alert(warning))
    return blocks


def _decision_figures(facts: Facts, modes: dict[str, JobFigures], *, modelled: bool):
    from bench import cost
    from bench.report import whatif

    scenario = facts.run.scenario
    get_price, list_price = cost.GET_PER_1000, cost.LIST_PER_1000
    if modelled and facts.profile is not None:
        get_price, list_price = whatif.prices(facts.profile)
    sizes = facts.run.sizes
    return DecisionFigures(
        data_per_host_bytes=facts.largest_shard_bytes,
        file_volume_gb=facts.file_sizing.volume_gb,
        volume_limit_gb=facts.volume_limit_gb,
        volume_limit_source=facts.volume_limit_source,
        median_object_bytes=float(np.median(sizes)) if sizes.size else 0.0,
        epochs=int(scenario.training.epochs if scenario else 1),
        access=scenario.fastfile.access if scenario else "sequential",
        modes=modes,
        get_price_per_1000=get_price,
        list_price_per_1000=list_price,
    )


def _recommend(facts: Facts, modes: dict[str, JobFigures], *, modelled: bool):
    if not modes:
        return None
    return capacity.recommend_mode(_decision_figures(facts, modes, modelled=modelled))


def _recommendation_blocks(title: str, recommendation: Recommendation) -> list[Any]:
    blocks: list[Any] = [
        Heading(2, title),
        Paragraph(f"**Recommended: {recommendation.headline()}**"),
        bullets(recommendation.reasons),
    ]
    if recommendation.ruled_out:
        blocks.append(
            bullets(
                [f"not {MODE_NAMES[mode]}: {why}" for mode, why in recommendation.ruled_out.items()]
            )
        )
    return blocks


def mode_section(facts: Facts) -> list[Any]:
    """The Recommended input mode section: the rules, then the measured and modelled picks."""
    blocks: list[Any] = [
        Heading(1, "Recommended input mode"),
        Paragraph(
            "Rules, in order: File must fit on the volume; random access rules out Pipe (no "
            "seek) and FastFile while File fits; many small objects (median under "
            f"{format_size(capacity.SMALL_OBJECT_BYTES)}) with File's startup at least "
            f"{capacity.STARTUP_DOMINATES:.0%} of its job rule out File; of the rest, job times "
            f"within {capacity.NEAR_FASTEST - 1:.0%} of the fastest are equal and the cheaper "
            "requests, then the higher AU, win."
        ),
    ]
    measured = _recommend(facts, facts.measured, modelled=False)
    if measured is not None:
        where = _server_name(facts.run) if _on_this_machine(facts.run) else "this endpoint"
        blocks += _recommendation_blocks(f"Measured on {where}", measured)
    if facts.modelled and facts.profile is not None:
        modelled = _recommend(facts, facts.modelled, modelled=True)
        if modelled is not None:
            blocks += _recommendation_blocks(
                f"Modelled on {facts.profile.name}, all three modes", modelled
            )
    if measured is None and not facts.modelled:
        blocks.append(Paragraph("No figures, measured or modelled, to recommend from."))
    return blocks


def what_if_section(facts: Facts) -> list[Any]:
    """The What-ifs section: the model's figures for the same job with one thing changed."""
    from bench.report import whatif

    blocks: list[Any] = [Heading(1, "What-ifs (model)")]
    if facts.what_ifs is None or facts.profile is None:
        return blocks + [Paragraph(f"No what-ifs: {facts.profile_note}.")]
    shown = what_if_grid(facts.what_ifs)
    profile = facts.profile
    blocks += [
        Paragraph(
            f"The timeline model (`bench.core.model`) on profile **{profile.name}** "
            f"({profile.description or 'no description'}), every mode, the scenario's training "
            "and data-path settings. File mode's volume is the recommended size "
            f"({facts.file_sizing.volume_gb} GB gp2) or the instance's local NVMe. Cost = hosts × "
            "job time × hourly price + requests at the profile's prices. Job times, AU and "
            "requests per what-if are in `whatifs.csv`."
        ),
        Table(format_frame(shown)),
    ]
    estimates = [n for n in facts.what_if_notes if n.startswith(whatif.SAMPLE_NOTE_START)]
    if estimates:
        blocks.append(Paragraph(estimates[0][0].upper() + estimates[0][1:] + "."))
    others = [n for n in facts.what_if_notes if not n.startswith(whatif.SAMPLE_NOTE_START)]
    if others:
        blocks.append(bullets(["not shown: " + note for note in others]))
    return blocks


def what_if_grid(table: pd.DataFrame) -> pd.DataFrame:
    """One row per what-if: predicted startup, job time and cost per mode."""
    import pandas as pd

    rows = []
    for name, group in table.groupby("what_if", sort=False):
        row: dict[str, Any] = {"what-if": name, "change": group["change"].iloc[0]}
        by_mode = group.set_index("mode")
        for mode in by_mode.index:
            row[f"{MODE_NAMES[mode]} startup s"] = by_mode.loc[mode, "startup_s"]
        for mode in by_mode.index:
            row[f"{MODE_NAMES[mode]} job s"] = by_mode.loc[mode, "job_s"]
        for mode in by_mode.index:
            row[f"{MODE_NAMES[mode]} cost $"] = by_mode.loc[mode, "cost_usd"]
        rows.append(row)
    return pd.DataFrame(rows)


def startup_section(facts: Facts) -> list[Any]:
    """Startup against file count, from the model's startup sweep when it is available."""
    import pandas as pd

    blocks: list[Any] = [Heading(1, "Startup against file count")]
    sweep = _startup_sweep(facts)
    if sweep is None:
        return blocks + [
            Paragraph(
                "Not drawn: the model's startup sweep (`bench.analysis.startup`) is not "
                f"available for this run ({facts.profile_note or 'no sweep function'})."
            )
        ]
    from bench.report import plots

    live = pd.DataFrame(
        [
            {"mode": mode, "files": facts.run.sizes.size, "startup_s": figures.startup_s}
            for mode, figures in facts.measured.items()
        ]
    )
    kind = facts.run.endpoint_kind
    return blocks + _figure(
        facts,
        "startup_vs_files",
        lambda stem: plots.startup_vs_files(sweep, stem, live=live, live_label=f"this run, {kind}"),
        f"Lines: modelled job startup per mode on {facts.profile.name} when this dataset's "
        f"{format_bytes(facts.run.sizes.sum())} is split into N equal files."
        + (
            f" Markers: this run's measured startup ({kind} endpoint, real sizes)."
            if len(live)
            else ""
        ),
    )


def _startup_sweep(facts: Facts) -> pd.DataFrame | None:
    """The model's startup sweep (``bench.analysis.startup.model_sweep``) at this dataset's total
    size, as a table with columns mode, files, startup_s; None when it is not available."""
    import pandas as pd

    if facts.run.scenario is None or facts.profile is None:
        return None
    try:
        from bench.analysis.startup import MODEL_FILES, model_sweep
    except ImportError:
        return None
    try:
        rows = model_sweep(
            facts.run.scenario,
            facts.profile,
            counts=tuple(MODEL_FILES),
            total_bytes=int(facts.run.sizes.sum()),
            file_bytes=None,
        )
    except (TypeError, ValueError, StagebenchError) as exc:
        facts.notes.append(f"startup sweep: {exc}")
        return None
    return pd.DataFrame(rows)


def _assumptions_section(facts: Facts) -> list[Any]:
    run = facts.run
    summary = run.summary
    items = list(summary.assumptions)
    if summary.distribution_type == "FullyReplicated":
        items.append("FullyReplicated: every host reads every object, so each holds the dataset.")
    machine = summary.machine
    endpoint = summary.endpoint
    if _on_this_machine(run):
        items.append(
            f"Measured figures: {_server_name(run)} on this machine "
            f"({machine.get('cpus')} CPUs, {machine.get('platform')}), shared with every "
            "simulated host; they are this machine's, not AWS's."
        )
    else:
        items.append(
            f"Measured figures: endpoint {endpoint.kind} {endpoint.url or ''} in "
            f"{endpoint.region}, from a machine with {machine.get('cpus')} CPUs; "
            "simulated hosts share its CPU and network."
        )
    if facts.profile is not None:
        p = facts.profile
        items.append(
            f"Model profile {p.name} ({profile_where(p)}): first byte p50 "
            f"{p.first_byte_p50_s * 1e3:g} ms, "
            f"p90 {p.first_byte_p90_s * 1e3:g} ms; {p.connection_bps / 1e6:g} MB/s per "
            f"connection; {p.get_per_s_per_prefix:g} GET/s per prefix; LIST page "
            f"{p.list_page_base_s:g} s; GET ${p.get_price_per_1000:g} and LIST "
            f"${p.list_price_per_1000:g} per 1,000. Each number's public source is written "
            "beside it in that file."
        )
    elif facts.profile_note:
        items.append(f"No model figures: {facts.profile_note}.")
    items += [
        f"Object sizes {run.sizes_source}.",
        f"Instance time at {facts.price_source}; S3 request prices are list prices, not a quote.",
        f"Volume rule: {capacity.GP2_RULE} ({capacity.GP2_SOURCE}).",
        "Allowances: model "
        f"{run.settings.allowances.model_gb:g} GiB, checkpoint "
        f"{run.settings.allowances.checkpoint_gb:g} GiB, scratch "
        f"{run.settings.allowances.scratch_gb:g} GiB, headroom "
        f"{run.settings.allowances.headroom:.0%} (scenario [report]).",
    ]
    items += [f"Not drawn: {note}" for note in facts.notes]
    return [Heading(1, "Assumptions"), bullets(items)]


# --- helpers ----------------------------------------------------------------------------------


def _figure(facts: Facts, stem: str, draw: Any, caption: str) -> list[Any]:
    """Draw one figure into the run folder; a figure that cannot be drawn becomes a note."""
    try:
        png, svg = draw(facts.run.run_dir / stem)
    except (ValueError, KeyError) as exc:
        facts.notes.append(f"{stem}: {exc}")
        return [Paragraph(f"*{stem} not drawn: {exc}*")]
    facts.written += [png, svg]
    return [Figure(png, svg, caption)]


def _on_this_machine(run: RunData) -> bool:
    """The embedded server, or any S3 endpoint on the loopback address (``stagebench serve``)."""
    return run.summary.endpoint.on_loopback


def _server_name(run: RunData) -> str:
    if run.endpoint_kind == "embedded":
        return "the embedded S3 server (moto, in a child process)"
    return f"the S3 server at {run.summary.endpoint.url}"


def profile_where(profile: Profile) -> str:
    """Where a profile's numbers are written: its file, or the preset shipped in bench/."""
    path = profile.path
    if path is not None and path.exists():
        return str(path)
    return f"preset bench/profiles/{profile.name}.toml"


# The report's sections in order; each turns the facts into document blocks.
_SECTIONS = (
    _overview,
    _answers,
    _platform_section,
    channels_section,
    dataset_section,
    _modes_section,
    skew_section,
    volume_section,
    mode_section,
    what_if_section,
    startup_section,
    _assumptions_section,
)
