"""A job of several input channels in the capacity report and in ``stagebench run``'s Answers.

A run of several channels writes ``channels.csv`` (a row per job mode, channel and host) and
``summary.json``'s ``channels`` beside the job's own rows, which add the channels per host.
This module reads them back for two things: the report's Channels section (each channel's
figures per job mode, and how the job plays them), and the volume that holds every File
channel at once (``capacity.size_channels_volume``), which takes the place of the one
dataset's shard in the report's volume size and in the run's Answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import capacity
from bench.report.capacity import MODE_NAMES, Allowances, ChannelShard, VolumeSizing
from bench.report.document import Heading, Paragraph, Table
from bench.units import format_bytes, format_frame
from bench.vocabulary import MODES

if TYPE_CHECKING:
    import pandas as pd

    from bench.config.scenario import Scenario
    from bench.report.build import Facts

CHANNELS_CSV = "channels.csv"


@dataclass(frozen=True)
class ChannelsVolume:
    """One host's volume when the job plays ``job_mode``: the size, and the channels on it."""

    job_mode: str
    sizing: VolumeSizing
    counted: tuple[ChannelShard, ...]  # File channels, on the volume
    left_out: tuple[ChannelShard, ...]  # Pipe and FastFile channels, no copy

    def describe(self) -> str:
        """Which channels the size counts, and which it leaves out, in one sentence."""
        counted = ", ".join(
            f"{shard.name} ({format_bytes(shard.largest_shard_bytes)})" for shard in self.counted
        )
        left_out = ", ".join(
            f"{shard.name} (plays {MODE_NAMES[shard.data_path]})" for shard in self.left_out
        )
        mode = MODE_NAMES[self.job_mode]
        text = f"with the job in {mode} mode it counts " + (counted or "no channel")
        if left_out:
            text += f"; not {left_out}, which keeps no copy"
        return text


def read_channels(run_dir: Path) -> pd.DataFrame:
    """A run folder's ``channels.csv`` (empty when the run had one channel)."""
    from bench.report.rundata import read_table

    return read_table(Path(run_dir) / CHANNELS_CSV)


def largest_shards(channels_table: pd.DataFrame | None) -> dict[str, int]:
    """Each channel's largest per-host bytes in a run's ``channels.csv``: a host's shard is the
    same whatever the job mode, so any mode's rows give it."""
    if channels_table is None or not len(channels_table):
        return {}
    if not {"channel", "bytes"} <= set(channels_table.columns):
        return {}
    largest = channels_table.groupby("channel")["bytes"].max()
    return {str(name): int(value) for name, value in largest.items()}


def channel_volumes(
    scenario: Scenario, channels_table: pd.DataFrame | None, allowances: Allowances
) -> dict[str, ChannelsVolume] | None:
    """Per job mode (all three, run or not), the volume that holds the File channels; None for
    a scenario of one channel, or a run that recorded no rows for one of its channels."""
    if not scenario.several_channels:
        return None
    largest = largest_shards(channels_table)
    if any(channel.name not in largest for channel in scenario.channels):
        return None
    volumes = {}
    for mode in MODES:
        shards = [
            ChannelShard(channel.name, channel.mode_in(mode), largest[channel.name])
            for channel in scenario.channels
        ]
        sizing, counted = capacity.size_channels_volume(shards, allowances)
        left_out = tuple(shard for shard in shards if shard not in counted)
        volumes[mode] = ChannelsVolume(mode, sizing, counted, left_out)
    return volumes


def streaming_volume(volumes: Mapping[str, ChannelsVolume]) -> VolumeSizing:
    """The volume for Pipe or FastFile jobs: the larger of the two (a channel pinned to File
    is on it whatever the job plays)."""
    return max((volumes[m].sizing for m in MODES if m != "file"), key=lambda v: v.volume_gb)


def run_volumes(scenario: Scenario, run_dir: Path) -> dict[str, VolumeSizing] | None:
    """Per job mode, the volume of a run of several channels in ``run_dir`` (what
    ``measured_answer`` takes); None for one channel."""
    from bench.report.rundata import settings_from_config

    allowances = settings_from_config(scenario.report).allowances
    volumes = channel_volumes(scenario, read_channels(run_dir), allowances)
    return None if volumes is None else {mode: v.sizing for mode, v in volumes.items()}


# --- the report's section ---------------------------------------------------------------------


def channels_section(facts: Facts) -> list[Any]:
    """The Channels section of a run of several channels (nothing for one channel): a row per
    channel and job mode, how the job plays them, and which sections describe the training
    channel alone."""
    import pandas as pd

    channels = facts.run.summary.extra.get("channels") or {}
    if len(channels) < 2:
        return []
    table = facts.run.channels if facts.run.channels is not None else pd.DataFrame()
    largest = largest_shards(table)
    rows = [
        _channel_row(name, channel, mode, figures, table, largest.get(name))
        for name, channel in channels.items()
        for mode, figures in (channel.get("modes") or {}).items()
    ]
    names = list(channels)
    training, others = names[0], names[1:]
    blocks: list[Any] = [
        Heading(1, "Channels"),
        Paragraph(
            f"This job reads {len(names)} input channels. On each host, before training, every "
            "File channel is downloaded and every FastFile channel listed, one after another "
            f"in this order ({', '.join(f'`{n}`' for n in names)}); Pipe channels need nothing. "
            f"Then every epoch trains on `{training}` and makes one validation pass over "
            f"{', '.join(f'`{n}`' for n in others)}. The job's own figures (Answers, Modes as "
            "measured) add the channels per host; the Dataset, Skew and What-ifs sections "
            f"describe the training channel `{training}` alone."
        ),
    ]
    if rows:
        blocks.append(Table(format_frame(pd.DataFrame(rows))))
        blocks.append(
            Paragraph(
                "Per channel on the job's clock: `data path` is what the channel played with "
                "the job in that mode (its own input mode when it pins one); objects and bytes "
                "are its dataset's, `largest host` its busiest host's shard; `startup_s` is its "
                "first data (File: every File channel on the volume), `epoch_s` its pass per "
                "epoch, `end_s` its last pass's end, `stall_s` its wait for data per pass. Per "
                "host and per pass: `channels.csv`, `channel_epochs.csv`."
            )
        )
    else:
        blocks.append(Paragraph("No channel completed a pass in this run: nothing measured."))
    return blocks


def _channel_row(
    name: str,
    channel: Mapping[str, Any],
    mode: str,
    figures: Mapping[str, Any],
    table: pd.DataFrame,
    largest: int | None,
) -> dict[str, Any]:
    dataset = channel.get("dataset") or {}
    return {
        "channel": name,
        "role": channel.get("role"),
        "job mode": MODE_NAMES.get(mode, mode),
        "data path": MODE_NAMES.get(_data_path(table, name, mode), "n/a"),
        "distribution": channel.get("distribution"),
        "objects": dataset.get("objects"),
        "bytes": format_bytes(dataset["bytes"]) if dataset.get("bytes") is not None else "n/a",
        "largest host": format_bytes(largest) if largest is not None else "n/a",
        "startup_s": figures.get("startup_s"),
        "epoch_s": figures.get("epoch_s"),
        "end_s": figures.get("end_s"),
        "stall_s": figures.get("stall_s"),
        "GETs": figures.get("gets"),
    }


def _data_path(table: pd.DataFrame, name: str, mode: str) -> str:
    """The data path a channel played in one job mode, as its rows recorded it."""
    if not len(table) or "input_mode" not in table.columns:
        return ""
    played = table[(table["channel"] == name) & (table["mode"] == mode)]["input_mode"]
    return str(played.iloc[0]) if len(played) else ""
