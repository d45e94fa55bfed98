"""Running simulated hosts: every host of a mode as a task on one asyncio event loop.

Each host has its own aiobotocore client (its own connection pool, sized for its concurrency),
its own NIC cap and its own volume folder, as separate machines would.

A run plays its modes through an ``Engine``: ``LocalEngine`` here, or ``DaskEngine``
(``bench.live.dask_engine``) for hosts on a Dask cluster; ``open_engine`` picks the scenario's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from bench.config.scenario import Scenario
from bench.errors import HostError, StagebenchError, describe_cause
from bench.live.base import (
    EventLog,
    HostContext,
    HostOutcome,
    HostPlan,
    ModeSettings,
    NicCap,
    host_error,
)
from bench.live.channels import ChannelPlay, run_job_host
from bench.live.consumer import EpochBarriers
from bench.s3.client import Endpoint, async_client, client_config, translate_error

PATH_MODULES = {
    "file": "bench.live.file",
    "pipe": "bench.live.pipe",
    "fastfile": "bench.live.fastfile",
}


class Engine(Protocol):
    """Plays one mode for every host and gives back each host's outcome, in plan order."""

    def play(
        self,
        mode: str,
        plans: list[HostPlan],
        *,
        endpoint: Endpoint,
        scenario: Scenario,
        volumes: Path,
        log: EventLog,
    ) -> list[HostOutcome]:
        """Requests go into ``log`` as they happen, so a mode that stops keeps them."""
        ...


class LocalEngine:
    """Every host of a mode as a task on one asyncio event loop in this process."""

    def play(
        self,
        mode: str,
        plans: list[HostPlan],
        *,
        endpoint: Endpoint,
        scenario: Scenario,
        volumes: Path,
        log: EventLog,
    ) -> list[HostOutcome]:
        outcomes, _ = asyncio.run(
            run_mode(mode, plans, endpoint=endpoint, scenario=scenario, volumes=volumes, log=log)
        )
        return outcomes


@contextlib.contextmanager
def open_engine(
    scenario: Scenario, endpoint: Endpoint, *, say: Callable[[str], None] = print
) -> Iterator[Engine]:
    """The engine ``execution.engine`` names, open for as long as the block runs."""
    if scenario.execution.engine != "dask":
        yield LocalEngine()
        return
    from bench.live.dask_engine import DaskEngine, check_reachable, dask_client

    check_reachable(endpoint, scenario.execution.dask)
    say(f"engine: dask {scenario.execution.dask}")
    with dask_client(scenario.execution.dask, hosts=scenario.cluster.hosts) as client:
        yield DaskEngine(client)


def _client_config(scenario: Scenario) -> Any:
    # FastFile's readers each have a part in hand and read_ahead parts in flight.
    fastfile_parts = scenario.training.readers * (scenario.fastfile.read_ahead + 1)
    in_flight = max(scenario.cluster.concurrency, scenario.pipe.prefetch, fastfile_parts, 1)
    return client_config(
        max_pool_connections=in_flight + 2,
        max_attempts=scenario.storage.max_attempts,
        checksum_validation=scenario.storage.checksum_validation,
    )


async def open_host(
    stack: contextlib.AsyncExitStack,
    plan: HostPlan,
    *,
    mode: str,
    endpoint: Endpoint,
    scenario: Scenario,
    log: EventLog,
    volumes: Path,
    barriers: EpochBarriers | None,
    config: Any,
) -> HostContext:
    """A host's client (warmed up), volume and settings, ready before the clock starts."""
    client = await stack.enter_async_context(async_client(endpoint, config))
    # A first request sets up the HTTP session and a connection; without it the first GET of
    # every host would carry ~100 ms of client-side setup into startup_s.
    try:
        await client.head_bucket(Bucket=plan.bucket)
    except Exception as exc:
        raise translate_error(exc, endpoint=endpoint, bucket=plan.bucket) from exc
    volume = volumes / f"host-{plan.host:04d}"
    try:
        volume.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostError(describe_cause(exc), host=plan.host) from exc
    training = scenario.training
    return HostContext(
        plan=plan,
        client=client,
        endpoint=endpoint,
        log=log,
        volume=volume,
        channel=scenario.dataset.channel,
        concurrency=scenario.cluster.concurrency,
        nic=NicCap(scenario.cluster.nic_bandwidth_bps),
        first_byte_delay_s=scenario.cluster.first_byte_latency_s,
        epochs=training.epochs,
        compute_bps=training.compute_bps,
        step_bytes=training.step_bytes,
        barriers=barriers,
        settings=ModeSettings.of(scenario, mode),
    )


async def run_mode(
    mode: str,
    plans: list[HostPlan],
    *,
    endpoint: Endpoint,
    scenario: Scenario,
    volumes: Path,
    log: EventLog | None = None,
) -> tuple[list[HostOutcome], EventLog]:
    """Play ``mode`` for every host at once on this event loop.

    Pass ``log`` to keep the events of a mode that fails or is interrupted half-way.
    """
    log = log if log is not None else EventLog(time.perf_counter())
    if len({plan.channel for plan in plans}) > 1:
        return await run_channels(
            mode, plans, endpoint=endpoint, scenario=scenario, volumes=volumes, log=log
        ), log
    module = importlib.import_module(PATH_MODULES[mode])
    config = _client_config(scenario)
    training = scenario.training
    barriers = EpochBarriers(len(plans)) if training.barrier and len(plans) > 1 else None
    async with contextlib.AsyncExitStack() as stack:
        # Clients exist before the clock starts, as instances do before a job's data phase.
        contexts = [
            await open_host(
                stack,
                plan,
                mode=mode,
                endpoint=endpoint,
                scenario=scenario,
                log=log,
                volumes=volumes,
                barriers=barriers,
                config=config,
            )
            for plan in plans
        ]
        log.t0 = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(play_host(module, ctx)) for ctx in contexts]
    return [task.result() for task in tasks], log


