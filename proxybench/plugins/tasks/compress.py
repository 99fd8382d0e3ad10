"""``compress``: adaptive model compression.

The cloud trains a large teacher (any timm model) on the whole labeled pool, once per
pool (cached by content hash). The sampler picks S using the device's *unlabeled*
data; the teacher is distilled into a small student on S with the KL divergence at
temperature T (Hinton et al. 2015), optionally mixed with cross-entropy on the pool's
hard labels where S has them. The student is shipped to the device (phase ``model``)
and scored there.

Choice where the definition is open: the teacher's soft targets are computed once on
the un-augmented images of S, while the student trains on randomly cropped ones (the
shared trainer's augmentation); at a 4-pixel crop the mismatch is small, and it keeps
the teacher's forward passes out of the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from proxybench import (
    ImageTensors,
    ProxybenchError,
    SupervisedTask,
    TaskContext,
    TaskResult,
    TrainConfig,
    check_model_name,
    create_task_model,
    device_cache_key,
    forward_flops,
    hookimpl,
    load_state_dict_bytes,
    predict_logits,
    state_dict_bytes,
    to_tensor,
    train,
)


def distillation_loss(temperature: float, hard_weight: float, hard_labels: torch.Tensor):
    """KL(teacher || student) at temperature T, scaled by T^2, plus optional CE on hard labels (-1 = none)."""

    def loss(logits: torch.Tensor, teacher_probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits / temperature, dim=1)
        kd = F.kl_div(log_p, teacher_probs, reduction="batchmean") * temperature**2
        if hard_weight <= 0:
            return kd
        hard = hard_labels[index].to(logits.device)  # index: the batch's rows, on the CPU
        known = hard >= 0
        if not known.any():
            return kd
        return (1 - hard_weight) * kd + hard_weight * F.cross_entropy(logits[known], hard[known])

    return loss


def kl_to_teacher(student: torch.nn.Module, x: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> float:
    log_p = F.log_softmax(predict_logits(student, x) / temperature, dim=1)
    return float(F.kl_div(log_p, teacher_probs, reduction="batchmean"))


@dataclass
class Compress(SupervisedTask):
    name: ClassVar[str] = "compress"
    description: ClassVar[str] = "distil a pool-trained timm teacher into a small student on the selection"
    pool_labels_visible: ClassVar[bool] = True  # the cloud's pool is labeled: it trains the teacher on it
    device_has_labels: ClassVar[bool] = False
    needs_pool_labels: ClassVar[bool] = True  # the teacher trains on them

    model: str = "pb_cnn_small"
    teacher: str = "pb_cnn"
    teacher_epochs: int = 6
    temperature: float = 4.0
    hard_label_weight: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ProxybenchError(f"compress: temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.hard_label_weight <= 1.0:
            raise ProxybenchError(f"compress: hard_label_weight must be in [0, 1], got {self.hard_label_weight}")
        if self.teacher_epochs < 1:
            raise ProxybenchError(f"compress: teacher_epochs must be >= 1, got {self.teacher_epochs}")
        check_model_name(self.teacher)

    def load_teacher(self, ctx: TaskContext) -> torch.nn.Module:
        """The teacher trained on every labeled pool image, cached by pool, architecture and schedule."""
        labeled = ctx.pool_labels >= 0
        image_size = int(ctx.pool_images.shape[1])
        key = device_cache_key({"teacher": self.teacher, "epochs": self.teacher_epochs, "pool": ctx.pool_key,
                                "num_classes": ctx.num_classes, "lr": self.lr, "batch_size": self.batch_size})

        def build() -> bytes:
            torch.manual_seed(0)
            model = create_task_model(self.teacher, ctx.num_classes, image_size)
            train(model, ImageTensors(ctx.pool_images.take(labeled)),
                  torch.from_numpy(ctx.pool_labels[labeled].astype(np.int64)),
                  TrainConfig(epochs=self.teacher_epochs, batch_size=128, lr=self.lr, seed=0),
                  desc=f"cloud teacher {self.teacher}")
            return state_dict_bytes(model)

        teacher = create_task_model(self.teacher, ctx.num_classes, image_size)
        load_state_dict_bytes(teacher, ctx.cache.blob("teachers", key, build, suffix=".pt"))
        return teacher.eval()

    def run(self, ctx: TaskContext) -> TaskResult:
        student = self.new_model(ctx)  # a student that cannot take the images fails before the teacher trains
        teacher = self.load_teacher(ctx)
        x = to_tensor(ctx.images)
        teacher_probs = F.softmax(predict_logits(teacher, x) / self.temperature, dim=1)
        hard = torch.from_numpy(ctx.pool_true_labels.astype(np.int64))
        student = self.fit(ctx, ctx.images, teacher_probs, model=student,
                           loss_fn=distillation_loss(self.temperature, self.hard_label_weight, hard))
        metrics = self.score(ctx, student)
        metrics.update(
            teacher_accuracy=ctx.reference_accuracy(teacher, self.teacher),
            teacher_parameters=int(sum(p.numel() for p in teacher.parameters())),
            student_macs=forward_flops(student, int(x.shape[-1])) // 2,
            kl_to_teacher_on_selection=kl_to_teacher(student, x, teacher_probs, self.temperature),
        )
        return TaskResult(metrics=metrics)


@hookimpl
def proxybench_tasks():
    return [Compress]
