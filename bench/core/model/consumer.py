"""The training consumer: steps of bytes, their compute on the event loop's timer, the barrier.

Every mode ends here: given when each step's last byte is ready, the consumer's closed forms
give each host's epoch end, compute, barrier wait and timer lateness, and ``EpochColumns``
records them per epoch (stall is what is left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Timer(NamedTuple):
    """The consumer's event-loop timer (``Storage.timer_tick_s``, ``timer_wake_s``)."""

    tick_s: float = 0.0
    wake_s: float = 0.0


EXACT_TIMER = Timer()  # a step ends when its compute does


def held_s(compute: np.ndarray | float, timer: Timer) -> np.ndarray:
    """Seconds a compute step of ``compute`` seconds holds the consumer: until the first whole
    timer tick at or after it, plus the wake-up latency; no compute, no wait."""
    tick, wake = timer.tick_s, timer.wake_s
    compute = np.asarray(compute, dtype=np.float64)
    ticked = np.ceil(compute / tick) * tick if tick > 0 else compute
    return np.where(compute > 0, ticked + wake, 0.0)


def steps_per_row(total: np.ndarray, step_bytes: float) -> np.ndarray:
    return np.ceil(total / step_bytes).astype(np.int64)


def step_positions(total: np.ndarray, step_bytes: float, steps: int) -> np.ndarray:
    """(steps, rows): byte position of each step's last byte (clipped at the row's total)."""
    position = (np.arange(1, steps + 1, dtype=np.float64) * step_bytes)[:, None]
    return np.minimum(position, total[None, :])


def most_steps(total: np.ndarray, step_bytes: float) -> int:
    """Steps of the row with the most."""
    return int(steps_per_row(total, step_bytes).max()) if total.size else 0


class StepCompute(NamedTuple):
    compute: np.ndarray  # (steps, rows) seconds per step, 0 past a row's last step
    active: np.ndarray  # (steps, rows) whether the row has the step


def step_compute(
    total: np.ndarray, step_bytes: float, steps: int, compute_bps: float
) -> StepCompute:
    """Each step's compute seconds and whether the row has it."""
    position = step_positions(total, step_bytes, steps)
    before = np.vstack((np.zeros((1, total.size)), position[:-1]))
    amount = np.maximum(position - before, 0.0)
    return StepCompute(
        amount / compute_bps if compute_bps > 0 else np.zeros_like(amount), amount > 0
    )


def coarsen_steps(step_bytes: int, total: np.ndarray, max_steps: int) -> int:
    """A step size that keeps steps x rows at most ``max_steps`` (the given one if it does)."""
    steps = float(np.ceil(total.max() / step_bytes)) if total.size else 0.0
    cells = steps * total.size
    if cells <= max_steps:
        return step_bytes
    return int(step_bytes * math.ceil(cells / max_steps))


@dataclass(frozen=True)
class EpochOutcome:
    """One epoch of every row: its end, compute seconds and barrier wait."""

    end: np.ndarray  # (rows,)
    compute: np.ndarray
    barrier: np.ndarray
    timer: np.ndarray | float = 0.0  # the consumer's timer lateness beyond compute (not stall)


def consume(
    avail: np.ndarray,
    compute: np.ndarray,
    active: np.ndarray,
    start: np.ndarray,
    barrier: bool,
    timer: Timer = EXACT_TIMER,
) -> EpochOutcome:
    """Steps whose data is ready at ``avail``: ends with or without a global step barrier.

    Without a barrier, end_s = max(end_{s-1}, avail_s) + c_s is a max-plus recursion with the
    closed form end_s = C_s + max(start, max_{j<=s}(avail_j - C_{j-1})), C the cumulative
    compute; with one, the release of step s is max(release_{s-1} + max c_s, max(avail_s + c_s))
    over hosts still training, which has the same closed form. Inputs are (steps, rows); c_s is
    the time a step holds the consumer (``held_s``: its compute on the consumer's timer).
    """
    compute_total = compute.sum(axis=0)
    held = held_s(compute, timer)
    lateness = np.where(active, held - compute, 0.0).sum(axis=0)
    outcome = consume_held(avail, held, active, start, barrier)
    return EpochOutcome(outcome.end, compute_total, outcome.barrier, lateness)


def consume_held(
    avail: np.ndarray, compute: np.ndarray, active: np.ndarray, start: np.ndarray, barrier: bool
) -> EpochOutcome:
    """``consume`` with ``compute`` already the seconds each step holds the consumer."""
    rows = start.size
    steps = avail.shape[0]
    compute_total = compute.sum(axis=0)
    if steps == 0:
        return EpochOutcome(start.copy(), compute_total, np.zeros(rows))
    last_step = active.sum(axis=0) - 1
    has_steps = last_step >= 0
    if not barrier:
        cumulative = np.cumsum(compute, axis=0)
        lag = np.where(active, avail - (cumulative - compute), -np.inf)
        best = np.maximum(np.maximum.accumulate(lag, axis=0), start[None, :])
        ends = cumulative + best
        end = np.where(has_steps, ends[np.maximum(last_step, 0), np.arange(rows)], start)
        return EpochOutcome(end, compute_total, np.zeros(rows))
    ready = np.maximum(avail, np.where(np.arange(steps)[:, None] == 0, start[None, :], -np.inf))
    reach = np.where(active, ready + compute, -np.inf).max(axis=1)
    c_max = np.where(active, compute, -np.inf).max(axis=1)
    c_max = np.where(np.isfinite(c_max), c_max, 0.0)
    k = np.cumsum(c_max)
    release = k + np.maximum.accumulate(reach - k)
    previous = np.concatenate(([-np.inf], release[:-1]))
    own_end = np.maximum(previous[:, None], ready) + compute
    wait = np.where(active, release[:, None] - own_end, 0.0)
    end = np.where(has_steps, release[np.maximum(last_step, 0)], start)
    return EpochOutcome(end, compute_total, wait.sum(axis=0))


@dataclass(frozen=True)
class EpochColumns:
    """Per epoch and row ``(epochs, rows)``; NaN where no epoch was played (startup only)."""

    start_s: np.ndarray
    end_s: np.ndarray
    compute_s: np.ndarray
    stall_s: np.ndarray
    barrier_s: np.ndarray

    @classmethod
    def unplayed(cls, epochs: int, rows: int) -> EpochColumns:
        nan = np.full((epochs, rows), np.nan)
        return cls(nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy())

    def record(self, *, epoch: int, start: np.ndarray, outcome: EpochOutcome) -> None:
        """Epoch ``epoch`` began at ``start``; its stall is what compute, barrier waits and
        the timer's lateness leave of it."""
        self.start_s[epoch] = start
        self.end_s[epoch] = outcome.end
        self.compute_s[epoch] = outcome.compute
        self.barrier_s[epoch] = outcome.barrier
        self.stall_s[epoch] = np.maximum(
            outcome.end - start - outcome.compute - outcome.barrier - outcome.timer, 0.0
        )
