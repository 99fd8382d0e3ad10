"""Print per-domain mean ± std of accuracy and in-domain share per sampler from a results folder.

    python tools/summarize.py results/calib [--task autolabel]
"""

from __future__ import annotations

import argparse

from proxybench.leaderboard import to_markdown
from proxybench.results import load_records, records_frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--task", default=None)
    ap.add_argument("--metric", nargs="+", default=["accuracy", "in_domain_share"])
    args = ap.parse_args()
    df = records_frame(load_records(args.results))
    df = df[df.status == "ok"]
    if args.task:
        df = df[df.task == args.task]
    for task, part in df.groupby("task"):
        for metric in args.metric:
            g = part.groupby(["sampler", "client_domain"])[metric].agg(["mean", "std", "count"])
            table = g.apply(lambda r: f"{r['mean']:.3f} ± {0 if r['count'] < 2 else r['std']:.3f} (n={int(r['count'])})",
                            axis=1).unstack()
            seedmean = part.groupby(["sampler", "seed"])[metric].mean().groupby("sampler")
            table["average"] = seedmean.mean().map("{:.3f}".format) + " ± " + seedmean.std().fillna(0).map("{:.3f}".format)
            print(f"\n### {task}: {metric}\n")
            print(to_markdown(table))
        extra = part.groupby("sampler")[["select_bytes_down", "select_bytes_up", "device_flops", "epsilon_select",
                                         "epsilon"]].mean()
        print(f"\n### {task}: cost (means)\n")
        print(to_markdown(extra.map(lambda v: f"{v:.3g}")))


if __name__ == "__main__":
    main()
