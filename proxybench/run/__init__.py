"""Runs: the spec, the scenario, one run's session and record, and sweeps of many runs through executors."""
