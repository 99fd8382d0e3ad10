"""``proxybench run --sampler ecos --task autolabel`` with a warm cache: wall time split by stage.

The first run warms the cache (dataset, phi, pool features) and is not timed. Tiny: the
tests' TINY_RUN spec; full: the default RunSpec. The stages (record["timings"]) go to
``extra_info``, with the slowest one named.
"""

from __future__ import annotations

from proxybench import Cache, RunSpec
from proxybench.run.runner import run

from ..conftest import TINY_RUN
from .conftest import sizes


def test_default_run_by_stage(benchmark, tmp_path):
    spec = RunSpec(sampler="ecos", task="autolabel", **sizes(TINY_RUN, {}))
    cache = Cache(tmp_path / "cache")
    run(spec, tmp_path / "warm", cache)
    record, _ = benchmark.pedantic(run, args=(spec, tmp_path / "timed", cache), rounds=1)
    stages = {k: v for k, v in record["timings"].items() if k != "total"}
    benchmark.extra_info.update(timings=record["timings"], slowest_stage=max(stages, key=stages.get),
                                step_seconds=record["selection"]["info"]["step_seconds"])
    assert record["status"] == "ok"
