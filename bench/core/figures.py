"""A job's figures for one mode: what a live run measures and what the model predicts.

The job waits for its slowest host, so startup and end are the slowest host's; the tail is how
long the last host's first step trails the first host's. Both the live runner (from its host
and epoch tables) and the model (from its arrays) compute them here, from the same arrays.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

NAN = float("nan")


@dataclass(frozen=True)
class JobFigures:
    """One mode of one job. NaN (null in JSON) is a figure with nothing to measure."""

    hosts: int = 0
    startup_s: float = NAN
    first_host_ready_s: float = NAN
    tail_s: float = NAN
    end_s: float = NAN  # job start to the last host's end of training: the job's length
    epoch_s: float = NAN  # mean epoch, first host's start to last host's end
    stall_s: float = NAN  # the slowest host's wait for data, per epoch
    au: float = NAN  # compute / (compute + stall + barrier) over every host and epoch
    gets: int = 0
    lists: int = 0
    bytes: int = 0
    bytes_fetched: int = 0
    objects: int = 0
    retries: int = 0
    mb_per_s: float = NAN  # bytes fetched over the job's length

    @classmethod
    def of_hosts(
        cls,
        *,
        startup_s: np.ndarray,
        end_s: np.ndarray,
        objects: np.ndarray,
        bytes: np.ndarray,
        bytes_fetched: np.ndarray,
        gets: np.ndarray,
        lists: np.ndarray,
        retries: np.ndarray | None = None,
        epoch_start_s: np.ndarray,
        epoch_end_s: np.ndarray,
        compute_s: np.ndarray,
        stall_s: np.ndarray,
        barrier_s: np.ndarray,
    ) -> JobFigures:
        """From per-host arrays ``(hosts,)`` and per-epoch arrays ``(epochs, hosts)``, NaN where
        a host played no such epoch."""
        startup = np.asarray(startup_s, dtype=float)
        end = float(np.max(end_s)) if np.size(end_s) else NAN
        fetched = int(np.sum(bytes_fetched))
        epoch_s, stall, au = _epoch_figures(
            epoch_start_s, epoch_end_s, compute_s, stall_s, barrier_s
        )
        return cls(
            hosts=int(startup.size),
            startup_s=float(startup.max()) if startup.size else NAN,
            first_host_ready_s=float(startup.min()) if startup.size else NAN,
            tail_s=float(startup.max() - startup.min()) if startup.size else NAN,
            end_s=end,
            epoch_s=epoch_s,
            stall_s=stall,
            au=au,
            gets=int(np.sum(gets)),
            lists=int(np.sum(lists)),
            bytes=int(np.sum(bytes)),
            bytes_fetched=fetched,
            objects=int(np.sum(objects)),
            retries=int(np.sum(retries)) if retries is not None else 0,
            mb_per_s=fetched / end / 1e6 if end > 0 else 0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> JobFigures:
        """Fields this version knows; null or missing ones are "nothing measured"."""
        known = {}
        for field in dataclasses.fields(cls):
            value = values.get(field.name)
            if value is not None:
                known[field.name] = int(value) if field.type == "int" else float(value)
        return cls(**known)


def _epoch_figures(
    start: np.ndarray, end: np.ndarray, compute: np.ndarray, stall: np.ndarray, barrier: np.ndarray
) -> tuple[float, float, float]:
    """Mean epoch (first start to last end), mean of the slowest host's stall, and AU."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    if not start.size:
        return NAN, NAN, NAN
    total_compute = float(np.nansum(compute))
    busy = total_compute + float(np.nansum(stall)) + float(np.nansum(barrier))
    au = total_compute / busy if total_compute > 0 and busy > 0 else NAN
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        # An epoch nobody played (a startup-only model) is NaN, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        epoch_s = float(np.nanmean(np.nanmax(end, axis=1) - np.nanmin(start, axis=1)))
        slowest_stall = float(np.nanmean(np.nanmax(np.asarray(stall, dtype=float), axis=1)))
    return epoch_s, slowest_stall, au
