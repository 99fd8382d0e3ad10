"""Where each sampler's picks went, by domain: the selection's share of every domain, from run records.

The leaderboard's in-domain share counts picks from any client domain; on a mixed client
that hides whether both domains were found, and on a client whose domain is not in the
pool it is 0 by construction. This writes, per sampler variant and client, the mean over
seeds of ``selection.domain_shares``, and for mixed clients the mixture error: half the L1
distance between the in-domain picks' split over the client's domains and the client's
own shares (0: the client's proportions; 1: all picks from a domain the client lacks).
The last column is the share of picks outside the client's label space (distractors, in
any domain), which the distractor_style="same" setting makes hard to avoid.

    python tools/domain_shares.py leaderboards/mixture/records.jsonl.gz --out leaderboards/mixture/domain-shares.md
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from proxybench import mixture_error, parse_client_domain, read_records, to_markdown, variant_label

#: The column for picks whose label is outside the client's label space (distractors), whatever their domain.
OUTSIDE = "outside label space"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="a results folder or a records.jsonl.gz")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cells: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    order: list[str] = []
    for r in read_records(args.records):
        if r.get("status") != "ok":
            continue
        spec = r["spec"]
        label = variant_label(r)
        cells[(label, spec["client_domain"])].append({**r["selection"]["domain_shares"],
                                                       OUTSIDE: r["selection"]["outside_label_space_share"]})
        if label not in order:
            order.append(label)
    clients = sorted({c for _, c in cells}, key=lambda c: (c.count("+") + c.count(","), c))
    domains = sorted({d for runs in cells.values() for s in runs for d in s} - {OUTSIDE}) + [OUTSIDE]
    out = [f"# Selection's share per domain\n\nFrom `{args.records}`; mean over runs (seeds, and tasks where the "
           "board has several).\n"]
    for client in clients:
        rows = []
        for label in order:
            runs = cells.get((label, client))
            if not runs:
                continue
            mean = {d: float(np.mean([s.get(d, 0.0) for s in runs])) for d in domains}
            row = {"sampler": label, "runs": len(runs), **{d: f"{mean[d]:.2f}" for d in domains}}
            if len(parse_client_domain(client).names) > 1:
                row["mixture error"] = f"{np.mean([mixture_error(s, client) for s in runs]):.2f}"
            rows.append(row)
        out.append(f"## client {client}\n\n{to_markdown(pd.DataFrame(rows), index=False)}\n")
    text = "\n".join(out)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
