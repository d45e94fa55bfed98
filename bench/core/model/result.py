"""What the model gives back for one mode: the live paths' columns, per host and epoch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

    def job(self) -> dict[str, float]:
        """The job's figures the way ``runner.job_figures`` computes them from live tables."""
        compute = float(self.compute_s.sum())
        busy = compute + float(self.stall_s.sum()) + float(self.barrier_s.sum())
        epoch_s = self.epoch_end_s.max(axis=1) - self.epoch_start_s.min(axis=1)
        return {
            "hosts": int(self.startup_s.size),
            "startup_s": float(self.startup_s.max()),
            "first_host_ready_s": float(self.startup_s.min()),
            "tail_s": float(self.startup_s.max() - self.startup_s.min()),
            "end_s": float(self.end_s.max()),
            "epoch_s": float(epoch_s.mean()),
            "stall_s": float(self.stall_s.max(axis=1).mean()),
            "au": compute / busy if compute > 0 and busy > 0 else float("nan"),
            "gets": int(self.gets.sum()),
            "lists": int(self.lists.sum()),
            "bytes": int(self.bytes.sum()),
            "bytes_fetched": int(self.bytes_fetched.sum()),
        }
