"""Running simulated hosts: every host of a mode as a task on one asyncio event loop.

Each host has its own aiobotocore client (its own connection pool, sized for its concurrency),
its own NIC cap and its own volume folder, as separate machines would.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from pathlib import Path
from typing import Any

from bench.paths.base import EventLog, HostContext, HostOutcome, HostPlan, NicCap
from bench.s3.client import Endpoint, async_client, client_config
from bench.scenario import Scenario

PATH_MODULES = {
    "file": "bench.paths.file",
    "pipe": "bench.paths.pipe",
    "fastfile": "bench.paths.fastfile",
}


def mode_options(scenario: Scenario, mode: str) -> dict[str, Any]:
    """The per-mode settings a data path reads from ``HostContext.options``."""
    if mode == "pipe":
        return {
            "prefetch": scenario.pipe.prefetch,
            "shuffle_seed": scenario.pipe.shuffle_seed,
            "epochs": scenario.training.epochs,
            "compute_bps": scenario.training.compute_bps,
        }
    if mode == "fastfile":
        return {
            "part_size": scenario.fastfile.part_size,
            "read_ahead": scenario.fastfile.read_ahead,
            "access": scenario.fastfile.access,
            "record_size": scenario.fastfile.record_size,
            "reads_per_file": scenario.fastfile.reads_per_file,
            "epochs": scenario.training.epochs,
            "compute_bps": scenario.training.compute_bps,
            "seed": scenario.dataset.seed,
        }
    return {"epochs": scenario.training.epochs, "compute_bps": scenario.training.compute_bps}


async def run_mode(
    mode: str,
    plans: list[HostPlan],
    *,
    endpoint: Endpoint,
    scenario: Scenario,
    volumes: Path,
) -> tuple[list[HostOutcome], EventLog]:
    """Play ``mode`` for every host at once; the job starts when the first host starts."""
    module = importlib.import_module(PATH_MODULES[mode])
    cluster = scenario.cluster
    config = client_config(
        max_pool_connections=max(cluster.concurrency, scenario.pipe.prefetch, 1) + 2,
        max_attempts=scenario.storage.max_attempts,
        checksum_validation=scenario.storage.checksum_validation,
    )
    log = EventLog(time.perf_counter())
    options = mode_options(scenario, mode)

    async with contextlib.AsyncExitStack() as stack:
        # Clients exist before the clock starts, as instances do before a job's data phase.
        contexts = []
        for plan in plans:
            client = await stack.enter_async_context(async_client(endpoint, config))
            volume = volumes / f"host-{plan.host:04d}"
            volume.mkdir(parents=True, exist_ok=True)
            contexts.append(
                HostContext(
                    plan=plan,
                    client=client,
                    endpoint=endpoint,
                    log=log,
                    volume=volume,
                    channel=scenario.dataset.channel,
                    concurrency=cluster.concurrency,
                    nic=NicCap(cluster.nic_bandwidth_bps),
                    first_byte_delay_s=cluster.first_byte_latency_s,
                    options=options,
                )
            )
        log.t0 = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(module.run_host(ctx)) for ctx in contexts]
    return [task.result() for task in tasks], log
