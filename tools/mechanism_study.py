"""The private built-ins' selections on each one-domain client, selection only: in-domain share and epsilon.

Shows what moving the built-ins onto the device runtime's mechanisms changed (issue 23):
the same specs, run by this code and by an older checkout, give each selection's in-domain
share (harness ground truth), its epsilon and its indices hash, one CSV row per selection.

    python tools/mechanism_study.py --out /tmp/new.csv
    PYTHONPATH=/path/to/old/checkout python tools/mechanism_study.py --out /tmp/old.csv
    python tools/mechanism_study.py --compare /tmp/old.csv /tmp/new.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from proxybench import Cache, RunSpec, select_only, to_markdown, track

DOMAINS = ["handwritten", "printed", "street", "photo", "thick"]
SAMPLERS = ["ecos", "dsir", "cluster-filter", "ecos-rounds", "dp-mean", "dp-mean-rounds"]


def select(sampler: str, domain: str, seed: int, cache: Cache) -> dict:
    run = select_only(RunSpec(sampler=sampler, client_domain=domain, seed=seed, task="outsource"), cache)
    chosen = run.selection.indices
    return {"sampler": sampler, "domain": domain, "seed": seed, "in_domain_share": round(run.in_domain_share, 4),
            "epsilon": run.declared_epsilon,
            "indices_hash": hashlib.sha256(np.sort(chosen).astype(np.int64).tobytes()).hexdigest()[:16]}


def compare(old: Path, new: Path) -> None:
    """Per sampler and domain: mean in-domain share over seeds, old and new, and the paired difference."""
    a, b = pd.read_csv(old), pd.read_csv(new)
    both = a.merge(b, on=["sampler", "domain", "seed"], suffixes=("_old", "_new"))
    both["delta"] = both.in_domain_share_new - both.in_domain_share_old
    both["same_hash"] = (both.indices_hash_old == both.indices_hash_new).astype(int)
    table = both.groupby(["sampler", "domain"]).agg(
        old=("in_domain_share_old", "mean"), new=("in_domain_share_new", "mean"), delta=("delta", "mean"),
        delta_min=("delta", "min"), delta_max=("delta", "max"), eps_old=("epsilon_old", "first"),
        eps_new=("epsilon_new", "first"), seeds=("seed", "count"), same_hash=("same_hash", "sum"))
    print(to_markdown(table.round(3)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samplers", nargs="+", default=SAMPLERS)
    ap.add_argument("--domains", nargs="+", default=DOMAINS)
    ap.add_argument("--out", type=Path, help="CSV of one row per selection")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("OLD", "NEW"), help="compare two CSVs instead")
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.out is None:
        ap.error("--out is required unless --compare is given")
    cache, rows = Cache(), []
    cells = list(itertools.product(args.samplers, args.domains, args.seeds))
    for sampler, domain, seed in track(cells, desc="selections", total=len(cells)):
        rows.append(select(sampler, domain, seed, cache))
        with args.out.open("w", newline="") as f:  # rewritten after each selection: a stopped study keeps its rows
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
