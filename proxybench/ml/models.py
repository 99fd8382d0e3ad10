"""Task models registered in timm's registry, so every model is created by name.

``pb_cnn`` is the from-scratch VGG-style CNN that met the benchmark's calibration in
the prototype (docs/backbones.md, Task models): 4 conv-BN-ReLU blocks (32-64-128-128), max-pooling,
global average pooling and dropout. Registered with timm, it is reached exactly like
any timm architecture (``--param model=resnet10t`` works the same way).
"""

from __future__ import annotations

import timm
import torch
from timm.models import register_model
from torch import nn

from ..util.errors import ProxybenchError
from .model_names import LOCAL_MODELS, check_model_name

__all__ = ["LOCAL_MODELS", "VggCnn", "check_model_name", "create_task_model", "pb_cnn", "pb_cnn_small"]


class VggCnn(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 3, widths=(32, 64, 128, 128), drop_rate: float = 0.3,
                 **_: object):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_chans
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(prev, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            prev = w
        self.features = nn.Sequential(*layers)
        self.num_features = prev
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(prev, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x).mean(dim=(2, 3))
        return self.classifier(self.drop(x))


@register_model
def pb_cnn(pretrained: bool = False, **kwargs) -> VggCnn:
    """VGG-style CNN for 32x32 inputs, trained from scratch."""
    if pretrained:
        raise ProxybenchError("pb_cnn has no pretrained weights; it is trained from scratch")
    kwargs.pop("pretrained_cfg", None)
    kwargs.pop("pretrained_cfg_overlay", None)
    return VggCnn(**kwargs)


@register_model
def pb_cnn_small(pretrained: bool = False, **kwargs) -> VggCnn:
    """pb_cnn at half the widths (16-32-64-64), a quarter of the parameters: a compression student."""
    return pb_cnn(pretrained, widths=(16, 32, 64, 64), **kwargs)


def create_task_model(name: str, num_classes: int, image_size: int = 32) -> nn.Module:
    """A timm model by name, checked to accept ``image_size`` inputs."""
    check_model_name(name)
    try:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    except Exception as exc:
        raise ProxybenchError(f"timm could not create model {name!r}: {exc}") from exc
    try:
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, 3, image_size, image_size))
    except Exception as exc:
        raise ProxybenchError(
            f"timm model {name!r} does not accept {image_size}x{image_size} input ({type(exc).__name__}: {exc}); "
            "choose a convolutional model such as pb_cnn, resnet10t or tf_efficientnet_lite0"
        ) from exc
    if tuple(out.shape) != (2, num_classes):
        raise ProxybenchError(f"timm model {name!r} gives outputs of shape {tuple(out.shape)} for {num_classes} classes")
    return model
