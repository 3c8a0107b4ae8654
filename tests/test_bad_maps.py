"""One bad attribution map costs one score: NaN for its sample, a warning, the others unchanged.

A map with NaN or Inf (from a faulty explanation function) must not spread to the other
samples' scores, e.g. through a normalisation by the batch's maximum; a score that is
undefined (the relative change of an all-zero map) is NaN with a warning, never a bare
``AssertionError`` from inside Quantus.
"""

import warnings

import numpy as np
import pytest
from helpers import Quadratic, batch

import xai_sanity as xs
import xai_sanity.metrics as xm

N = 4
LOCALISATION = [
    ("PointingGame", {}),
    ("AttributionLocalisation", {}),
    ("TopKIntersection", {"k": 10}),
    ("RelevanceRankAccuracy", {}),
    ("RelevanceMassAccuracy", {}),
    ("AUC", {}),
]
ROBUSTNESS = [xm.MaxSensitivity, xm.AvgSensitivity, xm.LocalLipschitzEstimate, xm.RelativeInputStability]
SENSITIVITY = [xm.MaxSensitivity, xm.AvgSensitivity]
ROBUSTNESS_IDS = [cls.__name__ for cls in ROBUSTNESS]


class Explainer:
    """Saliency of one input at a time (so a map does not depend on its batch), maybe spoiled.

    With ``bad`` set, the map of the input equal to ``x[bad]`` gets ``value`` at pixel
    (0, 0); with ``perturbed=True``, instead the first map of a perturbed copy of that
    input (the perturbed input closest to ``x[bad]``, not equal to it) does.
    """

    def __init__(self, x, bad=None, value=np.nan, perturbed=False):
        self.x, self.bad, self.value, self.perturbed = x, bad, value, perturbed
        self.saliency = xs.Saliency()
        self.spoiled = 0

    def __call__(self, model, inputs, targets, **kwargs):
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        maps = np.concatenate(
            [
                np.asarray(self.saliency(model, inputs[i : i + 1], targets[i : i + 1], **kwargs))
                for i in range(len(inputs))
            ]
        )
        if self.bad is None:
            return maps
        for i, inp in enumerate(inputs):
            original = np.array_equal(inp, self.x[self.bad])
            if self.perturbed:
                nearest = np.argmin([np.abs(inp - other).sum() for other in self.x]) == self.bad
                hit = nearest and not original and not self.spoiled
            else:
                hit = original
            if hit:
                maps[i, ..., 0, 0] = self.value
                self.spoiled += 1
        return maps


def data(n=N):
    x, y = batch(n, shape=(3, 8, 8))
    s = np.zeros((n, 1, 8, 8), np.float32)
    for i in range(n):
        s[i, 0, 1 + i % 3 : 5 + i % 3, 2:6] = 1
    return Quadratic(in_shape=(3, 8, 8), n_classes=10), x, y, s


