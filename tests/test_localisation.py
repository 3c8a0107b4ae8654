"""Localisation metrics: parity with Quantus 0.6, and the documented differences."""

import inspect
import warnings

import numpy as np
import pytest
import quantus
import torch
from helpers import ModelWatch

import xai_sanity as xs
import xai_sanity.metrics as xm  # registers the metrics (xai_sanity/__init__ may not import it yet)

NAMES = [
    "PointingGame",
    "AttributionLocalisation",
    "TopKIntersection",
    "RelevanceRankAccuracy",
    "RelevanceMassAccuracy",
    "AUC",
]
N, SIDE = 12, 16
N_FEATURES = SIDE * SIDE


def make_data(n=N, seed=0):
    """Inputs, labels, signed attributions (some with plateaus of ties) and masks of varied size."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, SIDE, SIDE), dtype=np.float32)
    y = rng.integers(0, 10, n)
    a = rng.normal(size=(n, 1, SIDE, SIDE)).astype(np.float32)
    a[: n // 3] = np.round(a[: n // 3] * 2) / 2  # many tied values
    a[n // 3] = np.abs(a[n // 3])  # one non-negative map
    frac = rng.uniform(0.02, 0.8, n)
    s = (rng.random((n, 1, SIDE, SIDE)) < frac[:, None, None, None]).astype(np.float32)
    s[:, 0, 0, 0] = 1  # at least one pixel each
    if n >= 3:
        s[1] = 0
        s[1, 0, 5, 5] = 1  # a single pixel
        s[2] = 0
        s[2, 0, 3:9, 4:12] = 1  # a box
    return x, y, a, s


def ours(name, **kwargs):
    return getattr(xm, name)(**kwargs)


def theirs(name, **kwargs):
    return getattr(quantus, name)(disable_warnings=True, **kwargs)


def run(metric, x, y, a, s, **kwargs):
    return np.asarray(metric(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s, **kwargs), dtype=float)


def our_warnings(record):
    return [w for w in record if issubclass(w.category, RuntimeWarning) and "samples" in str(w.message)]


CASES = [
    ("PointingGame", {}),
    ("AttributionLocalisation", {}),
    ("AttributionLocalisation", {"positive_attributions": True}),
    ("AttributionLocalisation", {"max_size": 0.3}),
    ("TopKIntersection", {"k": 1}),
    ("TopKIntersection", {"k": 10}),
    ("TopKIntersection", {"k": 100, "concept_influence": True}),
    ("TopKIntersection", {"k": N_FEATURES - 1}),
    ("RelevanceRankAccuracy", {}),
    ("RelevanceMassAccuracy", {}),
    ("AUC", {}),
]


@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("abs_", [False, True])
@pytest.mark.parametrize("name, params", CASES)
def test_parity_with_quantus(name, params, abs_, normalise):
    x, y, a, s = make_data()
    kwargs = dict(params, abs=abs_, normalise=normalise)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs(name, **kwargs), x, y, a, s)
        got = run(ours(name, **kwargs), x, y, a, s)
        chunked = run(ours(name, **kwargs), x, y, a, s, batch_size=5)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(chunked, got)  # chunking changes nothing


@pytest.mark.parametrize("name", NAMES)
def test_same_constructor_parameters_and_defaults_as_quantus(name):
    mine = inspect.signature(getattr(xm, name).__init__).parameters
    quantus_params = inspect.signature(getattr(quantus, name).__init__).parameters
    assert list(mine) == list(quantus_params) or set(mine) == set(quantus_params)
    for key, param in quantus_params.items():
        if key not in ("self", "kwargs", "disable_warnings"):  # xai_sanity's base is quiet by default
            assert mine[key].default == param.default, key


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_registry(name):
    cls = getattr(xm, name)
    assert cls.name == name and xs.METRICS[name] is cls
    assert xs.METRICS[getattr(quantus, name).name] is cls  # Quantus's name is an alias
    assert cls.evaluation_category == quantus.helpers.enums.EvaluationCategory.LOCALISATION
    assert cls.score_direction == quantus.helpers.enums.ScoreDirection.HIGHER
    assert cls.requires_s_batch is True
    assert issubclass(cls, xm.Metric)


# -- empty and full masks ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_empty_masks_give_nan_and_one_warning(name):
    x, y, a, s = make_data()
    s[3] = 0
    s[9] = 0  # in another chunk
    kwargs = {"k": 10} if name == "TopKIntersection" else {}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours(name, **kwargs), x, y, a, s, batch_size=4)
    assert np.isnan(got[[3, 9]]).all() and not np.isnan(np.delete(got, [3, 9])).any()
    mine = our_warnings(record)
    assert len(mine) == 1, [str(w.message) for w in mine]
    assert "2 of 12 samples have an empty mask" in str(mine[0].message)
    assert mine[0].filename == __file__  # points at the caller

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs(name, **kwargs), x, y, a, s)
    if name == "PointingGame":
        # Quantus writes NaN into a boolean array, which stores True: an empty mask is a hit.
        assert expected[3] == 1.0 and expected[9] == 1.0
        np.testing.assert_array_equal(np.delete(got, [3, 9]), np.delete(expected, [3, 9]))
    else:  # the others agree with Quantus, NaN included
        np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", NAMES)
def test_full_masks(name):
    x, y, a, s = make_data()
    s[4] = 1
    kwargs = {"k": 10} if name == "TopKIntersection" else {}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours(name, **kwargs), x, y, a, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs(name, **kwargs), x, y, a, s)
    np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)
    mine = our_warnings(record)
    if name == "AUC":  # no negatives: the ROC curve is undefined (Quantus: NaN too)
        assert np.isnan(got[4])
        assert len(mine) == 1 and "1 of 12 samples have a mask that covers every feature" in str(
            mine[0].message
        )
    else:  # every relevant feature is inside: a perfect (defined) score
        assert got[4] == pytest.approx(1.0) and not mine


def test_direct_evaluate_batch_warns_at_once():
    _, _, a, s = make_data()
    s[0] = 0
    with pytest.warns(RuntimeWarning, match="1 of 12 samples have an empty mask"):
        scores = xm.RelevanceRankAccuracy().evaluate_batch(a_batch=a, s_batch=s)
    assert isinstance(scores, np.ndarray) and scores.shape == (N,) and np.isnan(scores[0])


# -- documented differences --------------------------------------------------------------


def test_weighted_pointing_game():
    x, y, a, s = make_data()
    with pytest.raises(TypeError):  # Quantus 0.6 cannot compute it (boolean scores)
        run(theirs("PointingGame", weighted=True), x, y, a, s)
    hit = run(ours("PointingGame"), x, y, a, s)
    weighted = run(ours("PointingGame", weighted=True), x, y, a, s)
    assert hit.any() and not hit.all()
    expected = hit * (1 - s.reshape(N, -1).sum(1) / N_FEATURES)
    np.testing.assert_allclose(weighted, expected)


def test_pointing_game_ties_count_any_maximum():
    # As in Quantus: with tied maxima, any of them inside the mask is a hit.
    x, y, _, s = make_data(n=2)
    a = np.zeros((2, 1, SIDE, SIDE), np.float32)
    a[:, 0, 0, 0] = a[:, 0, 15, 15] = 1.0
    s[:] = 0
    s[0, 0, 15, 15] = 1
    s[1, 0, 7, 7] = 1
    np.testing.assert_array_equal(run(ours("PointingGame"), x, y, a, s), [1.0, 0.0])
    np.testing.assert_array_equal(run(theirs("PointingGame"), x, y, a, s), [1.0, 0.0])


def test_weighted_attribution_localisation_uses_the_sample_size():
    x, y, a, s = make_data()
    sizes = s.reshape(N, -1).sum(1)
    plain = run(ours("AttributionLocalisation"), x, y, a, s)
    weighted = run(ours("AttributionLocalisation", weighted=True), x, y, a, s)
    np.testing.assert_allclose(weighted, plain * sizes / N_FEATURES, rtol=1e-6)
    chunked = run(ours("AttributionLocalisation", weighted=True), x, y, a, s, batch_size=5)
    np.testing.assert_array_equal(chunked, weighted)
    # Quantus divides by x_batch[2:].size, which slices the *batch* axis: (chunk - 2) * 3 * 16 * 16.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q_full = run(theirs("AttributionLocalisation", weighted=True), x, y, a, s)
        q_chunked = run(theirs("AttributionLocalisation", weighted=True), x, y, a, s, batch_size=6)
    np.testing.assert_allclose(q_full, plain * sizes / ((N - 2) * 3 * N_FEATURES), rtol=1e-5)
    np.testing.assert_allclose(q_chunked, plain * sizes / (4 * 3 * N_FEATURES), rtol=1e-5)


def test_attribution_localisation_ratio_above_one_and_max_size():
    x, y, a, s = make_data()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours("AttributionLocalisation", abs=False, max_size=0.3), x, y, a, s, batch_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs("AttributionLocalisation", abs=False, max_size=0.3), x, y, a, s)
    np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)  # NaN above 1, as Quantus
    messages = [str(w.message) for w in our_warnings(record)]
    n_large = int((s.reshape(N, -1).mean(1) > 0.3).sum())
    n_above = int(np.isnan(got).sum())
    assert n_large and n_above
    assert sorted(messages) == sorted(
        [
            f"AttributionLocalisation: {n_large} of 12 samples have a mask larger than max_size=0.3",
            f"AttributionLocalisation: {n_above} of 12 samples have more attribution inside the mask "
            "than in total; their scores are NaN",
        ]
    )


def test_relevance_mass_accuracy_zero_total_is_nan_not_inf():
    x, y, a, s = make_data(n=3)
    a[0] = 0
    a[0, 0, 0, 0], a[0, 0, 9, 9] = 1.0, -1.0  # sums to 0, mass inside is 1
    s[0] = 0
    s[0, 0, 0, 0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs("RelevanceMassAccuracy", normalise=False), x, y, a, s)
    assert np.isinf(expected[0])
    with pytest.warns(RuntimeWarning, match="1 of 3 samples have attributions that sum to 0"):
        got = run(ours("RelevanceMassAccuracy", normalise=False), x, y, a, s)
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], expected[1:], atol=1e-6)


def test_top_k_limits():
    x, y, a, s = make_data()
    with pytest.raises(ValueError):  # Quantus: k must be strictly smaller than the input size
        run(theirs("TopKIntersection", k=N_FEATURES), x, y, a, s)
    all_features = run(ours("TopKIntersection", k=N_FEATURES), x, y, a, s)
    np.testing.assert_allclose(all_features, s.reshape(N, -1).mean(1))  # the trivial baseline
    with pytest.raises(ValueError, match="larger than the number of features"):
        run(ours("TopKIntersection", k=N_FEATURES + 1), x, y, a, s)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            xm.TopKIntersection(k=bad)


# -- constant maps --------------------------------------------------------------------

#: Attribution shapes of one sample: an image (1, H, W), a time series (1, T), a table (F,).
KINDS = {"image": (1, SIDE, SIDE), "series": (1, 40), "table": (12,)}
#: The metrics that score a constant map NaN (AttributionLocalisation: an all-zero one only).
CONSTANT_NAN = ["PointingGame", "TopKIntersection", "RelevanceRankAccuracy", "AttributionLocalisation"]
CONSTANT = [1, 4]  # two samples, in different chunks of 3


def make_kind_data(kind, n=8, seed=0):
    """Inputs, labels, signed attributions and masks (neither empty nor full) of one kind.

    The batch's largest magnitude is in a non-constant map (the last one holds a 5, more
    than the constants set by the tests), so that ``normalise_by_max`` scales every map
    the same with or without constant ones.
    """
    rng = np.random.default_rng(seed)
    shape = KINDS[kind]
    x = rng.random((n, 3, *shape[1:]) if kind == "image" else (n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    a = (rng.normal(size=(n, *shape)) * 2).astype(np.float32)
    a[0] = np.round(a[0])  # plateaus of ties: ranked as Quantus ranks them
    a[2] = 0
    a[2].flat[-1] = 1.0  # all zero but one feature: not constant
    a[-1].flat[0] = 5.0
    s = (rng.random((n, *shape)) < 0.3).astype(np.float32)
    s.reshape(n, -1)[:, 0] = 1
    s.reshape(n, -1)[:, 1] = 0
    return x, y, a, s


@pytest.mark.parametrize("value", [0.0, 0.7])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", CONSTANT_NAN)
def test_constant_maps_give_nan_and_one_warning(name, kind, value):
    x, y, a, s = make_kind_data(kind)
    a[CONSTANT] = value
    kwargs = {"k": 3} if name == "TopKIntersection" else {}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours(name, **kwargs), x, y, a, s, batch_size=3)
    keep = np.setdiff1d(np.arange(len(a)), CONSTANT)
    with warnings.catch_warnings(record=True) as clean:
        warnings.simplefilter("always")
        without = run(ours(name, **kwargs), x[keep], y[keep], a[keep], s[keep])
    assert not our_warnings(clean) and np.isfinite(without).all()
    np.testing.assert_array_equal(got[keep], without)  # the others score as without them
    mine = [str(w.message) for w in our_warnings(record)]
    if name == "AttributionLocalisation" and value != 0:
        # Not all zero: the relevance is spread evenly, so the share inside is the mask's share.
        np.testing.assert_allclose(got[CONSTANT], s[CONSTANT].reshape(2, -1).mean(1), rtol=1e-6)
        assert not mine
    else:
        assert np.isnan(got[CONSTANT]).all()
        problem = "attributions that sum to 0" if name == "AttributionLocalisation" else "a constant map"
        assert len(mine) == 1, mine
        assert f"{name}: 2 of 8 samples have {problem} (e.g. a" in mine[0], mine
    if kind == "image":  # the other maps, partly tied ones included, score as in Quantus
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = run(theirs(name, **kwargs), x, y, a, s)
        np.testing.assert_allclose(got[keep], expected[keep], rtol=0, atol=1e-6)
        if name == "PointingGame":  # Quantus: every feature ties the maximum, a hit
            np.testing.assert_array_equal(expected[CONSTANT], 1.0)
        elif name == "AttributionLocalisation" and value == 0:  # Quantus: 0 / (0 + 1e-9)
            np.testing.assert_array_equal(expected[CONSTANT], 0.0)


@pytest.mark.parametrize("name", ["PointingGame", "TopKIntersection", "RelevanceRankAccuracy"])
def test_constant_maps_after_abs(name):
    # A map of +-0.7 is constant once abs is taken (abs=True), and not before.
    x, y, a, s = make_kind_data("image")
    a[1] = np.where(np.arange(N_FEATURES).reshape(1, SIDE, SIDE) % 2 == 0, 0.7, -0.7)
    kwargs = {"k": 3} if name == "TopKIntersection" else {}
    assert np.isfinite(run(ours(name, **kwargs), x, y, a, s)).all()
    with pytest.warns(RuntimeWarning, match="1 of 8 samples have a constant map"):
        got = run(ours(name, abs=True, **kwargs), x, y, a, s)
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()


def test_empty_mask_takes_precedence_over_a_constant_map():
    x, y, a, s = make_kind_data("table")
    a[1] = 0
    s[1] = 0
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours("RelevanceRankAccuracy"), x, y, a, s)
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()
    mine = [str(w.message) for w in our_warnings(record)]
    assert len(mine) == 1 and "1 of 8 samples have an empty mask" in mine[0], mine


def test_signed_map_summing_to_zero_in_attribution_localisation():
    # abs=False: a map of +-1 sums to 0; Quantus returns R_in / 1e-9 (NaN where above 1).
    x, y, a, s = make_kind_data("image")
    a[1] = np.where(np.arange(N_FEATURES).reshape(1, SIDE, SIDE) % 2 == 0, 1.0, -1.0)
    s[1] = 0
    s[1, 0, 0, 1] = 1  # one -1 inside: R_in = -1
    params = {"abs": False, "normalise": False}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours("AttributionLocalisation", **params), x, y, a, s)
    assert np.isnan(got[1])
    mine = [str(w.message) for w in our_warnings(record)]
    message = "1 of 8 samples have attributions that sum to 0 (e.g. an all-zero map); their scores are NaN"
    assert f"AttributionLocalisation: {message}" in mine, mine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs("AttributionLocalisation", **params), x, y, a, s)
    assert expected[1] == pytest.approx(-1e9)
    np.testing.assert_allclose(np.delete(got, 1), np.delete(expected, 1), atol=1e-6, equal_nan=True)


def test_constant_maps_from_an_explain_function(cnn):
    # Quantus asserts (a bare AssertionError); ours score NaN with one warning.
    x, y, _, s = make_data(n=4)

    def zeros(model, inputs, targets, **kwargs):
        return np.zeros((len(inputs), 1, SIDE, SIDE), dtype=np.float32)

    for name in CONSTANT_NAN:
        kwargs = {"k": 0.02} if name == "TopKIntersection" else {}
        with pytest.raises(AssertionError):
            theirs(name, **kwargs)(model=cnn, x_batch=x, y_batch=y, s_batch=s, explain_func=zeros)
        with pytest.warns(RuntimeWarning, match="4 of 4 samples have"):
            got = ours(name, **kwargs)(model=cnn, x_batch=x, y_batch=y, s_batch=s, explain_func=zeros)
        assert np.isnan(got).all()
    auc = ours("AUC")(model=cnn, x_batch=x, y_batch=y, s_batch=s, explain_func=zeros)
    np.testing.assert_array_equal(auc, 0.5)  # no information: AUC's 0.5, no warning


@pytest.mark.parametrize("kind", list(KINDS))
def test_auc_of_a_constant_map_is_one_half(kind):
    # Ties count one half: a constant map carries no information, AUC's 0.5 (as in Quantus).
    x, y, a, s = make_kind_data(kind)
    a[CONSTANT[0]], a[CONSTANT[1]] = 0.0, 0.7
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = run(ours("AUC"), x, y, a, s)
    np.testing.assert_array_equal(got[CONSTANT], 0.5)
    assert not our_warnings(record)
    if kind == "image":
        np.testing.assert_allclose(got, run(theirs("AUC"), x, y, a, s), atol=1e-6)


# -- TopKIntersection: k as a fraction -----------------------------------------------------


@pytest.mark.parametrize("concept_influence", [False, True])
@pytest.mark.parametrize("fraction, k", [(0.001, 1), (0.02, 5), (0.1, 26), (0.5, 128), (0.99, 253)])
def test_top_k_fraction_equals_the_int_it_resolves_to(fraction, k, concept_influence):
    x, y, a, s = make_data()
    assert max(1, round(fraction * N_FEATURES)) == k
    params = {"concept_influence": concept_influence, "abs": True}
    got = run(ours("TopKIntersection", k=fraction, **params), x, y, a, s)
    np.testing.assert_array_equal(got, run(ours("TopKIntersection", k=k, **params), x, y, a, s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(theirs("TopKIntersection", k=k, **params), x, y, a, s)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind, fraction, k", [("table", 0.02, 1), ("table", 0.3, 4), ("series", 0.02, 1),
                                               ("series", 0.25, 10), ("image", 0.02, 5)])  # fmt: skip
def test_top_k_fraction_on_tables_and_series(kind, fraction, k):
    x, y, a, s = make_kind_data(kind)
    got = run(ours("TopKIntersection", k=fraction), x, y, a, s)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, run(ours("TopKIntersection", k=k), x, y, a, s))


def test_top_k_default_is_too_large_for_a_table_but_a_fraction_fits():
    x, y, a, s = make_kind_data("table")  # 12 features
    with pytest.raises(ValueError, match="k=1000 is larger than the number of features"):
        run(ours("TopKIntersection"), x, y, a, s)
    got = run(ours("TopKIntersection", k=0.02), x, y, a, s)  # 2 % of 12: k=1
    np.testing.assert_array_equal(got, run(ours("TopKIntersection", k=1), x, y, a, s))


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.5, float("nan"), True, np.bool_(False), "0.1", None, [5]])
def test_top_k_rejects_bad_k(bad):
    with pytest.raises(ValueError, match="^k must be"):
        xm.TopKIntersection(k=bad)


def test_top_k_accepts_numpy_numbers():
    assert xm.TopKIntersection(k=np.float32(0.25)).k == 0.25
    metric = xm.TopKIntersection(k=np.int64(7))
    assert metric.k == 7 and type(metric.k) is int


def test_suite_top_k_is_a_fraction_on_magnitudes():
    from xai_sanity.jobs import metrics_by_name

    assert xm.TopKIntersection.suite_params == {"abs": True, "k": 0.02}
    for quick in (True, False):
        built = metrics_by_name(["TopKIntersection"], quick=quick, seed=0, has_masks=True)
        metric = built["TopKIntersection"]
        assert metric.k == 0.02 and metric.abs is True
    # The other localisation metrics keep the shared suite parameters.
    assert xm.PointingGame.suite_params == {"abs": True}
    x, y, a, s = make_kind_data("table")  # the suite's TopKIntersection runs on 12 features
    assert np.isfinite(run(metric, x, y, a, s)).all()


def test_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    x, y, a, s = make_data()
    got = run(ours("AUC", normalise=False), x, y, a, s)
    expected = [roc_auc_score(si.reshape(-1), ai.reshape(-1)) for ai, si in zip(a, s)]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_mask_channels():
    x, y, a, s = make_data()
    s3 = np.repeat(s, 3, axis=1)  # the same mask in every channel: same as one channel
    for name in NAMES:
        metric = ours(name, **({"k": 10} if name == "TopKIntersection" else {}))
        np.testing.assert_array_equal(run(metric, x, y, a, s3), run(metric, x, y, a, s))
    s3[0, 1, 4, 4] = 1 - s3[0, 1, 4, 4]
    with pytest.raises(ValueError, match="channels that differ"):
        run(ours("AUC"), x, y, a, s3)
    # Channel-wise attributions with a one-channel mask: each (channel, pixel) is a feature.
    a3 = np.repeat(a, 3, axis=1)
    np.testing.assert_allclose(run(ours("AUC"), x, y, a3, s), run(ours("AUC"), x, y, a, s), atol=1e-12)


def test_bad_parameters():
    with pytest.raises(TypeError):
        xm.PointingGame(weighted="yes")
    with pytest.raises(ValueError):
        xm.AttributionLocalisation(max_size=0)


def test_bad_masks_are_rejected():
    x, y, a, s = make_data()
    half = s.copy()
    half[0, 0, 0, 0] = 0.5
    for bad in (half, s[..., :-1], None):
        with pytest.raises(ValueError):
            run(ours("PointingGame"), x, y, a, bad)


# -- end to end --------------------------------------------------------------------------


def test_end_to_end_with_saliency_and_a_cnn(cnn):
    x, y, _, s = make_data(n=4)
    cnn.train()
    watch = ModelWatch(cnn)
    saliency = xs.Saliency()
    a = saliency(cnn, x, y)
    for name in NAMES:
        kwargs = {"k": 20} if name == "TopKIntersection" else {}
        got = np.asarray(
            ours(name, **kwargs)(model=cnn, x_batch=x, y_batch=y, s_batch=s, explain_func=saliency)
        )
        assert got.shape == (4,) and np.all((got >= 0) & (got <= 1))
        watch.assert_unchanged()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = run(theirs(name, **kwargs), x, y, a, s)
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert torch.is_grad_enabled()
