"""Tests of the semi-natural digit dataset (xai_sanity.data.semi_natural)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_rng_unchanged, rng_states

from xai_sanity.data import (
    BACKGROUND_NAMES,
    digit_split_indices,
    load_default_splits,
    make_model,
    make_semi_natural,
)
from xai_sanity.data.semi_natural import N_SOURCE_DIGITS, SemiNaturalData
from xai_sanity.training import evaluate_accuracy, fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pair() -> tuple[SemiNaturalData, SemiNaturalData]:
    """The same draws with and without the digits pasted."""
    kwargs = dict(n_samples=200, image_size=32, seed=11, split="train")
    return make_semi_natural(**kwargs), make_semi_natural(**kwargs, background_only=True)


def test_shapes_dtypes_and_ranges(pair):
    data, _ = pair
    n = 200
    assert len(data) == n
    assert data.x.shape == (n, 3, 32, 32) and data.x.dtype == np.float32
    assert data.y.shape == (n,) and data.y.dtype == np.int64
    assert data.masks.shape == (n, 1, 32, 32) and data.masks.dtype == np.float32
    assert data.digit_ids.shape == (n,) and data.background_ids.shape == (n,)
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0
    assert set(np.unique(data.masks).tolist()) <= {0.0, 1.0}
    assert set(np.unique(data.y).tolist()) <= set(range(10))
    assert data.background_ids.max() < len(BACKGROUND_NAMES)
    # Labels are those of the source digits.
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(data.y, load_digits().target[data.digit_ids])


def test_mask_marks_exactly_the_changed_pixels(pair):
    data, background = pair
    np.testing.assert_array_equal(data.y, background.y)
    np.testing.assert_array_equal(data.masks, background.masks)
    np.testing.assert_array_equal(data.digit_ids, background.digit_ids)
    inside = data.masks[:, 0].astype(bool)
    # Every image has a digit of reasonable size that is well inside the image.
    area = inside.sum(axis=(1, 2))
    assert area.min() >= 20 and area.max() <= 0.5 * 32 * 32
    # Outside the mask the image is bit-identical to the background-only image ...
    diff = np.abs(data.x - background.x).max(axis=1)  # (N, H, W), max over channels
    assert np.all(diff[~inside] == 0.0)
    # ... and every pixel inside the mask was changed, clearly on average.
    assert np.all(diff[inside] > 0.0)
    assert diff[inside].mean() > 0.3


def test_digit_position_and_scale_are_random(pair):
    data, _ = pair
    m = data.masks[:, 0]
    rows = np.nonzero(m.any(axis=2))
    cols = np.nonzero(m.any(axis=1))
    top = np.array([rows[1][rows[0] == i].min() for i in range(len(data))])
    left = np.array([cols[1][cols[0] == i].min() for i in range(len(data))])
    assert len(np.unique(top)) > 8 and len(np.unique(left)) > 8
    assert len(np.unique(m.sum(axis=(1, 2)))) > 50


def test_background_only_has_no_digit(pair):
    _, background = pair
    # Backgrounds are compressed into [0, s] or [1 - s, 1] with s = 0.5: no digit colours.
    per_image_range = background.x.max(axis=(1, 2, 3)) - background.x.min(axis=(1, 2, 3))
    assert per_image_range.max() <= 0.5 + 1e-6


def test_same_seed_same_arrays_and_global_rng_untouched():
    np.random.seed(1234)
    torch.manual_seed(1234)
    before = rng_states()
    a = make_semi_natural(50, seed=5, split="test")
    b = make_semi_natural(50, seed=5, split="test")
    c = make_semi_natural(50, seed=6, split="test")
    for field in ("x", "y", "masks", "digit_ids", "background_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.digit_ids, c.digit_ids)
    assert_rng_unchanged(before)


def test_split_partition_is_disjoint_and_complete():
    train, test = digit_split_indices("train"), digit_split_indices("test")
    assert len(train) + len(test) == N_SOURCE_DIGITS
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(N_SOURCE_DIGITS))
    assert len(test) == round(0.2 * N_SOURCE_DIGITS)
    np.testing.assert_array_equal(digit_split_indices(None), np.arange(N_SOURCE_DIGITS))
    # A different split seed gives a different, still disjoint, partition.
    other = digit_split_indices("test", split_seed=1)
    assert not np.array_equal(other, test)
    assert len(np.intersect1d(other, digit_split_indices("train", split_seed=1))) == 0


def test_generated_splits_never_share_a_source_digit():
    train, test = load_default_splits(n_train=3000, n_test=1000, seed=3)
    assert set(train.digit_ids.tolist()).isdisjoint(test.digit_ids.tolist())
    assert set(train.digit_ids.tolist()) <= set(digit_split_indices("train").tolist())
    assert set(test.digit_ids.tolist()) <= set(digit_split_indices("test").tolist())
    # The partition does not depend on the sampling seed.
    other = make_semi_natural(500, seed=99, split="test")
    assert set(other.digit_ids.tolist()) <= set(digit_split_indices("test").tolist())
    # Every class occurs, roughly uniformly (the source set is balanced).
    counts = np.bincount(train.y, minlength=10)
    assert counts.min() > 0.6 * 300 and counts.max() < 1.4 * 300
    # Train and test with the same seed are drawn from different streams.
    assert not np.array_equal(train.background_ids[:100], test.background_ids[:100])


@pytest.mark.parametrize("size", [16, 28, 64])
def test_other_image_sizes(size):
    data = make_semi_natural(6, image_size=size, seed=0)
    assert data.x.shape == (6, 3, size, size)
    assert data.masks.shape == (6, 1, size, size)
    assert data.masks.sum(axis=(1, 2, 3)).min() > 0


def test_augment_off_keeps_draws():
    plain = make_semi_natural(20, seed=4, augment=False)
    warped = make_semi_natural(20, seed=4)
    np.testing.assert_array_equal(plain.y, warped.y)
    np.testing.assert_array_equal(plain.background_ids, warped.background_ids)
    assert not np.array_equal(plain.masks, warped.masks)


def test_indexing_and_tensors(pair):
    data, _ = pair
    sub = data[np.arange(5)]
    assert len(sub) == 5 and sub.x.shape == (5, 3, 32, 32)
    assert len(data[3]) == 1 and len(data[-1]) == 1
    np.testing.assert_array_equal(data[-1].x[0], data.x[-1])
    x, y, masks = data.tensors()
    assert x.shape == (200, 3, 32, 32) and y.dtype == torch.int64 and masks.shape[1] == 1


def test_sourcing_names_importable_from_semi_natural():
    from xai_sanity.data import semi_natural, sources

    for name in (
        "BACKGROUND_NAMES",
        "N_SOURCE_DIGITS",
        "digit_split_indices",
        "_source_digits",
        "_raw_backgrounds",
        "_background_pyramid",
        "_digit_transforms",
        "_hsv_to_rgb",
    ):
        assert getattr(semi_natural, name) is getattr(sources, name), name


def test_hsv_to_rgb_matches_colorsys():
    import colorsys

    from xai_sanity.data.sources import _hsv_to_rgb

    rng = np.random.default_rng(0)
    h, s, v = rng.random((3, 50))
    expected = np.array([colorsys.hsv_to_rgb(*hsv) for hsv in zip(h, s, v)])
    rgb = _hsv_to_rgb(h, s, v)
    assert rgb.shape == (50, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb, expected, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_samples": -5},
        {"n_samples": 2.5},
        {"image_size": 15},
        {"image_size": 8},
        {"split": "validation"},
        {"seed": -1},
        {"background_strength": 0.0},
        {"background_strength": 0.95},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    args = {"n_samples": 4, **kwargs}
    with pytest.raises(ValueError):
        make_semi_natural(**args)


def test_background_only_training_stays_at_chance():
    """Labels are predictable from the digit, but not from the background (same budget)."""
    n_train, n_test, epochs = 3000, 1000, 3
    accuracies = {}
    for only in (True, False):
        train, test = load_default_splits(n_train, n_test, seed=0, background_only=only)
        model = make_model("lenet", seed=0)
        fit(model, train.x, train.y, epochs=epochs, lr=2e-3, seed=0, progress=False)
        accuracies[only] = evaluate_accuracy(model, test.x, test.y)
    assert accuracies[True] < 0.2, accuracies
    assert accuracies[False] > 0.5, accuracies


def test_toy_problem_is_seeded_and_leaves_the_global_rng_alone():
    import torch

    from xai_sanity.data import toy_problem

    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    (m1, x1, y1), (m2, x2, y2) = toy_problem(seed=3), toy_problem(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert not np.array_equal(toy_problem(seed=4)[1], x1)
    for shape in [(2, 9), (5,)]:  # a series (C, T) and a table row (F,)
        model, x, y = toy_problem(n=6, shape=shape, n_classes=2)
        assert x.shape == (6, *shape) and y.tolist() == [0, 1, 0, 1, 0, 1]
        assert tuple(model(torch.from_numpy(x)).shape) == (6, 2)
