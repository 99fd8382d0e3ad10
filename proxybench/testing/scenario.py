"""A tiny scenario for plugin tests: a pool, a client and a public phi, built in a moment, with a counted device.

The pool has three domains of 32x32 images (the client's, another, and distractors outside
the label space); phi is a small seeded network wrapped in the real ``Extractor``, so pool
and client features come from the same public extractor as in a run.

``tiny_scenario`` holds the client's rows in this process and connects a device runtime
behind the harness's counting relay here too (``local_device``): for a plugin's own unit
tests, where only the process boundary is missing. The conformance checks take the cloud's
part only (``tiny_pool``) and a ``KitDevice`` (``testing.kit_device``) in another process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..contract.images import OUTSIDE_LABEL_SPACE, ImageRows
from ..contract.sampler import CloudView
from ..harness.local import local_device
from ..harness.relay import Relay
from ..ml.extractor import Extractor
from ..privacy.accounting import DEFAULT_DELTA
from ..wire.context import CallMeter, DeviceContext, ScoringContext
from ..wire.device import Device
from ..wire.phases import SELECT, Phase

NUM_CLASSES = 4
IMAGE_SIZE = 32
#: pool images per domain; the client's domain is 0, domain 2 lies outside the label space
POOL_PER_DOMAIN = 80
CLIENT_TRAIN, CLIENT_TEST = 60, 40


def _images(domain: int, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Class = where a bright block sits; domain = the paper's colour and the noise level."""
    paper = np.array([[40, 40, 90], [200, 190, 150], [90, 160, 60]][domain], np.float64)
    out = paper + rng.normal(0, 12 + 8 * domain, (len(labels), IMAGE_SIZE, IMAGE_SIZE, 3))
    for i, label in enumerate(labels):
        row, col = 4 + 12 * (max(label, 0) // 2), 4 + 12 * (max(label, 0) % 2)
        out[i, row : row + 12, col : col + 12] = 255 - paper if label >= 0 else paper[::-1]
    return np.clip(out, 0, 255).astype(np.uint8)


def tiny_phi(dim: int = 16, seed: int = 0) -> Extractor:
    """A seeded public extractor (pooling, one linear layer): the real ``Extractor`` class, tiny."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, dim), nn.Tanh())
    return Extractor(model, IMAGE_SIZE, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), key={"backbone": "tiny-phi", "seed": seed})


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # as in a run, where the cloud's pool is a read-only memory map
    return a


@dataclass(frozen=True, eq=False, kw_only=True)
class TinyPool:
    """The cloud's part of the tiny scenario: pool rows, ground truth and phi, and nothing of the client."""

    pool_images: np.ndarray
    pool_labels: np.ndarray
    pool_domains: np.ndarray  # ground truth: for oracle samplers and for checks, never for a sampler
    pool_features: np.ndarray
    phi: Extractor
    num_classes: int = NUM_CLASSES

    @property
    def pool_size(self) -> int:
        return len(self.pool_images)

    def cloud_view(self, labels: bool = False, oracle: bool = False, delta: float = DEFAULT_DELTA) -> CloudView:
        """What a sampler sees: pool labels only if ``labels`` (the task shows them), ground truth only for oracles."""
        return CloudView(features=self.pool_features, images=ImageRows(self.pool_images, np.arange(self.pool_size)),
                         labels=self.pool_labels if labels else None, extractor=self.phi,
                         oracle_in_domain=self.pool_domains == 0 if oracle else None, delta=delta)


@dataclass(frozen=True, eq=False, kw_only=True)
class TinyScenario(TinyPool):
    """The pool and phi, and the client's rows in this process; ``connect`` makes a device over them."""

    client_images: np.ndarray
    client_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def device_context(self, labels: bool = False) -> DeviceContext:
        """The device's private side as programs see it: its own copy of the client rows, and phi."""
        return DeviceContext(self.client_images.copy(), self.client_labels.copy() if labels else None, self.phi)

    def scoring_context(self) -> ScoringContext:
        """The device's test split, for the harness's scoring program only."""
        return ScoringContext(self.test_images.copy(), self.test_labels.copy(), CallMeter())

    def connect(self, seed: int = 0, labels: bool = False, stage: Phase = SELECT) -> DeviceLink:
        """A device over a fresh context, behind a counting relay (``.relay.ledger``, ``.relay.calls``), noise from ``seed``."""
        device, relay = local_device(self.device_context(labels), stage=stage, seed=seed, scoring=self.scoring_context())
        return DeviceLink(device, relay)


@dataclass
class DeviceLink:
    """The cloud's device handle and the relay that counted what crossed."""

    device: Device
    relay: Relay


def private_rows(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The client's training and test rows (images, labels) of the pool's domain 0, drawn from ``rng``."""
    client_labels = np.arange(CLIENT_TRAIN) % NUM_CLASSES
    test_labels = np.arange(CLIENT_TEST) % NUM_CLASSES
    return _images(0, client_labels, rng), client_labels, _images(0, test_labels, rng), test_labels


def _draw_pool(seed: int) -> tuple[TinyPool, np.random.Generator]:
    """The pool of ``seed``, and the generator after it (``tiny_scenario`` draws the client's rows from it)."""
    rng = np.random.default_rng(seed)
    per_class = POOL_PER_DOMAIN // NUM_CLASSES
    pool_labels = np.concatenate([np.repeat(np.arange(NUM_CLASSES), per_class)] * 2
                                 + [np.full(POOL_PER_DOMAIN, OUTSIDE_LABEL_SPACE)])
    pool_domains = np.repeat(np.arange(3), POOL_PER_DOMAIN)
    pool_images = np.concatenate([_images(d, pool_labels[pool_domains == d], rng) for d in range(3)])
    phi = tiny_phi(seed=seed)
    pool_features = phi.extract(pool_images, desc="tiny pool")
    pool = TinyPool(pool_images=_readonly(pool_images), pool_labels=_readonly(pool_labels.astype(np.int64)),
                    pool_domains=_readonly(pool_domains), pool_features=_readonly(pool_features), phi=phi)
    return pool, rng


@functools.lru_cache(maxsize=4)
def tiny_pool(seed: int = 0) -> TinyPool:
    """The cloud's part of the tiny scenario of ``seed`` (built once per process; read-only arrays).

    The conformance checks use it with a ``KitDevice``, whose client rows are drawn in another
    process from a secret: nothing in the checking process holds or can rebuild them.
    """
    return _draw_pool(seed)[0]


@functools.lru_cache(maxsize=4)
def tiny_scenario(seed: int = 0) -> TinyScenario:
    """The tiny scenario of ``seed``, its client rows in this process (built once per process; read-only arrays)."""
    pool, rng = _draw_pool(seed)
    client_images, client_labels, test_images, test_labels = private_rows(rng)
    return TinyScenario(
        pool_images=pool.pool_images, pool_labels=pool.pool_labels, pool_domains=pool.pool_domains,
        pool_features=pool.pool_features, client_images=_readonly(client_images),
        client_labels=_readonly(client_labels), test_images=_readonly(test_images),
        test_labels=_readonly(test_labels), phi=pool.phi)
