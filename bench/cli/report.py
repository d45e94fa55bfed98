"""``stagebench report RUN_DIR`` and ``stagebench compare A1 [A2 ...] [-- B1 B2 ...]``.

``bench.cli`` calls ``register``; the handlers import the report package only when they run,
so ``stagebench --help`` stays instant. Each returns the exit code and raises
``StagebenchError`` (one line, exit 2) for anything the user can fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import (
    add_command,
    add_common,
    add_progress_option,
    add_storage_profile_option,
    progress_from,
)
from bench.errors import StagebenchError


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    run_dir = _run_dir(args.run_dir)
    written = write_report(
        run_dir, model_profile=args.storage_profile, progress=progress_from(args)
    )
    names = ", ".join(path.name for path in written[2:])
    print(f"report: {written[0]}")
    print(f"        {written[1]} (self-contained)")
    if names:
        print(f"files:  {names}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import compare_sets, format_comparison

    runs_a, runs_b = split_sides(args.runs)
    comparison = compare_sets(
        [_run_dir(path) for path in runs_a], [_run_dir(path) for path in runs_b]
    )
    print(format_comparison(comparison))
    return 0


def split_sides(words: list[str]) -> tuple[list[Path], list[Path]]:
    """``A1 A2 A3 -- B1 B2 B3`` into the two sides; ``RUN_A RUN_B`` is one run a side."""
    options = [word for word in words if word.startswith("-") and word != "--"]
    if options:
        raise StagebenchError(
            f"{options[0]}: options go before the run folders, e.g. stagebench compare "
            "--debug A1 A2 A3 -- B1 B2 B3"
        )
    if "--" in words:
        cut = words.index("--")
        runs_a, runs_b = words[:cut], words[cut + 1 :]
        if "--" in runs_b:
            raise StagebenchError("give '--' once, between the runs of A and the runs of B")
    elif len(words) == 2:
        runs_a, runs_b = words[:1], words[1:]
    else:
        raise StagebenchError(
            f"{len(words)} run folders and no '--': give two runs (RUN_A RUN_B) or two sets "
            "separated by '--' (A1 A2 A3 -- B1 B2 B3)"
        )
    if not runs_a or not runs_b:
        raise StagebenchError(
            "a side has no run folder: give runs on both sides of '--' (A1 A2 A3 -- B1 B2 B3)"
        )
    return [Path(word) for word in runs_a], [Path(word) for word in runs_b]


def _run_dir(path: Path) -> Path:
    if not path.is_dir():
        raise StagebenchError(f"{path}: no such run folder; give a folder under results/")
    return path


def register(commands: Any) -> None:
    """Add ``report`` and ``compare`` to the CLI's subparsers."""
    report = add_command(
        commands,
        "report",
        help="capacity report of a run folder: report.md and a self-contained HTML",
        examples="""
            stagebench report results/quickstart-20261201T202729Z
            stagebench report results/quickstart-20261201T202729Z --storage-profile aws-s3-express
        """,
    )
    report.add_argument("run_dir", type=Path, help="a run folder written by 'stagebench run'")
    add_storage_profile_option(
        report,
        "the model's storage profile for the what-ifs (preset name or .toml); default: the "
        "scenario's report.model_profile, else aws-s3-standard",
    )
    add_progress_option(report)
    add_common(report)
    report.set_defaults(func=cmd_report)

    compare = commands.add_parser(
        "compare",
        help="two sets of repeated runs side by side: ratios in words, Welch's t-test per "
        "figure, Holm-corrected",
        description="Compare the runs of A with the runs of B: 'A1 A2 A3 -- B1 B2 B3' (repeats "
        "made with 'stagebench run SCENARIO --repeat 3'), or 'RUN_A RUN_B' for a quick look "
        "without a significance test (a test needs at least 3 runs per side).",
        epilog="examples:\n"
        "  stagebench compare A1 A2 A3 -- B1 B2 B3\n"
        "  stagebench compare results/a-20261201T101010Z results/b-20261201T102020Z",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(compare)
    compare.add_argument(
        "runs",
        nargs=argparse.REMAINDER,
        metavar="RUN",
        help="run folders of A, '--', run folders of B",
    )
    compare.set_defaults(func=cmd_compare)
