"""Results: the RunRecord store, code identity, statistics, leaderboards, reports and comparisons."""

from .frame import COLUMNS  # the columns of proxybench.load_records' frame, documented as proxybench.results.COLUMNS

__all__ = ["COLUMNS"]
