"""What every command shares: the common options, scenario overrides from the command line, the
one terminal table formatter and the questions asked before spending money or deleting."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.errors import StagebenchError


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand takes."""
    # SUPPRESS: a subcommand's default must not undo a --debug given before the subcommand.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def scenario_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The scenario fields a command line option replaces."""
    overrides: dict[str, object] = {}
    if getattr(args, "hosts", None) is not None:
        overrides["cluster.hosts"] = args.hosts
    if getattr(args, "modes", None):
        overrides["modes.run"] = [m.strip() for m in args.modes.split(",") if m.strip()]
    if getattr(args, "endpoint", None):
        overrides["storage.endpoint"] = args.endpoint
    if getattr(args, "dask", None):
        overrides["execution.engine"] = "dask"
        overrides["execution.dask"] = args.dask
    return overrides


def format_table(frame: Any) -> str:
    """The one terminal table: right-aligned columns, numbers as ``units.format_number`` writes
    them (three significant figures), the same as in the report."""
    from bench.units import format_frame

    return format_frame(frame).to_string(index=False)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number >= 1")
    return value


def port_number(text: str) -> int:
    """argparse type: a TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 0 to 65535 (0 picks a free one)")
    return port


def ask_if_terminal(question: str) -> bool:
    """Ask on a terminal; elsewhere the answer is no (the error then names --yes)."""
    return sys.stdin.isatty() and input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def confirm_or_fail(question: str) -> bool:
    """Ask on a terminal; elsewhere fail with the option that answers in advance."""
    if not sys.stdin.isatty():
        raise StagebenchError(f"{question} needs an answer: run in a terminal or pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
