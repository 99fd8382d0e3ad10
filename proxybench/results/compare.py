"""Two sets of results side by side: which leaderboard cells moved beyond their intervals.

For checking a change against the committed leaderboard: regenerate the runs with the
new code, then ``proxybench compare leaderboards/NAME/records.jsonl.gz results/NAME``.
A cell (dataset, task, setting, sampler variant, accuracy column) moved when each side's
mean lies outside the other side's 95% bootstrap interval; noise within the intervals is
not reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .leaderboard import Board, build_boards
from .stats import Interval


@dataclass(frozen=True)
class Cell:
    """One leaderboard cell's address."""

    dataset: str
    task: str
    setting: str  # the table's setting as sorted JSON
    row: str
    column: str

    def label(self, varying: dict[str, Any] | None = None) -> str:
        extra = f" ({', '.join(f'{k}={v}' for k, v in varying.items())})" if varying else ""
        return f"{self.dataset}/{self.task}{extra} | {self.row} | {self.column}"


@dataclass(frozen=True)
class Moved:
    """A cell whose mean moved beyond both intervals."""

    cell: Cell
    a: Interval
    b: Interval
    varying: dict[str, Any]

    @property
    def delta(self) -> float:
        return self.b.mean - self.a.mean


@dataclass
class Comparison:
    """The moved cells, and how many cells were compared or found on one side only."""

    moved: list[Moved]
    compared: int
    only_a: int
    only_b: int
    undefined: int  # cells without an interval on a side (a single seed)


def _cells(boards: list[Board]) -> dict[Cell, tuple[Interval, dict[str, Any]]]:
    out = {}
    for b in boards:
        setting = json.dumps(b.setting, sort_keys=True)
        for col in [f"acc {d}" for d in [*b.domains, "average"]]:
            for row in b.table.index:
                t = b.table
                iv = Interval(float(t.at[row, col]), float(t.at[row, f"{col} lo"]), float(t.at[row, f"{col} hi"]),
                              int(t.at[row, "runs"]))
                if iv.mean == iv.mean:  # a row without runs in this domain has no cell
                    out[Cell(b.dataset, b.task, setting, str(row), col)] = (iv, b.varying)
    return out


def compare_records(records_a: list[dict[str, Any]], records_b: list[dict[str, Any]]) -> Comparison:
    """Cells present on both sides whose means moved beyond the intervals, largest move first."""
    a, b = _cells(build_boards(records_a)), _cells(build_boards(records_b))
    common = sorted(set(a) & set(b), key=lambda c: (c.dataset, c.task, c.setting, c.row, c.column))
    moved, undefined = [], 0
    for cell in common:
        (ia, varying), (ib, _) = a[cell], b[cell]
        if not (ia.defined and ib.defined):
            undefined += 1
        elif not ia.contains(ib.mean) and not ib.contains(ia.mean):
            moved.append(Moved(cell, ia, ib, varying))
    moved.sort(key=lambda m: -abs(m.delta))
    return Comparison(moved, len(common), len(set(a) - set(b)), len(set(b) - set(a)), undefined)
