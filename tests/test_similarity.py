"""Batched similarity functions against independent per-sample references.

References: ``scipy.stats.spearmanr`` / ``pearsonr``, ``skimage.metrics.structural_similarity``,
``skimage.feature.hog`` and plain numpy, each called one sample at a time.
"""

from __future__ import annotations

import doctest
import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.ndimage import gaussian_filter
from skimage.feature import hog as sk_hog
from skimage.metrics import structural_similarity

from xai_sanity import similarity as sim
from xai_sanity.registry import SIMILARITIES

TOL = 1e-5
HOG_DEFAULTS = dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def tied_maps(shape, seed=0):
    """Two batches with many repeated values: one rounded, one ReLU'd (lots of zeros)."""
    r = rng(seed)
    return np.round(r.normal(size=shape), 1), np.maximum(r.normal(size=shape), 0.0)


def sk_ssim(x, y, data_range, sigma=1.5, channel_axis=None):
    return structural_similarity(
        x,
        y,
        gaussian_weights=True,
        sigma=sigma,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=channel_axis,
    )


def sk_hog_batch(x, **params):
    params = {**HOG_DEFAULTS, **params}
    if x.ndim == 4 and x.shape[1] > 1:
        return np.stack([sk_hog(np.moveaxis(s, 0, -1), channel_axis=-1, **params) for s in x])
    return np.stack([sk_hog(s.reshape(s.shape[-2:]), **params) for s in x])


def min_max(x):
    flat = x.reshape(len(x), -1)
    low = flat.min(1).reshape((-1,) + (1,) * (x.ndim - 1))
    high = flat.max(1).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x - low) / (high - low)


