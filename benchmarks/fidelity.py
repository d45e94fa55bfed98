"""The fidelity table: public SageMaker figures against the model with the shipped presets.

Every row is a figure AWS published, the scenario in ``scenarios/fidelity/`` that reproduces
its setup (each states what the source is silent on), the figure the model gives on the
``aws-s3-standard`` storage profile and the ``sagemaker`` platform preset, and their ratio.
Model only: nothing is read from S3. The presets are not tuned to these rows; the rows only
test them. Goal: every ratio within x1.3 either way.

    python benchmarks/fidelity.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.analysis.platform import ModelledMode, scenario_phases  # noqa: E402
from bench.config.profile import load_profile  # noqa: E402
from bench.config.scenario import load_scenario  # noqa: E402
from bench.run.dataset import dataset_sizes  # noqa: E402
from bench.units import MB  # noqa: E402

GOAL = 1.3
FOLDER = REPO / "scenarios" / "fidelity"


@dataclass(frozen=True)
class Row:
    figure: str
    source: str
    scenario: str
    quantity: str  # how the model's figure is read (see ``model_value``)
    public: float
    unit: str


ROWS = [
    Row(
        "File download of 50 GB in 100 MB shards: about 5 min",
        "developer guide, Access Training Data (best practices)",
        "docs-50gb-file",
        "file.downloading_s",
        300.0,
        "s",
    ),
    Row(
        "K-Means on 100 GB, File mode: 28 min",
        "AWS What's New, 2021-10-07",
        "kmeans-100gb",
        "file.wall_s",
        28 * 60.0,
        "s",
    ),
    Row(
        "K-Means on 100 GB, FastFile mode: 5 min",
        "AWS What's New, 2021-10-07",
        "kmeans-100gb",
        "fastfile.wall_s",
        5 * 60.0,
        "s",
    ),
    Row(
        "78 GB: Pipe's start time 87 % below File's",
        "AWS ML blog, faster Pipe mode, 2018-10",
        "pipe-78gb",
        "pipe.first_step_s / file.first_step_s",
        0.13,
        "ratio",
    ),
    Row(
        "Linear Learner, 3.9 GB CSV: Pipe's training time 40 % below File's",
        "AWS ML blog, Pipe mode with CSV, 2018-10",
        "linear-learner-3.9gb",
        "pipe.wall_s / file.wall_s",
        0.60,
        "ratio",
    ),
    Row(
        "Reading a downloaded File channel on ml.m4.xlarge: about 75 MB/s",
        "amazon-sagemaker-examples, pipe_bring_your_own",
        "file-read-m4",
        "file.read_mb_per_s",
        75.0,
        "MB/s",
    ),
]


def mode_value(modelled: dict[str, ModelledMode], term: str) -> float:
    mode, _, figure = term.strip().partition(".")
    entry = modelled[mode]
    if figure == "read_mb_per_s":
        job = entry.result.job()
        return job.bytes / job.epoch_s / MB
    return float(entry.phases.as_dict()[figure])


def model_value(modelled: dict[str, ModelledMode], quantity: str) -> float:
    top, _, bottom = quantity.partition("/")
    value = mode_value(modelled, top)
    return value / mode_value(modelled, bottom) if bottom else value


def main() -> int:
    profile = load_profile("aws-s3-standard")
    print(
        "| public figure | source | scenario | model reads | public | model | model / public "
        "| within x1.3 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    met = 0
    for row in ROWS:
        scenario = load_scenario(FOLDER / f"{row.scenario}.toml")
        modelled = scenario_phases(scenario, dataset_sizes(scenario), profile=profile)
        value = model_value(modelled, row.quantity)
        ratio = value / row.public
        ok = 1 / GOAL <= ratio <= GOAL
        met += ok
        print(
            f"| {row.figure} | {row.source} | `fidelity/{row.scenario}.toml` | "
            f"`{row.quantity}` | {row.public:g} {row.unit} | {value:.3g} {row.unit} | "
            f"x{ratio:.2f} | {'yes' if ok else 'no'} |"
        )
    print(
        f"\n{met} of {len(ROWS)} rows within x{GOAL} (storage aws-s3-standard, platform sagemaker)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
