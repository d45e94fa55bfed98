"""Command line: parse, call the library, print. One user-facing error type is caught here.

Each command is a module of this package with ``register(commands)``, which adds its parser
and sets ``func`` to its handler; a handler returns the exit code. ``COMMAND_MODULES`` lists
them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from bench import __version__
from bench.cli.interrupt import run_interruptible
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
    "job",
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
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *a, **k: f"warning: {message}\n"
    try:
        # SIGINT, SIGTERM and SIGHUP stop every command within moments, in any phase: readers
        # stop, FIFOs and volumes are removed, partial results are written, the server stops.
        return run_interruptible(args.func, args)
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


def console_main() -> None:
    """The ``stagebench`` command and ``python -m bench``: ``main``, then exit with its code."""
    code = main()
    if code == 130:
        # After a stop signal everything is removed and written already; the interpreter's own
        # teardown of a thousand modules can take seconds on a busy machine, past the moment a
        # user expects the prompt back.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
