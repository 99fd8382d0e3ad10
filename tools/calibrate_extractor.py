"""Measure which selection extractor phi lets samplers find the client's domain (docs/calibration-extractor.md).

For each candidate phi and client domain, runs ECOS (default parameters), the
privacy-free upload-features reference and random at the given budget, and reports the
in-domain share of their selections, plus kNN label accuracy inside the client domain
(what autolabel's private kNN can reach at best) and extraction time. No task model is
trained: this isolates phi.

    python tools/calibrate_extractor.py --seeds 0 1 --out docs/calibration-extractor.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from proxybench import Cache, RunSpec, create_dataset, select_only

CANDIDATES = [
    # (label, backbone, weights, feature_layer)
    ("Lite0 ImageNet, 64 px, head", "tf_efficientnet_lite0", "lite0:64", -1),
    ("Lite0 ImageNet, 64 px, stage 3", "tf_efficientnet_lite0", "lite0:64", 3),
    ("Lite0 ImageNet, 32 px, stage 3", "tf_efficientnet_lite0", "lite0:32", 3),
    ("resnet10t random + BN recal, 32 px", "resnet10t", "random", -1),
    ("resnet10t pool-label-trained, 32 px", "resnet10t", "cloud", -1),
]


def knn_label_accuracy(feats: np.ndarray, labels: np.ndarray, k: int = 10, folds: int = 5) -> float:
    """Cross-validated k-NN label accuracy inside one domain (the ceiling of private kNN labeling)."""
    idx = np.random.default_rng(0).permutation(len(feats))
    correct = 0
    for f in range(folds):
        test = idx[f::folds]
        train = np.setdiff1d(idx, test)
        a, b = feats[train], feats[test]
        d = (b * b).sum(1)[:, None] - 2 * b @ a.T + (a * a).sum(1)[None]
        nn = np.argpartition(d, k, axis=1)[:, :k]
        neighbour_labels = labels[train][nn]
        votes = np.array([np.bincount(row, minlength=10).argmax() for row in neighbour_labels])
        correct += int((votes == labels[test]).sum())
    return correct / len(feats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--domains", nargs="+", default=None)
    ap.add_argument("--candidates", type=int, nargs="+", default=None, help="indices into CANDIDATES")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cache = Cache()
    rows = []
    chosen = [CANDIDATES[i] for i in args.candidates] if args.candidates else CANDIDATES
    for label, backbone, weights, layer in chosen:
        shares: dict[str, list[float]] = {"ecos": [], "upload-features": [], "random": []}
        knn, secs = [], []
        domains = args.domains
        for seed in args.seeds:
            probe = RunSpec(backbone=backbone, weights=weights, feature_layer=layer, seed=seed).resolved()
            if domains is None:
                domains = list(create_dataset(probe.dataset, **probe.dataset_params).load(cache).client_domains)
            for dom in domains:
                for name in shares:
                    spec = RunSpec(sampler=name, backbone=backbone, weights=weights, feature_layer=layer,
                                   client_domain=dom, seed=seed, budget=args.budget).resolved()
                    run = select_only(spec, cache)  # the harness's view: scenario and phi, for analysis
                    shares[name].append(run.in_domain_share)
                    if name == "ecos" and seed == args.seeds[0]:
                        t = time.perf_counter()
                        data, client = run.scenario.data, run.scenario.client_train_idx
                        imgs = data.images[client][:1000]
                        f = run.extractor.extract(imgs)
                        secs.append((time.perf_counter() - t) / len(imgs) * 1000)
                        knn.append(knn_label_accuracy(f, data.labels[client][:1000]))
        rows.append((label, *(np.mean(v) for v in shares.values()), np.mean(knn), np.mean(secs), run.extractor.dim))
        print(rows[-1], flush=True)
    lines = [
        f"Extractor calibration: in-domain share of the selection at budget {args.budget}, "
        f"mean over client domains {domains} and seeds {args.seeds}; kNN label accuracy (k=10, 5-fold) inside the "
        "client domain's private data; seconds per 1000 images on this machine.",
        "",
        "| extractor | dim | ECOS | upload-features | random | in-domain kNN label acc | s / 1000 images |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, e, u, r, k, s, d in rows:
        lines.append(f"| {label} | {d} | {e:.1%} | {u:.1%} | {r:.1%} | {k:.1%} | {s:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
