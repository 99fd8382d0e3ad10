"""Sizes checked before the work (issue #26): the budget and R against the pool, ECOS's counts against its noise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from proxybench import ProxybenchError, ProxybenchWarning, RunSpec, create_dataset, create_sampler
from proxybench.cli.app import main
from proxybench.contract.sampler import run_sampler
from proxybench.plugins.datasets.digits.originals import split_originals
from proxybench.run import session as session_module
from proxybench.run.resolved import ResolvedRun
from proxybench.run.session import RunSession
from proxybench.util.cache import Cache

from .conftest import gaussian_mixture, make_device
from .test_samplers import cloud_for

#: the report's tree: 5 domains of 120 images; 20% test, half the rest private -> pool 5 x 48 = 240, device 48
DOMAINS, PER_DOMAIN = 5, 120


def own_tree(root):
    """root/d{k}/c{j}/{i}.png: tiny images, 8 x 8, two classes a domain, each domain its own colour."""
    rng = np.random.default_rng(0)
    for d in range(DOMAINS):
        for i in range(PER_DOMAIN):
            folder = root / f"d{d}" / f"c{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = np.clip(40 * d + rng.normal(0, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def no_sizing_warning(sampler, *sizes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProxybenchWarning)
        sampler.check_sizes(*sizes)


def test_the_reported_sizes_warn_with_their_numbers():
    with pytest.warns(ProxybenchWarning) as caught:
        create_sampler("ecos").check_sizes(60, 240, 48)
    assert str(caught[0].message) == (
        "ecos: R=100 clusters over 48 device records is about 0.48 per cluster against noise sd 5: the counts are "
        "mostly noise; use R <= 19, or less noise (sigma <= 0.96: a larger target_epsilon) (docs/sizing-ecos.md)")
    no_sizing_warning(create_sampler("ecos", R=19), 60, 240, 48)  # what the warning advises passes it


def test_the_default_benchmarks_sizes_do_not_warn():
    """The committed leaderboards' setting: pool 17,000; a street device holds 3,000 records, handwritten's 415."""
    spec = RunSpec().resolved()
    pool = spec.largest_pool()
    digits = create_dataset("digits")
    originals = split_originals(digits.seed, np.random.default_rng(0), digits.train_per_domain,  # how many: not
                                digits.test_per_domain, digits.private_fraction)  # which (the secret's rng)
    assert pool == 17000 and digits.private_images == 3000
    sampler = create_sampler("ecos", **spec.sampler_params)
    for records in (digits.private_images, *(len(originals[d]["private"]) for d in ("handwritten", "thick"))):
        no_sizing_warning(sampler, spec.budget, pool, records)


def test_ecos_rounds_warns_at_its_first_rounds_noise_and_epsilon_sets_the_sigma():
    with pytest.warns(ProxybenchWarning, match="ecos-rounds: R=100 .* against noise sd 7.07"):
        create_sampler("ecos-rounds").check_sizes(60, 240, 48)  # half the budget in round 1: sigma 5 * sqrt(2)
    with pytest.warns(ProxybenchWarning, match=r"dsir: R=16 clusters over 5 device records .* noise sd 0\.892"):
        create_sampler("dsir", R=16, target_epsilon=5.0).check_sizes(60, 240, 5)
    no_sizing_warning(create_sampler("ecos"), 60, 240)  # the device's size unknown: nothing to compare
    no_sizing_warning(create_sampler("ecos", sigma=0.0), 60, 240, 48)  # no noise


def test_more_clusters_than_pool_points_are_refused():
    with pytest.raises(ProxybenchError, match=r"^ecos: R=100 clusters is more than the pool's 50 images; "
                                              r"choose R in 1\.\.50"):
        create_sampler("ecos").check_sizes(10, 50)
    x, _ = gaussian_mixture(10, 5, 4, seed=0)
    with pytest.raises(ProxybenchError, match="R=100 clusters is more than the pool's 50 images"):
        run_sampler(create_sampler("cluster-filter"), cloud_for(x), make_device(x[:5]), 10, np.random.default_rng(0))


class NoChildren:
    """The session's child processes, not started: these runs stop before they would be used."""

    def __init__(self, options):
        pass

    def close(self):
        pass


@pytest.fixture
def no_phi(monkeypatch):
    """No cloud or device process, and building phi fails: a run that gets that far shows it."""
    monkeypatch.setattr(session_module, "Children", NoChildren)

    def build_extractor(*args, **kwargs):
        raise ProxybenchError("phi was about to be built")

    monkeypatch.setattr(session_module, "build_extractor", build_extractor)


def test_a_budget_larger_than_an_undeclared_pool_fails_before_phi(tmp_path, no_phi):
    """A folder dataset declares no sizes: the pool's size is known once the scenario is cut, before phi."""
    spec = RunSpec(dataset="imagefolder", dataset_params={"root": str(own_tree(tmp_path / "tree")), "image_size": 8},
                   client_domain="d0", budget=1000)
    session = RunSession(ResolvedRun.of(spec), Cache(tmp_path / "cache"))
    with pytest.raises(ProxybenchError, match=r"^budget 1000 is larger than the pool \(240 images\); choose 1\.\.240$"):
        with session:
            pass
    assert "data" in session.timings and "extractor" not in session.timings


@pytest.mark.parametrize(("args", "warned", "error"), [
    (["--budget", "60"], "proxybench: warning: ecos: R=100 clusters over 48 device records is about 0.48 per cluster",
     "phi was about to be built"),
    (["--budget", "60", "--param", "R=16"], None, "phi was about to be built"),
    (["--budget", "1000"], None, "budget 1000 is larger than the pool (240 images); choose 1..240"),
    (["--budget", "60", "--param", "R=300"], None, "ecos: R=300 clusters is more than the pool's 240 images"),
], ids=["noise-warns", "fitting-R-is-quiet", "budget-over-pool", "R-over-pool"])
def test_the_command_line_shows_the_warning_and_the_errors_before_phi(tmp_path, capsys, no_phi, args, warned, error):
    root = own_tree(tmp_path / "tree")
    code = main(["run", "--dataset", "imagefolder", "--data-root", str(root), "--client-domain", "d0",
                 "--param", "image_size=8", "--results-dir", str(tmp_path / "results"), *args])
    err = capsys.readouterr().err
    assert code == 2 and f"proxybench: error: {error}" in err
    assert (warned in err) if warned else "warning" not in err
