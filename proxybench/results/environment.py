"""The environment a RunRecord names: versions, threads and the torch device it ran on."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def environment() -> dict[str, Any]:
    """Versions, threads and the torch device (``PROXYBENCH_TORCH_DEVICE``).

    A device that is misspelt or absent from this machine fails here, before any work.
    """
    import torch

    from ..ml.accelerator import device_environment

    env = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
           "torch_threads": torch.get_num_threads(), **device_environment()}
    for pkg in ("proxybench", "torch", "timm", "faiss-cpu", "numpy", "dp-accounting", "scikit-learn"):
        try:
            env[pkg.replace("-cpu", "").replace("-", "_")] = version(pkg)
        except PackageNotFoundError:
            env[pkg] = None
    return env
