"""proxybench.testing: every built-in plugin passes the conformance kit, and each broken rule is caught by name."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench.contract.registry import registry
from proxybench.testing import RULES, ContractError, check_dataset, check_sampler, check_task

from . import kit_plugins, trust_plugins
from .test_folder_datasets import _digits_five, _domainnet, _tree
from .test_own_data import own_folders_params

#: small values for whichever of these parameters a task declares (training stays at one epoch)
TINY_TASK_PARAMS = {"epochs": 1, "teacher_epochs": 1, "k": 5}
DIGITS = {"train_per_domain": 40, "test_per_domain": 10, "distractors": 20}


def _domainnet_params(root):
    pairs = _domainnet(root)[1::2]  # the --param values: domains=..., classes=...
    return {"root": str(root), "image_size": 16, **dict(p.split("=", 1) for p in pairs)}


def _digits_five_params(root):
    _digits_five(root)
    return {"root": str(root), "train_per_domain": 30, "test_per_domain": 10}


def _office_home_params(root):
    _tree(root, ("Art", "Clipart", "Product", "Real World"), ("Bike", "Mug", "Pen"), per_class=5, ext=".jpg")
    return {"root": str(root), "test_fraction": 0.4}


def _imagefolder_params(root):
    _tree(root, ("photo", "sketch"), ("cat", "dog"))
    _tree(root, ("letters",), ("A", "B"))
    return {"root": str(root), "distractor_domains": "letters", "test_fraction": 0.25}


#: a tiny build of every built-in dataset: a function of a fresh folder -> the parameters to check it with
DATASET_BUILDS = {
    "digits": lambda root: DIGITS,
    "domainnet": _domainnet_params,
    "digits-five": _digits_five_params,
    "office-home": _office_home_params,
    "imagefolder": _imagefolder_params,
    "own-folders": lambda root: own_folders_params(root, pool_labeled=True),  # a labeled pool-only domain too
}


def _names(kind):
    return registry().names(kind)


@pytest.mark.parametrize("name", _names("sampler"))
def test_every_registered_sampler_passes_the_kit(name):
    check_sampler(registry().get("sampler", name))


@pytest.mark.parametrize("name", _names("task"))
def test_every_registered_task_passes_the_kit(name):
    cls = registry().get("task", name)
    check_task(cls, {k: v for k, v in TINY_TASK_PARAMS.items() if k in cls.param_fields()})


@pytest.mark.parametrize("name", _names("dataset"))
def test_every_registered_dataset_passes_the_kit(name, tmp_path):
    assert name in DATASET_BUILDS, f"built-in dataset {name!r} has no tiny build in DATASET_BUILDS: add one"
    check_dataset(registry().get("dataset", name), DATASET_BUILDS[name](tmp_path / "root"))


def _caught(check, cls, rule: str, *words: str, **kwargs) -> str:
    with pytest.raises(ContractError) as info:
        check(cls, **kwargs)
    message = str(info.value)
    assert info.value.rule == rule, message
    assert f"rule {rule!r}" in message and "how to fix:" in message
    for word in words:
        assert word in message, message
    return message


def test_wrong_budget():
    _caught(check_sampler, kit_plugins.ShortBudget, "budget-exact", "shape (0,) for budget 1", "exactly `budget`")


def test_repeated_indices():
    _caught(check_sampler, kit_plugins.Repeats, "unique-indices", "6 repeated indices", "replace=False")


def test_nondeterminism():
    _caught(check_sampler, kit_plugins.Unseeded, "deterministic", "with seed 0 differ", "rng select() gets")


def test_undeclared_device_call():
    _caught(check_sampler, kit_plugins.Undeclared, "privacy-declared", "declares no DP event", "gaussian_event")


def test_closure_as_device_program():
    _caught(check_sampler, kit_plugins.ClosureProgram, "program-by-reference", "ClosureProgram.select.<locals>.program",
            "top level")


def test_the_checking_process_holds_no_device_data(tiny_scenario):
    """The checks run the device in another process: a sampler that searches its own memory finds nothing to read.

    The tiny scenario's client rows are in this process (the fixture built them), but they are
    not the kit device's: those are drawn in the child from a secret.
    """
    kit_plugins.SNOOPED.clear()
    check_sampler(kit_plugins.Snoop, budgets=(7,))
    assert kit_plugins.SNOOPED and set(kit_plugins.SNOOPED) == {1}  # only the fixture's scenario, never a context


def _may_trace() -> bool:
    """Whether this process holds CAP_SYS_PTRACE (as root does): then no sandbox keeps it out of another's memory."""
    with open("/proc/self/status") as f:
        caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(caps >> 19 & 1)


