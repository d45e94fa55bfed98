"""What a mode's model takes and gives back: the interface of ``file``, ``pipe`` and
``fastfile``, each one function ``ModeInputs -> ModeTimeline``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core.model.clocks import Links
from bench.core.model.consumer import EpochColumns, Timer
from bench.core.model.inputs import MAX_STEPS, PathParams, Storage, Training
from bench.core.model.shards import Shards


@dataclass(frozen=True)
class ModeInputs:
    """One job as every mode sees it, per distinct timeline (row) of ``shards``."""

    shards: Shards
    storage: Storage
    params: PathParams
    training: Training  # its step_bytes already merged to bound memory
    shard_bytes: np.ndarray  # (rows,) float64
    barrier: bool  # a step barrier between more than one distinct timeline
    listed: int  # keys a FastFile host lists
    startup_only: bool
    max_exact_items: int
    max_steps: int = MAX_STEPS  # steps x distinct timelines kept before steps are merged

    @property
    def rows(self) -> int:
        return int(self.shards.counts.size)

    @property
    def timer(self) -> Timer:
        return Timer(self.storage.timer_tick_s, self.storage.timer_wake_s)

    def links(
        self, *, volume: bool = False, verify: bool = False, sharing_hosts: int | None = None
    ) -> Links:
        """Fresh clocks for every row; the endpoint shared by the hosts that read anything,
        unless ``sharing_hosts`` says otherwise."""
        sharing = self.shards.reading_hosts if sharing_hosts is None else sharing_hosts
        return Links.of(self.storage, self.rows, sharing, volume=volume, verify=verify)

    def unplayed(self) -> EpochColumns:
        return EpochColumns.unplayed(self.training.epochs, self.rows)


@dataclass(frozen=True)
class ModeTimeline:
    """A mode's figures per row ``(rows,)``, and its epochs."""

    startup_s: np.ndarray
    epochs: EpochColumns
    gets: np.ndarray
    bytes_fetched: np.ndarray
    listing_s: np.ndarray | None = None  # None: the mode lists nothing
    lists: np.ndarray | None = None
