"""The plugin manager: entry points, third-party plugins, broken plugins, duplicates, lookup."""

from __future__ import annotations

import json
import sys
import textwrap
import types

import pytest

import proxybench
from proxybench import ProxybenchError
from proxybench.cli import main
from proxybench.contract.registry import registry, reset_registry

from .conftest import TINY_ARGS

BUILTIN_SAMPLERS = {"ecos", "random", "oracle-domain", "upload-features"}


def install_fake_distribution(root, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write a module and a dist-info with entry points, as `pip install` of a third-party plugin would."""
    for name, code in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[proxybench]\n{eps}\n")


THIRD_PARTY = '''
from dataclasses import dataclass
from typing import ClassVar
import numpy as np
from proxybench import Sampler, Selection, hookimpl

@dataclass
class FirstK(Sampler):
    name: ClassVar[str] = "first-k"
    description: ClassVar[str] = "takes the first B pool points"
    offset: int = 0

    def select(self, cloud, device, budget, rng):
        return Selection(indices=np.arange(self.offset, self.offset + budget))

@hookimpl
def proxybench_samplers():
    return [FirstK]
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in ("pb_firstk", "pb_broken", "pb_dupe"):
        sys.modules.pop(mod, None)


def test_builtins_are_registered_through_entry_points():
    reg = registry()
    assert BUILTIN_SAMPLERS <= set(proxybench.list_samplers())
    assert "autolabel" in proxybench.list_tasks()
    assert "digits" in proxybench.list_datasets()
    assert {"lite0", "random", "cloud", "file", "hub"} <= set(proxybench.list_weights())
    assert all(p.distribution == "proxybench" for p in reg.loaded)


def test_third_party_plugin_is_listed_and_runnable(site, capsys):
    install_fake_distribution(site, "pb-firstk", {"pb_firstk": THIRD_PARTY}, {"firstk": "pb_firstk"})
    reset_registry()
    assert "first-k" in proxybench.list_samplers()
    sampler = proxybench.create_sampler("first-k", offset="2")
    assert sampler.offset == 2
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "pb-firstk" in out and "first-k" in out
    results = site / "results"
    assert main(["run", "--sampler", "first-k", "--param", "offset=3", "--budget", "20",
                 "--results-dir", str(results), *TINY_ARGS]) == 0
    (record,) = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert record["spec"]["sampler"] == "first-k" and record["spec"]["sampler_params"] == {"offset": 3}
    assert record["status"] == "ok" and record["selection"]["size"] == 20


def test_broken_plugin_is_skipped_and_reported(site, capsys, monkeypatch):
    install_fake_distribution(site, "pb-broken", {"pb_broken": "raise RuntimeError('boom at import')"},
                              {"broken": "pb_broken"})
    reset_registry()
    assert main(["list", "samplers"]) == 0
    captured = capsys.readouterr()
    assert "ecos" in captured.out
    assert "broken" in captured.err and "boom at import" in captured.err
    assert any(f.name == "broken" for f in registry().failures)

    monkeypatch.setenv("PROXYBENCH_STRICT_PLUGINS", "1")
    reset_registry()
    with pytest.raises(ProxybenchError, match="boom at import"):
        registry()


def test_duplicate_name_names_both_providers(site):
    dupe = THIRD_PARTY.replace('"first-k"', '"random"')
    install_fake_distribution(site, "pb-dupe", {"pb_dupe": dupe}, {"dupe": "pb_dupe"})
    reset_registry()
    with pytest.raises(ProxybenchError) as err:
        registry()
    assert "duplicate sampler name 'random'" in str(err.value)
    assert "proxybench" in str(err.value) and "pb-dupe" in str(err.value)


WRONG_BASE = '''
from dataclasses import dataclass
from typing import ClassVar
from proxybench import Sampler, Task, hookimpl

@dataclass
class Fine(Sampler):
    name: ClassVar[str] = "fine"

@dataclass
class NotASampler(Task):
    name: ClassVar[str] = "not-a-sampler"

@hookimpl
def proxybench_samplers():
    return [Fine, NotASampler]
'''


def test_a_class_of_the_wrong_base_is_refused_naming_class_provider_and_base(monkeypatch):
    """Refused as a broken plugin is (a TypeError: an entry point's is skipped and reported), and nothing of it stays."""
    from proxybench.contract.registry import Registry

    module = types.ModuleType("pb_wrong")
    monkeypatch.setitem(sys.modules, "pb_wrong", module)
    exec(WRONG_BASE, module.__dict__)
    reg = Registry()
    with pytest.raises(TypeError, match=r"^pb_wrong \(pb-wrong\) offers class NotASampler as a sampler, but it does not "
                                        r"subclass proxybench\.Sampler; its proxybench_samplers hook must return"):
        reg.register(module, name="pb_wrong", distribution="pb-wrong")
    assert reg.pm.get_plugin("pb_wrong") is None and reg.names("sampler") == [] and reg.loaded == []
    not_a_class = type("Local", (), {"proxybench_tasks": staticmethod(lambda: [{}])})()
    with pytest.raises(TypeError, match=r"local \(\(local\)\) offers dict {} as a task.*subclass proxybench\.Task"):
        reg.register(not_a_class, name="local")


def test_unknown_name_suggests_closest():
    with pytest.raises(ProxybenchError, match=r"did you mean 'ecos'\?.*known samplers: .*random"):
        proxybench.create_sampler("ecoss")


def test_create_sampler_validates_parameters():
    assert proxybench.create_sampler("ecos", R="50").R == 50
    with pytest.raises(ProxybenchError, match="unknown parameter 'r'.*did you mean 'R'"):
        proxybench.create_sampler("ecos", r=50)
    with pytest.raises(ProxybenchError, match="not an integer"):
        proxybench.create_sampler("ecos", R="many")
    with pytest.raises(ProxybenchError, match="choose one of uniform, nearest"):
        proxybench.create_sampler("ecos", candidates="closest")


def test_builtin_samplers_and_tasks_are_named_as_their_entry_points():
    """What lets a lookup (and an unknown name's listing) skip importing the other built-ins (Registry.get)."""
    from proxybench.contract.registry import NAMED_AS_ENTRY_POINT, builtin_kind, default_plugins

    reg = registry()
    builtins = default_plugins()
    assert {builtin_kind(ep) for ep in builtins} == {"sampler", "task", "dataset", "weights"}
    for ep in builtins:
        (loaded,) = [p for p in reg.loaded if p.name == ep.name]
        assert set(loaded.provides) == {builtin_kind(ep)}, ep
        if builtin_kind(ep) in NAMED_AS_ENTRY_POINT:
            assert loaded.provides[builtin_kind(ep)] == [ep.name], ep


def test_a_lookup_imports_only_the_plugins_it_needs(site):
    from proxybench.contract.registry import _shared, plugin_class, plugin_names

    assert plugin_class("sampler", "ecos").name == "ecos"
    assert plugin_class("task", "autolabel").name == "autolabel"
    assert plugin_class("weights", "lite0").name == "lite0"
    assert {p.name for p in _shared().loaded} == {"ecos", "autolabel", "weights"}
    assert "kmeans-nearest" in plugin_names("sampler") and "compress" in plugin_names("task")
    assert {p.name for p in _shared().loaded} == {"ecos", "autolabel", "weights"}
    with pytest.raises(ProxybenchError, match=r"unknown task 'autolabl' \(did you mean 'autolabel'\?\); "
                                              r"known tasks: autolabel, compress, outsource$"):
        plugin_class("task", "autolabl")
    assert {p.name for p in _shared().loaded} == {"ecos", "autolabel", "weights"}

    dupe = THIRD_PARTY.replace('"first-k"', '"random"')  # a third party's plugin is always described to be found
    install_fake_distribution(site, "pb-dupe", {"pb_dupe": dupe}, {"dupe": "pb_dupe"})
    reset_registry()
    plugin_class("sampler", "ecos")
    with pytest.raises(ProxybenchError, match="duplicate sampler name 'random'"):
        registry()  # the rest is imported: two providers of one name still fail, every time
    with pytest.raises(ProxybenchError, match="duplicate sampler name 'random'"):
        registry()
