"""Every command's --help ends with examples; the endpoint options are common to the commands
that reach S3; the storage profile option keeps its former name."""

from __future__ import annotations

import argparse

import pytest

from bench.cli.app import COMMAND_MODULES, build_parser

S3_COMMANDS = ("run", "plan", "skew", "clean", "calibrate", "validate", "startup")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_module_registers_a_command():
    # One module per command; a module may name its command differently (job -> job-check).
    assert len(_subcommands()) >= len(COMMAND_MODULES)
    assert {name.split("-")[0] for name in _subcommands()} >= set(COMMAND_MODULES)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_ends_with_examples_of_the_command(name, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([name, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("\nexamples:\n", 1)
    assert len(examples) == 2, f"{name} --help has no examples section"
    lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
    assert lines and all(line.startswith(("stagebench ", "#")) for line in lines), lines
    assert any(line.startswith(f"stagebench {name}") for line in lines)


@pytest.mark.parametrize("name", S3_COMMANDS)
def test_commands_that_reach_s3_take_the_endpoint_options(name):
    options = {o for a in _subcommands()[name]._actions for o in a.option_strings}
    assert {"--endpoint", "--endpoint-url", "--profile", "--region"} <= options


def test_storage_profile_keeps_its_former_name_hidden(capsys):
    parser = build_parser()
    for option in ("--storage-profile", "--profile-file"):
        args = parser.parse_args(["report", "somewhere", option, "embedded"])
        assert args.storage_profile == "embedded"
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--help"])
    text = capsys.readouterr().out
    assert "--storage-profile" in text and "--profile-file" not in text


def test_endpoint_url_is_the_endpoint_option():
    args = build_parser().parse_args(["skew", "s.toml", "--endpoint-url", "http://h:9000"])
    assert args.endpoint == "http://h:9000"
