"""Selection only measures what a full run records of its selection: the studies in tools/ and the audit rely on it."""

from __future__ import annotations

import hashlib

import numpy as np

from proxybench import Cache, RunSpec, select_only
from proxybench.privacy.accounting import epsilon
from proxybench.run.resolved import ResolvedRun
from proxybench.run.runner import execute

from .conftest import TINY_RUN


def test_select_only_matches_the_run_record():
    resolved = ResolvedRun.of(RunSpec(sampler="ecos", **TINY_RUN))
    spec, cache = resolved.spec, Cache()
    run = select_only(resolved, cache)
    record = execute(resolved, cache)
    assert len(run.selection.indices) == spec.budget
    chosen = np.sort(run.selection.indices).astype(np.int64)
    assert hashlib.sha256(chosen.tobytes()).hexdigest()[:16] == record["selection"]["indices_hash"]
    assert run.in_domain_share == record["selection"]["in_domain_share"]
    by_phase = record["ledger"]["by_phase"]["select"]
    assert (run.bytes_down, run.bytes_up) == (by_phase["down"], by_phase["up"]) and run.bytes_down > 0
    assert len(run.calls) == record["device"]["select_rounds"] > 0
    assert run.declared_epsilon == epsilon(run.selection.privacy, spec.delta) == record["privacy"]["declared"]["select"]
