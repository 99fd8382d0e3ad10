"""How scikit-learn's handwritten originals are shared out: between handwritten and thick, then into parts.

Each original feeds one domain and one part (public, private or test), so no augmentation of
a device or test original sits in the pool. The halving and the public part come from the
public seed; which of the remaining originals are private and which are test comes from the
dataset's secret (``private_rng``), so the cloud knows the public originals and nothing more.
"""

from __future__ import annotations

import numpy as np

from .glyphs import sklearn_digits

SPLIT_STREAM = 1000  # stream of the public seed (and of the secret) that shares the originals out
DOMAINS = ("handwritten", "thick")


def split_originals(seed: int, private_rng: np.random.Generator, train_per_domain: int, test_per_domain: int,
                    private_fraction: float) -> dict[str, dict[str, np.ndarray]]:
    """Indices of scikit-learn's digits in each domain's ``public``, ``private`` and ``test`` part.

    Stratified by class: the originals are halved between the domains; each half gives the
    test split its share (test images over all images), the public part ``1 - private_fraction``
    of the rest (at least one original a class on each side) and the private part the remainder.
    """
    _, target = sklearn_digits()
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    test_share = test_per_domain / max(1, train_per_domain + test_per_domain)
    out: dict[str, dict[str, list[np.ndarray]]] = {d: {"public": [], "private": [], "test": []} for d in DOMAINS}
    for c in range(10):
        perm = rng.permutation(np.flatnonzero(target == c))
        for domain, half in zip(DOMAINS, (perm[0::2], perm[1::2]), strict=True):
            n_test = 0 if test_per_domain == 0 else max(1, round(len(half) * test_share))
            n_public = min(len(half) - n_test - 1, max(1, round((len(half) - n_test) * (1 - private_fraction))))
            held = private_rng.permutation(half[n_public:])  # the secret decides which are test and which private
            out[domain]["public"].append(half[:n_public])
            out[domain]["test"].append(held[:n_test])
            out[domain]["private"].append(held[n_test:])
    return {d: {part: np.sort(np.concatenate(v)) for part, v in parts.items()} for d, parts in out.items()}