def record_warnings(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = func(*args, **kwargs)
    return out, caught


# -- correlations -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 1, 8, 8), (5, 30), (4, 3, 5, 7)])
def test_spearman_matches_scipy_with_ties(shape):
    a, b = tied_maps(shape)
    assert len(np.unique(a)) < a.size // 2  # really tied
    got = sim.spearman(a, b)
    want = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    assert got.dtype == np.float64 and got.shape == (shape[0],)
    np.testing.assert_allclose(got, want, atol=TOL)


def test_spearman_abs_ranks_absolute_values():
    a, b = tied_maps((6, 1, 8, 8), seed=1)
    want = [stats.spearmanr(np.abs(x.ravel()), np.abs(y.ravel())).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(sim.spearman_abs(a, b), want, atol=TOL)
    np.testing.assert_allclose(sim.spearman(a, b, absolute=True), want, atol=TOL)
    assert not np.allclose(sim.spearman(a, b), want)


def test_spearman_large_maps_with_ties():
    a, b = tied_maps((3, 1, 64, 64), seed=2)
    b = b + 0.3 * a  # correlated
    want = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(sim.spearman(a, b), want, atol=TOL)


def test_pearson_matches_scipy():
    a, b = tied_maps((6, 1, 9, 11), seed=3)
    b = b + 0.5 * a
    want = [stats.pearsonr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(sim.pearson(a, b), want, atol=TOL)


def test_mse_matches_numpy():
    a, b = tied_maps((5, 1, 7, 9), seed=4)
    want = [np.mean((x - y) ** 2) for x, y in zip(a, b)]
    np.testing.assert_allclose(sim.mse(a, b), want, atol=TOL, rtol=0)


def test_identical_and_monotone_maps():
    a = rng(5).random((3, 1, 12, 12))
    np.testing.assert_allclose(sim.spearman(a, np.exp(a)), 1.0)
    np.testing.assert_allclose(sim.spearman(a, -a), -1.0)
    np.testing.assert_allclose(sim.pearson(a, 2 * a - 1), 1.0)
    np.testing.assert_allclose(sim.ssim(a, a), 1.0)
    np.testing.assert_allclose(sim.hog_similarity(a, a, pixels_per_cell=4), 1.0)
    np.testing.assert_array_equal(sim.mse(a, a), 0.0)


# -- SSIM ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 32, 32), (4, 1, 32, 40), (3, 1, 11, 11), (2, 1, 40, 23)])
def test_ssim_matches_skimage_with_explicit_data_range(shape):
    r = rng(6)
    a = r.random(shape)
    b = a + 0.4 * r.normal(size=shape)
    got = sim.ssim(a, b, data_range=2.0, scale=False)
    want = [sk_ssim(x.reshape(x.shape[-2:]), y.reshape(y.shape[-2:]), 2.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, atol=TOL)


def test_ssim_scale_equals_manual_min_max_with_unit_range():
    r = rng(7)
    a = 3.0 * r.normal(size=(4, 1, 32, 40))
    b = a + r.normal(size=a.shape) + 5.0
    want = [sk_ssim(x[0], y[0], 1.0) for x, y in zip(min_max(a), min_max(b))]
    np.testing.assert_allclose(sim.ssim(a, b), want, atol=TOL)
    np.testing.assert_allclose(
        sim.ssim(a, b, scale=True), sim.ssim(min_max(a), min_max(b), data_range=1.0, scale=False), atol=1e-12
    )


def test_ssim_multichannel_averages_channels_like_skimage():
    r = rng(8)
    a = r.random((3, 3, 16, 20))
    b = a + 0.3 * r.normal(size=a.shape)
    want = [sk_ssim(x, y, 1.5, channel_axis=0) for x, y in zip(a, b)]
    np.testing.assert_allclose(sim.ssim(a, b, data_range=1.5, scale=False), want, atol=TOL)
    # scale=True: one min-max over all channels of each map
    want = [sk_ssim(x, y, 1.0, channel_axis=0) for x, y in zip(min_max(a), min_max(b))]
    np.testing.assert_allclose(sim.ssim(a, b), want, atol=TOL)


def test_ssim_per_sample_data_range_and_other_sigma():
    r = rng(9)
    a = r.random((3, 1, 24, 24))
    b = a + 0.2 * r.normal(size=a.shape)
    ranges = np.array([0.5, 1.0, 4.0])
    want = [sk_ssim(x[0], y[0], d) for x, y, d in zip(a, b, ranges)]
    np.testing.assert_allclose(sim.ssim(a, b, data_range=ranges, scale=False), want, atol=TOL)
    want = [sk_ssim(x[0], y[0], 1.0, sigma=1.0) for x, y in zip(a, b)]  # 9-tap window
    np.testing.assert_allclose(sim.ssim(a, b, data_range=1.0, sigma=1.0, scale=False), want, atol=TOL)


def test_ssim_float32_input_matches_float64_reference():
    r = rng(10)
    a = r.random((3, 1, 32, 32)).astype(np.float32)
    b = (a + 0.3 * r.normal(size=a.shape)).astype(np.float32)
    want = [
        sk_ssim(x[0].astype(np.float64), y[0].astype(np.float64), 1.0) for x, y in zip(min_max(a), min_max(b))
    ]
    np.testing.assert_allclose(sim.ssim(a, b), want, atol=TOL)


@pytest.mark.parametrize("use_matmul", [False, True])  # the CPU path and the accelerator path
def test_valid_gaussian_equals_cropped_reflect_filter(use_matmul):
    # skimage filters with reflect padding and then crops the window radius: the kept
    # pixels never see the padding, so filtering only the inside positions is the same.
    x = rng(23).random((2, 3, 19, 26))
    taps = sim._gaussian_window(1.5, torch.device("cpu"))
    radius = (taps.shape[0] - 1) // 2
    got = sim._ValidGaussian(taps, 19, 26, use_matmul=use_matmul)(torch.from_numpy(x.copy()))
    want = gaussian_filter(x, sigma=(0, 0, 1.5, 1.5), truncate=3.5, mode="reflect")
    want = want[..., radius:-radius, radius:-radius]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_ssim_accelerator_path_matches_skimage(monkeypatch):
    original = sim._ValidGaussian.__init__

    def force_matmul(self, taps, height, width, use_matmul=None):
        original(self, taps, height, width, use_matmul=True)

    monkeypatch.setattr(sim._ValidGaussian, "__init__", force_matmul)
    r = rng(24)
    a = r.random((3, 1, 32, 40))
    b = a + 0.4 * r.normal(size=a.shape)
    want = [sk_ssim(x[0], y[0], 1.0) for x, y in zip(min_max(a), min_max(b))]
    np.testing.assert_allclose(sim.ssim(a, b), want, atol=TOL)


def test_ssim_small_maps_raise_naming_the_size():
    a = np.zeros((2, 1, 10, 32))
    with pytest.raises(ValueError, match=r"10x32.*11x11"):
        sim.ssim(a, a, data_range=1.0, scale=False)
    with pytest.raises(ValueError):  # skimage refuses too
        sk_ssim(a[0, 0], a[0, 0], 1.0)


def test_ssim_argument_checks():
    a = rng(11).random((2, 1, 16, 16))
    with pytest.raises(ValueError, match="data_range is required"):
        sim.ssim(a, a, scale=False)
    with pytest.raises(ValueError, match="data_range"):
        sim.ssim(a, a, data_range=0.0, scale=False)
    with pytest.raises(ValueError, match="data_range"):
        sim.ssim(a, a, data_range=[1.0, 2.0, 3.0], scale=False)
    with pytest.raises(ValueError, match="sigma"):
        sim.ssim(a, a, sigma=0)
    with pytest.raises(ValueError, match="a must"):
        sim.ssim(a[:, 0, 0], a[:, 0, 0])


# -- HOG ----------------------------------------------------------------------------------

HOG_CASES = [
    ((3, 32, 32), {}),
    ((2, 1, 40, 56), dict(pixels_per_cell=(8, 6), cells_per_block=(2, 3))),
    ((2, 37, 45), dict(pixels_per_cell=(7, 5), cells_per_block=(3, 3), orientations=7)),  # leftover pixels
    ((2, 32, 32), dict(block_norm="L1")),
    ((2, 32, 32), dict(block_norm="L1-sqrt")),
    ((2, 32, 32), dict(block_norm="L2")),
    ((2, 48, 48), dict(cells_per_block=(3, 3), orientations=12)),
    ((2, 3, 32, 32), {}),  # multi-channel: strongest channel per pixel
]


@pytest.mark.parametrize("shape, params", HOG_CASES)
def test_hog_features_match_skimage(shape, params):
    x = rng(12).random(shape)
    got = sim.hog_features(x, **{**HOG_DEFAULTS, **params})
    want = sk_hog_batch(x, **params)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    # tiny values: the block-norm epsilon dominates, which checks the division by cell area
    got = sim.hog_features(x * 1e-6, **{**HOG_DEFAULTS, **params})
    np.testing.assert_allclose(got, sk_hog_batch(x * 1e-6, **params), atol=TOL, rtol=0)


@pytest.mark.parametrize("orientations", [2, 4, 8, 9])
def test_hog_features_match_skimage_on_integer_maps(orientations):
    # integer gradients put many orientations exactly on bin edges (0, 45, 90, 135 degrees)
    x = rng(13).integers(0, 4, size=(4, 32, 32)).astype(np.float64)
    got = sim.hog_features(x, orientations=orientations)
    np.testing.assert_allclose(got, sk_hog_batch(x, orientations=orientations), atol=TOL, rtol=0)
    x32 = x.astype(np.float32)  # gradients in float32, as skimage computes them
    np.testing.assert_allclose(
        sim.hog_features(x32, orientations=orientations),
        sk_hog_batch(x32, orientations=orientations),
        atol=TOL,
        rtol=0,
    )


@pytest.mark.parametrize("scatter", [True, False])  # the CPU path and the accelerator path
def test_hog_histogram_paths_match_skimage(scatter):
    x = rng(25).random((2, 3, 37, 45))
    params = dict(pixels_per_cell=(7, 5), cells_per_block=(2, 3), orientations=7, block_norm="L2-Hys")
    got = sim._hog_tensor(torch.from_numpy(x), 7, (7, 5), (2, 3), "L2-Hys", "x", scatter=scatter)
    np.testing.assert_allclose(got.numpy(), sk_hog_batch(x, **params), atol=TOL, rtol=0)


def test_hog_similarity_is_spearman_of_skimage_features():
    a, b = tied_maps((4, 1, 32, 32), seed=14)
    b = b + 0.5 * np.abs(a)
    fa, fb = sk_hog_batch(a), sk_hog_batch(b)
    want = [stats.spearmanr(x, y).statistic for x, y in zip(fa, fb)]
    np.testing.assert_allclose(sim.hog_similarity(a, b), want, atol=TOL)
    params = dict(pixels_per_cell=(4, 4), cells_per_block=(3, 3), orientations=6)
    fa, fb = sk_hog_batch(a, **params), sk_hog_batch(b, **params)
    want = [stats.spearmanr(x, y).statistic for x, y in zip(fa, fb)]
    np.testing.assert_allclose(sim.hog_similarity(a, b, **params), want, atol=TOL)


def test_hog_argument_checks():
    x = np.zeros((2, 1, 15, 32))
    with pytest.raises(ValueError, match=r"15x32.*16x16"):
        sim.hog_features(x)
    with pytest.raises(ValueError, match=r"a has maps of 15x32"):
        sim.hog_similarity(x, x)
    with pytest.raises(ValueError, match="block_norm"):
        sim.hog_features(np.zeros((1, 32, 32)), block_norm="L3")
    with pytest.raises(ValueError, match="pixels_per_cell"):
        sim.hog_features(np.zeros((1, 32, 32)), pixels_per_cell=(0, 8))
    with pytest.raises(ValueError, match="orientations"):
        sim.hog_features(np.zeros((1, 32, 32)), orientations=0)


# -- undefined scores ---------------------------------------------------------------------


def constant_batch(shape, seed=15):
    """Samples 1 of a and 2 of b are constant."""
    r = rng(seed)
    a, b = r.random(shape), r.random(shape)
    a[1] = 0.0
    b[2] = 3.0
    return a, b


@pytest.mark.parametrize(
    "func, kwargs",
    [
        (sim.spearman, {}),
        (sim.spearman_abs, {}),
        (sim.pearson, {}),
        (sim.ssim, {}),
        (sim.hog_similarity, {}),
    ],
)
def test_constant_maps_give_nan_and_one_warning(func, kwargs):
    a, b = constant_batch((4, 1, 32, 32))
    scores, caught = record_warnings(func, a, b, **kwargs)
    assert np.isnan(scores[1]) and np.isnan(scores[2])
    assert np.isfinite(scores[[0, 3]]).all()
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert issubclass(caught[0].category, RuntimeWarning)
    assert "2 of 4 samples" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller


def test_spearman_abs_of_sign_only_map_is_undefined():
    a = np.where(rng(16).random((2, 1, 8, 8)) > 0.5, 1.0, -1.0)
    b = rng(17).random(a.shape)
    assert np.isfinite(sim.spearman(a, b)).all()
    scores, caught = record_warnings(sim.spearman_abs, a, b)
    assert np.isnan(scores).all() and len(caught) == 1


def test_defined_scores_emit_no_warning():
    a, b = constant_batch((3, 1, 16, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(sim.mse(a, b)).all()
        assert np.isfinite(sim.ssim(a, b, data_range=1.0, scale=False)).all()  # SSIM is defined for constants
        c = rng(18).random((3, 1, 16, 16))
        for func in (sim.spearman, sim.spearman_abs, sim.pearson, sim.ssim, sim.hog_similarity):
            assert np.isfinite(func(c, c[::-1].copy())).all()


# -- inputs and outputs -------------------------------------------------------------------

ALL = [sim.spearman, sim.spearman_abs, sim.pearson, sim.ssim, sim.hog_similarity, sim.mse]


@pytest.mark.parametrize("func", ALL)
def test_torch_and_numpy_inputs_agree(func):
    r = rng(19)
    a = r.random((3, 1, 32, 32))
    b = a + 0.5 * r.normal(size=a.shape)
    want = func(a, b)
    np.testing.assert_allclose(func(torch.from_numpy(a), torch.from_numpy(b)), want, atol=1e-12)
    np.testing.assert_allclose(func(torch.from_numpy(a), b), want, atol=1e-12)
    np.testing.assert_allclose(func(a[:, 0], b[:, 0]), want, atol=1e-12)  # (N, H, W)
    # float32 in, float64 out
    got32 = func(a.astype(np.float32), torch.from_numpy(b.astype(np.float32)))
    assert got32.dtype == np.float64
    np.testing.assert_allclose(got32, want, atol=1e-4)
    tensor = func(torch.from_numpy(a), torch.from_numpy(b), return_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64 and tensor.shape == (3,)
    np.testing.assert_allclose(tensor.numpy(), want, atol=1e-12)


def test_batched_equals_one_at_a_time():
    r = rng(20)
    a = r.random((4, 1, 32, 32))
    b = a + r.normal(size=a.shape)
    for func in ALL:
        whole = func(a, b)
        single = np.concatenate([func(a[i : i + 1], b[i : i + 1]) for i in range(len(a))])
        np.testing.assert_allclose(whole, single, atol=1e-12)


def test_ssim_chunking_does_not_change_scores(monkeypatch):
    r = rng(21)
    a = r.random((5, 2, 16, 16))
    b = a + r.normal(size=a.shape)
    whole = sim.ssim(a, b)
    monkeypatch.setattr(sim, "_SSIM_CHUNK_VALUES_CPU", 1)  # one sample per chunk
    np.testing.assert_allclose(sim.ssim(a, b), whole, atol=1e-14)


@pytest.mark.parametrize("func", ALL)
def test_bad_inputs_raise_naming_the_argument(func):
    good = np.zeros((2, 1, 32, 32)) + np.arange(32.0)
    with pytest.raises(ValueError, match=r"a: \(2, 1, 32, 32\) and b: \(3, 1, 32, 32\)"):
        func(good, np.zeros((3, 1, 32, 32)))
    with pytest.raises(ValueError, match="a is empty"):
        func(good[:0], good[:0])
    bad = good.copy()
    bad[1, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        func(bad, good)
    bad[1, 0, 3, 4] = np.inf
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        func(good, torch.from_numpy(bad))
    with pytest.raises(TypeError, match="return_tensor"):
        func(good, good, return_tensor="yes")


def test_registry_names_and_metadata():
    expected = {
        "spearman": (sim.spearman, True),
        "spearman_abs": (sim.spearman_abs, True),
        "pearson": (sim.pearson, True),
        "ssim": (sim.ssim, True),
        "hog": (sim.hog_similarity, True),
        "mse": (sim.mse, False),
    }
    for name, (func, higher) in expected.items():
        assert SIMILARITIES[name] is func
        assert func.higher_is_similar is higher
        assert pickle.loads(pickle.dumps(SIMILARITIES[name])) is func
    assert SIMILARITIES["Spearman-Abs"] is sim.spearman_abs
    assert SIMILARITIES["hog_similarity"] is sim.hog_similarity


def test_docstring_examples_run():
    result = doctest.testmod(sim, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    r = rng(22)
    a = r.random((4, 3, 32, 40))
    b = a + 0.5 * r.normal(size=a.shape)
    a[1] = 0.5  # a constant sample
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    for func in ALL:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = func(a, b)
            got = func(ta, tb, return_tensor=True)
            assert got.device == ta.device
            np.testing.assert_allclose(got.cpu().numpy(), want, atol=1e-9, equal_nan=True)
            np.testing.assert_allclose(func(ta, b), want, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(
        sim.hog_features(ta, return_tensor=True).cpu().numpy(), sim.hog_features(a), atol=1e-9
    )
    with pytest.raises(ValueError, match="same device"):
        sim.mse(ta, torch.from_numpy(b))


# -- a reference compared with many batches ------------------------------------------------


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("shape", [(6, 1, 8, 8), (5, 30), (4, 3, 17)])
def test_spearman_against_matches_scipy_for_every_batch(shape, absolute):
    a, _ = tied_maps(shape, seed=5)
    compare = sim.spearman_against(a, absolute=absolute)
    f = np.abs if absolute else (lambda v: v)
    for seed in (6, 7):
        _, b = tied_maps(shape, seed=seed)
        b = b + 0.5 * a
        want = [stats.spearmanr(f(x.ravel()), f(y.ravel())).statistic for x, y in zip(a, b)]
        got = compare(b)
        assert got.dtype == np.float64 and got.shape == (shape[0],)
        np.testing.assert_allclose(got, want, atol=TOL)
        np.testing.assert_array_equal(got, sim.spearman(a, b, absolute=absolute))


def test_spearman_against_warns_and_refuses_like_spearman():
    a, b = tied_maps((4, 1, 5, 5), seed=8)
    a[1] = 2.0  # constant in the reference
    b[3] = -1.0  # constant in the compared batch
    got, caught = record_warnings(sim.spearman_against(a), b)
    want, want_caught = record_warnings(sim.spearman, a, b)
    np.testing.assert_array_equal(np.isnan(got), [False, True, False, True])
    np.testing.assert_array_equal(got, want)
    assert [str(w.message) for w in caught] == [str(w.message) for w in want_caught]
    assert "2 of 4" in str(caught[0].message)
    compare = sim.spearman_against(tied_maps((4, 1, 5, 5))[0])
    with pytest.raises(ValueError, match="same shape"):
        compare(np.zeros((4, 1, 5, 6)))
    bad = b.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="b"):
        compare(bad)
    with pytest.raises(ValueError, match="a"):
        sim.spearman_against(bad)
    out, caught = record_warnings(compare, torch.as_tensor(b), return_tensor=True)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and len(caught) == 1
