"""Which cells a leaderboard marks: the best deployable sampler of a column, and the accuracies at chance.

Bold is a claim that one sampler is better than the rest, so it needs evidence. In a
column of estimates over seeds (accuracy, in-domain share) the best private or
client-free row is bold only where it is separated from the second best: the lower end
of its interval lies above the upper end of the second's. For accuracy the interval is
the bootstrap interval widened to the test set's noise (results.chance.cell_interval),
so two seeds that happen to agree do not pass as separated. Costs (bytes, rounds, FLOPs,
ε) are counted, not sampled: the lowest value is bold, ties all of them.
"""

from __future__ import annotations

import math

import pandas as pd

from .chance import at_chance, cell_interval

#: Kinds that may be highlighted as best.
DEPLOYABLE = ("private", "client-free")
#: The in-domain share column: an estimate over seeds, highlighted by its interval like accuracy.
SHARE = "in-domain share"

#: (row, accuracy column) -> test images behind the cell (NaN where unknown).
Images = dict[tuple[str, str], float]


def _interval(table: pd.DataFrame, row: str, col: str, images: Images | None) -> tuple[float, float]:
    n = (images or {}).get((str(row), col)) if col.startswith("acc ") else None
    return cell_interval(float(table.at[row, col]), float(table.at[row, f"{col} lo"]), float(table.at[row, f"{col} hi"]), n)


def separated_best(table: pd.DataFrame, col: str, images: Images | None = None) -> set[str]:
    """The deployable row with the highest mean, if its interval lies wholly above the second's; else none.

    A second row without any interval counts as its mean. No interval on the best, or no
    second row to be separated from, means no claim: nothing is bold.
    """
    pool = table[table.kind.isin(DEPLOYABLE)]
    ranked = pool[col].dropna().sort_values(ascending=False, kind="mergesort")
    if len(ranked) < 2:
        return set()
    best, second = ranked.index[0], ranked.index[1]
    best_lo, _ = _interval(table, best, col, images)
    _, second_hi = _interval(table, second, col, images)
    if math.isnan(second_hi):
        second_hi = float(ranked.iloc[1])
    return {str(best)} if not math.isnan(best_lo) and best_lo > second_hi else set()


def best_cells(table: pd.DataFrame, domains: list[str], costs: tuple[tuple[str, str, str], ...],
               images: Images | None = None) -> dict[str, set[str]]:
    """Per column, the deployable rows highlighted as best (see the module's docstring)."""
    best = {}
    estimates = [f"acc {d}" for d in [*domains, "average"]] + ([SHARE] if f"{SHARE} lo" in table.columns else [])
    for col in estimates:
        rows = separated_best(table, col, images)
        if rows:
            best[col] = rows
    pool = table[table.kind.isin(DEPLOYABLE)]
    for _, col, better in costs:
        if col == SHARE or col not in pool.columns:
            continue
        values = pool[col].dropna()
        if values.empty:
            continue
        target = values.max() if better == "max" else values.min()
        best[col] = {str(r) for r, v in values.items() if math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12)}
    return best


def chance_cells(table: pd.DataFrame, domains: list[str], chance: float | None,
                 images: Images | None = None) -> dict[str, set[str]]:
    """Per accuracy column, the rows (every kind) whose interval contains chance accuracy."""
    if chance is None:
        return {}
    out: dict[str, set[str]] = {}
    for col in [f"acc {d}" for d in [*domains, "average"]]:
        rows = {str(r) for r in table.index
                if at_chance(float(table.at[r, col]), float(table.at[r, f"{col} lo"]), float(table.at[r, f"{col} hi"]),
                             chance, (images or {}).get((str(r), col)))}
        if rows:
            out[col] = rows
    return out
