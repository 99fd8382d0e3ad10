"""``proxybench list``, ``datasets info`` and ``plugins``: what is installed.

``list KIND`` imports only the plugins that may provide that kind (no task plugin, so no torch,
for ``list samplers``); ``plugins`` imports them all.
"""

from __future__ import annotations

import argparse

from ..contract.params import Plugin, param_lines
from ..contract.registry import plugin_class, plugin_classes, registry

#: What ``list`` takes, and the registry's kind for each.
LIST_KINDS = {"samplers": "sampler", "tasks": "task", "datasets": "dataset", "weights": "weights"}

EPILOG_LIST = """\
examples:
  proxybench list samplers
  proxybench run --sampler ecos --param sigma=20      (a parameter listed here, set for one run)
"""


def add_plugin_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list samplers, tasks, datasets or weight sources with their parameters",
                       description="Each plugin of a kind: its name, what it is (a sampler's privacy kind), and "
                                   "one line per parameter: name, type, default and meaning.", epilog=EPILOG_LIST)
    p.add_argument("kind", choices=list(LIST_KINDS), help="what to list")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("datasets", help="about datasets: `datasets info NAME` says where to get one and its layout")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("info", help="where to get a dataset, the folder layout it expects, its parameters")
    q.add_argument("name", help="dataset name (proxybench list datasets)")
    q.set_defaults(func=cmd_datasets_info)

    p = sub.add_parser("plugins", help="list loaded plugins, their distributions and what they provide")
    p.set_defaults(func=cmd_plugins)


def plugin_text(kind: str, cls: type[Plugin]) -> list[str]:
    """A plugin's lines in ``list``: its name (a sampler's privacy kind), its description, one line per parameter."""
    claim = f" [{cls.kind}]" if kind == "sampler" and getattr(cls, "kind", None) else ""
    lines = [f"{cls.name}{claim}: {cls.description}"]
    params = param_lines(cls)
    width = max((len(signature) for signature, _ in params), default=0)
    lines += [f"    {signature:<{width}}  {meaning}".rstrip() for signature, meaning in params]
    return lines if params else [*lines, "    (no parameters)"]


def cmd_list(args: argparse.Namespace) -> int:
    kind = LIST_KINDS[args.kind]
    classes = plugin_classes(kind)
    out = [f"{args.kind} ({len(classes)}); parameters as NAME: TYPE = DEFAULT, set with --param NAME=VALUE"]
    if kind == "sampler":
        out.append("[kind]: what the sampler claims about the device's data (client-free, private, privacy-free, "
                   "oracle); a run records what it did")
    for cls in classes.values():
        out += ["", *plugin_text(kind, cls)]
    print("\n".join(out))
    return 0


def cmd_datasets_info(args: argparse.Namespace) -> int:
    cls = plugin_class("dataset", args.name)
    lines = [f"{cls.name}: {cls.description}", "", cls.info or "(no download needed)"]
    if cls.layout:
        lines += ["", "expected layout:", cls.layout]
    if "root" in cls.param_fields():
        where = f" (or set {cls.env_var}=PATH)" if cls.env_var else ""
        lines += ["", f"data root: proxybench run --dataset {cls.name} --data-root PATH{where}"]
    lines += ["", "parameters:", *plugin_text("dataset", cls)[1:]]
    print("\n".join(lines))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    reg = registry()
    console = Console()
    t = Table(title="proxybench plugins")
    for col in ("plugin", "distribution", "version", "provides"):
        t.add_column(col)
    for p in sorted(reg.loaded, key=lambda p: p.name):
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.provides.items())
        t.add_row(p.name, p.distribution, p.version, provides)
    for f in reg.failures:
        t.add_row(f.name, f.distribution, "", f"[red]FAILED: {f.error}[/red]")
    console.print(t)
    return 0
