"""Command line: one module per command, one dispatch path."""

from bench.cli.app import console_main, main

__all__ = ["console_main", "main"]
