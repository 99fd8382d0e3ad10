"""RunSpec: plain-name defaults that need no plugin, one resolution per spec, names checked before data is built."""

from __future__ import annotations

import pytest

from proxybench import ProxybenchError, RunSpec
from proxybench.contract import registry as registry_module
from proxybench.run.resolved import ResolvedRun
from proxybench.run.spec import SPEC_VERSION
from proxybench.util.cache import canonical_hash

from .conftest import TINY_DATASET
from .test_folder_datasets import _tree


def test_a_spec_needs_no_plugin_until_it_is_resolved(monkeypatch) -> None:
    monkeypatch.setattr(registry_module, "_registry", registry_module.Registry())  # nothing installed
    spec = RunSpec()
    assert spec == RunSpec() and hash(spec) == hash(RunSpec()) and len({spec, RunSpec()}) == 1
    assert RunSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ProxybenchError, match=r"unknown sampler 'ecos'; known samplers: \(none\)"):
        spec.resolved()


def test_a_spec_is_resolved_once_and_its_run_id_is_the_hash_of_the_resolved_form(monkeypatch) -> None:
    from proxybench.plugins.datasets.digits import DigitsDomains

    builds = []
    init = DigitsDomains.__init__
    monkeypatch.setattr(DigitsDomains, "__init__", lambda self, *a, **p: builds.append(p) or init(self, *a, **p))
    spec = RunSpec(dataset_params=dict(TINY_DATASET))
    run_id = spec.run_id
    assert run_id == canonical_hash({"spec_version": SPEC_VERSION, **spec.resolved().to_dict()})
    for _ in range(3):
        assert spec.run_id == run_id and spec.resolved().run_id == run_id and hash(spec) == hash(spec)
    assert len(builds) == 1
    spelled_out = RunSpec(dataset_params=spec.resolved().dataset_params)
    assert spelled_out != spec and spelled_out.run_id == run_id
    spec.dataset_params["seed"] = 1  # changed in place: resolved afresh, never a stale id
    assert spec.run_id != run_id and spec.resolved().dataset_params["seed"] == 1


def test_unknown_client_domain_fails_before_the_data_is_built(monkeypatch, tmp_path) -> None:
    from proxybench.plugins.datasets.digits import DigitsDomains

    monkeypatch.setattr(DigitsDomains, "generate", lambda self: pytest.fail("the dataset was generated"))
    monkeypatch.setattr(DigitsDomains, "load", lambda self, cache: pytest.fail("the dataset was loaded"))
    with pytest.raises(ProxybenchError, match=r"unknown client domain 'stret' \(did you mean 'street'\?\); "
                                              r"known client domains: handwritten, photo, printed, street, thick$"):
        ResolvedRun.of(RunSpec(client_domain="stret", dataset_params=TINY_DATASET))
    with pytest.raises(ProxybenchError, match="unknown client domain 'letters'"):  # a distractor holds no client
        ResolvedRun.of(RunSpec(client_domain="letters"))
    assert ResolvedRun.of(RunSpec(client_domain="photo")).spec == RunSpec(client_domain="photo").resolved()
    root = tmp_path / "mine"
    _tree(root, ("photo", "sketch"), ("cat",), per_class=1)
    folder = {"dataset": "imagefolder", "dataset_params": {"root": str(root)}}
    with pytest.raises(ProxybenchError, match="unknown client domain 'paint'; known client domains: photo, sketch"):
        ResolvedRun.of(RunSpec(client_domain="paint", **folder))
    ResolvedRun.of(RunSpec(client_domain="sketch", **folder))
