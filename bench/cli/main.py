"""Command line: parse, call the library, print. One user-facing error type is caught here.

Each command is a module of this package with ``register(commands)``, which adds its parser
and sets ``func`` to its handler; a handler returns the exit code. ``COMMAND_MODULES`` lists
them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings

from bench import __version__
from bench.errors import StagebenchError

COMMAND_MODULES = (
    "plan",
    "run",
    "skew",
    "serve",
    "clean",
    "calibrate",
    "validate",
    "startup",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagebench",
        description="Data-staging throughput benchmark for ML training on S3 "
        "(SageMaker File, Pipe and FastFile input modes).",
    )
    parser.add_argument("--version", action="version", version=f"stagebench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"bench.cli.{name}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug
    # SIGTERM stops a run as Ctrl-C does: readers stop, FIFOs and volumes are removed, partial
    # results are written, the embedded server is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *a, **k: f"warning: {message}\n"
    try:
        return args.func(args)
    except StagebenchError as exc:
        if debug:
            raise
        print(f"stagebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("stagebench: interrupted", file=sys.stderr)
        return 130
