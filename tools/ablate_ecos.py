"""ECOS ablation on the embedded benchmark, selection only (no task model): in-domain share, bytes, epsilon.

Varies one group of parameters at a time around the defaults (plus the full
candidate-rule x diversity x R x sigma factorial) over every client domain and the
given seeds. The tables that chose ECOS's defaults are in docs/ecos-ablation.md.

    python tools/ablate_ecos.py --seeds 0 1 --out docs/ecos-ablation.md
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from proxybench import Cache, RunSpec, select_only, to_markdown

DOMAINS = ["handwritten", "printed", "street", "photo", "thick"]


def variants() -> list[dict]:
    out = [{}]
    out += [{"rho": r} for r in (1.0, 1.5, 3.0, 4.0)]
    out += [{"dim": d} for d in (16, 32)] + [{"reduction": "none"}, {"reduction": "pca"}]
    out += [{"dtype": "float16"}, {"spherical": True}, {"tau": 1.0}]
    for cand, div, R, sigma in itertools.product(("uniform", "nearest"), (True, False), (50, 100, 200), (0.0, 5.0, 20.0)):
        out.append({"candidates": cand, "diversity": div, "R": R, "sigma": sigma})
    unique = []
    for v in out:
        if v not in unique:
            unique.append(v)
    return unique


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cache = Cache()
    rows = []
    for params in variants():
        shares, ups, downs, eps = {}, [], [], None
        for seed in args.seeds:
            for dom in DOMAINS:
                run = select_only(RunSpec(sampler="ecos", client_domain=dom, seed=seed, budget=args.budget,
                                          sampler_params=params), cache)
                shares.setdefault(dom, []).append(run.in_domain_share)
                ups.append(run.bytes_up)
                downs.append(run.bytes_down)
                eps = run.declared_epsilon
        label = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        row = {"ecos variant": label}
        row.update({d: f"{np.mean(v):.1%}" for d, v in shares.items()})
        row["mean"] = f"{np.mean([np.mean(v) for v in shares.values()]):.1%}"
        row.update({"bytes down": int(np.mean(downs)), "bytes up": int(np.mean(ups)),
                    "epsilon": "none" if eps is None else f"{eps:.3g}"})
        rows.append(row)
        print(row, flush=True)
    import pandas as pd

    text = (f"ECOS selection ablation: in-domain share of the selection at budget {args.budget} per client domain "
            f"(mean over seeds {args.seeds}), selection-phase bytes, epsilon at delta=1e-5.\n\n"
            + to_markdown(pd.DataFrame(rows), index=False) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
