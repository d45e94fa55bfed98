"""What the model gives back for one mode: the live paths' columns, per host and epoch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.core.figures import JobFigures


@dataclass
class ModeResult:
    """One mode's figures: per host ``(hosts,)``, per epoch and host ``(epochs, hosts)``."""

    mode: str
    objects: np.ndarray
    bytes: np.ndarray
    bytes_fetched: np.ndarray
    gets: np.ndarray
    lists: np.ndarray
    startup_s: np.ndarray
    end_s: np.ndarray
    listing_s: np.ndarray
    epoch_start_s: np.ndarray
    epoch_end_s: np.ndarray
    compute_s: np.ndarray
    stall_s: np.ndarray
    barrier_s: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def epoch_s(self) -> np.ndarray:
        return self.epoch_end_s - self.epoch_start_s

    @property
    def au(self) -> np.ndarray:
        """Per host over all epochs: compute / (compute + stall + barrier)."""
        compute = self.compute_s.sum(axis=0)
        busy = compute + self.stall_s.sum(axis=0) + self.barrier_s.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(busy > 0, compute / np.where(busy > 0, busy, 1), np.nan)

    def job(self) -> JobFigures:
        """The job's figures, computed as the live runner computes them from its tables."""
        return JobFigures.of_hosts(
            startup_s=self.startup_s,
            end_s=self.end_s,
            objects=self.objects,
            bytes=self.bytes,
            bytes_fetched=self.bytes_fetched,
            gets=self.gets,
            lists=self.lists,
            epoch_start_s=self.epoch_start_s,
            epoch_end_s=self.epoch_end_s,
            compute_s=self.compute_s,
            stall_s=self.stall_s,
            barrier_s=self.barrier_s,
        )
