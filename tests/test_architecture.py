"""The house rules of docs/architecture.md: the public face, the layer order of imports, the module size limit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import proxybench

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "proxybench"
#: The built-in plugins live in the package beside the core's layers, and obey the rules of third-party plugins.
PLUGINS = CORE / "plugins"
#: Study scripts: like plugins, they use only the public face, so moving an internal never breaks them.
TOOLS = ROOT / "tools"

#: The core's layers, lowest first (docs/architecture.md): a module may import its own layer and those below it.
LAYERS = ("util", "privacy", "ml", "wire", "contract", "results", "harness", "run", "audit", "testing", "cli")
MAX_LINES = 400


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def core_files() -> list[Path]:
    return [p for p in python_files(CORE) if not p.is_relative_to(PLUGINS)]


def module_name(path: Path) -> str:
    """Dotted name of a file of the package (the core's layers and the built-in plugins)."""
    parts = ("proxybench", *path.relative_to(CORE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, at any depth (function-level imports count too).

    ``from X import y`` gives ``X``, except where ``y`` may be a module or a public name
    (``from . import y``, ``from proxybench import y``): then ``X.y``.
    """
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if node.module is None or module == "proxybench":
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, module))
    return found


def layer_of(module: str) -> str | None:
    """The layer of a core module; None for the public face (proxybench and its __init__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_public_name_imports():
    missing = [name for name in proxybench.__all__ if not hasattr(proxybench, name)]
    assert not missing, f"proxybench.__all__ names these but proxybench has none: {missing}"
    assert len(set(proxybench.__all__)) == len(proxybench.__all__)
    namespace: dict = {}
    exec("from proxybench import *", namespace)
    assert set(proxybench.__all__) <= set(namespace)


def test_the_layers_are_the_core_folders():
    folders = {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {*LAYERS, PLUGINS.name}
    loose = {p.stem for p in CORE.glob("*.py")} - {"__init__"}
    assert not loose, "a module at the core's top level belongs in a layer"


def layer_violations(name: str, found: list[tuple[int, str]]) -> list[str]:
    """Why the imports ``found`` in core module ``name`` break the layer order (empty when they do not)."""
    mine = layer_of(name)
    wrong = []
    for line, module in found:
        if module == "proxybench.plugins" or module.startswith("proxybench.plugins."):
            wrong.append(f"line {line}: {module} (the core reaches plugins only through the registry)")
        elif mine is not None and (module == "proxybench" or module.startswith("proxybench.")):
            theirs = layer_of(module)
            if theirs is None:
                wrong.append(f"line {line}: {module} (a layer never imports the public face)")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"line {line}: {module} ({mine} may not import the higher layer {theirs})")
    return wrong


def plugin_allowed(module: str) -> bool:
    """Plugins import the public face (``from proxybench import X``) and each other, never internals or dp_accounting."""
    if module.split(".")[0] == "dp_accounting":
        return False
    if module == "proxybench" or module.startswith("proxybench.plugins"):
        return True
    if module.startswith("proxybench."):
        return module.count(".") == 1 and module.split(".")[1] in proxybench.__all__
    return True


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_down_and_never_a_plugin(path):
    wrong = layer_violations(module_name(path), imports(path))
    assert not wrong, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("path", python_files(PLUGINS), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_use_only_the_public_face(path):
    wrong = [f"line {line}: {module}" for line, module in imports(path) if not plugin_allowed(module)]
    assert not wrong, f"{path.relative_to(ROOT)} imports internals (use `from proxybench import ...`):\n  " + "\n  ".join(wrong)


def tool_allowed(module: str) -> bool:
    """A script of tools/ imports the public face (``from proxybench import X``), never internals or another script."""
    if module.split(".")[0] in {p.stem for p in TOOLS.glob("*.py")}:
        return False
    if module.startswith("proxybench."):
        return module.count(".") == 1 and module.split(".")[1] in proxybench.__all__
    return True


@pytest.mark.parametrize("path", python_files(TOOLS), ids=lambda p: str(p.relative_to(ROOT)))
def test_tools_use_only_the_public_face(path):
    wrong = [f"line {line}: {module}" for line, module in imports(path, f"tools.{path.stem}") if not tool_allowed(module)]
    assert not wrong, (f"{path.relative_to(ROOT)} imports internals or a sibling script (use `from proxybench import ...`; "
                       "move what scripts share into the library):\n  " + "\n  ".join(wrong))


@pytest.mark.parametrize("path", python_files(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_the_size_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (limit {MAX_LINES}): split it by concept"


def test_the_checks_catch_what_they_forbid(tmp_path):
    """A lower layer importing a higher one, the core importing a plugin or the face, a plugin or tool importing internals."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ..run.runner import run\nfrom ..util.errors import ProxybenchError\n"
                   "def f():\n    from proxybench.plugins.samplers import ecos\n    from .. import __version__\n")
    wrong = layer_violations("proxybench.wire.bad", imports(bad, "proxybench.wire.bad"))
    assert [w.split(":")[0] for w in wrong] == ["line 1", "line 4", "line 5"]
    from_cli = layer_violations("proxybench.cli.bad", imports(bad, "proxybench.cli.bad"))
    assert [w.split(":")[0] for w in from_cli] == ["line 4", "line 5"]
    assert not plugin_allowed("dp_accounting") and not plugin_allowed("proxybench.ml.training")
    assert plugin_allowed("proxybench.Sampler") and plugin_allowed("proxybench.plugins.samplers.coverage")
    assert not plugin_allowed("proxybench.run")
    assert tool_allowed("proxybench.select_only") and tool_allowed("numpy")
    assert not tool_allowed("proxybench.run.session") and not tool_allowed("domain_shares")


def test_names_given_as_strings_resolve():
    """What is named by a string (device programs, the console script, the forkserver's preload, the packages) exists."""
    import importlib
    import sys

    from proxybench.harness.children import PRELOAD
    from proxybench.wire.programs import resolve_program
    from proxybench.wire.scoring import SCORING_PROGRAM, evaluate_program

    assert resolve_program(SCORING_PROGRAM) is evaluate_program
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, attr = project["project"]["scripts"]["proxybench"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["proxybench", "proxybench.*"]
    from proxybench.contract.registry import default_plugins

    assert all(importlib.import_module(ep.value) for ep in default_plugins())
    assert PRELOAD and all(importlib.import_module(name) for name in PRELOAD)

