"""The model of a job of several input channels, from its scenario.

Each channel is modelled alone (``model_job`` on the scenario narrowed to that channel: its
data, its distribution, the data path it plays; the job's hosts, data-path settings and
training), then ``bench.core.model.compose_channels`` lays the channels end to end on each
host. A channel pinned to one input mode plays the same data path whatever mode the job plays,
so it is modelled once for all of them. A FastFile channel lists its own prefix; what a LIST
page costs grows with the keys in the bucket, here every channel's objects in that bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.inputs import model_arguments, scenario_storage
from bench.config.scenario import Channel, Scenario

if TYPE_CHECKING:
    from bench.core.model import ChannelsResult, ModeResult, Storage

StorageFor = Callable[[Scenario, int], "Storage"]
"""The storage a (one-channel) scenario sees, given the keys in its bucket."""


def profile_storage(profile: Any) -> StorageFor:
    """A storage profile resolved for each channel's scenario and bucket."""

    def storage_for(scenario: Scenario, keys_in_bucket: int) -> Storage:
        return scenario_storage(profile, scenario, keys_in_bucket=keys_in_bucket)

    return storage_for


def model_channels(
    scenario: Scenario,
    sizes: Mapping[str, np.ndarray],
    storage: Storage | StorageFor,
    **model_options: Any,
) -> dict[str, ChannelsResult]:
    """Per mode of ``scenario.modes``: the job and its channels composed on the job's clock.

    ``sizes`` are each channel's object sizes by channel name (key order); ``storage`` is one
    ``Storage`` for every channel, or a function of a one-channel scenario and the keys in its
    bucket (``profile_storage``). ``model_options`` go to ``model_job`` (``max_steps``, ...).
    """
    from bench.core.model import compose_channels

    missing = [c.name for c in scenario.channels if c.name not in sizes]
    if missing:
        raise ValueError(f"no sizes for channel {missing[0]!r}")
    alone = {
        channel.name: model_channel(scenario, channel, sizes, storage, **model_options)
        for channel in scenario.channels
    }
    names = tuple(c.name for c in scenario.channels)
    return {
        mode: compose_channels(
            [alone[c.name][c.mode_in(mode)] for c in scenario.channels], mode=mode, names=names
        )
        for mode in scenario.modes
    }


def model_channel(
    scenario: Scenario,
    channel: Channel,
    sizes: Mapping[str, np.ndarray],
    storage: Storage | StorageFor,
    **model_options: Any,
) -> dict[str, ModeResult]:
    """One channel modelled alone, once per data path it plays over the job's modes."""
    from bench.core.model import model_job

    one_channel = scenario.channel_scenario(channel)
    mine = np.asarray(sizes[channel.name], dtype=np.int64)
    arguments = model_arguments(one_channel, mine)
    arguments["modes"] = tuple(dict.fromkeys(channel.mode_in(m) for m in scenario.modes))
    if callable(storage):
        storage = storage(one_channel, keys_in_bucket(scenario, channel, sizes))
    return model_job(storage=storage, prefix_objects=int(mine.size), **model_options, **arguments)


def keys_in_bucket(scenario: Scenario, channel: Channel, sizes: Mapping[str, np.ndarray]) -> int:
    """The objects of every channel stored in ``channel``'s bucket."""
    bucket = channel.dataset.bucket
    return sum(int(np.size(sizes[c.name])) for c in scenario.channels if c.dataset.bucket == bucket)


def largest_shard_bytes(scenario: Scenario, sizes: np.ndarray) -> int:
    """The bytes on the busiest host of a one-channel scenario: what File mode copies onto it
    (``FullyReplicated``: the whole dataset)."""
    from bench.core.sharding import busiest_host_bytes

    distribution = scenario.distribution
    return busiest_host_bytes(
        np.asarray(sizes, dtype=np.int64),
        scenario.cluster.hosts,
        distribution.type,
        distribution.assignment,
    )


def file_shard_bytes(scenario: Scenario, sizes: Mapping[str, np.ndarray], job_mode: str) -> int:
    """What the File volume holds when the job plays ``job_mode``: the sum of the largest shard
    of every channel that plays File then (each host's copies are kept side by side)."""
    return sum(
        largest_shard_bytes(scenario.channel_scenario(channel), sizes[channel.name])
        for channel in scenario.channels
        if channel.mode_in(job_mode) == "file"
    )
