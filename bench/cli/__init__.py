"""Command line: one module per command, one dispatch path."""

from bench.cli.main import main

__all__ = ["main"]
