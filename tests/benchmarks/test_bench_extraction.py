"""Feature extraction: images/s through ``Extractor.extract`` (uint8 in) vs a bare forward on pre-made tensors.

The bare side calls the same timm forward (``Extractor._forward``: the model, or its
stage output pooled) on tensors already converted, resized and normalised, so the ratio
is what proxybench's data path costs on top of the network. Tiny: resnet10t with random
weights (BatchNorm recalibrated); full: the default RunSpec extractor.
"""

from __future__ import annotations

import numpy as np
import torch

from proxybench import Cache, RunSpec
from proxybench.contract.weights import PoolData, build_extractor
from proxybench.ml.training import to_tensor

from .conftest import best_seconds, sizes

N_IMAGES = sizes(256, 4096)


def test_extraction_throughput(benchmark, tmp_path):
    backbone, weights, layer = sizes(("resnet10t", "random", -1),
                                     (RunSpec.backbone, RunSpec.weights, RunSpec.feature_layer))
    images = np.random.default_rng(0).integers(0, 256, (N_IMAGES, 32, 32, 3), dtype=np.uint8)
    pool = PoolData(images, np.zeros(N_IMAGES, np.int64), key={"bench": N_IMAGES})
    ext = build_extractor(backbone, weights, pool, Cache(tmp_path), layer=layer)
    feats = benchmark.pedantic(ext.extract, args=(images,), rounds=sizes(3, 2))
    assert feats.shape == (N_IMAGES, ext.dim)
    if benchmark.disabled:
        return
    bs = ext.batch_size
    batches = [to_tensor(images[s : s + bs], ext.image_size, ext.mean, ext.std) for s in range(0, N_IMAGES, bs)]

    @torch.inference_mode()
    def bare():
        for b in batches:
            ext._forward(b)

    ours = benchmark.stats.stats.min
    bare_s = best_seconds(bare, sizes(3, 2))
    benchmark.extra_info.update(
        size=f"{N_IMAGES} images 32px, {backbone}/{weights} layer {layer} at {ext.image_size}px, batch {bs}",
        images_per_s=round(N_IMAGES / ours, 1), bare_images_per_s=round(N_IMAGES / bare_s, 1),
        extract_over_bare_throughput=round(bare_s / ours, 3),
    )
