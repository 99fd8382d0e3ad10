"""Old path of phi's pieces, kept importable for callers not yet moved (tests/benchmarks/).

New code imports from ``proxybench`` (the public face) or from ``proxybench.ml.extractor``,
``proxybench.ml.backbone`` and ``proxybench.contract.weights``. Nothing in proxybench imports this.
"""

from .contract.weights import PoolData, WeightSource, build_extractor, parse_weights
from .ml.backbone import create_backbone, load_state_dict_bytes, state_dict_bytes
from .ml.extractor import Extractor, cached_features

__all__ = ["Extractor", "PoolData", "WeightSource", "build_extractor", "cached_features", "create_backbone",
           "load_state_dict_bytes", "parse_weights", "state_dict_bytes"]
