"""``proxybench list``, ``datasets info`` and ``plugins``: what is installed."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from ..contract.params import describe_params
from ..contract.registry import registry


def cmd_list(args: argparse.Namespace) -> int:
    kind = args.kind.rstrip("s") if args.kind != "weights" else "weights"
    reg = registry()
    console = Console()
    t = Table(title=f"{kind} plugins", show_lines=False)
    t.add_column("name")
    t.add_column("description")
    t.add_column("parameters (type = default)")
    for name in reg.names(kind):
        cls = reg.get(kind, name)
        t.add_row(name, cls.description, describe_params(cls))
    console.print(t)
    return 0


def cmd_datasets_info(args: argparse.Namespace) -> int:
    cls = registry().get("dataset", args.name)
    lines = [f"{cls.name}: {cls.description}", "", getattr(cls, "info", "") or "(no download needed)"]
    layout = getattr(cls, "layout", "")
    if layout:
        lines += ["", "expected layout:", layout]
    if "root" in cls.param_fields():
        env_var = getattr(cls, "env_var", "")
        where = f" (or set {env_var}=PATH)" if env_var else ""
        lines += ["", f"data root: proxybench run --dataset {cls.name} --data-root PATH{where}"]
    lines += ["", f"parameters: {describe_params(cls) or '(none)'}"]
    print("\n".join(lines))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = registry()
    console = Console()
    t = Table(title="proxybench plugins")
    for col in ("plugin", "distribution", "version", "provides"):
        t.add_column(col)
    for p in reg.loaded:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.provides.items())
        t.add_row(p.name, p.distribution, p.version, provides)
    for f in reg.failures:
        t.add_row(f.name, f.distribution, "", f"[red]FAILED: {f.error}[/red]")
    console.print(t)
    return 0
