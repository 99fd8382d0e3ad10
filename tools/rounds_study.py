"""One-round samplers against their multi-round variants at equal total epsilon, selection only (no task model).

The selection half of ``leaderboards/rounds.toml``, cheap enough to run on every client
domain and several seeds: each cell is one selection, scored by the harness's ground truth
(in-domain share; on mixed clients also the mixture error, ``proxybench.mixture_error``).
``--family ecos`` compares ecos with ecos-rounds, ``--family dp-mean`` dp-mean with
dp-mean-rounds.

    python tools/rounds_study.py --seeds 0 1 2 --out docs/rounds.md
    python tools/rounds_study.py --family dp-mean --domains street photo street+photo
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from proxybench import Cache, RunSpec, mixture_error, select_only, to_markdown, track

DOMAINS = ["handwritten", "printed", "street", "photo", "thick"]
FAMILIES = {
    "ecos": [("ecos", {})] + [("ecos-rounds", {"rounds": k}) for k in (2, 3)] + [
        ("ecos-rounds", {"rounds": 3, "stop_tv": 0.1})],
    "dp-mean": [("dp-mean", {})] + [("dp-mean-rounds", {"rounds": k}) for k in (2, 3)],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epsilons", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--family", choices=sorted(FAMILIES), default="ecos", help="which samplers (default: ecos)")
    ap.add_argument("--domains", nargs="+", default=DOMAINS, help="client domains, mixtures included (a+b)")
    ap.add_argument("--tau", type=float, default=0.0,
                    help="tau of every ecos variant: a cluster counts (and is refined) only when its noisy count >= "
                         "tau * sigma (the dp-mean family has no tau)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cache = Cache()
    rows = []
    for eps in args.epsilons:
        for sampler, params in FAMILIES[args.family]:
            shares: dict[str, list[float]] = {}
            errors: dict[str, list[float]] = {}
            down, up, rounds, eps_run = [], [], [], []
            cells = list(itertools.product(args.seeds, args.domains))
            for seed, dom in track(cells, desc=f"ε {eps:g} {sampler} {params}", total=len(cells)):
                tau = {"tau": args.tau} if args.family == "ecos" else {}
                spec = RunSpec(sampler=sampler, client_domain=dom, seed=seed, budget=args.budget,
                               sampler_params={**params, **tau, "target_epsilon": eps}, task="outsource")
                run = select_only(spec, cache)
                shares.setdefault(dom, []).append(run.in_domain_share)
                if "+" in dom or "," in dom:
                    errors.setdefault(dom, []).append(
                        mixture_error(run.scenario.domain_shares(run.selection.indices), dom))
                down.append(run.bytes_down)
                up.append(run.bytes_up)
                rounds.append(len(run.calls))
                eps_run.append(run.declared_epsilon)
            label = sampler + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")
            row = {"target ε": eps, "sampler": label, **{d: f"{np.mean(v):.1%}" for d, v in shares.items()},
                   "mean": f"{np.mean([np.mean(v) for v in shares.values()]):.1%}",
                   **{f"mixture error {d}": f"{np.mean(v):.3f}" for d, v in errors.items()},
                   "rounds run": f"{np.mean(rounds):.2f}", "select bytes down": int(np.mean(down)),
                   "select bytes up": int(np.mean(up)), "ε (accountant)": f"{np.mean(eps_run):.3f}"}
            rows.append(row)
            print(row, flush=True)
    tau = f", tau = {args.tau:g}" if args.family == "ecos" else ""
    text = (f"In-domain share of the selection at budget {args.budget} per client domain (mean over seeds "
            f"{args.seeds}), at equal total epsilon (delta 1e-5){tau}; mixture error on mixed clients; selection "
            "bytes and rounds run, averaged.\n\n"
            + to_markdown(pd.DataFrame(rows), index=False) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
