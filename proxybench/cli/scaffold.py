"""The files ``proxybench new`` writes: one template per plugin kind, plus the package around it.

Templates are ``string.Template`` texts: ``$name`` (the plugin's name), ``$cls`` (its class),
``$module`` (the import package), ``$kind`` and ``$kinds`` (sampler / samplers ...).
"""

from __future__ import annotations

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "proxybench-$name"
version = "0.1.0"
description = "$name: a proxybench $kind"
requires-python = ">=3.10"
dependencies = ["proxybench"]

[project.optional-dependencies]
test = ["pytest"]

# How proxybench finds the plugin: the module with the @hookimpl, under the "proxybench" group.
[project.entry-points.proxybench]
$name = "$module.$kind"

[tool.setuptools]
packages = ["$module"]
'''

INIT = '''\
"""$name: a proxybench $kind (see $kind.py; the contract is proxybench's docs/plugins.md)."""
'''

SAMPLER = '''\
"""$name: the device votes for its nearest of a few pool anchors; the cloud takes the pool points of the
most-voted anchors, nearest first.

The device program only says which anchor each private row lies nearest: it adds no noise and decides
nothing about what leaves the device. The request names a release mechanism (GaussianHistogram): the
device runtime counts the rows per anchor, clips each privacy unit's counts (an image and its
augmentations) to L2 norm 1, adds N(0, sigma^2) to each count and sends back the noisy counts only. The
run's epsilon is the runtime's; the Selection declares the same event (release.event()), which the
conformance kit and `proxybench audit` hold it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from proxybench import (
    SELECT, CloudView, Device, DeviceContext, GaussianHistogram, Message, Sampler, Selection, hookimpl,
    nearest_centroid,
)


def nearest_anchor(ctx: DeviceContext, msg: Message) -> np.ndarray:
    """Runs on the device (sent by reference, so it lives at module level): each private row's nearest anchor.

    These are the contributions of a GaussianHistogram, one bin per row; the runtime does the rest.
    """
    anchors = msg["anchors"]
    nearest, _ = nearest_centroid(ctx.features(), anchors)
    ctx.meter.add_flops(2 * ctx.n * anchors.size)
    return nearest.astype(np.int64)


@dataclass
class $cls(Sampler):
    name: ClassVar[str] = "$name"
    description: ClassVar[str] = "noisy device votes for pool anchors, then their nearest pool points (DP)"
    kind: ClassVar[str] = "private"
    anchors: int = 16
    sigma: float = 5.0  # the noise on each count; one unit moves the counts by at most 1
    adjacency: Literal["add_remove", "replace_one"] = "add_remove"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        x = np.asarray(cloud.features, dtype=np.float32)
        anchors = x[rng.choice(len(x), min(self.anchors, len(x)), replace=False)]
        release = GaussianHistogram(noise_multiplier=self.sigma, bins=len(anchors), bound=1.0,
                                    adjacency=self.adjacency)
        votes = device.call(nearest_anchor, {"anchors": anchors}, phase=SELECT, label="votes",
                            release=release)["release"]
        nearest, dist = nearest_centroid(x, anchors)
        order = np.lexsort((dist, -votes[nearest]))  # most-voted anchors first, then nearest to their anchor
        return Selection(indices=order[:budget], privacy=release.event(), adjacency=self.adjacency)


@hookimpl
def proxybench_samplers():
    return [$cls]
'''

TASK = '''\
"""$name: the selection is labeled by an annotation oracle (the pool's labels); a CNN trained on it from
scratch is scored on the device's test data. Picks outside the label space are wasted budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from proxybench import SupervisedTask, TaskContext, TaskResult, hookimpl


@dataclass
class $cls(SupervisedTask):
    name: ClassVar[str] = "$name"
    description: ClassVar[str] = "oracle labels for the selection, a CNN trained on them, scored on the device"
    pool_labels_visible: ClassVar[bool] = False
    device_has_labels: ClassVar[bool] = False
    needs_pool_labels: ClassVar[bool] = True  # it trains on the pool's labels: refused where the pool has none

    def run(self, ctx: TaskContext) -> TaskResult:
        labeled = ctx.pool_true_labels >= 0
        model = self.fit(ctx, ctx.images[labeled], ctx.pool_true_labels[labeled])
        return TaskResult(metrics={**self.score(ctx, model), "labeled": int(labeled.sum())})


@hookimpl
def proxybench_tasks():
    return [$cls]
'''

DATASET = '''\
"""$name: a generated dataset of 32x32 blocks (class = where the block sits) in two client domains, dark and
light paper, plus a distractor domain of noise outside the label space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import OUTSIDE_LABEL_SPACE, Dataset, ImageData, hookimpl

DOMAINS = ("dark", "light", "noise")
CLASSES = ("top-left", "top-right", "bottom-left", "bottom-right")


@dataclass
class $cls(Dataset):
    name: ClassVar[str] = "$name"
    description: ClassVar[str] = "generated blocks on dark and light paper, plus noise distractors"
    version: ClassVar[str] = "1"
    seed: int = 0
    per_class: int = 40

    def client_domains(self) -> tuple[str, ...]:
        return DOMAINS[:2]

    def generate(self) -> ImageData:
        rng = np.random.default_rng(self.seed)
        n = self.per_class * len(CLASSES)
        labels = np.tile(np.repeat(np.arange(len(CLASSES)), self.per_class), len(DOMAINS))
        domains = np.repeat(np.arange(len(DOMAINS)), n)
        paper = np.array([30.0, 220.0, 128.0])[domains]
        images = paper[:, None, None, None] + rng.normal(0, 12, (len(labels), 32, 32, 3))
        for i, (label, d) in enumerate(zip(labels, domains)):
            if DOMAINS[d] != "noise":
                row, col = 16 * (label // 2), 16 * (label % 2)
                images[i, row + 2 : row + 14, col + 2 : col + 14] = 255 - paper[i]
        distractor = domains == DOMAINS.index("noise")
        return ImageData(
            images=np.clip(images, 0, 255).astype(np.uint8),
            labels=np.where(distractor, OUTSIDE_LABEL_SPACE, labels).astype(np.int64),
            domains=domains.astype(np.int64),
            is_test=(np.arange(len(labels)) % 4 == 0) & ~distractor,
            # the device draws its rows from this part, which no pool holds (a real dataset draws it with
            # self.secret, so that nobody can generate it again: docs/datasets.md)
            is_private=(np.arange(len(labels)) % 4 == 2) & ~distractor,
            groups=np.arange(len(labels), dtype=np.int64),
            domain_names=DOMAINS, class_names=CLASSES, distractor_domains=DOMAINS[2:],
        )


@hookimpl
def proxybench_datasets():
    return [$cls]
'''

TEST = '''\
"""$name passes proxybench's conformance kit, and the installed package registers it."""

from proxybench import list_${kind}s
from proxybench.testing import check_$kind

from $module.$kind import $cls


def test_the_contract():
    check_$kind($cls$check_params)


def test_registered_through_the_entry_point():
    assert "$name" in list_${kind}s()
'''

#: small parameters the generated test passes to its check, per kind (training stays short)
CHECK_PARAMS = {"sampler": "", "task": ', {"epochs": 1}', "dataset": ', {"per_class": 12}'}

README = '''\
# proxybench-$name

A proxybench $kind: `$name` (`$module/$kind.py`), registered under the `proxybench`
entry-point group in `pyproject.toml`. The contract it follows is proxybench's `docs/plugins.md`.

```bash
pip install -e ".[test]"
pytest                                 # the conformance kit: check_$kind($cls)
proxybench list ${kind}s                # $name, with its parameters
$usage
```
'''

USAGE = {
    "sampler": "proxybench run --sampler $name\nproxybench audit --sampler $name      # the privacy audit of its device program",
    "task": "proxybench run --task $name",
    "dataset": "proxybench datasets info $name\nproxybench run --dataset $name --client-domain dark",
}

TEMPLATES = {"sampler": SAMPLER, "task": TASK, "dataset": DATASET}
