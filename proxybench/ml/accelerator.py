"""Which torch device phi, task models, teachers and scoring run on: ``PROXYBENCH_TORCH_DEVICE``.

Every process of a run (harness, cloud, device) reads the same setting (``Settings.torch_device``:
the harness sends its settings to its children), so they agree without any plugin passing a
device around. Unset, or ``cpu``, changes nothing: models and tensors stay where they
always were and no torch setting is touched, so CPU results stay bit for bit as before.
Models live on the CPU between uses; ``on_device`` moves one to the accelerator for a
loop and back. Random draws (shuffles, crops, augmentation) stay on the CPU generators,
so an accelerator run draws the same batches as a CPU run; only the arithmetic differs.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..util.errors import ProxybenchError
from ..util.settings import current

if TYPE_CHECKING:  # torch is imported where it is used: the command line checks --torch-device's spelling without it
    import torch
    from torch import nn

ENV_VAR = "PROXYBENCH_TORCH_DEVICE"
#: The values ``--torch-device`` and ``PROXYBENCH_TORCH_DEVICE`` accept.
CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_SYNTAX = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic matmuls (torch's reproducibility notes)

#: What a CUDA run sets, and what stays non-deterministic despite it (torch.use_deterministic_algorithms's list,
#: cut to the ops timm's models and proxybench's losses can reach). Written into the record.
CUDA_DETERMINISM: dict[str, Any] = {
    "set": ["torch.use_deterministic_algorithms(True, warn_only=True)", "torch.backends.cudnn.benchmark = False",
            f"CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} (unless already set)"],
    "deterministic_under_setting": ["cuDNN convolutions, forward and backward", "cuBLAS matmuls",
                                    "scatter_add_, index_add, index_put, gather/index_select backward"],
    "non_deterministic": ["AdaptiveAvgPool2d / AdaptiveMaxPool2d backward (timm's global pooling heads)",
                          "NLLLoss (cross-entropy) on CUDA, as torch lists it",
                          "interpolate (bilinear) backward: not reached, images are resized without gradients"],
    "note": "ops without a deterministic CUDA kernel run anyway and torch warns once per op (warn_only); "
            "cuDNN convolutions may use TF32 (torch's default), so results also differ from the CPU's",
}
MPS_DETERMINISM: dict[str, Any] = {
    "set": [],
    "non_deterministic": ["torch documents no deterministic mode for MPS kernels: any of them may vary run to run"],
}


def parse_device(value: str) -> str:
    """``value`` checked against the accepted spellings (not against this machine)."""
    text = str(value).strip().lower()
    if not _SYNTAX.fullmatch(text):
        raise ProxybenchError(f"torch device {value!r} is not one of {', '.join(CHOICES)} "
                              f"(--torch-device or ${ENV_VAR})")
    return text


def available() -> list[str]:
    """The torch devices this machine offers, in words, for error messages and the auto fallback."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def _machine() -> str:
    import torch

    built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
    return f"torch on this machine sees only {', '.join(available())} (torch {torch.__version__}, {built})"


def resolve(value: str) -> tuple[torch.device, str | None]:
    """The device ``value`` names on this machine, and for ``auto`` one line saying what it chose.

    ``auto`` takes CUDA, then MPS, else the CPU; an explicit accelerator this machine lacks
    is an error naming the value and what the machine has.
    """
    text = parse_device(value)
    import torch

    if text == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
            return device, f"torch device auto: using {device} ({torch.cuda.get_device_name(device)})"
        if torch.backends.mps.is_available():
            return torch.device("mps"), "torch device auto: using mps"
        return torch.device("cpu"), "torch device auto: torch sees no CUDA or MPS device; using the CPU"
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ProxybenchError(f"torch device {value!r} needs CUDA, but {_machine()}; "
                                  "use --torch-device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ProxybenchError(f"torch device {value!r}: {_machine()}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ProxybenchError(f"torch device {value!r} needs Apple's MPS, but {_machine()}; "
                              "use --torch-device cpu or auto")
    return device, None


@functools.cache
def _configured(value: str) -> torch.device:
    import torch

    device, _ = resolve(value)
    if device.type == "cuda":  # before this process's first cuBLAS call: models move only after this
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return device


def torch_device() -> torch.device:
    """This process's torch device, from ``PROXYBENCH_TORCH_DEVICE`` (``Settings.torch_device``; the CPU when unset)."""
    import torch

    value = current().torch_device
    value = "cpu" if value is None else value
    return torch.device("cpu") if value == "cpu" else _configured(value)


@contextmanager
def on_device(model: nn.Module) -> Iterator[torch.device]:
    """``model`` on the run's device for the block, back on the CPU after; on the CPU nothing moves."""
    device = torch_device()
    if device.type == "cpu":
        yield device
        return
    model.to(device)
    try:
        yield device
    finally:
        model.to("cpu")


def device_cache_key(key: dict[str, Any]) -> dict[str, Any]:
    """A cache key for something torch computed: unchanged on the CPU (every cached entry stays valid), with the
    device type on an accelerator, whose floats differ, so a CPU run never reads an accelerator's results."""
    device = torch_device()
    return key if device.type == "cpu" else {**key, "torch_device": device.type}


def device_environment() -> dict[str, Any]:
    """The record's view of the device: its type and name, and on an accelerator what is (non-)deterministic."""
    import torch

    device = torch_device()
    if device.type == "cuda":
        return {"torch_device": "cuda", "torch_device_name": torch.cuda.get_device_name(device),
                "torch_determinism": {**CUDA_DETERMINISM,
                                      "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}}
    if device.type == "mps":
        return {"torch_device": "mps", "torch_device_name": platform.processor() or None,
                "torch_determinism": MPS_DETERMINISM}
    return {"torch_device": "cpu", "torch_device_name": platform.processor() or None}
