"""How a leaderboard cell reads: its text (mean [lo, hi], tie and chance marks, units), the columns shown, the legend."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from .chance import CHANCE_MARK
from .chance import legend_text as chance_legend
from .leaderboard import AUDIT_COLUMN, SHARE, TIE, VS_PRIVATE, VS_RANDOM, Board
from .stats import METHOD
from .units import human

#: Columns whose interval the cell shows (the in-domain share's is only in the CSV, and decides its bold cell).
SHOWN_INTERVAL = ("acc ", "Δ ")


def legend(audit: bool, chances: list[float | None] | None = None) -> str:
    """What the marks, bold cells, intervals and paired columns mean (printed under every table).

    ``chances``: the chance accuracy of each table the legend is under (None: unknown), for the ⚠ mark.
    """
    text = ("† oracle (uses the hidden ground-truth domain ids); ‡ privacy-free reference (no privacy guarantee). "
            "Bold: the best private or client-free sampler of a column. In the accuracy and in-domain share columns "
            "only where it is separated from the second best: the low end of its interval above the high end of the "
            "second's, where an accuracy's interval is the printed one widened to at least the 95% Wilson interval of "
            "its mean over the test images behind it (the test set's noise); no bold cell: no sampler is separated. "
            "The in-domain share's interval is in the CSV. In the cost columns (counted, not sampled) bold is the "
            "lowest value. ")
    if chances is not None:
        text += chance_legend(chances) + " "
    text += ("ε none = no guarantee. "
             f"[lo, hi]: {METHOD}. {VS_RANDOM} / {VS_PRIVATE}: mean paired difference in accuracy (same seed and domain) "
             f"with its interval; {TIE} a statistical tie (the interval contains 0); ref: the reference row itself.")
    if audit:
        text += (f" {AUDIT_COLUMN}: an empirical lower bound on the selection's ε from the proxybench audit report "
                 "given to the leaderboard; above ε select would mean the accountant overclaims.")
    return text


def signed(x: float) -> str:
    return f"{x:+.3f}"


def fmt(value: Any, col: str, unit: bool = True) -> str:
    """One number as people read it; ``unit=False`` leaves the unit of bytes and FLOPs to a group header."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none" if col.startswith("ε") else "–"
    if col.startswith("acc") or col == SHARE:
        return f"{value:.3f}"
    if col.startswith("Δ"):
        return signed(value)
    if col == "runs":
        return str(int(value))
    if "bytes" in col:
        return human(value, "B" if unit else "").strip()
    if "FLOPs" in col:
        return human(value, "FLOP" if unit else "").strip()
    return f"{value:.3g}"


def display_columns(board: Board) -> list[str]:
    paired_cols = [c for c in (VS_RANDOM, VS_PRIVATE) if c in board.references]
    return ([f"acc {d}" for d in [*board.domains, "average"]] + paired_cols + [h for _, h, _ in board.costs]
            + ([AUDIT_COLUMN] if board.audit else []) + ["runs"])


def interval_text(board: Board, row: str, col: str) -> str:
    """``[lo, hi]`` of a cell that shows its interval, else ``""``."""
    t = board.table
    lo, hi = f"{col} lo", f"{col} hi"
    if not col.startswith(SHOWN_INTERVAL) or lo not in t.columns or pd.isna(t.at[row, lo]) or pd.isna(t.at[row, hi]):
        return ""
    show: Callable[[float], str] = signed if col.startswith("Δ") else (lambda x: f"{x:.3f}")
    return f"[{show(t.at[row, lo])}, {show(t.at[row, hi])}]"


def marks(board: Board, row: str, col: str) -> str:
    """The tie mark of a paired cell whose interval contains 0, the chance mark of an accuracy cell at chance."""
    t = board.table
    out = []
    if col.startswith("Δ") and interval_text(board, row, col) and t.at[row, f"{col} lo"] <= 0 <= t.at[row, f"{col} hi"]:
        out.append(TIE)
    if row in board.at_chance.get(col, ()):
        out.append(CHANCE_MARK)
    return " ".join(out)


def cell_text(board: Board, row: str, col: str) -> str:
    """A cell as people read it: mean [lo, hi] for accuracy, the paired Δ with a tie mark, costs in units."""
    if board.references.get(col) == row:
        return "ref"
    return " ".join(p for p in (fmt(board.table.at[row, col], col), interval_text(board, row, col),
                                marks(board, row, col)) if p)
