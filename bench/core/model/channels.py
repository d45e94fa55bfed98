"""A job of several input channels, composed from each channel modelled on its own.

Each channel is modelled alone (``model_job`` on its data, distribution and data path, with the
job's hosts and training); this module lays those one-channel timelines end to end on each
host, as one consumer that reads its channels in turn would:

- setup, channel after channel: a File channel downloads its shard (its one-channel
  ``startup_s``), a FastFile channel lists its prefix (its ``listing_s``), Pipe does nothing;
- then every epoch, channel after channel, one pass of each: the training channel's epoch, then
  one pass over each other channel (a validation pass). A pass lasts what that channel's own
  epoch lasts alone (``epoch_end_s - epoch_start_s``). A channel's first pass is preceded by
  its wait for first data (Pipe: the first chunk; FastFile: the first read after the
  listing; File: none), as in the one-channel timeline, so a one-channel job is that channel.

Per channel, the composed figures are its passes placed on that shared clock: ``startup_s`` is
the end of the whole setup for File and its first data otherwise, ``listing_s`` the end of its
listing (FastFile). The job's figures: the training channel's startup; an epoch from the
training channel's pass start to the last channel's pass end; compute, stall, barrier, objects,
bytes and requests summed over channels; ``listing_s`` the listings' summed durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bench.core.model.result import ModeResult

SUMMED_PER_HOST = ("objects", "bytes", "bytes_fetched", "gets", "lists")
SUMMED_PER_EPOCH = ("compute_s", "stall_s", "barrier_s")


@dataclass
class ChannelsResult:
    """One job mode of a several-channel job: the job's figures and each channel's, composed on
    the job's clock, in channel order (training channel first)."""

    job: ModeResult
    channels: tuple[ModeResult, ...]
    names: tuple[str, ...] = ()

    def channel(self, name: str) -> ModeResult:
        """A channel's composed figures by its name (``names`` given)."""
        return self.channels[self.names.index(name)]


def compose_channels(
    results: Sequence[ModeResult], *, mode: str, names: Sequence[str] = ()
) -> ChannelsResult:
    """The job playing ``mode`` from its channels' one-channel results, in channel order with
    the training channel first (each result's ``mode`` is the data path that channel plays).
    Every result must have the same hosts and epochs."""
    if not results:
        raise ValueError("a job has at least one channel")
    if names and len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} channels")
    shapes = {r.epoch_start_s.shape for r in results}
    if len(shapes) != 1:
        raise ValueError(f"channels differ in (epochs, hosts): {sorted(shapes)}")
    if len(results) == 1:
        # The composition of one channel is that channel; returned as is so it is exact.
        only = replace(results[0], notes=list(results[0].notes))
        return ChannelsResult(job=replace(only, mode=mode), channels=(only,), names=tuple(names))
    channels = _placed_channels(results)
    return ChannelsResult(
        job=_job_result(mode, results, channels), channels=channels, names=tuple(names)
    )


def _setup_s(result: ModeResult) -> np.ndarray:
    """What a channel does before any training, per host: download (File) or list (FastFile)."""
    if result.mode == "file":
        return np.asarray(result.startup_s, dtype=float)
    if result.mode == "fastfile":
        return np.asarray(result.listing_s, dtype=float)
    return np.zeros(np.shape(result.startup_s))


def _lead_in_s(result: ModeResult) -> np.ndarray:
    """The wait for first data between a channel's setup and its first pass's start."""
    return result.epoch_start_s[0] - _setup_s(result) if result.epoch_start_s.size else 0.0


def _placed_channels(results: Sequence[ModeResult]) -> tuple[ModeResult, ...]:
    """Every channel's passes laid end to end per host: setups in channel order, then per
    epoch one pass of each channel in channel order."""
    setup = np.stack([_setup_s(r) for r in results])  # (channels, hosts)
    setup_ends = np.cumsum(setup, axis=0)
    setup_end = setup_ends[-1]
    passes = np.stack([r.epoch_end_s - r.epoch_start_s for r in results], axis=1)
    epochs, channels, hosts = passes.shape  # passes: (epochs, channels, hosts)
    slots = passes.copy()
    if epochs:
        slots[0] += np.stack([_lead_in_s(r) for r in results])
    pass_end = setup_end + np.cumsum(slots.reshape(epochs * channels, hosts), axis=0).reshape(
        epochs, channels, hosts
    )
    pass_start = pass_end - passes
    placed = []
    for c, result in enumerate(results):
        start, end = pass_start[:, c], pass_end[:, c]
        if result.mode == "file":
            startup = setup_end.copy()
        elif epochs:
            startup = start[0] + (result.startup_s - result.epoch_start_s[0])
        else:
            startup = np.asarray(result.startup_s, dtype=float).copy()
        listing = setup_ends[c] if result.mode == "fastfile" else result.listing_s.copy()
        placed.append(
            replace(
                result,
                startup_s=startup,
                end_s=end[-1].copy() if epochs else setup_end.copy(),
                listing_s=listing,
                epoch_start_s=start.copy(),
                epoch_end_s=end.copy(),
                notes=list(result.notes),
            )
        )
    return tuple(placed)


def _job_result(
    mode: str, results: Sequence[ModeResult], placed: Sequence[ModeResult]
) -> ModeResult:
    """The job's figures from its channels placed on its clock."""
    sums = {name: np.sum([getattr(r, name) for r in results], axis=0) for name in SUMMED_PER_HOST}
    per_epoch = {
        name: np.sum([getattr(r, name) for r in results], axis=0) for name in SUMMED_PER_EPOCH
    }
    listings = [r.listing_s for r in results if r.mode == "fastfile"]
    hosts = np.shape(results[0].startup_s)
    notes = list(dict.fromkeys(note for r in results for note in r.notes))
    return ModeResult(
        mode=mode,
        **sums,
        startup_s=placed[0].startup_s.copy(),
        end_s=np.max([p.end_s for p in placed], axis=0),
        listing_s=np.sum(listings, axis=0) if listings else np.zeros(hosts),
        epoch_start_s=placed[0].epoch_start_s.copy(),
        epoch_end_s=placed[-1].epoch_end_s.copy(),
        **per_epoch,
        notes=notes,
    )
