"""What every ``proxybench`` parser shares: help that shows defaults, one-line errors, checked argument types.

Nothing here (nor in any module that defines a subcommand's arguments) imports torch, timm or
faiss: ``--help`` and a bad argument answer before any of them is loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from ..contract.params import Plugin, split_param
from ..util.errors import ProxybenchError, closest

#: The device transports (``proxybench.harness.options.TRANSPORTS``; a test keeps them equal).
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


def add_phi_options(p: argparse.ArgumentParser, backbone: str, weights: str, feature_layer: int,
                    weights_help: str) -> None:
    """``--backbone``, ``--weights`` and ``--feature-layer``: phi as every command names it; ``weights_help``
    says which weight sources this command takes."""
    p.add_argument("--backbone", default=backbone, help="timm model name of phi, the selection's feature extractor")
    p.add_argument("--weights", default=weights, metavar="NAME[:ARG]", help=f"phi's weight source: {weights_help}")
    p.add_argument("--feature-layer", type=int, default=feature_layer,
                   help="phi's output: -1 the pooled head features, i >= 0 the pooled output of stage i")


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


def route_params(items: Iterable[str], owners: Sequence[tuple[str, type[Plugin]]]) -> list[dict[str, str]]:
    """``--param [PREFIX.]KEY=VALUE`` items, routed to the plugins ``owners`` names as (kind, class): one dict each.

    The rule, for ``run`` and ``audit`` alike: a key goes to the one plugin that declares it. A
    prefix picks among the plugins, by kind (``sampler.``, ``task.``, ``dataset.``) or by name
    (``ecos.``); a prefix that picks none is part of the key. A key that no picked plugin
    declares, or that several do, is an error naming the choices.
    """
    routed: list[dict[str, str]] = [{} for _ in owners]
    for item in items:
        prefix, key, value = split_param(item)
        picked = [i for i, (kind, cls) in enumerate(owners) if prefix in (kind, cls.name)] if prefix else []
        if prefix and not picked:
            key = f"{prefix}.{key}"
        declaring = [i for i in picked or range(len(owners)) if key in owners[i][1].param_fields()]
        if not declaring:
            known = {i: sorted(cls.param_fields()) for i, (_, cls) in enumerate(owners)}
            listing = "; ".join(f"{kind} {cls.name}: {', '.join(known[i]) or '(none)'}"
                                for i, (kind, cls) in enumerate(owners))
            hint = closest(key, [name for names in known.values() for name in names])
            raise ProxybenchError(f"unknown parameter {key!r}{hint}. Known parameters: {listing}")
        if len(declaring) > 1:
            kinds = [owners[i][0] for i in declaring]  # a prefix by kind where the kind is unique, else by name
            prefixes = [owners[i][0] if kinds.count(owners[i][0]) == 1 else owners[i][1].name for i in declaring]
            plugins = ", ".join(f"{owners[i][0]} {owners[i][1].name}" for i in declaring)
            raise ProxybenchError(f"parameter {key!r} belongs to several plugins ({plugins}); "
                                  f"write it as {' or '.join(f'{p}.{key}=...' for p in prefixes)}")
        routed[declaring[0]][key] = value
    return routed
