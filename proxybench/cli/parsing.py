"""What every ``proxybench`` parser shares: help that shows defaults, one-line errors, checked argument types.

Nothing here (nor in any module that defines a subcommand's arguments) imports torch, timm or
faiss: ``--help`` and a bad argument answer before any of them is loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..util.errors import ProxybenchError

#: The device transports (``proxybench.harness.children.TRANSPORTS``; a test keeps them equal).
TRANSPORTS = ("pipe", "tcp")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default appended, unless its help says it already; multi-line texts (epilogs) as written.

    Defaults that say nothing (None, False of a flag, an empty list) are left out. A description
    of one line is wrapped to the terminal, as argparse does by default.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == argparse.SUPPRESS or default == []
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and whose help may end with text made only when shown.

    ``late_epilog`` (a callable) is called when the help is printed: the run command's list of
    plugins and client domains imports plugins, which no other command line should wait for.
    """

    late_epilog: Callable[[], str] | None = None

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        if self.late_epilog is not None:
            try:
                extra = self.late_epilog()
            except ProxybenchError as exc:
                extra = f"(could not list them: {exc})"
            self.epilog = "\n".join(filter(None, (self.epilog, extra)))
            self.late_epilog = None
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        """One line on stderr and exit code 2 (argparse's default prints the whole usage first)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port 0..65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (an epsilon budget, say)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (0.0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


def open_interval(text: str) -> float:
    """A probability in (0, 1): delta, a confidence."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def check_writable_dir(path: Path | str, option: str) -> None:
    """Fail now, in one line, when folder ``path`` cannot be created or written (nothing is created here).

    A path under a regular file, or whose nearest existing folder is read-only, would otherwise
    fail after the data are built, or as a traceback.
    """
    path = Path(path).expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe == path and not path.is_dir():
        raise ProxybenchError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    if not probe.is_dir():
        raise ProxybenchError(f"{option} {path} cannot be created: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ProxybenchError(f"{option} {path} is not writable ({probe} is read-only for this user); choose another")


def say(text: str) -> None:
    """One line on stderr, prefixed as the command's errors are."""
    print(f"proxybench: {text}", file=sys.stderr)
