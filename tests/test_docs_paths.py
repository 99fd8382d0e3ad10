"""What the prose names exists: modules, their names and files cited in docstrings, comments and docs.

A module that moves leaves its old name behind in the prose that explains it; a reader who
follows it finds nothing. So every module (``proxybench.run.session``), source file
(``run/session.py``) and doc (``docs/results.md``) named in the repository's docstrings,
comments and Markdown docs must resolve against today's tree, and the prose cites only
documents the repository holds.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import proxybench

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "proxybench"
LAYERS = ("util", "privacy", "ml", "wire", "contract", "results", "harness", "run", "audit", "testing", "cli", "plugins")
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "tests" / "benchmarks" / "README.md"]
SOURCES = [p for folder in ("proxybench", "tools", "tests") for p in sorted((ROOT / folder).rglob("*.py"))
           if "__pycache__" not in p.parts]
#: A dotted name ending like a file (``results.md``) is a file name, not a module.
FILE_SUFFIXES = {"md", "py", "json", "jsonl", "gz", "toml", "txt", "csv", "html", "npy", "yaml", "yml"}
ANCHORED = re.compile(r"(?<![\w./-])(proxybench(?:\.\w+)+)")
#: In the core's own docstrings a module is often named from its layer down (``run.session``).
FROM_LAYER = re.compile(r"(?<![\w./-])((?:" + "|".join(LAYERS) + r")(?:\.\w+)+)")
FILE_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w-]+\.(?:py|md))\b")
#: The old habit: citing sections of a design file that is not in the repository.
OUTSIDE = re.compile(r"\bDESIGN\b")


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """(first line, text) of each docstring and comment of a Python file, or the whole of a Markdown file."""
    source = path.read_text()
    if path.suffix == ".md":
        yield 1, source
        return
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                yield node.body[0].lineno, text
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def defined_names(module: Path) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments, imports), conditionals included."""
    names: set[str] = set()
    todo = list(ast.parse(module.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            todo += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return names


def module_exists(dotted: str) -> bool:
    """``proxybench.run.session`` (or ``run.session``) is a module or package, or a name one of them defines."""
    parts = dotted.split(".")
    if parts[0] != "proxybench":
        parts = ["proxybench", *parts]
    if parts[-1] in FILE_SUFFIXES:
        return True
    here, rest = CORE, parts[1:]
    while rest and (here / rest[0]).is_dir():
        here, rest = here / rest[0], rest[1:]
    if rest and (here / f"{rest[0]}.py").is_file():
        here, rest = here / f"{rest[0]}.py", rest[1:]
    if not rest:
        return True
    if here == CORE:  # proxybench.Sampler: a name of the public face
        return rest[0] in proxybench.__all__ or rest[0] == "__version__"
    module = here if here.suffix == ".py" else here / "__init__.py"
    return module.is_file() and rest[0] in defined_names(module)


def file_exists(path: str, near: Path) -> bool:
    """A cited file, from the repository's root, from the package or from the citing file's folder."""
    if any(part.isupper() for part in Path(path).with_suffix("").parts):  # a template: plugins/samplers/NAME.py
        return True
    return any((base / path).is_file() for base in (ROOT, CORE, near))


def problems(path: Path) -> list[str]:
    """What ``path``'s prose names that the tree does not hold, as ``file:line: why``."""
    found = []
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    patterns = [ANCHORED] if path.suffix == ".md" else [ANCHORED, FROM_LAYER]
    for first, text in prose(path):
        hits = [(m, f"cites {m.group(0)!r}, a file outside the repository") for m in OUTSIDE.finditer(text)]
        hits += [(m, f"names module {m.group(1)!r}, which does not exist")
                 for pattern in patterns for m in pattern.finditer(text) if not module_exists(m.group(1))]
        hits += [(m, f"names file {m.group(1)!r}, which does not exist")
                 for m in FILE_PATH.finditer(text) if not file_exists(m.group(1), path.parent)]
        found += [f"{name}:{first + text[:m.start()].count(chr(10))}: {why}" for m, why in hits]
    return found


def test_the_prose_names_only_what_exists():
    wrong = [line for path in [*SOURCES, *DOCS] for line in problems(path)]
    assert not wrong, "docstrings, comments and docs name what is not in the tree:\n  " + "\n  ".join(wrong)


def test_the_check_catches_moved_modules_and_outside_citations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""See proxybench.stats, audit.lower_bounds, run/harness.py and docs/design.md (DESIGN §4)."""\n'
                   "# proxybench.run.session.RunSession, run.runner.run, harness/relay.py and docs/results.md are real\n")
    found = [line.split(": ", 1)[1] for line in problems(bad)]
    assert found == ["cites 'DESIGN', a file outside the repository",
                     "names module 'proxybench.stats', which does not exist",
                     "names module 'audit.lower_bounds', which does not exist",
                     "names file 'run/harness.py', which does not exist",
                     "names file 'docs/design.md', which does not exist"]
    assert module_exists("proxybench.Sampler") and not module_exists("proxybench.runner")
    assert module_exists("proxybench.wire.link.Ledger") and not module_exists("proxybench.wire.link.Link")

