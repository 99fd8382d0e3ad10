"""Code identity: which code made a record, so results of different code are never mixed silently.

A record's ``code`` says the proxybench version, the git commit and dirty flag when
proxybench runs from a checkout, and for proxybench and every plugin distribution that
ran: its name, version and a hash of its Python source. The hash, not the version, is
what ``sweep --reuse same-code`` and the leaderboard compare: a version string outlives
many commits.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any

#: Distribution of the core; always part of a record's code.
CORE = "proxybench"
#: Fallback when the package metadata is missing (a source tree that was never installed).
UNKNOWN_VERSION = "0.0.0+unknown"


def package_version(dist: str = CORE) -> str:
    """The installed version of a distribution, from its metadata (not from a constant that is never bumped)."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


@functools.cache
def _packages() -> dict[str, list[str]]:
    return packages_distributions()


@functools.cache
def _top_level_names() -> dict[str, tuple[str, ...]]:
    """Distribution name -> the top-level import names it installs."""
    out: dict[str, set[str]] = {}
    for top, dists in _packages().items():
        for d in dists:
            out.setdefault(d, set()).add(top)
    return {d: tuple(sorted(tops)) for d, tops in out.items()}


def _distribution_of(module_name: str) -> str | None:
    tops = _packages().get(module_name.split(".")[0], [])
    return tops[0] if tops else None


def _package_dirs(top: str) -> list[tuple[str, Path]]:
    """(dotted name, folder or file) of a top-level package and of its subpackages that live elsewhere.

    An editable install may map a subpackage to a folder outside its parent's (setuptools'
    ``package-dir``); such subpackages are found among the imported modules, which include
    every plugin once the registry has loaded.
    """
    spec = importlib.util.find_spec(top)
    if spec is None:
        return []
    if not spec.submodule_search_locations:
        return [(top, Path(spec.origin))] if spec.origin and spec.origin.endswith(".py") else []
    found = [(top, Path(p)) for p in spec.submodule_search_locations]
    for name, module in sorted(sys.modules.items()):
        if name.startswith(top + ".") and getattr(module, "__path__", None):
            for p in module.__path__:
                path = Path(p)
                if not any(path == root or root in path.parents for _, root in found):
                    found.append((name, path))
    return found


def source_files(dist: str) -> list[tuple[str, Path]]:
    """(stable name, path) of every Python source file a distribution installs, sorted by name."""
    from ..contract.registry import registry

    registry()  # imports every plugin, so subpackages mapped outside their parent's folder are found
    files: dict[str, Path] = {}
    for top in _top_level_names().get(dist, ()):
        for dotted, root in _package_dirs(top):
            prefix = dotted.replace(".", "/")
            if root.is_file():
                files[f"{prefix}.py"] = root
                continue
            for path in root.rglob("*.py"):
                if "__pycache__" not in path.parts:
                    files[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
    return sorted(files.items())


def source_hash(dist: str) -> str | None:
    """sha256 (16 hex digits) of a distribution's Python sources, names included; None when none is found."""
    files = source_files(dist)
    if not files:
        return None
    h = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def _git(args: list[str], where: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.cache
def git_state() -> dict[str, Any] | None:
    """The commit of the checkout proxybench runs from and whether tracked files differ from it; None outside git."""
    spec = importlib.util.find_spec(CORE)
    if spec is None or not spec.submodule_search_locations:
        return None
    where = Path(next(iter(spec.submodule_search_locations)))
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None or _git(["ls-files", "--error-unmatch", "__init__.py"], where) is None:
        return None  # not a checkout, or proxybench is installed inside someone else's repository
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}


@functools.cache
def distribution_identity(dist: str) -> dict[str, Any]:
    """name, version and source hash of one distribution (version None when it is not installed)."""
    try:
        ver: str | None = version(dist)
    except PackageNotFoundError:
        ver = None
    return {"name": dist, "version": ver, "source_hash": source_hash(dist)}


def _plugin_distributions(plugins: Iterable[type] | None) -> list[str]:
    """Distributions of the given plugin classes, or of every loaded plugin when none are given."""
    if plugins is None:
        from ..contract.registry import registry

        return sorted({p.distribution for p in registry().loaded if p.distribution not in ("(local)", "?")})
    return sorted({dist for cls in plugins if (dist := _distribution_of(cls.__module__)) is not None})


def code_identity(plugins: Iterable[type] | None = None) -> dict[str, Any]:
    """What ``record["code"]`` holds: proxybench's version, git state, and each distribution that ran.

    With the classes of a run's plugins (its sampler, task, dataset and weights: ``ResolvedRun``),
    the distributions are proxybench and those providing them; without, proxybench and every
    loaded plugin distribution. Source hashes are computed once per process: the code a process
    runs is the code it imported.
    """
    names = sorted({CORE, *_plugin_distributions(plugins)})
    return {
        "proxybench_version": package_version(),
        "git": git_state(),
        "distributions": [distribution_identity(n) for n in names],
    }


def code_id(code: Mapping[str, Any] | None) -> str | None:
    """A short id of the source hashes in a record's ``code`` (None for records made before code identity)."""
    if not code:
        return None
    parts = sorted(f"{d['name']}={d['source_hash']}" for d in code.get("distributions", []))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def code_differences(code: Mapping[str, Any] | None, current: Iterable[Mapping[str, Any]] | None = None,
                     by: str = "source_hash") -> list[str]:
    """Why a record's code differs from the code installed now, compared ``by`` source_hash or version; [] if same.

    Only the distributions the record names are compared (the parts that ran); ``current``
    overrides the installed identities (for tests and for comparing two records).
    """
    if not code:
        return ["record has no code identity (made before proxybench 0.2.0)"]
    now = {d["name"]: d for d in current} if current is not None else None
    reasons = []
    for d in code.get("distributions", []):
        mine = now.get(d["name"]) if now is not None else distribution_identity(d["name"])
        if mine is None or mine.get("version") is None:
            reasons.append(f"{d['name']} is not installed")
        elif mine.get(by) != d.get(by):
            what = "source" if by == "source_hash" else "version"
            reasons.append(f"{d['name']} {what} changed")
    return reasons
