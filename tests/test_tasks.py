"""compress and outsource on tiny scenarios; the task-model registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from proxybench import ProxybenchError, RunSpec, create_task, create_task_model, to_tensor
from proxybench.run.runner import run

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
    from proxybench.ml.training import TrainConfig, train
    from proxybench.plugins.tasks.compress import distillation_loss, kl_to_teacher

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
    # Names are checked when the task is made, before any data is generated or teacher trained.
    with pytest.raises(ProxybenchError, match="unknown timm model 'resnet188' \\(did you mean 'resnet18'\\?\\)"):
        create_task("compress", teacher="resnet188")
    with pytest.raises(ProxybenchError, match="unknown timm model 'nope'"):
        create_task("outsource", model="nope")


def test_training_stops_with_a_clear_error_on_a_nan_loss():
    from proxybench.ml.training import TrainConfig, train

    rng = np.random.default_rng(0)
    x = to_tensor(rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 10, 20))

    def diverged(logits, targets, index):
        return F.cross_entropy(logits, targets) * float("nan")

    with pytest.raises(ProxybenchError, match=r"tiny: loss became nan at epoch 1; lower the learning rate"):
        train(create_task_model("pb_cnn_small", 10), x, y, TrainConfig(epochs=2, batch_size=8), desc="tiny",
              loss_fn=diverged)


def test_outsource_semi_supervised_runs_fixmatch_end_to_end(tmp_path):
    params = {**TINY_TRAIN, "semi_supervised": True, "unlabeled_pool_size": 150, "threshold": 0.5}
    spec = RunSpec(sampler="random", task="outsource", client_domain="printed", **{**TINY_RUN, "task_params": params})
    m = run(spec, tmp_path)[0]["metrics"]
    assert m["labels_bought"] == 60 and 0 <= m["labels_wasted"] < 60
    assert m["unlabeled_used"] == 150
    assert 0.0 <= m["mask_rate"] <= 1.0
    assert 0.0 <= m["accuracy"] <= 1.0 and m["model_parameters"] > 0


def test_fixmatch_loss_ignores_low_confidence_unlabeled_samples():
    from proxybench.plugins.tasks.outsource import FixMatch

    fixmatch = FixMatch(threshold=0.95, weight=2.0, crop_pad=4)
    weak = torch.tensor([[10.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 12.0], [0.0, 0.2, 0.0]])  # rows 0 and 2 confident
    strong = torch.randn(4, 3, requires_grad=True)
    loss = fixmatch.loss(torch.cat([weak, strong]))
    loss.backward()
    assert strong.grad[[1, 3]].abs().sum() == 0 and strong.grad[[0, 2]].abs().sum() > 0
    expected = 2.0 * F.cross_entropy(strong[[0, 2]], torch.tensor([0, 2]), reduction="sum") / 4  # mean over all 4
    assert loss.item() == pytest.approx(expected.item())
    assert (fixmatch.masked, fixmatch.seen, fixmatch.mask_rate) == (2, 4, 0.5)
    nothing_confident = FixMatch(threshold=0.95, weight=1.0, crop_pad=4)
    assert nothing_confident.loss(torch.cat([weak[[1, 3]], strong[[1, 3]]])).item() == 0.0


def test_strong_augmentation_is_seeded():
    from proxybench.plugins.tasks.outsource import strong_augment

    x = to_tensor(np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8))

    def augment(seed: int) -> torch.Tensor:
        return strong_augment(x, 4, torch.Generator().manual_seed(seed))

    assert torch.equal(augment(1), augment(1))
    assert not torch.equal(augment(1), augment(2))
    assert augment(1).shape == x.shape and not torch.equal(augment(1), x)
    assert augment(1).min() >= -1.0 and augment(1).max() <= 1.0  # still in the normalised image range


def test_train_is_unchanged_for_supervised_callers():
    """Weights of a tiny supervised run, recorded before ``train`` learned about unlabeled data."""
    from proxybench.ml.training import TrainConfig, train

    rng = np.random.default_rng(0)
    x = to_tensor(rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 10, 40))
    torch.manual_seed(0)
    model = train(create_task_model("pb_cnn_small", 10), x, y, TrainConfig(epochs=2, batch_size=16, seed=3))
    recorded = [0.034906867891550064, 0.10885366797447205, 0.02145327813923359, -0.11421478539705276]
    assert model.classifier.bias[:4].tolist() == pytest.approx(recorded, abs=1e-6)
