"""The one small trainer every task and the cloud backbone use.

Seeded and deterministic on CPU for a fixed thread count: shuffling and augmentation
draw from a torch Generator made from the seed, never from global state. On an
accelerator (``PROXYBENCH_TORCH_DEVICE``) those draws stay on the CPU and each batch
moves to the device after augmentation, so the batches are the same as on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..util.errors import ProxybenchError
from ..util.progress import bar
from .accelerator import on_device

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def to_tensor(images: np.ndarray, image_size: int | None = None, mean=MEAN, std=STD) -> torch.Tensor:
    """uint8 NHWC -> normalised float NCHW, resized when ``image_size`` differs."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding (the prototype's augmentation), one offset per image."""
    if pad <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # n, h
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # n, w
    idx_n = torch.arange(n).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


class ImageTensors:
    """Normalised tensors made batch by batch from uint8 image rows (an array or an ``ImageRows``).

    The trainer and ``predict_logits`` only index their inputs, so a teacher trained on a
    whole pool reads one batch of it at a time instead of holding it all as float32.
    The values are those ``to_tensor`` gives for the same rows.
    """

    def __init__(self, images, image_size: int | None = None, mean=MEAN, std=STD):
        self.images = images
        self.image_size = image_size
        self.mean = mean
        self.std = std

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        return to_tensor(self.images[index], self.image_size, self.mean, self.std)


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    crop_pad: int = 4
    seed: int = 0


Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor, _index: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


@dataclass
class UnlabeledTerm:
    """A loss on unlabeled images added to every training step (semi-supervised training).

    Each step draws ``ratio`` unlabeled images per labeled one from ``x`` (uniformly, with
    replacement, from the trainer's generator); ``views(batch, gen)`` turns them into the
    model inputs the term needs (e.g. a weak and a strong augmentation); the labeled batch
    and the views go through the model in one forward pass, so BatchNorm normalises them
    together; ``loss(view_logits)`` is added to the labeled loss.
    """

    x: torch.Tensor | ImageTensors
    ratio: int
    views: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    loss: Callable[[torch.Tensor], torch.Tensor]


def train(
    model: nn.Module,
    x: torch.Tensor | ImageTensors,
    targets: torch.Tensor,
    config: TrainConfig,
    desc: str = "training",
    loss_fn: Loss = cross_entropy_loss,
    unlabeled: UnlabeledTerm | None = None,
) -> nn.Module:
    """AdamW with a OneCycle schedule over ``config.epochs``; stops with an error on a NaN loss.

    ``targets`` may be class indices or soft targets; ``loss_fn(logits, targets, index)``
    gets the batch's row indices too, for losses that look up per-sample extras.
    An epoch is one pass over the labeled ``x``; ``unlabeled`` adds a term on unlabeled
    images to each step (without it nothing else is drawn from the generator).
    It trains on the run's torch device (``ml.accelerator``) and returns the model on the CPU.
    """
    if len(x) == 0:
        raise ProxybenchError("cannot train on an empty set")
    if unlabeled is not None and (len(unlabeled.x) == 0 or unlabeled.ratio < 1):
        raise ProxybenchError("unlabeled training needs at least one unlabeled image and a ratio >= 1")
    with on_device(model) as device:
        _train_loop(model, x, targets, config, desc, loss_fn, unlabeled, device)
    model.eval()
    return model


def _train_loop(model: nn.Module, x: torch.Tensor | ImageTensors, targets: torch.Tensor, config: TrainConfig,
                desc: str, loss_fn: Loss, unlabeled: UnlabeledTerm | None, device: torch.device) -> None:
    """``train``'s loop with ``model`` already on ``device``; ``loss_fn`` gets the batch's CPU row indices."""
    n = len(x)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # model-internal randomness such as dropout
    steps_per_epoch = max(1, -(-n // config.batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * steps_per_epoch
    if total_steps >= 4:
        # At least two warm-up steps: OneCycleLR divides by the warm-up length minus one.
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, total_steps=total_steps, pct_start=max(0.25, 2 / total_steps)
        )
    else:  # too few steps for a schedule: constant learning rate
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    model.train()
    progress = bar(desc, total=config.epochs, unit="epoch")
    try:
        for epoch in range(config.epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, config.batch_size):
                idx = order[start : start + config.batch_size]
                if len(idx) < 2 and n >= 2:  # BatchNorm needs two samples
                    continue
                xb = random_crop(x[idx], config.crop_pad, gen)
                yb = targets[idx].to(device)
                if unlabeled is None:
                    loss = loss_fn(model(xb.to(device)), yb, idx)
                else:
                    pick = torch.randint(len(unlabeled.x), (unlabeled.ratio * len(idx),), generator=gen)
                    logits = model(torch.cat([xb, unlabeled.views(unlabeled.x[pick], gen)]).to(device))
                    loss = loss_fn(logits[: len(idx)], yb, idx) + unlabeled.loss(logits[len(idx) :])
                if not torch.isfinite(loss):
                    raise ProxybenchError(
                        f"{desc}: loss became {loss.item()} at epoch {epoch + 1}; "
                        "lower the learning rate (--param lr=...) or check the inputs"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            progress.update(1)
    finally:
        progress.close()


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor | ImageTensors, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``x`` batch by batch, computed on the run's torch device, returned on the CPU."""
    model.eval()
    with on_device(model) as device:
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, labels: np.ndarray) -> float:
    if len(x) == 0:
        raise ProxybenchError("cannot evaluate on an empty set")
    pred = predict_logits(model, x).argmax(1).numpy()
    return float((pred == np.asarray(labels)).mean())
