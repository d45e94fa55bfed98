"""What every command shares: the common options, scenario overrides from the command line, the
one terminal table formatter and the questions asked before spending money or deleting."""

from __future__ import annotations

import argparse
import sys
import textwrap
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
    overrides.update(endpoint_overrides(args))
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


def add_command(
    commands: Any,
    name: str,
    *,
    help: str,
    examples: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with worked examples, shown as written."""
    return commands.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_endpoint_options(parser: argparse.ArgumentParser, *, anonymous: bool = True) -> None:
    """Where the data is and how to reach it, with the AWS CLI's names and its resolution
    order: an option wins over the scenario, which wins over the environment and the profile."""
    group = parser.add_argument_group("endpoint (AWS conventions)")
    group.add_argument(
        "--endpoint",
        "--endpoint-url",
        dest="endpoint",
        metavar="URL",
        help="'embedded' (a local S3 server for this command), 'aws', or an http(s) URL; "
        "default: storage.endpoint, else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the "
        "profile's endpoint_url, else embedded",
    )
    group.add_argument(
        "--profile", help="AWS profile from ~/.aws/config and ~/.aws/credentials (credentials)"
    )
    group.add_argument(
        "--region",
        help="AWS region; default: storage.region, else AWS_REGION, AWS_DEFAULT_REGION or the "
        "profile's region, else us-east-1",
    )
    if anonymous:
        group.add_argument(
            "--no-sign-request",
            action="store_true",
            help="send anonymous requests, for public datasets such as AWS Open Data",
        )


def add_storage_profile_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--storage-profile``: the model's storage profile (not an AWS profile)."""
    parser.add_argument("--storage-profile", metavar="NAME|PATH", help=help)
    # The option's former name, kept so existing scripts still work.
    parser.add_argument("--profile-file", dest="storage_profile", help=argparse.SUPPRESS)


def add_platform_option(parser: argparse.ArgumentParser) -> None:
    """``--platform``: the training platform whose job phases surround the data path."""
    parser.add_argument(
        "--platform",
        help="the training platform whose job phases (Starting, Downloading, Training, "
        "Uploading) surround the data path: preset or .toml; 'none' for plain EC2/EKS "
        "(storage only); default: the scenario's platform.name, else sagemaker",
    )


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no live progress lines (they are only drawn when stderr is a terminal)",
    )


def progress_from(args: argparse.Namespace) -> Any:
    """Live progress lines on stderr, unless --no-progress or stderr is not a terminal."""
    from bench.progress import terminal_progress

    return terminal_progress(enabled=not getattr(args, "no_progress", False))


def endpoint_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The ``[storage]`` fields the endpoint options replace."""
    overrides: dict[str, object] = {}
    for option, field_name in (
        ("endpoint", "storage.endpoint"),
        ("profile", "storage.profile"),
        ("region", "storage.region"),
    ):
        if getattr(args, option, None):
            overrides[field_name] = getattr(args, option)
    if getattr(args, "no_sign_request", False):
        overrides["storage.sign_requests"] = False
    return overrides
