"""``upload-raw``: the privacy-free reference that ships the device's raw images to the cloud.

The "upload the client data" row of the ECOS paper's cost comparison (about
3.5e7 bytes on Digits). The device does no work beyond sending its uint8 images (no
feature extraction: device compute ~0); the cloud runs phi on them and selects exactly
as ``upload-features`` does (round-robin nearest untaken pool point per client
sample, ``round_robin_nearest`` reused from there). No noise, no guarantee: epsilon is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import SELECT, CloudView, Device, DeviceContext, Message, Sampler, Selection, hookimpl, non_private

from .upload_features import round_robin_nearest


def upload_raw_program(ctx: DeviceContext, msg: Message) -> Message:
    return {"images": np.ascontiguousarray(ctx.images[:], dtype=np.uint8)}


@dataclass
class UploadRaw(Sampler):
    name: ClassVar[str] = "upload-raw"
    description: ClassVar[str] = "PRIVACY-FREE reference: device uploads its raw images; cloud extracts and matches"
    kind: ClassVar[str] = "privacy-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        images = device.call(upload_raw_program, {}, phase=SELECT, label="upload-raw")["images"]
        feats = cloud.extractor.extract(images, desc="uploaded client images")
        order = rng.permutation(len(feats))
        picked = round_robin_nearest(cloud.features, feats, budget, order)
        return Selection(indices=np.sort(picked), privacy=non_private(), info={"uploaded": int(len(images))})


@hookimpl
def proxybench_samplers():
    return [UploadRaw]
