"""Does the ordering of samplers hold across backbones? Kendall's tau between the rankings per setting.

Groups ok run records by phi (backbone and weights) and by the task model, ranks the
sampler variants by mean accuracy in each group (over client domains and seeds), and
writes Kendall's tau-b between every pair of groups' rankings, with the rankings
themselves. Oracles and privacy-free references are ranked with the rest: the question is
whether a table's order changes with the backbone.

    python tools/ranking_agreement.py leaderboards/backbones/records.jsonl.gz --out leaderboards/backbones/ranking.md
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau

from proxybench import read_records, to_markdown, variant_label


def frame(path: Path) -> pd.DataFrame:
    rows = []
    for r in read_records(path):
        if r.get("status") != "ok":
            continue
        spec = r["spec"]
        rows.append({
            "phi": f"{spec['backbone']}/{spec['weights']}",
            "task model": spec.get("task_params", {}).get("model", "default"),
            "sampler": variant_label(r),
            "accuracy": r["metrics"]["accuracy"],
        })
    return pd.DataFrame(rows)


def agreement(means: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b between every pair of columns (each a setting's mean accuracy per sampler)."""
    out = pd.DataFrame(index=pd.Index(means.columns, name="setting"), columns=means.columns, dtype=object)
    for a, b in itertools.product(means.columns, repeat=2):
        both = means[[a, b]].dropna()
        tau = kendalltau(both[a], both[b]).statistic if len(both) > 1 else float("nan")
        out.loc[a, b] = f"{tau:+.2f}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="a results folder or a records.jsonl.gz")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    df = frame(args.records)
    parts = [f"# Ranking agreement across backbones\n\nFrom `{args.records}`: {len(df)} ok runs. Mean accuracy per "
             "sampler (over client domains and seeds), and Kendall's tau-b between the rankings.\n"]
    for by, over in (("phi", "task model"), ("task model", "phi")):
        means = df.groupby(["sampler", by]).accuracy.mean().unstack(by)
        counts = df.groupby(by).size()
        parts.append(f"## By {by} (averaged over {over})\n\n"
                     f"{to_markdown(means.map(lambda v: f'{v:.3f}'))}\n\nruns per {by}: "
                     f"{', '.join(f'{k} {v}' for k, v in counts.items())}\n\n"
                     f"Kendall's tau-b between the {by} rankings:\n\n{to_markdown(agreement(means))}\n")
    cells = df.groupby(["sampler", "phi", "task model"]).accuracy.mean().unstack(["phi", "task model"])
    cells.columns = [f"{p} · {m}" for p, m in cells.columns]
    parts.append(f"## Every phi x task model\n\n{to_markdown(cells.map(lambda v: f'{v:.3f}'))}\n\n"
                 f"Kendall's tau-b between these rankings:\n\n{to_markdown(agreement(cells))}\n")
    text = "\n".join(parts)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
