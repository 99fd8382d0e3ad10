"""Run the cross product of samplers x client domains x seeds for one task (calibration tables).

A stop-gap until `proxybench sweep` exists: runs already recorded (by spec hash) are
skipped, failures are recorded and do not stop the others.

    python tools/run_grid.py --task autolabel --samplers random ecos oracle-domain --seeds 0 1 2 --results results/calib
"""

from __future__ import annotations

import argparse
import traceback
from pathlib import Path

from proxybench import Cache, RunSpec
from proxybench.results import read_record, record_path
from proxybench.runner import run


def parse_params(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="autolabel")
    ap.add_argument("--samplers", nargs="+", default=["random", "ecos", "oracle-domain"])
    ap.add_argument("--domains", nargs="+", default=["handwritten", "printed", "street", "photo", "thick"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--task-param", nargs="*", default=[])
    ap.add_argument("--sampler-param", nargs="*", default=[])
    ap.add_argument("--backbone", default=RunSpec.backbone)
    ap.add_argument("--weights", default=RunSpec.weights)
    ap.add_argument("--feature-layer", type=int, default=RunSpec.feature_layer)
    ap.add_argument("--results", type=Path, required=True)
    args = ap.parse_args()
    cache = Cache()
    for seed in args.seeds:
        for dom in args.domains:
            for sampler in args.samplers:
                spec = RunSpec(sampler=sampler, task=args.task, client_domain=dom, seed=seed, budget=args.budget,
                               backbone=args.backbone, weights=args.weights, feature_layer=args.feature_layer,
                               task_params=parse_params(args.task_param),
                               sampler_params=parse_params(args.sampler_param) if sampler == "ecos" else {})
                path = record_path(args.results, spec.run_id)
                if path.exists() and read_record(path)["status"] == "ok":
                    continue
                try:
                    rec, _ = run(spec, args.results, cache)
                    print(f"{sampler:15s} {dom:12s} seed {seed}: acc {rec['metrics']['accuracy']:.3f} "
                          f"in-domain {rec['selection']['in_domain_share']:.3f} total {rec['timings']['total']:.0f}s",
                          flush=True)
                except Exception:
                    print(f"{sampler} {dom} seed {seed} FAILED\n{traceback.format_exc()}", flush=True)


if __name__ == "__main__":
    main()
