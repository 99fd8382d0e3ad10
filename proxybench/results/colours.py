"""One fixed colour per sampler name, in every figure of every report.

The built-in samplers have a fixed table (related samplers get related hues: the ECOS
family blues, the private means reds, the client-free coresets browns and olives, the
references orange and black). Any other name gets a colour from a second palette, chosen
by a hash of the name, so it does not depend on which plugins are installed or on the
order of the records. Two third-party names may share a colour; markers still tell
variants apart.
"""

from __future__ import annotations

import hashlib

#: The built-in samplers' colours.
BUILTIN: dict[str, str] = {
    "ecos": "#1f77b4",
    "ecos-rounds": "#17becf",
    "dsir": "#2ca02c",
    "cluster-filter": "#9467bd",
    "dp-mean": "#d62728",
    "dp-mean-rounds": "#e377c2",
    "mean-nearest": "#ff9896",
    "kcenter": "#8c564b",
    "herding": "#bcbd22",
    "kmeans-nearest": "#c49c94",
    "random": "#7f7f7f",
    "random-balanced": "#393b79",
    "upload-features": "#ff7f0e",
    "upload-raw": "#e7ba52",
    "oracle-domain": "#000000",
}
#: Colours for other names (matplotlib's tab20b and a few of tab20c), none of them in BUILTIN.
OTHERS = (
    "#5254a3", "#6b6ecf", "#637939", "#8ca252", "#b5cf6b", "#8c6d31", "#bd9e39", "#843c39",
    "#ad494a", "#d6616b", "#7b4173", "#a55194", "#ce6dbd", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363", "#fd8d3c", "#74c476",
)


def sampler_colour(name: str) -> str:
    """The colour of a sampler: its fixed one if built in, else one of OTHERS picked by the sha256 of its name."""
    if name in BUILTIN:
        return BUILTIN[name]
    return OTHERS[int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % len(OTHERS)]