async def run_channels(
    mode: str,
    plans: list[HostPlan],
    *,
    endpoint: Endpoint,
    scenario: Scenario,
    volumes: Path,
    log: EventLog,
    start_at: float | None = None,
) -> list[HostOutcome]:
    """A job of several channels (``plans`` holds each channel's share of each host) with the
    job playing ``mode``: every host plays all its channels (``bench.live.channels``) with one
    client and one NIC; an outcome per (channel, host), in ``plans`` order. ``start_at``: the
    wall-clock time the hosts start at (hosts on Dask workers share it), else once ready."""
    hosts = list(dict.fromkeys(plan.host for plan in plans))
    sync = scenario.training.barrier and len(hosts) > 1
    # Each channel's passes have their own step barriers: hosts meet on the same channel.
    barriers = {c.name: EpochBarriers(len(hosts)) if sync else None for c in scenario.channels}
    config = _client_config(scenario)
    async with contextlib.AsyncExitStack() as stack:
        jobs = []
        for host in hosts:
            mine = [plan for plan in plans if plan.host == host]
            base = await open_host(
                stack,
                mine[0],
                mode=mode,
                endpoint=endpoint,
                scenario=scenario,
                log=log,
                volumes=volumes,
                barriers=None,
                config=config,
            )
            jobs.append([_channel_play(base, plan, scenario, mode, barriers) for plan in mine])
        await _start(log, start_at)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(play_job_host(plays)) for plays in jobs]
    by_key = {(o.channel, o.host): o for task in tasks for o in task.result()}
    return [by_key[plan.channel, plan.host] for plan in plans]


async def _start(log: EventLog, start_at: float | None) -> None:
    """Start the job's clock: now, or at the wall-clock time ``start_at``."""
    if start_at is None:
        log.t0 = time.perf_counter()
        return
    wait_s = start_at - time.time()
    if wait_s > 0:
        await asyncio.sleep(wait_s)
    log.t0 = time.perf_counter() - (time.time() - start_at)


def _channel_play(
    base: HostContext,
    plan: HostPlan,
    scenario: Scenario,
    mode: str,
    barriers: dict[str, EpochBarriers | None],
) -> ChannelPlay:
    channel = next(c for c in scenario.channels if c.name == plan.channel)
    path_mode = channel.mode_in(mode)
    ctx = dataclasses.replace(
        base,
        plan=plan,
        channel=plan.channel,
        barriers=barriers[plan.channel],
        failed_keys={},
        # The scenario as this channel alone: its seed, and its own path's settings.
        settings=ModeSettings.of(scenario.channel_scenario(channel), path_mode),
    )
    return ChannelPlay(ctx, path_mode)


async def play_job_host(plays: list[ChannelPlay]) -> list[HostOutcome]:
    """``play_host`` for a host of several channels."""
    try:
        return await run_job_host(plays)
    except StagebenchError:
        raise
    except Exception as exc:
        raise host_error(exc, plays[0].ctx) from exc


async def play_host(module: Any, ctx: HostContext) -> HostOutcome:
    """Run one host of a data path; an error of the host's own (not the store's) becomes a
    HostError naming the host and the key, so the run says what failed where."""
    try:
        return await module.run_host(ctx)
    except StagebenchError:
        raise
    except Exception as exc:
        raise host_error(exc, ctx) from exc


def run_host_task(
    mode: str,
    plan: HostPlan | list[HostPlan],
    endpoint: Endpoint,
    scenario: Scenario,
    start_at: float,
) -> tuple[HostOutcome | list[HostOutcome], list[tuple[Any, ...]]]:
    """One host as a task on a Dask worker: its own event loop, client and volume there.

    ``plan`` is the host's share, or each channel's share of it (a job of several channels:
    the outcome is then one per channel). Every host starts at the wall-clock time ``start_at``
    and times its events from it, so the events of hosts on different workers share one clock
    (as far as the machines' clocks agree).
    """
    return asyncio.run(_run_host_task(mode, plan, endpoint, scenario, start_at))


async def _run_host_task(
    mode: str,
    plan: HostPlan | list[HostPlan],
    endpoint: Endpoint,
    scenario: Scenario,
    start_at: float,
) -> tuple[HostOutcome | list[HostOutcome], list[tuple[Any, ...]]]:
    import shutil
    import tempfile

    log = EventLog(time.perf_counter())
    root = scenario.storage.volume_root
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    volumes = Path(tempfile.mkdtemp(prefix="stagebench-volumes-", dir=root))
    try:
        if isinstance(plan, list):
            outcomes = await run_channels(
                mode,
                plan,
                endpoint=endpoint,
                scenario=scenario,
                volumes=volumes,
                log=log,
                start_at=start_at,
            )
            return outcomes, log.rows
        module = importlib.import_module(PATH_MODULES[mode])
        async with contextlib.AsyncExitStack() as stack:
            ctx = await open_host(
                stack,
                plan,
                mode=mode,
                endpoint=endpoint,
                scenario=scenario,
                log=log,
                volumes=volumes,
                barriers=None,
                config=_client_config(scenario),
            )
            await _start(log, start_at)
            outcome = await play_host(module, ctx)
        return outcome, log.rows
    finally:
        shutil.rmtree(volumes, ignore_errors=True)
