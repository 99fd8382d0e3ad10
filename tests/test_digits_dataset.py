"""The embedded digits dataset: shapes, determinism, and that no original leaks across domains or splits."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench import OUTSIDE_LABEL_SPACE, ImageData, create_dataset
from proxybench.plugins.datasets.digits import DOMAIN_NAMES, DigitsDomains, split_originals

SMALL = {"train_per_domain": 60, "test_per_domain": 20, "distractors": 40}


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
    assert not data.is_test[letters].any()
    assert (data.labels[letters] == OUTSIDE_LABEL_SPACE).all()
    for d, name in enumerate(DOMAIN_NAMES[:-1]):
        for test, n in ((False, SMALL["train_per_domain"]), (True, SMALL["test_per_domain"])):
            labels = data.labels[(data.domains == d) & (data.is_test == test)]
            assert len(labels) == n, name
            counts = np.bincount(labels, minlength=10)
            assert len(counts) == 10 and counts.max() - counts.min() <= 1, (name, counts)
    assert data.images.std() > 10  # not blank


def test_same_seed_is_bit_identical_and_seed_matters(data: ImageData) -> None:
    again = DigitsDomains(**SMALL).generate()
    for key, value in data.to_arrays().items():
        np.testing.assert_array_equal(value, again.to_arrays()[key], err_msg=key)
    other = DigitsDomains(seed=1, **SMALL).generate()
    assert not np.array_equal(data.images, other.images)


def test_groups_stay_in_one_domain_and_split(data: ImageData) -> None:
    for g in np.unique(data.groups):
        sel = data.groups == g
        assert len(np.unique(data.domains[sel])) == 1
        assert len(np.unique(data.is_test[sel])) == 1
    for name in ("handwritten", "thick"):  # the default augments ~900 originals per domain
        sizes = {s: len(v) for s, v in split_originals(0, 3000, 500)[name].items()}
        assert sizes["train"] > 600 and sizes["test"] > 100, (name, sizes)


def test_handwritten_and_thick_share_no_original(data: ImageData) -> None:
    splits = split_originals(0, SMALL["train_per_domain"], SMALL["test_per_domain"])
    used = {name: set(np.concatenate(list(s.values())).tolist()) for name, s in splits.items()}
    assert not used["handwritten"] & used["thick"]
    for s in splits.values():
        assert not set(s["train"].tolist()) & set(s["test"].tolist())
    # the generated groups carry the original index in their low 32 bits
    local = {
        name: set((data.groups[data.domains == DOMAIN_NAMES.index(name)] & 0xFFFFFFFF).tolist())
        for name in ("handwritten", "thick")
    }
    assert not local["handwritten"] & local["thick"]
    assert local["handwritten"] <= used["handwritten"] and local["thick"] <= used["thick"]


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
