"""A run folder read back for reporting: summary, tables, the scenario, the dataset's sizes.

Nothing new is stored by a run for the report. The scenario is rebuilt from the raw config in
``summary.json``; the object sizes are re-derived from it for synthetic and manifest datasets,
and otherwise (an ``s3://`` dataset, or a manifest that moved) from the GET events, where every
request names its key, offset and bytes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import ResultsError, StagebenchError
from bench.report.capacity import Allowances
from bench.run.summary import RunSummary

if TYPE_CHECKING:
    import pandas as pd

    from bench.config.scenario import ReportConfig, Scenario


@dataclass(frozen=True)
class ReportSettings:
    """The scenario's ``[report]`` section, defaults filled in."""

    allowances: Allowances
    container_bytes: int  # what the repack what-if packs small objects into
    model_profile: str  # the storage profile the what-ifs are modelled on
    given: tuple[str, ...]  # keys the scenario set (the rest are defaults)


def report_settings(raw: Mapping[str, Any] | None, *, where: str) -> ReportSettings:
    """Validate a raw ``[report]`` table (``bench.config.scenario`` owns its schema)."""
    from bench.config.scenario import report_config

    return settings_from_config(report_config(raw, path=Path(where)))


def settings_from_config(config: ReportConfig) -> ReportSettings:
    return ReportSettings(
        allowances=Allowances(
            model_gb=config.model_gb,
            checkpoint_gb=config.checkpoint_gb,
            scratch_gb=config.scratch_gb,
            headroom=config.headroom,
        ),
        container_bytes=config.container_size,
        model_profile=config.model_profile,
        given=config.given,
    )


@dataclass
class RunData:
    """Everything the report reads from one run folder."""

    run_dir: Path
    summary: RunSummary
    hosts: pd.DataFrame
    epochs: pd.DataFrame
    events: pd.DataFrame
    scenario: Scenario | None
    sizes: np.ndarray  # int64, key order
    sizes_source: str
    settings: ReportSettings
    channels: pd.DataFrame | None = None  # channels.csv of a run of several channels

    @property
    def modes(self) -> list[str]:
        """Modes with figures, in the order they ran."""
        return list(self.summary.modes)

    @property
    def endpoint_kind(self) -> str:
        return self.summary.endpoint.kind

    @property
    def hosts_count(self) -> int:
        return self.summary.hosts

    @property
    def name(self) -> str:
        return self.summary.scenario_name or self.run_dir.name


def load_run(run_dir: Path) -> RunData:
    """Read a run folder, refusing one whose summary schema this version does not understand."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run folder; give a folder under results/")
    summary = RunSummary.read(run_dir)
    where = f"{run_dir / 'summary.json'} (scenario {summary.scenario_path})"
    hosts = read_table(run_dir / "hosts.csv")
    epochs = read_table(run_dir / "epochs.csv")
    events = _read_events(run_dir / "events.parquet")
    scenario = scenario_from_summary(summary)
    if scenario is not None:
        settings = settings_from_config(scenario.report)
    else:
        settings = report_settings(summary.config.get("report"), where=where)
    sizes, source = dataset_sizes(summary, scenario, events)
    channels = read_table(run_dir / "channels.csv")
    return RunData(
        run_dir, summary, hosts, epochs, events, scenario, sizes, source, settings, channels
    )


def scenario_from_summary(summary: RunSummary) -> Scenario | None:
    """The run's scenario, rebuilt from the raw config it recorded (None if it no longer
    validates)."""
    from bench.config.scenario import build_scenario

    config = dict(summary.config)
    path = Path(summary.scenario_path or "scenario.toml")
    attempts = [config]
    dataset = summary.dataset
    if dataset is not None and dataset.bucket:
        # A manifest that moved since the run: the same objects, described by where they are.
        uri = f"s3://{dataset.bucket}/{dataset.prefix}"
        attempts.append({**config, "dataset": {"uri": uri}})
    for attempt in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return build_scenario(attempt, path=path)
        except StagebenchError:
            continue
    return None


def dataset_sizes(
    summary: RunSummary, scenario: Scenario | None, events: pd.DataFrame
) -> tuple[np.ndarray, str]:
    """Object sizes in key order, and a sentence saying where they came from."""
    recorded = summary.dataset.objects if summary.dataset is not None else None
    if scenario is not None and scenario.dataset.source in ("synthetic", "manifest"):
        from bench.run.dataset import build_dataset

        try:
            dataset = build_dataset(scenario.dataset)
        except StagebenchError:
            dataset = None
        if dataset is not None and (recorded is None or dataset.objects == recorded):
            if scenario.dataset.source == "synthetic":
                spec = ", ".join(f"{k} {v}" for k, v in scenario.dataset.sizes.items())
                how = f"re-derived from the scenario's synthetic sizes ({spec}; seed "
                how += f"{scenario.dataset.seed})"
            else:
                how = f"read from the manifest {scenario.dataset.manifest}"
            return dataset.sizes.astype(np.int64), how
    return sizes_from_events(events, recorded)


def sizes_from_events(events: pd.DataFrame, objects: int | None) -> tuple[np.ndarray, str]:
    """Each key's size as the furthest byte any GET read of it, in key order.

    File and Pipe read whole objects, so their events give exact sizes; FastFile's sequential
    parts do too. Zero-byte objects are never requested: the difference to the recorded object
    count is filled with zeros (placed last, which moves round-robin shards by at most one key).
    """
    if events is None or not len(events):
        raise ResultsError(
            "this run has no events to recover object sizes from, and its scenario cannot "
            "rebuild them; re-run it"
        )
    gets = events[events["op"] == "GET"]
    if not len(gets):
        raise ResultsError("this run has no GET events to recover object sizes from; re-run it")
    whole = gets[gets["mode"].isin(["file", "pipe"])]
    source = whole if len(whole) else gets
    extent = (source["offset"] + source["bytes"]).groupby(source["key"]).max().sort_index()
    sizes = extent.to_numpy(dtype=np.int64)
    how = "recovered from the run's GET events (the furthest byte read of each key)"
    if not len(whole):
        how += "; only FastFile ran, so objects read in part count as their bytes read"
    missing = (objects or 0) - sizes.size
    if missing > 0:
        sizes = np.concatenate((sizes, np.zeros(missing, dtype=np.int64)))
        how += f"; {missing} objects never requested counted as empty"
    return sizes, how


def read_table(path: Path) -> pd.DataFrame:
    """A CSV of a run folder; empty when it is missing or has no rows."""
    import pandas as pd

    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable ({exc})".splitlines()[0]) from exc


def _read_events(path: Path) -> pd.DataFrame:
    import pandas as pd

    from bench.live.base import EVENT_COLUMNS

    if not path.exists():
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable ({exc})".splitlines()[0]) from exc
