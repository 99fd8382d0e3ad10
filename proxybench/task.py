"""The Task plugin base and what a task gets to work with."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from dp_accounting import DpEvent

from .dataset import ImageRows
from .device import Device, DeviceContext, forward_flops
from .errors import ProxybenchError
from .features import Extractor, load_state_dict_bytes, state_dict_bytes
from .link import Message
from .models import check_model_name, create_task_model
from .params import Plugin
from .privacy import no_client_information
from .sampler import Selection
from .training import Loss, TrainConfig, UnlabeledTerm, accuracy, cross_entropy_loss, to_tensor, train


@dataclass
class TaskContext:
    """The cloud's side of a task: the selected pool images, the device handle, ground truth for scoring.

    ``pool_true_labels`` is the pool's annotation (an annotation oracle for tasks that
    buy labels, and ground truth for scoring pseudo-labels); the sampler never saw it
    unless the task allowed pool labels.
    """

    selection: Selection
    images: np.ndarray  # the selected pool images
    features: np.ndarray  # phi of the selected pool images (cloud-side)
    pool_true_labels: np.ndarray  # of the selected images; -1 outside the label space
    pool_images: ImageRows  # the whole pool, read lazily (for semi-supervised tasks and teachers)
    pool_labels: np.ndarray  # the whole pool's labels
    num_classes: int
    device: Device
    extractor: Extractor
    seed: int
    rng: np.random.Generator
    cache: Any
    pool_key: dict = field(default_factory=dict)  # identifies the pool, for caching models trained on it
    #: Accuracy of a model (and its task-model name) on the device's test set *for analysis only*:
    #: the harness scores it with the scoring program, off the ledger, e.g. a cloud teacher's.
    reference_accuracy: Callable[[torch.nn.Module, str], float] | None = None


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
        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed)
            return create_task_model(self.model, ctx.num_classes, int(ctx.pool_images.shape[1]))

    def fit(self, ctx: TaskContext, images: np.ndarray, targets: np.ndarray | torch.Tensor,
            loss_fn: Loss = cross_entropy_loss, unlabeled: UnlabeledTerm | None = None,
            desc: str | None = None, model: torch.nn.Module | None = None) -> torch.nn.Module:
        """Train the task model from scratch on (images, targets), plus an optional unlabeled term.

        ``targets`` are class indices for the default cross-entropy, or whatever ``loss_fn``
        expects. ``model`` is a fresh ``new_model(ctx)``, made here unless the caller made it
        early to fail fast.
        """
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
        return {
            "model_sha256": hashlib.sha256(state_dict_bytes(model)).hexdigest()[:16],
            "accuracy": evaluate_on_device(ctx.device, model, self.model, ctx.num_classes,
                                           image_size=int(ctx.pool_images.shape[1])),
            "model_parameters": int(sum(p.numel() for p in model.parameters())),
        }


def evaluate_program(ctx: DeviceContext, msg: Message) -> Message:
    """The harness's scoring program: a shipped task model's accuracy on the device's test data."""
    model = create_task_model(msg["model"], int(msg["num_classes"]), int(msg["image_size"]))
    load_state_dict_bytes(model, msg["weights"].tobytes())
    x = to_tensor(ctx.test_images, int(msg["image_size"]))
    acc = accuracy(model, x, ctx.test_labels)  # leaves the model in eval mode
    ctx.meter.add_flops(forward_flops(model, int(msg["image_size"])) * len(x))
    return {"accuracy": acc, "n_test": len(ctx.test_labels)}


def evaluate_on_device(device: Device, model: torch.nn.Module, model_name: str, num_classes: int,
                       image_size: int = 32) -> float:
    """Ship the trained model to the device (phase ``model``) and let it score itself on its test data."""
    return float(device.call(evaluate_program, model_message(model, model_name, num_classes, image_size),
                             phase="model", label="evaluate")["accuracy"])


def model_message(model: torch.nn.Module, model_name: str, num_classes: int, image_size: int) -> Message:
    """A trained task model as message fields: what the scoring program rebuilds and scores."""
    return {
        "model": model_name,
        "num_classes": num_classes,
        "image_size": image_size,
        "weights": np.frombuffer(state_dict_bytes(model), dtype=np.uint8),
    }
