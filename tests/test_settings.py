"""The PROXYBENCH_* variables as one Settings object: read once, passed down, every one documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxybench.util.settings import VARIABLES, Settings, current, refine, using

REPO = Path(__file__).resolve().parent.parent


def test_each_variable_is_read_with_its_default():
    assert Settings.from_environment({}) == Settings()
    assert Settings() == Settings(cache_dir=None, progress=None, torch_device=None, scheduler=None,
                                  strict_plugins=False, device_transport="pipe", device_authkey="proxybench")
    env = {"PROXYBENCH_CACHE_DIR": "/c", "PROXYBENCH_PROGRESS": "off", "PROXYBENCH_TORCH_DEVICE": "cuda:1",
           "PROXYBENCH_SCHEDULER": "local:2", "PROXYBENCH_STRICT_PLUGINS": "yes", "PROXYBENCH_DEVICE_TRANSPORT": "tcp",
           "PROXYBENCH_DEVICE_AUTHKEY": "k"}
    assert Settings.from_environment(env) == Settings("/c", False, "cuda:1", "local:2", True, "tcp", "k")
    assert Settings.from_environment({"PROXYBENCH_PROGRESS": "1", "PROXYBENCH_STRICT_PLUGINS": "0",
                                      "PROXYBENCH_CACHE_DIR": "", "PROXYBENCH_SCHEDULER": ""}) == Settings(progress=True)
    assert "k" not in repr(Settings(device_authkey="k"))  # a served device's key stays out of logs


def test_in_use_settings_win_over_the_environment_and_end_with_their_block(monkeypatch):
    monkeypatch.setenv("PROXYBENCH_TORCH_DEVICE", "mps")
    assert current().torch_device == "mps"  # nothing in use: the environment as it is now
    with using(Settings(torch_device="cpu")):
        assert current().torch_device == "cpu"
        refine(torch_device="cuda:0")
        assert current().torch_device == "cuda:0"
    assert current().torch_device == "mps"
    with pytest.raises(RuntimeError, match="outside a using"):
        refine(torch_device="cpu")


def test_children_get_neither_the_cache_the_transport_nor_the_device_key():
    mine = Settings(cache_dir="/c", progress=False, torch_device="cuda:0", scheduler="tcp://h:1", strict_plugins=True,
                    device_transport="tcp", device_authkey="secret")
    child = mine.for_children()
    assert child == Settings(progress=False, torch_device="cuda:0", scheduler="tcp://h:1", strict_plugins=True)
    assert Settings.from_message(child.to_message()) == child


def test_every_variable_is_listed_in_the_settings_page():
    page = (REPO / "docs" / "settings.md").read_text()
    used = set()
    for path in (REPO / "proxybench").rglob("*.py"):
        used |= set(re.findall(r"PROXYBENCH_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    used -= {"PROXYBENCH_SOURCE_HASH"}  # a placeholder in a message (--code HASH), not a variable
    assert set(VARIABLES.values()) <= used
    missing = sorted(v for v in used if f"`{v}`" not in page)
    assert not missing, f"docs/settings.md does not list {missing}"
    assert "docs/settings.md" in (REPO / "README.md").read_text()
