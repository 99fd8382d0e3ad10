from __future__ import annotations

import numpy as np
import pytest

from proxybench import Device, DeviceContext
from proxybench.contract.registry import reset_registry
from proxybench.harness.local import local_device

#: A dataset small enough for unit tests (a few hundred images).
TINY_DATASET = {"train_per_domain": 120, "test_per_domain": 40, "distractors": 80}
TINY_RUN = {
    "backbone": "resnet10t",
    "weights": "random",
    "budget": 60,
    "dataset_params": TINY_DATASET,
    "task_params": {"epochs": 2, "k": 5, "sample_rate": 1.0},
}
#: The same, as `proxybench run` options (without --budget).
TINY_ARGS = ["--backbone", "resnet10t", "--weights", "random",
             *sum((["--param", f"{k}={v}"] for k, v in TINY_DATASET.items()), []),
             "--param", "epochs=2", "--param", "k=5"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Every test gets fresh plugins and quiet progress bars; the cache is shared per session."""
    monkeypatch.setenv("PROXYBENCH_PROGRESS", "0")
    monkeypatch.setenv("PROXYBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("PROXYBENCH_STRICT_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()


class FixedExtractor:
    """Stands in for phi on the device: returns the features it was given."""

    flops_per_image = 0  # the fixture's features cost nothing, so tests see only the programs' own FLOPs

    def __init__(self, features: np.ndarray):
        self.features = features
        self.dim = features.shape[1]

    def extract(self, images: np.ndarray, desc: str = "") -> np.ndarray:
        return self.features[: len(images)]


def make_context(client_features: np.ndarray, labels: np.ndarray | None = None,
                 groups: np.ndarray | None = None) -> DeviceContext:
    n = len(client_features)
    return DeviceContext(images=np.zeros((n, 4, 4, 3), np.uint8), labels=labels,
                         extractor=FixedExtractor(client_features), groups=groups)


def make_device(client_features: np.ndarray, labels: np.ndarray | None = None, seed: int = 0,
                stage: str = "select", groups: np.ndarray | None = None) -> Device:
    """A device in this process behind the harness's counting relay; ``.ledger`` and ``.meter`` show what it counted."""
    device, relay = local_device(make_context(client_features, labels, groups), stage=stage, seed=seed)
    device.ledger, device.meter = relay.ledger, relay.meter
    return device


def gaussian_mixture(n_per: int, centers: int, dim: int, seed: int, spread: float = 10.0):
    """Well-separated blobs: features and component ids."""
    rng = np.random.default_rng(seed)
    mus = rng.normal(0, spread, (centers, dim))
    comp = np.repeat(np.arange(centers), n_per)
    x = (mus[comp] + rng.normal(0, 1, (len(comp), dim))).astype(np.float32)
    return x, comp
