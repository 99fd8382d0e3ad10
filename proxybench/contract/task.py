"""The Task plugin base and what a task gets to work with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..ml.model_names import check_model_name
from ..privacy.accounting import no_client_information
from ..util.errors import ProxybenchError
from ..wire.device import Device
from .images import ImageRows
from .params import Plugin
from .sampler import Selection

if TYPE_CHECKING:
    # torch, timm and the trainer are imported where a task trains: its class loads without them
    import torch
    from dp_accounting import DpEvent

    from ..ml.extractor import Extractor
    from ..ml.training import Loss, UnlabeledTerm


@dataclass
class PickedData:
    """The selected pool rows, as the cloud holds them."""

    images: np.ndarray  # the selected pool images
    features: np.ndarray  # phi of the selected pool images (cloud-side)
    #: The pool's annotation of the selected images (-1 outside the label space): an annotation
    #: oracle for tasks that buy labels, and ground truth for scoring pseudo-labels. The sampler
    #: never saw it unless the task allowed pool labels.
    true_labels: np.ndarray


@dataclass
class PoolView:
    """The whole pool, for semi-supervised tasks and teachers."""

    images: ImageRows  # read lazily: index it for the rows you need
    labels: np.ndarray
    key: dict = field(default_factory=dict)  # identifies the pool, for caching models trained on it


@dataclass
class TaskContext:
    """The cloud's side of a task: the selection and its rows, the pool, the device handle, the run's seed and cache.

    Tasks read the rows by their short names (``images``, ``features``, ``pool_true_labels``,
    ``pool_images``, ``pool_labels``, ``pool_key``), which are those of ``picked`` and ``pool``.
    """

    selection: Selection
    picked: PickedData
    pool: PoolView
    num_classes: int
    device: Device
    extractor: Extractor
    seed: int
    rng: np.random.Generator
    cache: Any

    @property
    def images(self) -> np.ndarray:
        return self.picked.images

    @property
    def features(self) -> np.ndarray:
        return self.picked.features

    @property
    def pool_true_labels(self) -> np.ndarray:
        return self.picked.true_labels

    @property
    def pool_images(self) -> ImageRows:
        return self.pool.images

    @property
    def pool_labels(self) -> np.ndarray:
        return self.pool.labels

    @property
    def pool_key(self) -> dict:
        return self.pool.key

    @property
    def image_size(self) -> int:
        """The side of the pool's images: what a task model is built for and scored at."""
        return int(self.pool.images.shape[1])

    def reference_accuracy(self, model: torch.nn.Module, model_name: str) -> float:
        """A model's accuracy on the device's test set *for analysis only* (e.g. a cloud teacher's).

        The harness scores it with the scoring program, off the ledger: it is not part of the protocol.
        """
        from ..wire.scoring import reference_accuracy

        return reference_accuracy(self.device, model, model_name, self.num_classes, self.image_size)


@dataclass
class TaskResult:
    metrics: dict[str, Any]
    privacy: DpEvent = field(default_factory=no_client_information)
    adjacency: str | None = None


class Task(Plugin):
    """A downstream task scored on the device's test data."""

    #: May the sampler see the pool's labels for this task?
    pool_labels_visible: ClassVar[bool] = False
    #: Does the device hold labels for its private data in this task?
    device_has_labels: ClassVar[bool] = False
    #: Does the task need the pool's labels (an annotation oracle, a teacher trained on them)? A dataset whose pool
    #: has none (``Dataset.unlabeled_parts``) is refused before anything is built.
    needs_pool_labels: ClassVar[bool] = False

    def run(self, ctx: TaskContext) -> TaskResult:
        raise NotImplementedError


@dataclass
class SupervisedTask(Task):
    """A task whose cloud trains a timm task model from scratch and ships it to the device for scoring."""

    model: str = "pb_cnn"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ProxybenchError(f"{self.name}: epochs must be >= 1, got {self.epochs}")
        check_model_name(self.model)

    def new_model(self, ctx: TaskContext) -> torch.nn.Module:
        """The untrained task model, checked against the pool's image size.

        Its initial weights come from the run's seed, not from whatever the process drew
        before, so a run gives the same model in any process.
        """
        import torch

        from ..ml.models import create_task_model

        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed)
            return create_task_model(self.model, ctx.num_classes, ctx.image_size)

    def fit(self, ctx: TaskContext, images: np.ndarray, targets: np.ndarray | torch.Tensor,
            loss_fn: Loss | None = None, unlabeled: UnlabeledTerm | None = None,
            desc: str | None = None, model: torch.nn.Module | None = None) -> torch.nn.Module:
        """Train the task model from scratch on (images, targets), plus an optional unlabeled term.

        ``targets`` are class indices for the default cross-entropy (``loss_fn`` None), or whatever
        ``loss_fn`` expects. ``model`` is a fresh ``new_model(ctx)``, made here unless the caller made it
        early to fail fast.
        """
        import torch

        from ..ml.training import TrainConfig, cross_entropy_loss, to_tensor, train

        loss_fn = cross_entropy_loss if loss_fn is None else loss_fn
        model = model if model is not None else self.new_model(ctx)
        if len(images) >= 2:  # with fewer there is nothing to learn from: the untrained model is scored
            if not isinstance(targets, torch.Tensor):
                targets = torch.from_numpy(np.asarray(targets, dtype=np.int64))
            train(
                model,
                to_tensor(images),
                targets,
                TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=ctx.seed),
                desc=desc or f"training {self.model}",
                loss_fn=loss_fn,
                unlabeled=unlabeled,
            )
        return model

    def score(self, ctx: TaskContext, model: torch.nn.Module) -> dict[str, Any]:
        """Ship the model to the device for its test accuracy; report the model's size."""
        from ..ml.backbone import state_dict_bytes
        from ..wire.scoring import evaluate_on_device

        return {
            "model_sha256": hashlib.sha256(state_dict_bytes(model)).hexdigest()[:16],
            "accuracy": evaluate_on_device(ctx.device, model, self.model, ctx.num_classes,
                                           image_size=ctx.image_size),
            "model_parameters": int(sum(p.numel() for p in model.parameters())),
        }