def test_the_kit_device_rows_are_its_own():
    """Neither the public generator nor a second kit device gives the rows a kit device holds; its memory is closed."""
    from proxybench.testing import KitDevice, tiny_scenario

    def pixel_sum(device):
        return float(device.call(kit_plugins.client_pixel_sum, {})["sum"])

    with KitDevice() as first, KitDevice() as second:
        sums = [kit.live(pixel_sum, "probe")[0] for kit in (first, second, first)]
        crossing = first.live(pixel_sum, "probe")[1]
        if first.sandbox.get("mechanism") != "none" and not _may_trace():
            with pytest.raises(PermissionError):
                open(f"/proc/{first._process.pid}/mem", "rb")
    assert crossing.calls[0].raw and crossing.calls[0].program.endswith("client_pixel_sum")
    assert sums[0] == sums[2] and sums[0] != sums[1]
    assert sums[0] != float(tiny_scenario().client_images.astype(np.float64).sum())


def test_declared_noise_that_is_not_added():
    """Declaring a DP event does not make a call private: the runtime's mechanisms do, and these used none."""
    _caught(check_sampler, kit_plugins.NoNoise, "audit-consistent", "declares epsilon", "raw reply", "release=")
    _caught(check_sampler, trust_plugins.LyingCoverage, "audit-consistent", "declares epsilon", "raw reply")


def test_a_kind_that_overclaims_and_untyped_parameters():
    _caught(check_sampler, kit_plugins.ClaimsClientFree, "kind-consistent", "kind='client-free'", "privacy-free")
    _caught(check_sampler, kit_plugins.ListDefault, "typed-parameters", "'radii'", "int, float, bool, str")


def test_a_task_must_score_on_the_device():
    _caught(check_task, kit_plugins.MadeUpAccuracy, "task-result", "made no device call", "self.score")


def test_a_dataset_must_keep_distractors_outside_the_label_space():
    _caught(check_dataset, kit_plugins.LabeledDistractors, "dataset-content", "OUTSIDE_LABEL_SPACE", params=DIGITS)
    _caught(check_dataset, dict, "plugin-class", "not a subclass of proxybench.Dataset")


def test_every_rule_is_reachable_by_its_name():
    with pytest.raises(ValueError, match="unknown rule"):
        ContractError("x", "no-such-rule", "", "")
    assert len(RULES) == len(set(RULES)) and all(RULES.values())


def test_fixtures_of_the_pytest_plugin(tiny_cloud, tiny_device, tiny_link, tiny_scenario):
    """The pytest11 plugin is loaded: its fixtures give a cloud view and a counted device over the same data."""
    mean = tiny_device.call(kit_plugins.exact_mean, {})["mean"]
    assert tiny_link.relay.calls["select"] == 1 and tiny_link.relay.ledger.total("up") > mean.nbytes
    assert np.allclose(mean, tiny_scenario.phi.extract(tiny_scenario.client_images).mean(0), atol=1e-6)
    assert tiny_cloud.labels is None and tiny_cloud.oracle_in_domain is None
    assert tiny_cloud.size == tiny_scenario.pool_size and not tiny_cloud.features.flags.writeable
