"""The embedded digits dataset: shapes, determinism, and that no original leaks across domains, parts or splits."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench import OUTSIDE_LABEL_SPACE, ImageData, ProxybenchError, create_dataset
from proxybench.plugins.datasets.digits import DOMAIN_NAMES, DigitsDomains, split_originals

SMALL = {"train_per_domain": 60, "test_per_domain": 20, "distractors": 40}  # 30 public and 30 private a domain


@pytest.fixture(scope="module")
def data() -> ImageData:
    return DigitsDomains(**SMALL).generate()


def test_shapes_labels_and_balance(data: ImageData) -> None:
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (32, 32, 3)
    assert data.domain_names == DOMAIN_NAMES
    assert data.distractor_domains == ("letters",)
    assert data.class_names == tuple("0123456789")
    letters = data.domains == DOMAIN_NAMES.index("letters")
    assert letters.sum() == SMALL["distractors"]
    assert not data.is_test[letters].any() and not data.is_private[letters].any()
    assert (data.labels[letters] == OUTSIDE_LABEL_SPACE).all()
    half = SMALL["train_per_domain"] // 2
    parts = {"public": (~data.is_test & ~data.is_private, half), "private": (data.is_private, half),
             "test": (data.is_test, SMALL["test_per_domain"])}
    for d, name in enumerate(DOMAIN_NAMES[:-1]):
        for part, (mask, n) in parts.items():
            labels = data.labels[(data.domains == d) & mask]
            assert len(labels) == n, (name, part)
            counts = np.bincount(labels, minlength=10)
            assert len(counts) == 10 and counts.max() - counts.min() <= 1, (name, counts)
    assert data.images.std() > 10  # not blank


def test_same_seed_is_bit_identical_and_seed_matters(data: ImageData) -> None:
    again = DigitsDomains(**SMALL).generate()
    for key, value in data.to_arrays().items():
        np.testing.assert_array_equal(value, again.to_arrays()[key], err_msg=key)
    other = DigitsDomains(seed=1, **SMALL).generate()
    assert not np.array_equal(data.images, other.images)


def test_groups_stay_in_one_domain_part_and_split(data: ImageData) -> None:
    for g in np.unique(data.groups):
        sel = data.groups == g
        assert len(np.unique(data.domains[sel])) == 1
        assert len(np.unique(data.is_test[sel])) == 1 and len(np.unique(data.is_private[sel])) == 1
    for name in ("handwritten", "thick"):  # the default shares ~900 originals per domain out
        sizes = {s: len(v) for s, v in split_originals(0, np.random.default_rng(0), 6000, 500, 0.5)[name].items()}
        assert sizes["public"] > 350 and sizes["private"] > 350 and sizes["test"] > 50, (name, sizes)


def test_the_public_originals_do_not_depend_on_the_secret() -> None:
    a, b = (split_originals(0, np.random.default_rng(key), 6000, 500, 0.5) for key in (1, 2))
    for name in ("handwritten", "thick"):
        assert np.array_equal(a[name]["public"], b[name]["public"])
        assert not np.array_equal(a[name]["test"], b[name]["test"])  # the secret chooses the test originals


def test_handwritten_and_thick_share_no_original(data: ImageData) -> None:
    splits = split_originals(0, np.random.default_rng(0), SMALL["train_per_domain"], SMALL["test_per_domain"], 0.5)
    used = {name: set(np.concatenate(list(s.values())).tolist()) for name, s in splits.items()}
    assert not used["handwritten"] & used["thick"]
    for s in splits.values():
        parts = [set(v.tolist()) for v in s.values()]
        assert sum(map(len, parts)) == len(set().union(*parts))  # public, private and test are disjoint
    # the generated groups carry the original index in their low 32 bits
    local = {
        name: set((data.groups[data.domains == DOMAIN_NAMES.index(name)] & 0xFFFFFFFF).tolist())
        for name in ("handwritten", "thick")
    }
    assert not local["handwritten"] & local["thick"]
    assert local["handwritten"] <= used["handwritten"] and local["thick"] <= used["thick"]


def test_a_part_left_empty_is_refused() -> None:
    with pytest.raises(ProxybenchError, match=r"private_fraction must be in \(0, 1\), got 1.0"):
        create_dataset("digits", private_fraction=1.0)
    with pytest.raises(ProxybenchError, match="leaves a part empty"):
        create_dataset("digits", train_per_domain=1)


def test_same_style_distractors() -> None:
    data = DigitsDomains(distractor_style="same", **SMALL).generate()
    letters = data.domains == DOMAIN_NAMES.index("letters")
    assert letters.sum() == SMALL["distractors"]
    assert (data.labels[letters] == OUTSIDE_LABEL_SPACE).all()
    distinct = DigitsDomains(**SMALL).generate()
    assert not np.array_equal(data.images[letters], distinct.images[letters])
    np.testing.assert_array_equal(data.images[~letters], distinct.images[~letters])  # digits unaffected


def test_registered_through_the_hook() -> None:
    from proxybench.plugins.datasets import digits

    assert digits.proxybench_datasets() == [DigitsDomains]
    assert create_dataset("digits", seed="3", distractor_style="same").seed == 3
