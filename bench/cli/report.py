"""``stagebench report RUN_DIR`` and ``stagebench compare RUN_A RUN_B``.

``bench.cli`` calls ``register``; the handlers import the report package only when they run,
so ``stagebench --help`` stays instant. Each returns the exit code and raises
``StagebenchError`` (one line, exit 2) for anything the user can fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import add_common
from bench.errors import StagebenchError


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    run_dir = _run_dir(args.run_dir)
    written = write_report(run_dir, model_profile=args.profile_file)
    names = ", ".join(path.name for path in written[2:])
    print(f"report: {written[0]}")
    print(f"        {written[1]} (self-contained)")
    if names:
        print(f"files:  {names}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import compare_runs, differences, format_comparison

    run_a, run_b = _run_dir(args.run_a), _run_dir(args.run_b)
    table = compare_runs(run_a, run_b)
    print(format_comparison(table, run_a, run_b))
    changed = differences(run_a, run_b)
    if changed:
        print()
        print("the runs differ in setup, so differences are not only noise:")
        for line in changed:
            print(f"  {line}")
    return 0


def _run_dir(path: Path) -> Path:
    if not path.is_dir():
        raise StagebenchError(f"{path}: no such run folder; give a folder under results/")
    return path


def register(commands: Any) -> None:
    """Add ``report`` and ``compare`` to the CLI's subparsers."""
    report = commands.add_parser(
        "report", help="capacity report of a run folder: report.md and a self-contained HTML"
    )
    report.add_argument("run_dir", type=Path, help="a run folder written by 'stagebench run'")
    report.add_argument(
        "--profile-file",
        help="storage profile for the model's what-ifs (preset name or .toml); default: the "
        "scenario's report.model_profile, else aws-s3-standard",
    )
    add_common(report)
    report.set_defaults(func=cmd_report)

    compare = commands.add_parser(
        "compare", help="two run folders side by side: ratios in words, significance per host"
    )
    compare.add_argument("run_a", type=Path, help="the reference run")
    compare.add_argument("run_b", type=Path, help="the run compared with it")
    add_common(compare)
    compare.set_defaults(func=cmd_compare)
