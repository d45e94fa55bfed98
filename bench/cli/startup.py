"""``stagebench startup SCENARIO``: startup per mode against file count."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.common import add_common


def register(commands: Any) -> None:
    startup = commands.add_parser(
        "startup", help="startup per mode against file count, 10 to 10,000,000 files"
    )
    startup.add_argument("scenario", type=Path, help="scenario TOML file (hosts, modes, paths)")
    startup.add_argument(
        "--fixed-file-size",
        action="store_true",
        help="keep each file's size (the scenario's median) instead of the total size",
    )
    startup.add_argument("--no-live", action="store_true", help="model only, no live points")
    startup.add_argument(
        "--max-files", type=int, help="largest live point (default 10,000; model goes to 10^7)"
    )
    startup.add_argument("--profile-file", help="storage profile (preset name or .toml)")
    startup.add_argument("--endpoint", help="'embedded', 'aws' or an http(s) URL")
    startup.add_argument("--results", type=Path, default=Path("results"))
    add_common(startup)
    startup.set_defaults(func=cmd_startup)


def cmd_startup(args: argparse.Namespace) -> int:
    from bench.analysis.startup import run_startup_command

    return run_startup_command(args)
