"""Aggregation and rendering of comparison tables."""

from __future__ import annotations

import pandas as pd


def to_markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub markdown table (no extra dependency); values are printed as they are."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)
