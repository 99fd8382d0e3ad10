"""timm backbones for phi, and model weights as bytes (how models cross the link and the cache)."""

from __future__ import annotations

import io

import timm
import torch
from torch import nn

from ..util.errors import unknown_name
from . import models  # noqa: F401  (registers pb_cnn and pb_cnn_small with timm, so phi may be one of them too)


def create_backbone(backbone: str) -> nn.Module:
    if not timm.is_model(backbone):
        raise unknown_name("timm backbone", backbone, [])
    return timm.create_model(backbone, pretrained=False, num_classes=0)


def state_dict_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def install_footprint(model: nn.Module) -> dict[str, int]:
    """What a device must hold to run ``model``: its parameter count and the bytes of its state dict (as it is sent)."""
    return {"params": sum(p.numel() for p in model.parameters()), "install_bytes": len(state_dict_bytes(model))}


def load_state_dict_bytes(model: nn.Module, data: bytes) -> None:
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
