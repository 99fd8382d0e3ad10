"""A selection for a real device, end to end on loopback: `device serve --data` in one process, `select` in another.

The device holds its own image folder; the cloud has a pool folder and phi. Only the
runtime's releases cross, under the device's budget, which it keeps over sessions.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from proxybench import ProxybenchError
from proxybench.cli.app import main
from proxybench.harness.device_folder import BudgetLedger, DeviceFolder, folder_labels
from proxybench.harness.messages import ChildStart, DeviceProvision, DeviceSession
from proxybench.util.settings import Settings
from proxybench.wire.link import serialize

STYLES = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}


def write_images(folder: Path, style: str, n: int, seed: int) -> None:
    """``n`` noisy 32x32 PNGs of one colour style: a style is what phi can tell apart."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    base = np.array(STYLES[style], dtype=np.int16)
    for i in range(n):
        img = np.clip(base + rng.integers(-40, 40, size=(32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{style}_{i:03d}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    for k, cls in enumerate(("cat", "dog")):
        write_images(root / "device" / cls, "red", 12, seed=k)
    for k, style in enumerate(STYLES):
        write_images(root / "pool" / style, style, 30, seed=10 + k)
    import timm
    import torch

    torch.manual_seed(0)
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), root / "phi.pt")
    return root


def serve(folders: Path, ledger: Path, sessions: int, epsilon: float) -> tuple[subprocess.Popen, str]:
    """A device serving its own folder on a free loopback port; its address once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxybench.cli", "device", "serve", "--data", str(folders / "device"), "--port", "0",
         "--sessions", str(sessions), "--device-epsilon", str(epsilon), "--budget-ledger", str(ledger)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PROXYBENCH_PROGRESS": "off"})
    line = proc.stdout.readline()
    assert "listening on" in line, line + proc.stdout.read()
    return proc, line.strip().rsplit(" ", 1)[-1]


def select_args(folders: Path, address: str, out: Path, *extra: str) -> list[str]:
    return ["select", "--pool", str(folders / "pool"), "--device-address", address, "--out", str(out),
            "--budget", "20", "--backbone", "resnet10t", "--weights", f"file:{folders / 'phi.pt'}",
            "--param", "R=6", *extra]


def test_select_on_loopback_writes_the_files_spends_the_budget_and_is_refused_past_it(folders, tmp_path, capsys):
    ledger = tmp_path / "ledger.json"
    proc, address = serve(folders, ledger, sessions=2, epsilon=1.0)
    try:
        out = tmp_path / "selection.csv"
        assert main(select_args(folders, address, out)) == 0
        rows = list(csv.DictReader(open(out)))
        assert len(rows) == 20 and len({r["file"] for r in rows}) == 20
        assert all((folders / "pool" / r["file"]).is_file() for r in rows)
        summary = json.loads(out.with_suffix(".json").read_text())
        assert summary["epsilon"] == pytest.approx(0.726, abs=0.01) and summary["delta"] == 1e-5
        assert summary["device_calls"] == 1 and summary["bytes_down"] > 0 and summary["bytes_up"] > 0
        assert summary["device_flops"] > 0
        assert all(summary["sandbox"][side]["mechanism"].split("-")[0] in ("landlock", "none")
                   for side in ("cloud", "device", "programs"))
        # 0.726 of 1.0 spent: a second ECOS selection would take the device past its budget.
        assert main(select_args(folders, address, tmp_path / "again.csv")) == 2
        assert "device budget: refused" in capsys.readouterr().err
        assert not (tmp_path / "again.csv").exists()
        proc.wait(timeout=60)
        assert proc.returncode == 0
    finally:
        proc.kill()
        output = proc.stdout.read()
    assert "24 images" in output and "(2 classes)" in output
    sessions = json.loads(ledger.read_text())["sessions"]
    assert [round(s["epsilon"], 3) for s in sessions] == [0.726, 0.0]
    # A restarted device reads its ledger: the budget is not reset.
    assert BudgetLedger(1.0, ledger).remaining == pytest.approx(1.0 - 0.726, abs=1e-3)


def test_a_device_with_its_own_data_takes_no_provisioned_rows_and_a_benchmark_device_no_session():
    start = ChildStart(1, {}, Settings(), {"phi_image_size": 32})
    provision = DeviceProvision(start, np.zeros((1, 32, 32, 3), np.uint8), None, np.zeros(1, np.int64)).to_message()
    with pytest.raises(ProxybenchError, match="holds its own data"):
        DeviceSession.from_message(provision)
    with pytest.raises(ProxybenchError, match="holds no data of its own"):
        DeviceProvision.from_message(DeviceSession(start, "k", 1e-5, 32).to_message())
    assert serialize(provision)  # the messages are wire messages


def test_a_real_device_answers_calls_only():
    from proxybench.wire.context import DeviceContext
    from proxybench.wire.link import deserialize
    from proxybench.wire.runtime import DeviceRuntime, InlinePrograms

    ctx = DeviceContext(np.zeros((2, 8, 8, 3), np.uint8), None, None, groups=np.arange(2))
    device = DeviceRuntime(InlinePrograms(ctx), np.random.default_rng(0), 1e-5, epsilon_budget=1.0, operations=("call",))
    for op in ("replay", "score"):
        answer = deserialize(device.handle(serialize({"op": op})))
        assert not answer["ok"] and f"does not answer {op!r}" in answer["error"]


def test_device_folder_labels_from_class_folders_and_none_without(folders, tmp_path):
    device = DeviceFolder(folders / "device")
    labels, classes = folder_labels(device.files, device.root, None)
    assert classes == ("cat", "dog") and labels.tolist() == [0] * 12 + [1] * 12
    flat = tmp_path / "flat"
    write_images(flat, "blue", 3, seed=0)
    assert folder_labels(DeviceFolder(flat).files, flat, None) == (None, ())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProxybenchError, match="holds no image files"):
        DeviceFolder(flat, test_root=tmp_path / "empty")


def test_serving_own_data_needs_a_budget(folders, capsys):
    assert main(["device", "serve", "--data", str(folders / "device"), "--port", "0"]) == 2
    assert "needs --device-epsilon" in capsys.readouterr().err


def test_select_says_when_no_device_answers(folders, tmp_path, capsys):
    from proxybench.harness.children import free_port

    args = select_args(folders, f"127.0.0.1:{free_port()}", tmp_path / "s.csv")
    assert main(args) == 2
    assert "no device answered at 127.0.0.1:" in capsys.readouterr().err and not (tmp_path / "s.csv").exists()
