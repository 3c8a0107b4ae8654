"""Imputation of removed features: the mean fill and ROAD's noisy linear imputation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_rng_unchanged, rng_states

import xai_sanity.metrics.imputation as imputation
from xai_sanity.metrics.imputation import IMPUTATIONS, add_noise, impute


def ramp(shape, seed=0):
    """Per-channel linear functions of the pixel coordinates, ``(N, C, *spatial)``."""
    rng = np.random.default_rng(seed)
    n, c, spatial = shape[0], shape[1], shape[2:]
    grids = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in spatial], indexing="ij")
    coef = rng.normal(size=(n, c, len(spatial) + 1))
    out = coef[..., -1].reshape(n, c, *([1] * len(spatial))).copy()
    for axis, grid in enumerate(grids):
        out = out + coef[..., axis].reshape(n, c, *([1] * len(spatial))) * grid
    return out


def reference_system(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ROAD's equations for one ``(C, H, W)`` image, written pixel by pixel and solved densely.

    Each removed pixel equals the weighted mean of its neighbours inside the image (direct
    1/6, diagonal 1/12, weights renormalised); an independent transcription of Rong et al.
    (2022), not the package's vectorised index building.
    """
    height, width = mask.shape
    removed = [(h, w) for h in range(height) for w in range(width) if mask[h, w]]
    index = {p: i for i, p in enumerate(removed)}
    n = len(removed)
    a = np.zeros((n, n))
    b = np.zeros((n, image.shape[0]))
    for (h, w), i in index.items():
        total = 0.0
        for dh in (-1, 0, 1):
            for dw in (-1, 0, 1):
                if (dh, dw) == (0, 0) or not (0 <= h + dh < height and 0 <= w + dw < width):
                    continue
                weight = 1 / 6 if abs(dh) + abs(dw) == 1 else 1 / 12
                total += weight
                if (h + dh, w + dw) in index:
                    a[i, index[(h + dh, w + dw)]] -= weight
                else:
                    b[i] += weight * image[:, h + dh, w + dw]
        a[i, i] = total
    out = image.copy()
    values = np.linalg.solve(a, b)
    for (h, w), i in index.items():
        out[:, h, w] = values[i]
    return out


# -- closed forms -----------------------------------------------------------------------------


def test_a_hole_in_a_linear_ramp_is_filled_with_the_ramp():
    x = ramp((2, 3, 12, 12))
    removed = np.zeros((2, 1, 12, 12), dtype=bool)
    removed[0, 0, 3:9, 2:10] = True  # a large hole: removed neighbours coupled together
    removed[1, 0, [2, 5, 9], [7, 1, 10]] = True  # isolated pixels
    removed[1, 0, 6:8, 4:8] = True
    out = impute(x, removed, "noisy_linear", noise=0.0)
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-10)
    # Time series: a hole in a line is the line.
    x1 = ramp((3, 2, 40), seed=1)
    removed1 = np.zeros((3, 1, 40), dtype=bool)
    removed1[:, :, 5:30] = True
    np.testing.assert_allclose(impute(x1, removed1, "noisy_linear", noise=0.0), x1, rtol=0, atol=1e-10)


def test_a_constant_image_stays_constant_even_at_the_border():
    x = np.full((2, 3, 9, 9), 0.0) + np.array([0.2, -1.0, 7.0])[None, :, None, None]
    rng = np.random.default_rng(0)
    removed = rng.random((2, 1, 9, 9)) < 0.7
    removed[:, :, 0, :] = True  # a whole border row
    out = impute(x, removed, "noisy_linear", noise=0.0)
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-12)


def test_sparse_solve_matches_a_dense_solve_and_quantus():
    from quantus.functions.perturb_func import noisy_linear_imputation

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2, 6, 7))
    removed = rng.random((3, 1, 6, 7)) < 0.55
    out = impute(x, removed, "noisy_linear", noise=0.0)
    for i in range(3):
        np.testing.assert_allclose(out[i], reference_system(x[i], removed[i, 0]), rtol=0, atol=1e-12)
        # Quantus's transcription of ROAD's reference code, noise switched off.
        quantus = noisy_linear_imputation(x[i].copy(), np.flatnonzero(removed[i, 0]), noise=0.0)
        np.testing.assert_allclose(out[i], quantus, rtol=0, atol=1e-12)


