"""The ``lamina`` command: argument parsing only, calling the public API."""

from lamina.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
