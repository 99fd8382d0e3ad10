"""Counting FLOPs of a forward pass (torch's FlopCounterMode), for the device's compute meter."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(forward: Callable[[torch.Tensor], torch.Tensor], image_size: int) -> int:
    """FLOPs of one image through ``forward`` (a model in eval mode), counted by torch's FlopCounterMode.

    Counted once on a single image and scaled by the number of images: running whole
    extractions under the counter is several times slower, and a CNN's cost is linear in
    the batch. FlopCounterMode counts 2 FLOPs per multiply-add.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        forward(torch.zeros(1, 3, image_size, image_size))
    return int(counter.get_total_flops())