def our_warnings(record):
    """The messages of the RuntimeWarnings in ``record`` (numpy's would be among them)."""
    return [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def recorded(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, record


# -- localisation -------------------------------------------------------------------------


def localise(name, params, model, x, y, s, explain_func, **kwargs):
    metric = getattr(xm, name)(**params, **kwargs)
    return np.asarray(metric(model=model, x_batch=x, y_batch=y, s_batch=s, explain_func=explain_func), float)


@pytest.mark.parametrize("normalise", [True, False], ids=["normalise", "raw"])
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("name, params", LOCALISATION, ids=[name for name, _ in LOCALISATION])
def test_localisation_one_bad_map_costs_one_score(name, params, value, normalise):
    model, x, y, s = data()
    k = 1
    got, record = recorded(
        localise, name, params, model, x, y, s, Explainer(x, k, value), normalise=normalise
    )
    keep = np.arange(N) != k
    expected = quiet(
        localise, name, params, model, x[keep], y[keep], s[keep], Explainer(x), normalise=normalise
    )
    assert np.isnan(got[k])
    np.testing.assert_array_equal(got[keep], expected)  # as if the bad sample were not there
    assert np.isfinite(expected).all()
    mine = our_warnings(record)
    assert mine == [f"{name}: 1 of 4 samples have non-finite attributions (NaN or Inf); their scores are NaN"]
    assert record[0].filename == __file__  # points at the caller


def test_localisation_evaluate_batch_called_directly():
    a = np.random.default_rng(0).random((3, 1, 8, 8))
    s = np.zeros((3, 1, 8, 8))
    s[:, :, :4] = 1
    clean = xm.AUC().evaluate_batch(a_batch=a, s_batch=s)
    a[2, 0, 5, 5] = -np.inf
    with pytest.warns(RuntimeWarning, match="1 of 3 samples have non-finite attributions"):
        got = xm.AUC().evaluate_batch(a_batch=a, s_batch=s)
    assert np.isnan(got[2])
    np.testing.assert_array_equal(got[:2], clean[:2])


# -- robustness: a bad map of the original or of a perturbed input --------------------------


def robust(cls, model, x, y, explain_func, a_batch=None, **kwargs):
    settings = {"nr_samples": 3, "return_nan_when_prediction_changes": False, **kwargs}
    metric = cls(**settings)
    scores = metric(
        model=model, x_batch=x, y_batch=y, a_batch=a_batch, explain_func=explain_func, device="cpu"
    )
    return np.asarray(scores, float)


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("cls", ROBUSTNESS, ids=ROBUSTNESS_IDS)
def test_robustness_bad_original_map_is_left_out(cls, value):
    # The bad sample is the last one, so that a call without it gives the others the same
    # (position-seeded) noise; each metric keeps its own default normalisation.
    model, x, y, _ = data()
    k = N - 1
    got, record = recorded(robust, cls, model, x, y, Explainer(x, k, value))
    expected = quiet(robust, cls, model, x[:k], y[:k], Explainer(x[:k]))
    assert np.isnan(got[k]) and np.isfinite(expected).all()
    np.testing.assert_array_equal(got[:k], expected)
    assert our_warnings(record) == [
        f"{cls.__name__}: 1 of 4 samples have non-finite attributions (NaN or Inf) of the original input; "
        "their scores are NaN"
    ]
    assert record[0].filename == __file__


@pytest.mark.parametrize("cls", ROBUSTNESS, ids=ROBUSTNESS_IDS)
def test_robustness_bad_original_map_in_the_middle(cls):
    # Without normalisation the samples are independent: the others score as in a clean call.
    model, x, y, _ = data()
    got, record = recorded(robust, cls, model, x, y, Explainer(x, 1), normalise=False)
    expected = quiet(robust, cls, model, x, y, Explainer(x), normalise=False)
    assert np.isnan(got[1])
    np.testing.assert_array_equal(np.delete(got, 1), np.delete(expected, 1))
    mine = our_warnings(record)
    assert len(mine) == 1 and "1 of 4 samples have non-finite attributions" in mine[0]


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("cls", ROBUSTNESS, ids=ROBUSTNESS_IDS)
def test_robustness_bad_perturbed_map_costs_its_sample(cls, value):
    model, x, y, _ = data()
    k = 2
    explain = Explainer(x, k, value, perturbed=True)
    got, record = recorded(robust, cls, model, x, y, explain, normalise=False)
    expected = quiet(robust, cls, model, x, y, Explainer(x), normalise=False)
    assert explain.spoiled == 1
    assert np.isnan(got[k]) and np.isfinite(expected).all()  # NaN although NaN steps are skipped
    np.testing.assert_array_equal(np.delete(got, k), np.delete(expected, k))
    assert our_warnings(record) == [
        f"{cls.__name__}: 1 of 4 samples have non-finite attributions (NaN or Inf) of a perturbed input; "
        "their scores are NaN"
    ]


def test_lipschitz_bad_perturbed_map_with_batch_normalisation():
    # normalise_by_max normalises each perturbation index's maps together: the bad map is
    # left out of it instead of turning every map of that index into NaN.
    model, x, y, _ = data()
    got, record = recorded(robust, xm.LocalLipschitzEstimate, model, x, y, Explainer(x, 0, perturbed=True))
    assert np.isnan(got[0]) and np.isfinite(got[1:]).all()
    mine = our_warnings(record)
    assert (
        len(mine) == 1
        and "1 of 4 samples have non-finite attributions (NaN or Inf) of a perturbed" in mine[0]
    )


# -- robustness: all-zero and constant a_batch ----------------------------------------------


def saliency_maps(model, x, y):
    return Explainer(x)(model, x, y)


@pytest.mark.parametrize("cls", SENSITIVITY, ids=[c.__name__ for c in SENSITIVITY])
def test_sensitivity_of_an_all_zero_a_batch_is_nan_with_a_warning(cls):
    model, x, y, _ = data()
    got, record = recorded(robust, cls, model, x, y, Explainer(x), a_batch=np.zeros((N, 1, 8, 8), np.float32))
    assert np.isnan(got).all()
    mine = our_warnings(record)
    assert len(mine) == 1 and "4 of 4 samples have an original map of norm 0" in mine[0]


@pytest.mark.parametrize("cls", SENSITIVITY, ids=[c.__name__ for c in SENSITIVITY])
def test_sensitivity_of_one_all_zero_map_is_nan_the_others_unchanged(cls):
    model, x, y, _ = data()
    a = saliency_maps(model, x, y)
    expected = quiet(robust, cls, model, x, y, Explainer(x), a_batch=a)
    a[1] = 0
    got, record = recorded(robust, cls, model, x, y, Explainer(x), a_batch=a)
    assert np.isnan(got[1]) and np.isfinite(expected).all()
    np.testing.assert_array_equal(np.delete(got, 1), np.delete(expected, 1))
    mine = our_warnings(record)
    assert len(mine) == 1 and "1 of 4 samples have an original map of norm 0" in mine[0]


@pytest.mark.parametrize("cls", ROBUSTNESS, ids=ROBUSTNESS_IDS)
def test_constant_a_batch_is_scored(cls):
    # Defined for every metric: a constant map scores as it does among ordinary maps.
    model, x, y, _ = data()
    constant = np.full((N, 1, 8, 8), 0.5, np.float32)
    got, record = recorded(robust, cls, model, x, y, Explainer(x), a_batch=constant, normalise=False)
    mixed = saliency_maps(model, x, y)
    mixed[2] = 0.5
    expected = quiet(robust, cls, model, x, y, Explainer(x), a_batch=mixed, normalise=False)
    assert np.isfinite(got).all() and not our_warnings(record)
    assert got[2] == expected[2]


@pytest.mark.parametrize("cls", [xm.LocalLipschitzEstimate, xm.RelativeInputStability])
def test_lipschitz_and_stability_of_an_all_zero_a_batch_are_defined(cls):
    # Lipschitz: ||0 - a'|| / ||x - x'||; stability: eps_min stands in for the zeros.
    model, x, y, _ = data()
    got, record = recorded(robust, cls, model, x, y, Explainer(x), a_batch=np.zeros((N, 1, 8, 8), np.float32))
    mixed = saliency_maps(model, x, y)
    mixed[0] = 0
    expected = quiet(robust, cls, model, x, y, Explainer(x), a_batch=mixed)
    assert np.isfinite(got).all() and not our_warnings(record)
    assert got[0] == expected[0]


# -- explanations that are all zero for the whole batch ---------------------------------------


def zero_maps(model, inputs, targets, **kwargs):
    return np.zeros((len(inputs), 1, *np.shape(inputs)[2:]), np.float32)


@pytest.mark.parametrize("cls", ROBUSTNESS, ids=ROBUSTNESS_IDS)
def test_robustness_of_an_explain_func_that_gives_all_zero_maps(cls):
    # Quantus asserts on the maps it explains, as on a given a_batch.
    model, x, y, _ = data()
    got, record = recorded(robust, cls, model, x, y, zero_maps)
    mine = our_warnings(record)
    if cls in SENSITIVITY:
        assert np.isnan(got).all()
        assert len(mine) == 1 and "4 of 4 samples have an original map of norm 0" in mine[0]
    else:  # no change of an all-zero map under perturbation
        np.testing.assert_array_equal(got, 0.0)
        assert not mine


@pytest.mark.parametrize("name, params", LOCALISATION, ids=[name for name, _ in LOCALISATION])
def test_localisation_of_an_explain_func_that_gives_all_zero_maps(name, params):
    model, x, y, s = data()
    got = quiet(localise, name, params, model, x, y, s, zero_maps)
    metric = getattr(xm, name)(**params)
    given = quiet(metric, model=None, x_batch=x, y_batch=y, s_batch=s, a_batch=zero_maps(model, x, y))
    np.testing.assert_array_equal(got, np.asarray(given, float))
