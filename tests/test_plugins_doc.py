"""docs/plugins.md cannot drift: its python examples run, and the fields and rules it lists are the code's."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from proxybench import AuditMechanism, CloudView, ImageData, PickedData, PoolView, Selection, TaskContext, TaskResult
from proxybench.testing import RULES, tiny_scenario

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_the_examples_run(tmp_path, monkeypatch):
    """Blocks starting ``# file: NAME.py`` become importable modules; blocks starting ``# run`` are executed."""
    files = [b for b in BLOCKS if b.startswith("# file: ")]
    runs = [b for b in BLOCKS if b.startswith("# run")]
    assert files and len(runs) >= 3 and len(files) + len(runs) == len(BLOCKS)
    for block in files:
        (tmp_path / block.split("\n", 1)[0].removeprefix("# file: ").strip()).write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for block in runs:
            exec(compile(block, str(DOC), "exec"), {"__name__": "plugins_doc_example"})
    finally:
        sys.modules.pop("prototype_votes", None)


@pytest.mark.parametrize("cls", [CloudView, Selection, TaskContext, TaskResult, PickedData, PoolView, ImageData,
                                 AuditMechanism], ids=lambda c: c.__name__)
def test_every_field_is_documented(cls):
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in TEXT]
    assert not missing, f"docs/plugins.md does not describe {cls.__name__}'s fields {missing}"


def test_every_device_context_member_is_documented():
    ctx = tiny_scenario().device_context()
    members = [n for n in vars(ctx) if not n.startswith("_")] + ["n", "features()"]
    assert np.all([f"`{m}`" in TEXT for m in members]), [m for m in members if f"`{m}`" not in TEXT]


def test_every_rule_of_the_kit_is_in_the_table():
    rows = set(re.findall(r"^\| `([a-z-]+)` \|", TEXT, flags=re.M))
    assert set(RULES) <= rows, f"rules missing from docs/plugins.md: {sorted(set(RULES) - rows)}"
