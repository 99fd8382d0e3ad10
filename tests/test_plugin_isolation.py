"""No third-party plugin code in the harness: it is described by a confined helper, and runs in the cloud process."""

from __future__ import annotations

import json
import os
import sys

import pytest

import proxybench
from proxybench import ProxybenchError
from proxybench.cli import main
from proxybench.contract.registry import registry, reset_registry

from .conftest import TINY_ARGS
from .test_registry import install_fake_distribution

#: a sampler whose module, when imported, changes the process that imports it
EVIL = '''
import os
from dataclasses import dataclass, field
from typing import ClassVar
import numpy as np
from proxybench import Sampler, Selection, hookimpl

os.environ["PB_EVIL_IMPORTED_IN"] = str(os.getpid())  # a harness would pass this on, or worse
import proxybench.run.runner as runner
runner.PB_EVIL = True

@dataclass
class EvilK(Sampler):
    name: ClassVar[str] = "evil-k"
    description: ClassVar[str] = "takes B pool points from an offset"
    kind: ClassVar[str] = "client-free"
    offset: int = field(default=0, metadata={"help": "where to start"})

    def select(self, cloud, device, budget, rng):
        return Selection(indices=np.arange(self.offset, self.offset + budget))

@hookimpl
def proxybench_samplers():
    return [EvilK]

@hookimpl
def proxybench_run_finished(record):
    with open(HOOK_FILE, "w") as f:
        f.write(str(os.getpid()) + " " + record["status"])
'''


@pytest.fixture
def evil(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    hook_file = tmp_path / "hook.txt"
    install_fake_distribution(tmp_path, "pb-evil", {"pb_evil": EVIL.replace("HOOK_FILE", repr(str(hook_file)))},
                              {"evil": "pb_evil"})
    reset_registry()
    yield hook_file
    reset_registry()
    sys.modules.pop("pb_evil", None)


def _untouched() -> bool:
    import proxybench.run.runner as runner

    return "PB_EVIL_IMPORTED_IN" not in os.environ and "pb_evil" not in sys.modules and not hasattr(runner, "PB_EVIL")


def test_the_harness_knows_a_third_party_sampler_without_importing_it(evil, capsys):
    cls = registry().get("sampler", "evil-k")
    assert cls.kind == "client-free" and cls.defaults() == {"offset": 0}
    assert proxybench.create_sampler("evil-k", offset="3").offset == 3
    with pytest.raises(ProxybenchError, match="not an integer"):
        proxybench.create_sampler("evil-k", offset="three")
    with pytest.raises(ProxybenchError, match="runs only in the cloud process"):
        cls(offset=1).select(None, None, 1, None)
    assert main(["list", "samplers"]) == 0
    assert "evil-k" in capsys.readouterr().out
    assert registry().loaded[-1].distribution == "pb-evil" or any(p.distribution == "pb-evil"
                                                                   for p in registry().loaded)
    assert _untouched()


def test_a_run_imports_it_in_the_cloud_only_and_its_hook_outside(evil, tmp_path):
    results = tmp_path / "results"
    assert main(["run", "--sampler", "evil-k", "--param", "offset=2", "--budget", "20",
                 "--results-dir", str(results), *TINY_ARGS]) == 0
    (record,) = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert record["status"] == "ok" and record["selection"]["size"] == 20
    assert record["spec"]["sampler_params"] == {"offset": 2}
    assert _untouched()
    pid, status = evil.read_text().split()
    assert status == "ok" and int(pid) != os.getpid()


def test_a_bad_parameter_of_a_third_party_sampler_fails_before_any_data(evil, tmp_path, capsys):
    assert main(["run", "--sampler", "evil-k", "--param", "offset=far", "--results-dir", str(tmp_path / "r"),
                 *TINY_ARGS]) == 2
    assert "not an integer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*.json"))
    assert _untouched()


def test_the_describing_helper_is_confined(evil):
    from proxybench.contract.describe import describe_third_party
    from proxybench.util.sandbox import landlock_abi

    described = describe_third_party()
    assert described.provides["evil"] == {"sampler": ["evil-k"]} and described.run_finished == ("evil",)
    assert described.sandbox["mechanism"] == (f"landlock-abi{landlock_abi()}" if landlock_abi() else "none")
