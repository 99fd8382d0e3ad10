"""``upload-features``: the privacy-free reference that ships phi(D_p) to the cloud.

The device uploads its features (no noise, no guarantee: epsilon is None). The cloud
takes, round-robin over the client samples in a seeded order, each sample's nearest
pool point not yet taken, using a faiss flat index, until the budget is met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import faiss
import numpy as np

from proxybench import SELECT, CloudView, Device, DeviceContext, Message, Sampler, Selection, hookimpl, non_private


def upload_features_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"features": ctx.features().astype(msg["dtype"])}


def round_robin_nearest(pool: np.ndarray, queries: np.ndarray, budget: int, order: np.ndarray) -> np.ndarray:
    """Each query in ``order`` takes its nearest untaken pool point, round after round."""
    index = faiss.IndexFlatL2(pool.shape[1])
    index.add(np.ascontiguousarray(pool, dtype=np.float32))
    q = np.ascontiguousarray(queries[order], dtype=np.float32)
    k = min(len(pool), max(8, 2 * -(-budget // len(q))))
    while True:
        _, nbrs = index.search(q, k)
        taken = np.zeros(len(pool), dtype=bool)
        picked: list[int] = []
        for rank in range(k):
            for j in nbrs[:, rank]:
                if j >= 0 and not taken[j]:
                    taken[j] = True
                    picked.append(int(j))
                    if len(picked) == budget:
                        return np.array(picked, dtype=np.int64)
        k = min(len(pool), 2 * k)  # with k = len(pool) every point is reachable, so the loop ends


@dataclass
class UploadFeatures(Sampler):
    name: ClassVar[str] = "upload-features"
    description: ClassVar[str] = "PRIVACY-FREE reference: device uploads phi(D_p); nearest pool point per sample"
    kind: ClassVar[str] = "privacy-free"
    dtype: Literal["float32", "float16"] = "float32"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        feats = device.call(upload_features_program, {"dtype": self.dtype}, phase=SELECT,
                            label="upload-features")["features"]
        order = rng.permutation(len(feats))
        picked = round_robin_nearest(cloud.features, feats, budget, order)
        return Selection(indices=np.sort(picked), privacy=non_private(), info={"uploaded": int(len(feats))})


@hookimpl
def proxybench_samplers():
    return [UploadFeatures]