def test_both_solvers_and_any_chunking_give_the_same_values(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.random((5, 3, 10, 10)).astype(np.float32)
    removed = rng.random((5, 1, 10, 10)) < 0.6
    banded = impute(x, removed, "noisy_linear", seed=2)
    monkeypatch.setattr(imputation, "_MAX_BAND", 0)  # every system to the sparse LU
    monkeypatch.setattr(imputation, "_MAX_UNKNOWNS", 70)  # about one image per system
    np.testing.assert_allclose(impute(x, removed, "noisy_linear", seed=2), banded, rtol=0, atol=1e-6)


def test_a_mask_per_channel_imputes_each_channel_from_its_own_values():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 7, 8))
    removed = rng.random((2, 3, 7, 8)) < 0.5
    out = impute(x, removed, "noisy_linear", noise=0.0)
    for c in range(3):
        alone = impute(x[:, c : c + 1], removed[:, c : c + 1], "noisy_linear", noise=0.0)
        np.testing.assert_allclose(out[:, c : c + 1], alone, rtol=0, atol=1e-12)
    # The same mask in every channel gives the result of the (N, 1, ...) mask.
    shared = np.repeat(removed[:, :1], 3, axis=1)
    np.testing.assert_allclose(
        impute(x, shared, "noisy_linear", noise=0.0),
        impute(x, removed[:, :1], "noisy_linear", noise=0.0),
        rtol=0,
        atol=1e-12,
    )


def test_mean_fill_is_the_channel_mean_or_the_given_fill():
    rng = np.random.default_rng(6)
    x = rng.random((4, 3, 5, 5)).astype(np.float32)
    removed = rng.random((4, 1, 5, 5)) < 0.4
    out = impute(x, removed, "mean")
    means = x.astype(np.float64).mean(axis=(0, 2, 3))
    full = np.broadcast_to(removed, x.shape)
    for c in range(3):
        assert np.all(out[:, c][full[:, c]] == np.float32(means[c]))
    fill = np.array([0.25, -3.0, 9.5])
    out = impute(x, removed, "mean", fill=fill)
    assert out.dtype == np.float32
    assert np.array_equal(out, np.where(full, fill.astype(np.float32)[None, :, None, None], x))
    # Tables: the mean fill works per feature column.
    table = rng.random((6, 4))
    filled = impute(table, table > 0.5, "mean", fill=0.0)
    assert np.array_equal(filled, np.where(table > 0.5, 0.0, table))


# -- what never changes -----------------------------------------------------------------------


@pytest.mark.parametrize("method", IMPUTATIONS)
def test_known_values_are_bit_identical_and_x_is_untouched(method):
    rng = np.random.default_rng(7)
    x = rng.random((3, 3, 8, 8)).astype(np.float32)
    before = x.copy()
    removed = rng.random((3, 1, 8, 8)) < 0.5
    out = impute(x, removed, method, noise=0.05)
    assert out is not x and out.dtype == x.dtype and out.shape == x.shape
    assert np.array_equal(x, before)
    known = ~np.broadcast_to(removed, x.shape)
    assert np.array_equal(out[known].view(np.uint32), x[known].view(np.uint32))
    assert np.isfinite(out).all()


