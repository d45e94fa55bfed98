"""Simulated hosts on a Dask cluster, for users who outgrow one machine's NIC and CPU.

Each host's live data path runs as one task on a worker (its own event loop and aiobotocore
client there; its volume and FIFOs in the worker's temp folder); hosts are dealt round-robin
over the workers; their events come back into the same tables as a local run.

Differences from the local engine: the global step barrier is not applied across workers
(each host trains at its own pace), and host clocks agree only as well as the machines' clocks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.config.scenario import Scenario
from bench.errors import HostError, StagebenchError, describe_cause
from bench.live.base import EventLog, HostOutcome, HostPlan
from bench.s3.client import Endpoint

START_MARGIN_S = 1.0  # time for every worker to set up its client before the common start


@contextmanager
def dask_client(address: str, *, hosts: int = 1) -> Iterator[Any]:
    """A Dask client for ``tcp://host:port``, or a LocalCluster of N processes for ``local:N``
    with enough threads that every host of a worker runs at once."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise StagebenchError(
            "the dask engine needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    if address.startswith("local:"):
        try:
            workers = int(address.split(":", 1)[1])
        except ValueError as exc:
            raise StagebenchError(f"--dask {address!r}: use local:N, e.g. local:2") from exc
        if workers < 1:
            raise StagebenchError(f"--dask {address!r}: N must be at least 1")
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=max(1, -(-hosts // workers)),
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise StagebenchError(
            f"cannot reach the Dask scheduler at {address}: {exc}; start it with "
            "'dask scheduler' and check the address"
        ) from exc
    try:
        yield client
    finally:
        client.close()


def check_reachable(endpoint: Endpoint, address: str) -> None:
    if endpoint.kind == "embedded" and not address.startswith("local:"):
        raise StagebenchError(
            "the embedded S3 server listens on 127.0.0.1 only, out of reach of remote Dask "
            "workers; give --endpoint with a URL the workers can reach, or use --dask local:N"
        )


class DaskEngine:
    """Every host of a mode as one task on a worker of ``client``'s cluster."""

    def __init__(self, client: Any) -> None:
        self.client = client

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
        # Each worker keeps its hosts' volumes in its own temp folder: ``volumes`` is this
        # machine's and goes unused.
        return run_mode_dask(
            self.client, mode, plans, endpoint=endpoint, scenario=scenario, log=log
        )


def run_mode_dask(
    client: Any,
    mode: str,
    plans: list[HostPlan],
    *,
    endpoint: Endpoint,
    scenario: Scenario,
    log: EventLog,
) -> list[HostOutcome]:
    """Play ``mode`` with one task per host spread over the workers; events go into ``log``.
    A host of a job of several channels plays all its channels in its one task."""

    shares: list[Any] = plans
    if len({plan.channel for plan in plans}) > 1:
        hosts = dict.fromkeys(plan.host for plan in plans)
        shares = [[plan for plan in plans if plan.host == host] for host in hosts]
    outcomes = _play_on_workers(client, mode, shares, endpoint, scenario, log)
    by_key = {(o.channel, o.host): o for o in outcomes}
    return [by_key[plan.channel, plan.host] for plan in plans]


def _play_on_workers(
    client: Any,
    mode: str,
    shares: list[Any],
    endpoint: Endpoint,
    scenario: Scenario,
    log: EventLog,
) -> list[HostOutcome]:
    """Each share (a host's plan, or its channels' plans) as one task on a worker."""
    from bench.live.engine import run_host_task

    plans = shares
    info = client.scheduler_info()["workers"]
    workers = sorted(info)
    if not workers:
        raise StagebenchError("the Dask cluster has no workers; start some with 'dask worker'")
    per_worker = -(-len(plans) // len(workers))
    thin = [w for w in workers if info[w].get("nthreads", 1) < per_worker]
    if thin:
        import warnings

        warnings.warn(
            f"{len(thin)} Dask workers have fewer than {per_worker} threads for their "
            f"{per_worker} hosts: those hosts run one after another and start late; start "
            f"workers with 'dask worker --nthreads {per_worker}'",
            stacklevel=2,
        )
    start_at = time.time() + START_MARGIN_S + 0.01 * len(plans)
    log.t0 = time.perf_counter() + (start_at - time.time())
    futures = [
        client.submit(
            run_host_task,
            mode,
            plan,
            endpoint,
            scenario,
            start_at,
            workers=[workers[i % len(workers)]],
            allow_other_workers=False,
            pure=False,
            key=f"stagebench-{mode}-host-{_host_of(plan)}-{start_at}",
        )
        for i, plan in enumerate(plans)
    ]
    outcomes: list[HostOutcome] = []
    try:
        for plan, future in zip(plans, futures, strict=True):
            try:
                outcome, rows = future.result()
            except StagebenchError:
                raise
            except Exception as exc:
                # A worker that died or failed outside the host's own code: name the host.
                raise HostError(describe_cause(exc), host=_host_of(plan)) from exc
            outcomes += outcome if isinstance(outcome, list) else [outcome]
            log.rows.extend(rows)
    except BaseException:
        client.cancel(futures)
        raise
    return outcomes


def _host_of(share: HostPlan | list[HostPlan]) -> int:
    return share[0].host if isinstance(share, list) else share.host
