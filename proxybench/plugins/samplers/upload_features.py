"""``upload-features``: the privacy-free reference that ships phi(D_p) to the cloud.

The device uploads its features (no noise, no guarantee: epsilon is None). The cloud
takes, round-robin over the client samples in a seeded order, each sample's nearest
pool point not yet taken, until the budget is met. Pools below ``IVF_MIN_POOL`` rows are
searched exactly (a faiss flat index, as always); larger ones through an IVF index with fp16
codes (``pool_index``), whose recall against flat search is measured in docs/scale.md. Either
index is filled chunk by chunk, so a float16 or memory-mapped pool is never converted whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import faiss
import numpy as np

from proxybench import SELECT, CloudView, Device, DeviceContext, Message, Sampler, Selection, hookimpl, non_private


def upload_features_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"features": ctx.features().astype(msg["dtype"])}


#: From this many pool rows on, the pool is searched through an IVF index instead of exhaustively.
IVF_MIN_POOL = 1_000_000
#: Lists probed per query by the IVF index (of about sqrt(N) lists); doubled whenever a round comes up short.
IVF_PROBE = 16
CHUNK = 1 << 16  # pool rows converted to float32 and added at a time


def pool_index(pool: np.ndarray, ivf: bool | None = None) -> faiss.Index:
    """A faiss index over ``pool``, filled chunk by chunk: flat (exact) below ``IVF_MIN_POOL`` rows, else IVF.

    The IVF index has round(sqrt(N)) lists, trained on a strided sample of 64 rows per list
    (faiss's clustering is seeded, so the index is deterministic), and keeps each row as fp16
    codes: half the bytes of a flat index, and no loss at all for a float16 store. ``ivf``
    forces either kind (tests, measurements).
    """
    n, d = pool.shape
    if not (n >= IVF_MIN_POOL if ivf is None else ivf):
        index = faiss.IndexFlatL2(d)
    else:
        nlist = max(1, round(n**0.5))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(d), d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_L2)
        index.train(np.ascontiguousarray(pool[:: max(1, n // (64 * nlist))], dtype=np.float32))
        index.nprobe = min(nlist, IVF_PROBE)
    for s in range(0, n, CHUNK):
        index.add(np.ascontiguousarray(pool[s : s + CHUNK], dtype=np.float32))
    return index


def round_robin_nearest(pool: np.ndarray, queries: np.ndarray, budget: int, order: np.ndarray,
                        ivf: bool | None = None) -> np.ndarray:
    """Each query in ``order`` takes its nearest untaken pool point, round after round."""
    index = pool_index(pool, ivf)
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
        k = min(len(pool), 2 * k)
        if isinstance(index, faiss.IndexIVF):  # probing every list at k = len(pool) reaches every point
            index.nprobe = index.nlist if k == len(pool) else min(index.nlist, 2 * index.nprobe)


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
