"""The embedded default dataset: a Digits-Five-style multi-domain digits benchmark, made offline.

Everything comes from files pip installs (scikit-learn's digits and sample photos,
scikit-image's photos, matplotlib's TTF fonts), so the benchmark runs without downloads.
All glyphs go through one pipeline: a 64x64 float mask on a canvas (``glyphs``) -> a random
affine (and elastic) warp supersampled down to 32x32 (``warp``) -> a domain-specific colouring
(``colour``, ``styles``); ``originals`` shares scikit-learn's originals out between domains
and parts; ``dataset`` assembles the domains, each a public and a private part, into the plugin.
"""

from __future__ import annotations

from proxybench import hookimpl

from .dataset import CLASS_NAMES, DOMAIN_NAMES, DigitsDomains
from .originals import split_originals

__all__ = ["CLASS_NAMES", "DOMAIN_NAMES", "DigitsDomains", "split_originals", "proxybench_datasets"]


@hookimpl
def proxybench_datasets() -> list[type]:
    return [DigitsDomains]
