"""``proxybench new sampler|task|dataset NAME``: write a plugin package that installs and passes its own tests."""

from __future__ import annotations

import argparse
from pathlib import Path
from string import Template

from ..contract.registry import plugin_names, registry
from ..util.errors import ProxybenchError
from . import scaffold

KINDS = tuple(scaffold.TEMPLATES)

EPILOG_NEW = """\
examples:
  proxybench new sampler my-sampler                 # ./proxybench-my-sampler/
  proxybench new task my-task --dir ~/src           # ~/src/proxybench-my-task/
  proxybench new dataset my-data

then:
  cd proxybench-my-sampler && pip install -e ".[test]" && pytest
  proxybench list samplers && proxybench run --sampler my-sampler
  proxybench audit --sampler my-sampler

The package holds pyproject.toml (the entry point in the "proxybench" group), the plugin's
module (a private sampler with a device program and its DP event; a supervised task; a
generated dataset), a test that runs proxybench.testing's check_sampler / check_task /
check_dataset on it, and a README. The contract it follows is docs/plugins.md.
"""


def package_files(kind: str, name: str) -> dict[str, str]:
    """Relative path -> text of the package for plugin ``name`` of ``kind``."""
    from ..testing.rules import NAME_PATTERN

    if kind not in KINDS:
        raise ProxybenchError(f"unknown plugin kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not NAME_PATTERN.fullmatch(name):
        raise ProxybenchError(f"plugin name {name!r} is not lowercase words joined by dashes (e.g. my-sampler)")
    if name in plugin_names(kind):
        raise ProxybenchError(f"a {kind} named {name!r} exists already ({registry().provider(kind, name)}); "
                              "two plugins with one name cannot be installed together: choose another name")
    module = "proxybench_" + name.replace("-", "_")
    values = {"name": name, "cls": "".join(part.capitalize() for part in name.split("-")), "module": module,
              "kind": kind, "check_params": scaffold.CHECK_PARAMS[kind]}
    values["usage"] = Template(scaffold.USAGE[kind]).substitute(values)
    texts = {"pyproject.toml": scaffold.PYPROJECT, f"{module}/__init__.py": scaffold.INIT,
             f"{module}/{kind}.py": scaffold.TEMPLATES[kind], f"tests/test_{module}.py": scaffold.TEST,
             "README.md": scaffold.README}
    return {path: Template(text).substitute(values) for path, text in texts.items()}


def write_package(kind: str, name: str, parent: Path) -> Path:
    """Write the package into ``parent/proxybench-NAME`` (which must not exist or be empty); return that folder."""
    files = package_files(kind, name)
    root = Path(parent) / f"proxybench-{name}"
    if root.exists() and any(root.iterdir()):
        raise ProxybenchError(f"{root} exists and is not empty; choose another --dir or remove it")
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def cmd_new(args: argparse.Namespace) -> int:
    root = write_package(args.kind, args.name, args.dir)
    print(f"wrote {root}: {', '.join(sorted(package_files(args.kind, args.name)))}\n"
          f"next: cd {root} && pip install -e \".[test]\" && pytest")
    return 0


def add_new_command(subparsers) -> argparse.ArgumentParser:
    """Register ``proxybench new`` on an argparse subparsers object; its handler is ``args.func``."""
    from .parsing import HelpFormatter

    p = subparsers.add_parser("new", help="write a ready plugin package (sampler, task or dataset) with its tests",
                              description="Write a plugin package that installs with `pip install -e` and passes "
                                          "its own conformance tests at once.",
                              epilog=EPILOG_NEW, formatter_class=HelpFormatter)
    p.add_argument("kind", choices=KINDS, help="what the plugin provides")
    p.add_argument("name", help="the plugin's name, lowercase words joined by dashes (what users type)")
    p.add_argument("--dir", type=Path, default=Path("."), metavar="PATH",
                   help="where to create the package folder proxybench-NAME (default: the current folder, .)")
    p.set_defaults(func=cmd_new)
    return p
