"""The ``proxybench`` command: its parser and ``main`` (input errors end with one line and exit code 2).

Nothing imported here, nor by the modules that define the subcommands, loads torch, timm or
faiss: ``--help``, ``--version`` and every argument or spec error answer in a moment
(tests/test_cli_fast.py). A subcommand's handler imports what its work needs, after its checks.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from ..results.identity import package_version
from ..util.errors import ProxybenchError, ProxybenchWarning
from ..util.settings import Settings, using
from .audit import add_audit_command
from .features import add_features_command
from .listing import add_plugin_commands
from .new import add_new_command
from .parsing import Parser
from .results import add_result_commands
from .run import add_device_command, add_run_command, add_torch_device_arg, check_torch_device
from .select import add_select_command

DESCRIPTION = """\
Benchmark proxy-data selection: pick, from an open-source pool, the subset that best
stands in for a device's private data, and score it on accuracy, bytes, device compute
and privacy at once. With no options, `run` uses the embedded digits benchmark
(generated offline) and the shipped EfficientNet-Lite0 selection extractor.
"""

EPILOG = """\
examples:
  proxybench run                                 (ECOS + autolabel on the embedded digits benchmark)
  proxybench run --help                          (every option, the installed plugins, the client domains)
  proxybench list samplers                       (each sampler's kind and parameters)
  proxybench sweep leaderboards/smoke.toml --jobs 2
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="proxybench", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"proxybench {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_command(sub)
    add_device_command(sub)
    add_select_command(sub)
    add_plugin_commands(sub)
    add_result_commands(sub)
    add_torch_device_arg(add_audit_command(sub))
    add_new_command(sub)
    add_features_command(sub)
    return parser


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Each ``ProxybenchWarning`` as one line on stderr (``proxybench: warning: ...``); others as Python shows them."""
    python_shows = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ProxybenchWarning):
            print(f"proxybench: warning: {message}", file=sys.stderr)
        else:
            python_shows(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("default", ProxybenchWarning)
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Run the command; an input error is one line on stderr and the return value 2 (``--help`` exits as argparse does)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad argument (Parser.error printed its line); --help and --version exit 0
        if exc.code in (0, None):
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with using(Settings.from_environment()), one_line_warnings():  # the one read of PROXYBENCH_* (docs/settings.md)
            check_torch_device(getattr(args, "torch_device", None))
            return args.func(args)
    except ProxybenchError as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("proxybench: interrupted", file=sys.stderr)
        return 130
