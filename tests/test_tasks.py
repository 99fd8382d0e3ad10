"""compress and outsource on tiny scenarios; the task-model registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from proxybench import ProxybenchError, RunSpec, create_task_model, to_tensor
from proxybench.runner import run

from .conftest import TINY_RUN

TINY_TRAIN = {"epochs": 2}


def test_outsource_counts_wasted_labels_exactly(tmp_path):
    spec = RunSpec(sampler="random", task="outsource", client_domain="printed",
                   **{**TINY_RUN, "task_params": TINY_TRAIN, "budget": 300})
    record, _ = run(spec, tmp_path)
    m = record["metrics"]
    assert m["labels_bought"] == 300
    # The record's selection share of distractors is computed independently from the pool's ground truth.
    assert m["labels_wasted"] == round(record["selection"]["outside_label_space_share"] * 300)
    assert m["labels_wasted"] > 0  # a random draw of 300 from a pool with ~11% letters
    assert record["privacy"]["epsilon"] == 0.0


def test_compress_distils_and_reports_sizes(tmp_path):
    spec = RunSpec(sampler="random", task="compress", client_domain="thick",
                   **{**TINY_RUN, "task_params": {"epochs": 3, "teacher_epochs": 2}})
    record, _ = run(spec, tmp_path)
    m = record["metrics"]
    assert 0 <= m["teacher_accuracy"] <= 1 and 0 <= m["accuracy"] <= 1
    assert m["teacher_parameters"] > m["model_parameters"] > 0
    assert m["student_macs"] > 0
    assert record["ledger"]["by_phase"]["model"]["down"] > 4 * m["model_parameters"]


def test_distillation_reduces_kl_to_the_teacher():
    from proxybench.plugins.tasks.compress import distillation_loss, kl_to_teacher
    from proxybench.training import TrainConfig, train

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (128, 32, 32, 3), dtype=np.uint8)
    x = to_tensor(images)
    torch.manual_seed(0)
    teacher = create_task_model("pb_cnn", 10).eval()
    probs = F.softmax(teacher(x).detach() / 4.0, dim=1)
    student = create_task_model("pb_cnn_small", 10)
    before = kl_to_teacher(student, x, probs, 4.0)
    train(student, x, probs, TrainConfig(epochs=15, lr=1e-2, crop_pad=0),
          loss_fn=distillation_loss(4.0, 0.0, torch.full((128,), -1)))
    assert kl_to_teacher(student, x, probs, 4.0) < 0.5 * before


def test_task_model_errors():
    with pytest.raises(ProxybenchError, match="unknown timm model 'pb_cnnn'"):
        create_task_model("pb_cnnn", 10)
    with pytest.raises(ProxybenchError, match="does not accept 32x32 input"):
        create_task_model("vit_tiny_patch16_224", 10)

