"""The cost model of docs/scale.md, fitted on a full ``test_bench_dask.py`` run's JSON.

``python -m tests.benchmarks.cost_model RESULTS.json``: per ECOS step and mode (in-process, or
the LocalCluster's k workers), t = a + b * X with X the step's work (below), fitted by least
squares on relative error over the measured N; prints the fit and the predicted seconds at
N = 1e8 and 1e9 on k = 2, 16 and 64 workers as markdown tables.

Only the assignment pass is spread over the workers (X / k); the sample gather lands on the
client and training, membership and draws and the k-center step run there, so their fits
carry over unchanged to any k (and, being the same code in both modes, are fitted on both
modes' measurements together). That is the model's assumption: it was measured at k = 2 only.
"""

from __future__ import annotations

import json
import sys

import numpy as np

ITERS, RHO = 20, 2.0

#: step -> (what X is, X as a function of N, d, R, M, B); the cluster's assignment X is divided by its workers.
WORK = {
    "gather": ("M d (sampled values)", lambda N, d, R, M, B: M * d),
    "train": ("iters M R d", lambda N, d, R, M, B: ITERS * M * R * d),
    "assign": ("N R d / k", lambda N, d, R, M, B: N * R * d),
    "proximity": ("N", lambda N, d, R, M, B: N),
    "diversity": ("rho B^2 d", lambda N, d, R, M, B: RHO * B * B * d),
}


def rows(path: str) -> list[dict]:
    """One row per (N, mode): each step's seconds, from the steps runs and the selection's own step seconds."""
    out = []
    for bench in json.load(open(path))["benchmarks"]:
        info = bench["extra_info"]
        for mode, steps, select, total in (("in-process", "steps_in_process", "in_process_step_seconds", "in_process_s"),
                                           ("cluster", "steps_cluster", "cluster_step_seconds", "cluster_s")):
            s, sel = info[steps], info[select]
            out.append({"mode": mode, "N": s["N"], "d": s["d"], "R": s["R"], "M": s["M"], "B": s["N"] // 1000,
                        "k": s["workers"] if mode == "cluster" else 1, "select": info[total],
                        "gather": s["gather_s"], "train": s["train_s"], "assign": s["assign_s"],
                        "proximity": sel["proximity"], "diversity": sel["diversity"]})
    return out


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of t = a + b X minimising the squared relative error; a is kept >= 0."""
    x, t = np.array(points).T
    (a, b), *_ = np.linalg.lstsq(np.stack([1 / t, x / t], 1), np.ones_like(t), rcond=None)
    if a < 0:
        a, b = 0.0, float(np.sum(x / t) / np.sum((x / t) ** 2))
    return float(a), float(b)


#: Steps that run on the client in both modes (the same code): fitted on both modes' measurements together.
CLIENT_STEPS = ("train", "proximity", "diversity")


def model(measured: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
    fits = {}
    for mode in ("in-process", "cluster"):
        for step, (_, work) in WORK.items():
            rs = [r for r in measured if r["mode"] == mode or step in CLIENT_STEPS]
            fits[mode, step] = fit([(work(r["N"], r["d"], r["R"], r["M"], r["B"]) / (r["k"] if step == "assign" else 1),
                                     r[step]) for r in rs])
    return fits


def predict(fits: dict, mode: str, N: float, k: int, M: float | None = None, B: float | None = None,
            d: int = 112, R: int = 100) -> dict[str, float]:
    """Seconds per step at N on k workers; the k-means sample M and budget B default to the measured N / 10 and N / 1000."""
    M, B = M or N / 10, B or N / 1000
    out = {}
    for step, (_, work) in WORK.items():
        a, b = fits[mode, step]
        out[step] = a + b * work(N, d, R, M, B) / (k if step == "assign" else 1)
    return out


def main(path: str) -> None:
    measured = rows(path)
    fits = model(measured)
    print("| step | X | in-process: a (s), b (s per X) | cluster: a (s), b (s per X) |\n|---|---|---|---|")
    for step, (what, _) in WORK.items():
        (a1, b1), (a2, b2) = fits["in-process", step], fits["cluster", step]
        print(f"| {step} | {what} | {a1:.3g}, {b1:.3g} | {a2:.3g}, {b2:.3g} |")
    print("\n| N | mode, k | " + " | ".join(WORK) + " | total (s) | total at M = 1e6, B = 1e4 (s) |")
    print("|---" * (len(WORK) + 4) + "|")
    for N in (1e8, 1e9):
        for mode, k in (("in-process", 1), ("cluster", 2), ("cluster", 16), ("cluster", 64)):
            p = predict(fits, mode, N, k)
            practical = sum(predict(fits, mode, N, k, M=1e6, B=1e4).values())
            print(f"| {N:.0e} | {mode}, {k} | " + " | ".join(f"{v:.3g}" for v in p.values())
                  + f" | {sum(p.values()):.3g} | {practical:.3g} |")

if __name__ == "__main__":
    main(sys.argv[1])
