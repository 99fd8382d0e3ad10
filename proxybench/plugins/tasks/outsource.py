"""``outsource``: selective manual labeling.

The device's data is unlabeled; the selection is labeled by an annotation oracle (the
pool's true labels). A pick outside the label space (a distractor) is a bought label
that is wasted. The cloud trains the task model from scratch on the labeled picks,
ships it to the device, and the device scores it on its test data. The device
releases nothing beyond what the sampler asked for, so the task adds no privacy cost.

Semi-supervised option (``semi_supervised=true``): FixMatch (Sohn et al., NeurIPS 2020)
on the labeled picks plus the unlabeled pool, in the shared trainer. Each step adds
``unlabeled_ratio`` (mu) unlabeled pool images per labeled one; the model's prediction
on a weak view (the trainer's random crop) is a pseudo-label wherever its confidence is
at least ``threshold`` (tau), and cross-entropy to it on a strong view is added with
weight ``unlabeled_weight`` (lambda_u), averaged over all unlabeled images (masked ones
count as zero). The cloud holds the pool anyway, so the device pays nothing more: the
option costs cloud compute only, about 1 + 2 mu forward/backward images per labeled
image (7x supervised at mu = 3), which is why the pool is capped at a seeded subsample
of ``unlabeled_pool_size`` images. Reported besides the usual metrics:
``unlabeled_used`` (pool images in the subsample) and ``mask_rate`` (share of unlabeled
draws above the threshold, over all steps).

Choices that are ours, not the paper's: the strong augmentation is a plain-tensor
stand-in for RandAugment (random crop, brightness and contrast in [0.5, 1.5],
inversion with probability 1/4, one grey cutout square of half the image side); the
unlabeled pool is the whole pool (the picks and the distractors included, so it is
open-set), drawn with replacement each step; the optimiser and schedule stay the shared
trainer's (AdamW, OneCycle, epochs counted over the labeled picks) and there is no EMA
of the weights; the pseudo-labels come from the same train-mode forward pass as the
rest of the step, with gradients stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from proxybench import (
    IMAGE_MEAN,
    IMAGE_STD,
    OUTSIDE_LABEL_SPACE,
    ImageTensors,
    ProxybenchError,
    SupervisedTask,
    TaskContext,
    TaskResult,
    TrainConfig,
    UnlabeledTerm,
    hookimpl,
    random_crop,
)


def strong_augment(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop, brightness, contrast, inversion (p = 1/4) and a cutout square, on normalised NCHW images."""
    n, _, h, w = x.shape
    mean, std = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    img = random_crop(x, pad, gen) * std + mean  # back to [0, 1]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, 1, 1, 1, generator=gen)

    img = img * uniform(0.5, 1.5)
    grey = img.mean(dim=(1, 2, 3), keepdim=True)
    img = ((img - grey) * uniform(0.5, 1.5) + grey).clamp(0.0, 1.0)
    img = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < 0.25, 1.0 - img, img)
    side = h // 2  # cutout: a square centred anywhere in the image, clipped at the border
    cy = torch.randint(0, h, (n, 1, 1), generator=gen)
    cx = torch.randint(0, w, (n, 1, 1), generator=gen)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    hole = ((rows - cy).abs() <= side // 2) & ((cols - cx).abs() <= side // 2)
    img = img.masked_fill(hole.unsqueeze(1), 0.5)
    return (img - mean) / std


@dataclass
class FixMatch:
    """The FixMatch unlabeled term: views are (weak, strong); confident weak predictions supervise the strong view."""

    threshold: float
    weight: float
    crop_pad: int
    masked: int = field(default=0, init=False)  # unlabeled draws above the threshold so far
    seen: int = field(default=0, init=False)  # unlabeled draws so far

    def views(self, u: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return torch.cat([random_crop(u, self.crop_pad, gen), strong_augment(u, self.crop_pad, gen)])

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        weak, strong = logits.chunk(2)
        confidence, pseudo = F.softmax(weak.detach(), dim=1).max(dim=1)
        mask = (confidence >= self.threshold).float()
        self.masked += int(mask.sum())
        self.seen += len(mask)
        return self.weight * (F.cross_entropy(strong, pseudo, reduction="none") * mask).mean()

    @property
    def mask_rate(self) -> float | None:
        return self.masked / self.seen if self.seen else None


@dataclass
class Outsource(SupervisedTask):
    name: ClassVar[str] = "outsource"
    description: ClassVar[str] = "selection labeled by an annotation oracle; distractor picks are wasted labels"
    pool_labels_visible: ClassVar[bool] = False
    device_has_labels: ClassVar[bool] = False
    needs_pool_labels: ClassVar[bool] = True  # the annotation oracle is the pool's labels

    semi_supervised: bool = False
    threshold: float = 0.95
    unlabeled_ratio: int = 3
    unlabeled_weight: float = 1.0
    unlabeled_pool_size: int | None = 5000  # None: the whole pool

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.threshold <= 1.0:
            raise ProxybenchError(f"outsource: threshold must be in (0, 1], got {self.threshold}")
        if self.unlabeled_ratio < 1:
            raise ProxybenchError(f"outsource: unlabeled_ratio must be >= 1, got {self.unlabeled_ratio}")
        if self.unlabeled_weight < 0:
            raise ProxybenchError(f"outsource: unlabeled_weight must be >= 0, got {self.unlabeled_weight}")
        if self.unlabeled_pool_size is not None and self.unlabeled_pool_size < 1:
            raise ProxybenchError(f"outsource: unlabeled_pool_size must be >= 1 or none, got {self.unlabeled_pool_size}")

    def run(self, ctx: TaskContext) -> TaskResult:
        labels = ctx.pool_true_labels
        useful = labels != OUTSIDE_LABEL_SPACE
        if self.semi_supervised:
            model, extra = self.fit_fixmatch(ctx, ctx.images[useful], labels[useful])
        else:
            model, extra = self.fit(ctx, ctx.images[useful], labels[useful]), {}
        metrics = self.score(ctx, model)
        metrics.update(labels_bought=int(len(labels)), labels_wasted=int((~useful).sum()), **extra)
        return TaskResult(metrics=metrics)

    def fit_fixmatch(self, ctx: TaskContext, images: np.ndarray, labels: np.ndarray) -> tuple[torch.nn.Module, dict]:
        """FixMatch on the labeled picks plus a seeded subsample of the pool (module docstring)."""
        if len(images) < 2:  # ``fit`` returns the untrained model: nothing to learn from
            return self.fit(ctx, images, labels), {"unlabeled_used": 0, "mask_rate": None}
        pool = ctx.pool_images
        if self.unlabeled_pool_size is not None and self.unlabeled_pool_size < len(pool):
            pool = pool.take(np.sort(ctx.rng.choice(len(pool), self.unlabeled_pool_size, replace=False)))
        fixmatch = FixMatch(self.threshold, self.unlabeled_weight, TrainConfig.crop_pad)
        model = self.fit(ctx, images, labels, desc=f"training {self.model} (FixMatch)",
                         unlabeled=UnlabeledTerm(ImageTensors(pool), self.unlabeled_ratio, fixmatch.views, fixmatch.loss))
        return model, {"unlabeled_used": int(len(pool)), "mask_rate": fixmatch.mask_rate}


@hookimpl
def proxybench_tasks():
    return [Outsource]
