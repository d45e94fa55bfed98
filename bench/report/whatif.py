"""What-ifs from the timeline model: the same job with a different layout, cluster or instance.

Each what-if changes one thing about the run's scenario and asks ``bench.core.model.model_job``
for every mode's startup, job time and requests on a storage profile (``[report]
model_profile``, by default the AWS S3 Standard preset). Costs are instance time (hosts × job
time × hourly price) plus requests at the profile's prices.

- **repack**: consecutive small objects packed into containers of about ``container_bytes``;
- **byte-balanced layout**: keys renamed so that ShardedByS3Key's round-robin deal gives every
  host about the same bytes (sizes sorted, dealt in snake order: 0..n-1, n-1..0, ...);
- **hosts × 2** and **hosts ÷ 2**: the same data on a larger or smaller cluster;
- **faster instance**: the next instance preset with a faster NIC, at its own price.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.core.figures import JobFigures
from bench.vocabulary import MODES

if TYPE_CHECKING:
    import pandas as pd

    from bench.config.profile import Instance, Profile
    from bench.config.scenario import Scenario


@dataclass(frozen=True)
class Variant:
    """One what-if: the sizes (key order) and cluster the model is asked about."""

    name: str
    change: str
    sizes: np.ndarray
    hosts: int
    instance: str
    hourly_price: float
    nic_bps: float
    distribution: str
    assignment: str
    # Keys a FastFile host lists (the prefix): the whole dataset's, also for a sample of it.
    listed: int | None = None


@dataclass(frozen=True)
class ModelContext:
    """What the model needs besides a variant: the profile, instance presets, path settings."""

    profile: Profile
    instances: dict[str, Instance]
    scenario: Scenario
    volume_gb: int  # File mode's volume per host (the report's recommendation)


SAMPLE_OBJECTS = 500_000
"""Above this many objects a what-if is modelled on every k-th object, so that at most this
many remain: each what-if is a whole model run, and a plan of millions of objects has five."""


SAMPLE_NOTE_START = "what-ifs estimated from a sample"


def model_available() -> bool:
    """The model and its profiles can be imported (they are developed alongside the live side)."""
    try:
        from bench.config.profile import load_instances, load_profile  # noqa: F401
        from bench.core.model import model_job  # noqa: F401
    except ImportError:
        return False
    return True


def repack(sizes: np.ndarray, container_bytes: int) -> np.ndarray:
    """Consecutive objects (key order) packed into containers of about ``container_bytes``.

    An object goes into the container its first byte falls in, so a container holds at least
    one object and ends near a multiple of ``container_bytes``; bytes are conserved.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.size == 0:
        return sizes
    start = np.cumsum(sizes) - sizes
    container = start // int(container_bytes)
    # Container numbers never fall along the keys: each container starts where its number
    # changes (np.unique would sort millions of numbers already in order).
    first = np.flatnonzero(np.concatenate(([True], container[1:] != container[:-1])))
    return np.add.reduceat(sizes, first).astype(np.int64)