def test_seeded_noise_changes_only_removed_values_and_no_global_rng():
    rng = np.random.default_rng(8)
    x = rng.random((4, 3, 9, 9))
    removed = rng.random((4, 1, 9, 9)) < 0.5
    before = rng_states()
    first = impute(x, removed, "noisy_linear", seed=1)
    assert np.array_equal(first, impute(x, removed, "noisy_linear", seed=1))
    assert np.array_equal(first, impute(x, removed, "noisy_linear", seed=np.random.default_rng(1)))
    other = impute(x, removed, "noisy_linear", seed=2)
    full = np.broadcast_to(removed, x.shape)
    differs = first != other
    assert differs[full].all() and not differs[~full].any()
    assert_rng_unchanged(before)
    # The default noise: 0.01 times each channel's standard deviation, around the noiseless fill.
    x[:, 1] *= 10.0
    noiseless = impute(x, removed, "noisy_linear", noise=0.0)
    diffs = [impute(x, removed, "noisy_linear", seed=s) - noiseless for s in range(5)]
    sd = [np.concatenate([d[:, c][full[:, c]] for d in diffs]).std() for c in range(3)]
    np.testing.assert_allclose(sd, 0.01 * x.std(axis=(0, 2, 3)), rtol=0.1)
    # add_noise is impute's noise step: solving once and drawing later gives the same numbers.
    again = add_noise(noiseless, removed, 0.01 * x.std(axis=(0, 2, 3)), seed=3)
    assert np.array_equal(again, impute(x, removed, "noisy_linear", seed=3))


# -- layouts and bad input ---------------------------------------------------------------------


def test_sequences_work_and_tables_are_refused():
    from helpers import conv1d_batch

    x, _ = conv1d_batch(n=4, channels=3, length=32)
    removed = np.random.default_rng(9).random((4, 1, 32)) < 0.5
    out = impute(x, removed, "noisy_linear", noise=0.0)
    # 1D: each removed value is the mean of its two neighbours (one at the ends).
    full = np.broadcast_to(removed, x.shape)
    left = np.concatenate([out[..., 1:2], out[..., :-1]], axis=-1)
    right = np.concatenate([out[..., 1:], out[..., -2:-1]], axis=-1)
    np.testing.assert_allclose(out[full], ((left + right) / 2)[full], rtol=0, atol=1e-5)
    assert np.array_equal(out[~full], x[~full])
    with pytest.raises(ValueError, match=r"table \(N, F\)"):
        impute(np.zeros((5, 8)), np.zeros((5, 8), dtype=bool), "noisy_linear")
    with pytest.raises(ValueError, match="spatial axes"):
        impute(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 3, 3, 3), dtype=bool), "noisy_linear")


def test_bad_arguments_are_refused():
    x = np.zeros((2, 3, 4, 4))
    removed = np.zeros((2, 1, 4, 4), dtype=bool)
    with pytest.raises(ValueError, match=r"\('mean', 'noisy_linear'\)"):
        impute(x, removed, "linear")
    with pytest.raises(ValueError, match="removed"):
        impute(x, np.zeros((2, 2, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="removed"):
        impute(x, np.full((2, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="fill"):
        impute(x, removed, fill=[1.0, 2.0])
    with pytest.raises(ValueError, match="noise"):
        impute(x, removed, "noisy_linear", noise=-1.0)


def test_wholly_removed_images_get_the_fill():
    rng = np.random.default_rng(10)
    x = rng.random((3, 3, 6, 6))
    removed = rng.random((3, 1, 6, 6)) < 0.5
    removed[1] = True
    out = impute(x, removed, "noisy_linear", noise=0.0)
    np.testing.assert_allclose(out[1], np.broadcast_to(x.mean(axis=(0, 2, 3))[:, None, None], (3, 6, 6)))
    # The other images are solved as usual.
    np.testing.assert_allclose(out[0], reference_system(x[0], removed[0, 0]), atol=1e-12)
    fill = np.array([1.0, 2.0, 3.0])
    out = impute(x, removed, "noisy_linear", fill=fill, noise=0.0)
    np.testing.assert_allclose(out[1], np.broadcast_to(fill[:, None, None], (3, 6, 6)))
    # A mask per channel: only the wholly removed channel gets the fill.
    per_channel = np.zeros((3, 3, 6, 6), dtype=bool)
    per_channel[2, 1] = True
    per_channel[2, 0, 2, 3] = True
    out = impute(x, per_channel, "noisy_linear", fill=fill, noise=0.0)
    assert np.all(out[2, 1] == 2.0)
    np.testing.assert_allclose(out[2, 0, 2, 3], reference_system(x[2, :1], per_channel[2, 0])[0, 2, 3])
