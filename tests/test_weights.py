"""Weight sources of phi: no side effects on their parameters or on torch's global RNG; bad checkpoints are input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proxybench import Cache, PoolData, ProxybenchError, create_backbone, create_weights
from proxybench.cli import main
from proxybench.contract.weights import build_extractor

from .conftest import TINY_ARGS


def _pool(n: int = 64) -> PoolData:
    images = np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    return PoolData(images, np.zeros(n, np.int64), key={"test": n})


def test_random_init_leaves_torch_global_rng_alone_and_is_seeded(tmp_path) -> None:
    pool = _pool()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = build_extractor("resnet10t", "random", pool, Cache(tmp_path), layer=-1)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(7)  # another global state: the same weights
    second = build_extractor("resnet10t", "random", pool, Cache(tmp_path), layer=-1)
    images = pool.images[:8]
    np.testing.assert_array_equal(first.extract(images), second.extract(images))
    other = build_extractor("resnet10t", "random:1", pool, Cache(tmp_path), layer=-1)
    assert not np.array_equal(first.extract(images), other.extract(images))


def test_hub_weights_take_the_input_size_from_the_weights_without_changing_their_parameter(monkeypatch, tmp_path):
    import timm
    from huggingface_hub import constants

    create_model = timm.create_model

    def pretrained(name: str, pretrained: bool, num_classes: int) -> torch.nn.Module:
        model = create_model(name, num_classes=num_classes)
        model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, 48, 48)}
        return model

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(timm, "create_model", pretrained)
    source = create_weights("hub")
    model = source.load("resnet10t", _pool(), Cache(tmp_path), 0)
    assert source.image_size == 0 and source.input_size(model) == 48
    assert create_weights("hub", image_size=64).input_size(model) == 64
    extractor = build_extractor("resnet10t", "hub", _pool(), Cache(tmp_path))
    assert extractor.image_size == 48 and extractor.key["image_size"] == 48
    assert extractor.key["weights_params"]["image_size"] == 0  # the parameter as given


def test_unreadable_checkpoints_are_one_line_naming_the_file(tmp_path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    torn = tmp_path / "torn.pt"
    torch.save(create_backbone("resnet10t").state_dict(), torn)
    torn.write_bytes(torn.read_bytes()[:5000])
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    wrong = tmp_path / "wrong.pt"
    torch.save({k: v[..., :1] if v.ndim else v for k, v in create_backbone("resnet10t").state_dict().items()}, wrong)
    for path, match in ((garbage, "is not a readable torch checkpoint"), (torn, "is not a readable torch checkpoint"),
                        (listed, "holds a list, not a state dict"), (wrong, "does not fit resnet10t")):
        source = create_weights("file", path=str(path))
        with pytest.raises(ProxybenchError, match=match) as err:
            source.load("resnet10t", _pool(), Cache(tmp_path), 0)
        assert str(path) in str(err.value) and "\n" not in str(err.value), err.value


def test_a_corrupt_checkpoint_exits_2_from_the_cli(tmp_path, capsys) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    args = [a for a in TINY_ARGS]
    args[args.index("--weights") + 1] = f"file:{garbage}"
    code = main(["run", "--sampler", "random", "--budget", "20", "--results-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and str(garbage) in err and "Traceback" not in err