def snake_layout(sizes: np.ndarray, hosts: int) -> np.ndarray:
    """Sizes in a key order under which round-robin sharding is byte-balanced.

    Largest first, dealt round by round, every other round reversed: position ``r × hosts + h``
    holds host ``h``'s object of round ``r``, so counts still differ by at most one.
    """
    ordered = np.sort(np.asarray(sizes, dtype=np.int64))[::-1]
    padded_len = -(-ordered.size // hosts) * hosts
    padded = np.full(padded_len, -1, dtype=np.int64)
    padded[: ordered.size] = ordered
    rounds = padded.reshape(-1, hosts)
    rounds[1::2] = rounds[1::2, ::-1]
    flat = rounds.ravel()
    return flat[flat >= 0]


def variants(
    sizes: np.ndarray,
    context: ModelContext,
    *,
    container_bytes: int,
    baseline: str = "as run",
) -> tuple[list[Variant], list[str]]:
    """The baseline and each what-if that applies, plus notes on those that do not."""
    scenario = context.scenario
    cluster, distribution = scenario.cluster, scenario.distribution
    instance = context.instances.get(cluster.instance)
    price = cluster.hourly_price or (instance.hourly_price if instance else 0.0)
    nic = cluster.nic_bandwidth_bps or (instance.nic_bps if instance else 0.0)
    base = Variant(
        baseline,
        f"{sizes.size:,} objects on {cluster.hosts} × {cluster.instance}",
        sizes,
        cluster.hosts,
        cluster.instance,
        price,
        nic,
        distribution.type,
        distribution.assignment,
    )
    out, notes = [base], []
    container = int(container_bytes)
    total = int(sizes.sum())
    capped = ""
    if distribution.type == "ShardedByS3Key" and total and -(-total // cluster.hosts) < container:
        # Fewer containers than hosts would leave hosts empty: at most one per host then.
        container = -(-total // cluster.hosts)
        capped = f" (capped at dataset / {cluster.hosts} hosts)"
    packed = repack(sizes, container)
    if packed.size < sizes.size:
        out.append(
            dataclasses.replace(
                base,
                name="repack",
                change=f"{sizes.size:,} objects packed into {packed.size:,} containers of "
                f"~{container / 1024**2:.4g} MiB{capped}",
                sizes=packed,
            )
        )
    else:
        notes.append("repack: objects are already at least the container size")
    if distribution.type == "ShardedByS3Key" and cluster.hosts > 1:
        out.append(
            dataclasses.replace(
                base,
                name="byte-balanced layout",
                change="keys renamed so ShardedByS3Key deals each host about equal bytes",
                sizes=snake_layout(sizes, cluster.hosts),
                assignment="round-robin",
            )
        )
    else:
        notes.append("byte-balanced layout: only ShardedByS3Key on several hosts is unbalanced")
    out.append(
        dataclasses.replace(
            base, name="hosts × 2", change=f"{cluster.hosts * 2} hosts", hosts=cluster.hosts * 2
        )
    )
    if cluster.hosts > 1:
        half = max(1, cluster.hosts // 2)
        out.append(dataclasses.replace(base, name="hosts ÷ 2", change=f"{half} hosts", hosts=half))
    faster = _faster_instance(context.instances, instance)
    if faster is not None:
        out.append(
            dataclasses.replace(
                base,
                name="faster instance",
                change=f"{faster.name} (NIC {faster.nic_bps * 8 / 1e9:g} Gb/s)",
                instance=faster.name,
                hourly_price=faster.hourly_price,
                nic_bps=cluster.nic_bandwidth_bps or faster.nic_bps,
            )
        )
    else:
        notes.append(f"faster instance: no preset with a faster NIC than {cluster.instance}")
    return out, notes


def _faster_instance(instances: dict[str, Instance], current: Instance | None) -> Instance | None:
    by_nic = sorted(instances.values(), key=lambda i: (i.nic_bps, i.hourly_price))
    if current is None:
        return None
    return next((i for i in by_nic if i.nic_bps > current.nic_bps), None)


def model_variant(variant: Variant, context: ModelContext) -> dict[str, JobFigures]:
    """Every mode of the scenario for one variant, as the model predicts it."""
    from bench.analysis.inputs import model_arguments, scenario_storage
    from bench.config.profile import gp2_throughput_bps
    from bench.core.model import model_job

    scenario = context.scenario
    profile = context.profile
    varied = dataclasses.replace(
        scenario, cluster=dataclasses.replace(scenario.cluster, nic_bandwidth_bps=variant.nic_bps)
    )
    listed = int(variant.sizes.size if variant.listed is None else variant.listed)
    storage = scenario_storage(profile, varied, keys_in_bucket=listed)
    instance = context.instances.get(variant.instance)
    if instance is not None and instance.local_nvme_gib > 0:
        # Local NVMe: far faster than the NIC; the volume is not the limit.
        storage = dataclasses.replace(storage, volume_write_bps=0.0, volume_read_bps=0.0)
    elif profile.volume_kind == "gp2":
        rate = gp2_throughput_bps(context.volume_gb)
        storage = dataclasses.replace(storage, volume_write_bps=rate, volume_read_bps=rate)
    arguments = model_arguments(scenario, variant.sizes)
    arguments.update(
        hosts=variant.hosts,
        distribution=variant.distribution,
        assignment=variant.assignment,
        modes=MODES,
    )
    if variant.listed is not None:
        arguments["prefix_objects"] = listed
    results = model_job(storage=storage, **arguments)
    return {mode: result.job() for mode, result in results.items()}


def what_if_table(
    sizes: np.ndarray,
    context: ModelContext,
    *,
    container_bytes: int,
    baseline: str = "as run",
    known: dict[str, dict[str, JobFigures]] | None = None,
    on_variant: Any = None,
    workers: int = 1,
    sample_objects: int | None = SAMPLE_OBJECTS,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """One row per (what-if, mode): startup, job time and cost as the model predicts them.

    ``known`` holds figures already modelled, by what-if name (a plan's baseline), so they are
    not modelled twice; ``on_variant(name)`` is called as each variant is modelled;
    ``workers`` > 1 models the variants on that many processes. Above ``sample_objects``
    objects the baseline stays exact and each what-if is the baseline scaled by what the model
    gives on a sample (``sampled``, ``scaled``); a note in the returned notes says so.
    ``meanwhile()`` is called once, while the worker processes model (other work of the
    caller's that does not need the what-ifs), or before modelling with one worker.
    """
    import pandas as pd

    found, notes = variants(sizes, context, container_bytes=container_bytes, baseline=baseline)
    modelled_by_name = dict(known or {})
    step = sample_step(int(np.asarray(sizes).size), sample_objects)
    estimated: list[Variant] = []
    if step > 1:
        if baseline not in modelled_by_name:
            _announce(on_variant, baseline)
            modelled_by_name[baseline] = model_variant(found[0], context)
        notes.append(sample_note(int(np.asarray(sizes).size), step))
        todo, estimated = _sampled_work(found, step, baseline, sample_objects)
    else:
        todo = [v for v in found if v.name not in modelled_by_name]
    _model_variants(
        todo,
        context,
        modelled_by_name,
        on_variant=on_variant,
        workers=workers,
        meanwhile=meanwhile or (lambda: None),
    )
    if step > 1:
        _scale_estimates(estimated, modelled_by_name, baseline)
    rows = [
        _what_if_row(variant, mode, figures, context)
        for variant in found
        for mode, figures in modelled_by_name[variant.name].items()
    ]
    return pd.DataFrame(rows), notes


def _announce(on_variant: Any, name: str) -> None:
    if on_variant is not None:
        on_variant(name)


def _sampled_work(
    found: list[Variant], step: int, baseline: str, sample_objects: int | None
) -> tuple[list[Variant], list[Variant]]:
    """The variants to model when the what-ifs are estimated from a sample, and which of them
    are estimates (scaled afterwards) rather than exact."""
    # A what-if of few objects (a repack into a few containers) is modelled exactly.
    estimated = [v for v in found[1:] if v.sizes.size > sample_objects]
    exact = [v for v in found[1:] if v.sizes.size <= sample_objects]
    todo = [sampled(found[0], step, found[0], name=f"{baseline} (sample)")]
    todo += [sampled(v, step, found[0]) for v in estimated] + exact
    return todo, estimated


def _model_variants(
    todo: list[Variant],
    context: ModelContext,
    modelled_by_name: dict[str, dict[str, JobFigures]],
    *,
    on_variant: Any,
    workers: int,
    meanwhile: Callable[[], None],
) -> None:
    """Model every variant of ``todo`` not yet in ``modelled_by_name``, into it; run
    ``meanwhile`` once, while the workers model."""
    if workers > 1 and len(todo) > 1:
        from bench.workers import worker_pool

        # Each variant is a whole model run on one core: two at once use a small machine's two.
        with worker_pool(workers) as pool:
            pending = [(v.name, pool.apply_async(model_variant, (v, context))) for v in todo]
            meanwhile()
            for name, result in pending:
                _announce(on_variant, name)
                modelled_by_name[name] = result.get()
    else:
        meanwhile()
    for variant in todo:
        if variant.name not in modelled_by_name:
            _announce(on_variant, variant.name)
            modelled_by_name[variant.name] = model_variant(variant, context)


def _scale_estimates(
    estimated: list[Variant],
    modelled_by_name: dict[str, dict[str, JobFigures]],
    baseline: str,
) -> None:
    """Turn each estimated what-if's sample figures into full-scale ones, in place."""
    base_sample = modelled_by_name.pop(f"{baseline} (sample)")
    for variant in estimated:
        modelled_by_name[variant.name] = {
            mode: scaled(figures, base_sample[mode], modelled_by_name[baseline][mode])
            for mode, figures in modelled_by_name[variant.name].items()
        }


def _what_if_row(
    variant: Variant, mode: str, figures: JobFigures, context: ModelContext
) -> dict[str, Any]:
    instance_usd, request_usd = cost_usd(
        context.profile,
        hosts=variant.hosts,
        billable_s=figures.end_s,
        hourly_price=variant.hourly_price,
        gets=figures.gets,
        lists=figures.lists,
    )
    return {
        "what_if": variant.name,
        "change": variant.change,
        "mode": mode,
        "hosts": variant.hosts,
        "instance": variant.instance,
        "objects": int(variant.sizes.size),
        "max_host_bytes": max_host_bytes(variant),
        "startup_s": figures.startup_s,
        "job_s": figures.end_s,
        "epoch_s": figures.epoch_s,
        "au": figures.au,
        "gets": figures.gets,
        "lists": figures.lists,
        "instance_usd": instance_usd,
        "request_usd": request_usd,
        "cost_usd": instance_usd + request_usd,
    }


def sample_step(objects: int, sample_objects: int | None) -> int:
    """Every how many objects a what-if's sample keeps one (1: no sample)."""
    if not sample_objects or objects <= sample_objects:
        return 1
    return -(-objects // sample_objects)


def sample_note(objects: int, step: int) -> str:
    """The sentence that says the what-ifs are an estimate from a sample."""
    return (
        f"{SAMPLE_NOTE_START}: above {SAMPLE_OBJECTS:,} objects a what-if is "
        f"modelled on one object in every {step} ({-(-objects // step):,} of {objects:,}, the "
        "listing still of every key) beside the baseline on the same sample; its startup, "
        "training time, epoch and requests are the exact baseline's times the ratio between "
        "the two, and its AU is the sample's. The baseline row is exact"
    )


def sampled(variant: Variant, step: int, base: Variant, *, name: str | None = None) -> Variant:
    """The variant on every ``step``-th object: a systematic sample in key order, which keeps
    the size distribution. The byte-balanced layout is laid out again from the baseline's
    sample (a sample of a layout dealt to the hosts would not stay balanced when dealt again);
    a repack keeps every ``step``-th container."""
    if variant.assignment != base.assignment or variant.name == "byte-balanced layout":
        sizes = snake_layout(base.sizes[::step], variant.hosts)
    else:
        sizes = np.ascontiguousarray(variant.sizes[::step])
    listed = int(variant.sizes.size if variant.listed is None else variant.listed)
    return dataclasses.replace(variant, name=name or variant.name, sizes=sizes, listed=listed)


def scaled(figures: JobFigures, base_sample: JobFigures, base: JobFigures) -> JobFigures:
    """A what-if's figures at full scale: the exact baseline's times the ratio the sample
    gives between the what-if and the baseline, startup and training apart (they grow
    differently with the data); AU and stall as the sample has them."""

    def ratio(value: float, of_sample: float, exact: float) -> float:
        if not (finite(value) and finite(of_sample) and finite(exact)) or of_sample <= 0:
            return value
        return exact * value / of_sample

    startup = ratio(figures.startup_s, base_sample.startup_s, base.startup_s)
    training = ratio(
        figures.end_s - figures.startup_s,
        base_sample.end_s - base_sample.startup_s,
        base.end_s - base.startup_s,
    )
    return dataclasses.replace(
        figures,
        startup_s=startup,
        end_s=startup + training,
        epoch_s=ratio(figures.epoch_s, base_sample.epoch_s, base.epoch_s),
        gets=round(ratio(figures.gets, base_sample.gets, base.gets)),
        lists=round(ratio(figures.lists, base_sample.lists, base.lists)),
    )


def cost_usd(
    profile: Profile, *, hosts: int, billable_s: float, hourly_price: float, gets: int, lists: int
) -> tuple[float, float]:
    """(instance $, request $) of a job: hosts x billable time x hourly price, and requests at
    the profile's prices."""
    from bench import cost

    get_price, list_price = prices(profile)
    return (
        cost.instance_usd(hosts, billable_s, hourly_price),
        cost.requests_usd(gets, lists, get_per_1000=get_price, list_per_1000=list_price),
    )


def prices(profile: Profile) -> tuple[float, float]:
    """GET and LIST prices per 1,000 requests: the profile's, else S3 Standard list prices."""
    from bench import cost

    get_price = profile.get_price_per_1000 or cost.GET_PER_1000
    list_price = profile.list_price_per_1000 or cost.LIST_PER_1000
    return get_price, list_price


def max_host_bytes(variant: Variant) -> int:
    """The bytes on the busiest host of a variant (File mode copies that much onto it)."""
    from bench.core.sharding import busiest_host_bytes

    return busiest_host_bytes(
        variant.sizes, variant.hosts, variant.distribution, variant.assignment
    )


def finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
