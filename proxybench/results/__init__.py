"""Results: the RunRecord store, code identity, statistics, leaderboards, reports and comparisons."""
