"""The ``proxybench`` command (the console script is ``proxybench.cli:main``)."""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
