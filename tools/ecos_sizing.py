"""ECOS's in-domain share against R at fixed noise, on synthetic features sized like a small own tree and the benchmark.

Selection only, in this process, in a few seconds a cell: no images, no phi. Each domain of
the pool is a cloud of class blobs in 16 dimensions; the device holds fresh draws of the
client's domain (domain 0), as records of one image or of several augmented ones, and
answers through the device runtime (``local_device``: the real mechanism, clipping by record
and noise). Each cell is the share of ECOS's picks from the client's domain, mean over the
seeds, beside the share without noise (sigma 0), without the diversity step, and whether
``check_sizes`` warns there. The tables of docs/sizing-ecos.md (about a minute of CPU):

    python tools/ecos_sizing.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from proxybench import CloudView, DeviceContext, ProxybenchWarning, create_sampler, local_device, to_markdown

DIM, CLASSES = 16, 10
#: spread of domain centres, of class centres within a domain, and of points around their class (one sd each)
DOMAIN_SD, CLASS_SD, POINT_SD, AUGMENT_SD = 1.6, 1.0, 1.0, 0.3


@dataclass(frozen=True)
class Setting:
    name: str
    domains: int  # domains of the pool; the client's is domain 0
    per_domain: int  # pool images per domain
    extra: int  # pool images of one more domain (distractors), 0: none
    records: int  # the device's records
    per_record: int  # images per record: 1, or an original and its augmentations
    budget: int


SETTINGS = (
    Setting("own tree (issue #26): pool 240, device 48", 5, 48, 0, 48, 1, 60),
    Setting("own tree, a budget below the client's part of the pool", 5, 48, 0, 48, 1, 20),
    Setting("benchmark, street-like: pool 17,000, device 3,000", 5, 3000, 2000, 3000, 1, 1000),
    Setting("benchmark, handwritten-like: pool 17,000, device 415 records of 7", 5, 3000, 2000, 415, 7, 1000),
)


def draw(setting: Setting, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pool features, each pool point's domain, the device's features and its rows' records."""
    rng = np.random.default_rng(seed)
    n_domains = setting.domains + (setting.extra > 0)
    centres = rng.normal(0, DOMAIN_SD, (n_domains, 1, DIM)) + rng.normal(0, CLASS_SD, (n_domains, CLASSES, DIM))

    def points(domain: int, n: int) -> np.ndarray:
        return centres[domain, rng.integers(0, CLASSES, n)] + rng.normal(0, POINT_SD, (n, DIM))

    sizes = [setting.per_domain] * setting.domains + ([setting.extra] if setting.extra else [])
    pool = np.concatenate([points(d, n) for d, n in enumerate(sizes)]).astype(np.float32)
    domains = np.repeat(np.arange(len(sizes)), sizes)
    originals = points(0, setting.records)
    groups = np.repeat(np.arange(setting.records), setting.per_record)
    jitter = rng.normal(0, AUGMENT_SD, (len(groups), DIM)) if setting.per_record > 1 else 0.0
    return pool, domains, (originals[groups] + jitter).astype(np.float32), groups


def in_domain_share(setting: Setting, R: int, sigma: float, seed: int, **params) -> tuple[float, bool]:
    """ECOS's share of picks from the client's domain, and whether its size check warns, for one seed."""
    pool, domains, device_rows, groups = draw(setting, seed)
    sampler = create_sampler("ecos", R=R, sigma=sigma, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ProxybenchWarning)
        sampler.check_sizes(setting.budget, len(pool), setting.records)
    cloud = CloudView(features=pool, images=None, labels=None, extractor=None)
    context = DeviceContext(np.zeros((len(device_rows), 1, 1, 3), np.uint8), None, None, groups=groups,
                            features=device_rows)
    device, _ = local_device(context, seed=seed)
    picked = sampler.select(cloud, device, setting.budget, np.random.default_rng(seed)).indices
    return float(np.mean(domains[picked] == 0)), bool(caught)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--R", type=int, nargs="+", default=[4, 8, 16, 32, 64, 100, 200])
    ap.add_argument("--sigma", type=float, default=5.0, help="ECOS's noise sd (default: its default, 5)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = []
    for setting in SETTINGS:
        base = setting.per_domain / (setting.per_domain * setting.domains + setting.extra)
        rows = []
        for R in args.R:
            noisy = [in_domain_share(setting, R, args.sigma, s) for s in args.seeds]
            shares = [share for share, _ in noisy]
            clean = [in_domain_share(setting, R, 0.0, s)[0] for s in args.seeds]
            plain = [in_domain_share(setting, R, args.sigma, s, diversity=False)[0] for s in args.seeds]
            rows.append({"R": R, "records / R": f"{setting.records / R:.2f}",
                         f"over sigma {args.sigma:g}": f"{setting.records / R / args.sigma:.2f}",
                         f"in-domain, sigma {args.sigma:g}": f"{np.mean(shares):.3f} ± {np.std(shares):.3f}",
                         "sigma 0": f"{np.mean(clean):.3f}",
                         f"sigma {args.sigma:g}, diversity=false": f"{np.mean(plain):.3f}",
                         "warns": "yes" if noisy[0][1] else ""})
            print(setting.name, rows[-1], flush=True)
        out.append(f"**{setting.name}**, budget {setting.budget}, base rate {base:.3f}\n\n"
                   f"{to_markdown(pd.DataFrame(rows), index=False)}\n")
    text = (f"Made by `python tools/ecos_sizing.py --seeds {' '.join(map(str, args.seeds))}`: mean ± sd over the "
            f"seeds.\n\n" + "\n".join(out))
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
