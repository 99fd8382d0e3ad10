"""``--param`` routing: one rule for ``proxybench run`` and ``proxybench audit`` (cli.parsing.route_params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from proxybench import ProxybenchError
from proxybench.cli.parsing import route_params
from proxybench.contract.params import Plugin


@dataclass
class Ecos(Plugin):
    name: ClassVar[str] = "ecos"
    R: int = 100
    sigma: float = 5.0


@dataclass
class Dsir(Plugin):
    name: ClassVar[str] = "dsir"
    sigma: float = 5.0


@dataclass
class Autolabel(Plugin):
    name: ClassVar[str] = "autolabel"
    k: int = 10
    sigma: float = 40.0


@dataclass
class Digits(Plugin):
    name: ClassVar[str] = "digits"
    seed: int = 0


RUN = [("sampler", Ecos), ("task", Autolabel), ("dataset", Digits)]


def test_a_key_goes_to_the_one_plugin_that_declares_it():
    assert route_params(["R=10", "k=5", "seed=1"], RUN) == [{"R": "10"}, {"k": "5"}, {"seed": "1"}]
    assert route_params([], RUN) == [{}, {}, {}]


def test_a_prefix_picks_by_kind_or_by_name():
    assert route_params(["sampler.sigma=4", "task.sigma=6"], RUN) == [{"sigma": "4"}, {"sigma": "6"}, {}]
    assert route_params(["ecos.sigma=4", "autolabel.sigma=6"], RUN) == [{"sigma": "4"}, {"sigma": "6"}, {}]
    audit = [("sampler", Ecos), ("sampler", Dsir)]
    assert route_params(["dsir.sigma=3", "R=7"], audit) == [{"R": "7"}, {"sigma": "3"}]


def test_a_key_several_plugins_declare_is_an_error_that_says_how_to_pick():
    with pytest.raises(ProxybenchError, match=r"parameter 'sigma' belongs to several plugins \(sampler ecos, task "
                                              r"autolabel\); write it as sampler\.sigma=\.\.\. or task\.sigma=\.\.\."):
        route_params(["sigma=1"], RUN)
    with pytest.raises(ProxybenchError, match=r"write it as ecos\.sigma=\.\.\. or dsir\.sigma=\.\.\."):
        route_params(["sampler.sigma=1"], [("sampler", Ecos), ("sampler", Dsir)])  # the kind picks both


def test_an_unknown_key_names_what_is_known():
    with pytest.raises(ProxybenchError, match=r"unknown parameter 'sigmaa' \(did you mean 'sigma'\?\)\. Known "
                                              r"parameters: sampler ecos: R, sigma; task autolabel: k, sigma; "
                                              r"dataset digits: seed"):
        route_params(["sigmaa=1"], RUN)
    with pytest.raises(ProxybenchError, match=r"unknown parameter 'k'"):  # the prefix picks ecos, which has no k
        route_params(["sampler.k=1"], RUN)
    with pytest.raises(ProxybenchError, match=r"unknown parameter 'other\.k'"):  # a prefix that picks none is the key's
        route_params(["other.k=1"], RUN)
    with pytest.raises(ProxybenchError, match="--param expects key=value"):
        route_params(["R"], RUN)
