"""``--torch-device`` / ``PROXYBENCH_TORCH_DEVICE``: the error paths, the CPU fallback of auto, and the default path.

This machine's CUDA and MPS are whatever torch reports; tests that need their absence skip
where an accelerator is present. Monkeypatched availability is used only to check which
device ``auto`` would choose and what an error says, never to claim that a kernel ran there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from proxybench import ProxybenchError, RunSpec
from proxybench.cli import main
from proxybench.ml import accelerator
from proxybench.ml.accelerator import ENV_VAR, device_cache_key, parse_device, resolve
from proxybench.run.runner import run

from .conftest import TINY_ARGS, TINY_RUN

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
no_accelerator = pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                                    reason="this machine has an accelerator")


@pytest.fixture(autouse=True)
def _restore_device_variable(monkeypatch):
    """Each test says its own device: none comes in from the machine's environment."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.mark.parametrize("command", [["run"], ["sweep", "grid.toml"], ["audit", "--all"]])
def test_a_bogus_device_is_one_line_naming_the_allowed_values(command, capsys):
    assert main([*command, "--torch-device", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err and "auto, cpu, cuda, cuda:N, mps" in err and "Traceback" not in err


def test_a_bogus_environment_variable_fails_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, "gpu")
    with pytest.raises(ProxybenchError, match="'gpu' is not one of auto, cpu, cuda, cuda:N, mps"):
        run(RunSpec(sampler="random", client_domain="thick", **TINY_RUN), tmp_path)
    assert not list(tmp_path.iterdir())  # no record: nothing ran


@no_cuda
@pytest.mark.parametrize("value", ["cuda", "cuda:1"])
def test_cuda_without_cuda_names_the_value_and_what_the_machine_has(value, capsys):
    assert main(["run", "--torch-device", value, "--budget", "60", *TINY_ARGS]) == 2
    err = capsys.readouterr().err
    assert f"'{value}' needs CUDA" in err and "sees only cpu" in err and torch.__version__ in err
    assert "Traceback" not in err


@no_accelerator
def test_mps_without_mps_is_a_clear_error():
    with pytest.raises(ProxybenchError, match="'mps' needs Apple's MPS, but torch on this machine sees only cpu"):
        resolve("mps")


def test_spellings_are_normalised_and_cuda_indices_accepted():
    assert parse_device(" CPU ") == "cpu" and parse_device("cuda:3") == "cuda:3"
    for bad in ("cuda:", "cuda:x", "gpu", "cpu:0", ""):
        with pytest.raises(ProxybenchError, match="is not one of"):
            parse_device(bad)


def test_auto_prefers_cuda_then_mps(monkeypatch):
    """Only the choice is checked here: availability is patched, nothing runs on the devices."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _=None: "Some GPU")
    assert resolve("auto") == (torch.device("cuda", 0), "torch device auto: using cuda:0 (Some GPU)")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve("auto") == (torch.device("mps"), "torch device auto: using mps")


def test_a_cuda_index_beyond_the_devices_names_them(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _=None: "Some GPU")
    with pytest.raises(ProxybenchError, match=r"'cuda:2': torch on this machine sees only cpu, cuda:0 \(Some GPU\)"):
        resolve("cuda:2")


def test_cache_keys_change_only_off_the_cpu(monkeypatch):
    key = {"teacher": "pb_cnn"}
    assert device_cache_key(key) is key  # every existing CPU cache entry keeps its key
    monkeypatch.setattr(accelerator, "torch_device", lambda: torch.device("cuda", 0))
    assert device_cache_key(key) == {"teacher": "pb_cnn", "torch_device": "cuda"}


@no_accelerator
def test_auto_falls_back_to_the_cpu_says_so_and_changes_nothing(tmp_path, capsys):
    """A default run and an ``--torch-device auto`` run on a CPU-only machine give the same record values."""
    args = ["run", "--sampler", "ecos", "--param", "R=10", "--budget", "60", *TINY_ARGS]
    assert main([*args, "--results-dir", str(tmp_path / "default")]) == 0
    assert "torch device" in capsys.readouterr().out
    assert main([*args, "--results-dir", str(tmp_path / "auto"), "--torch-device", "auto"]) == 0
    captured = capsys.readouterr()
    assert "torch device auto: torch sees no CUDA or MPS device; using the CPU" in captured.err
    assert ENV_VAR not in os.environ  # the resolved device went into the run's settings, not the environment
    records = [json.loads(next((tmp_path / d).glob("*.json")).read_text()) for d in ("default", "auto")]
    assert records[0]["selection"]["indices_hash"] == records[1]["selection"]["indices_hash"]
    assert records[0]["metrics"] == records[1]["metrics"]  # the trained model's digest included
    for rec in records:
        assert rec["environment"]["torch_device"] == "cpu" and "torch_determinism" not in rec["environment"]


def test_the_gpu_check_is_a_script_pytest_does_not_collect():
    gpu = Path(__file__).parent / "gpu"
    assert (gpu / "check.sh").stat().st_mode & 0o111  # executable
    assert not list(gpu.rglob("*.py"))  # nothing there for the default test command to collect
