"""Robustness metrics: parity with Quantus, batched explaining, seeded noise, safety, errors."""

import warnings

import numpy as np
import pytest
import quantus
from helpers import ModelWatch, assert_rng_unchanged, predict, rng_states
from quantus.helpers.enums import EvaluationCategory, ScoreDirection

import xai_sanity as xs
from xai_sanity.metrics import (
    AvgSensitivity,
    LocalLipschitzEstimate,
    MaxSensitivity,
    RelativeInputStability,
)

PAIRS = [
    (MaxSensitivity, quantus.MaxSensitivity),
    (AvgSensitivity, quantus.AvgSensitivity),
    (LocalLipschitzEstimate, quantus.LocalLipschitzEstimate),
    (RelativeInputStability, quantus.RelativeInputStability),
]
OURS = [ours for ours, _ in PAIRS]


class CountingNoise:
    """A Quantus-style perturb_func, deterministic given how often it has been called.

    Call ``i`` adds uniform noise from ``default_rng(i)``: two fresh instances fed to two
    implementations that call them alike give both the same perturbations.
    """

    def __init__(self, scale=0.5):
        self.scale = scale
        self.calls = 0

    def __call__(self, arr, indices, **kwargs):
        self.calls += 1
        noise = np.random.default_rng(self.calls).uniform(-self.scale, self.scale, size=indices.shape)
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] += noise
        return out


class Recorder:
    """Saliency that records the inputs of every call."""

    def __init__(self):
        self.inputs = []

    def __call__(self, model, inputs, targets, **kwargs):
        self.inputs.append(np.array(inputs))
        return xs.Saliency()(model, inputs, targets, **kwargs)


def data(n=6, seed=0):
    x = np.random.default_rng(seed).random((n, 3, 16, 16), dtype=np.float32)
    return x, np.array([1, 4, 7, 9, 2, 5, 3, 0][:n])


def call(metric, model, x, y, **kwargs):
    kwargs = {"explain_func": xs.Saliency(), "device": "cpu", "batch_size": 4, **kwargs}
    return np.asarray(metric(model=model, x_batch=x, y_batch=y, **kwargs), dtype=np.float64)


# -- parity with Quantus ------------------------------------------------------------------


@pytest.mark.parametrize("return_nan", [False, True], ids=["nan-off", "nan-on"])
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=[o.__name__ for o in OURS])
def test_same_scores_as_quantus_under_the_same_perturbations(ours, theirs, return_nan, cnn):
    x, _ = data()
    y = predict(cnn, x)
    settings = dict(nr_samples=6, return_nan_when_prediction_changes=return_nan, disable_warnings=True)
    noise_q, noise_o = CountingNoise(), CountingNoise()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = call(theirs(perturb_func=noise_q, **settings), cnn, x, y)
    # chunk_size 3 < batch 4: a perturbation index is explained in two calls
    got = call(ours(perturb_func=noise_o, chunk_size=3, **settings), cnn, x, y)
    assert noise_o.calls == noise_q.calls == 6 * 2  # nr_samples per batch, batches of 4 and 2
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12, equal_nan=True)
    if return_nan:  # the noise changes some predictions and not others
        assert np.isnan(expected).any() and not np.isnan(expected).all()
    else:
        assert not np.isnan(expected).any()


@pytest.mark.parametrize(
    "ours, theirs, settings",
    [
        (MaxSensitivity, quantus.MaxSensitivity, {"normalise": True, "abs": True}),
        (AvgSensitivity, quantus.AvgSensitivity, {"normalise": True, "lower_bound": 0.1}),
        (LocalLipschitzEstimate, quantus.LocalLipschitzEstimate, {"normalise": False, "abs": True}),
        (RelativeInputStability, quantus.RelativeInputStability, {"normalise": True}),
    ],
    ids=[o.__name__ for o in OURS],
)
def test_same_scores_as_quantus_with_normalisation_and_precomputed_attributions(ours, theirs, settings, cnn):
    x, _ = data()
    y = predict(cnn, x)
    a = xs.Saliency()(cnn, x, y)
    settings = dict(nr_samples=4, return_nan_when_prediction_changes=False, disable_warnings=True, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = call(theirs(perturb_func=CountingNoise(0.05), **settings), cnn, x, y, a_batch=a)
    got = call(ours(perturb_func=CountingNoise(0.05), **settings), cnn, x, y, a_batch=a)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12, equal_nan=True)


# -- batched explaining -------------------------------------------------------------------


def test_perturbed_inputs_are_explained_in_few_chunked_calls(cnn):
    x, y = data(4)
    recorder = Recorder()
    MaxSensitivity(nr_samples=10, chunk_size=8)(cnn, x, y, explain_func=recorder)
    sizes = [len(inputs) for inputs in recorder.inputs]
    # one call for the original batch, then 2 perturbation indices x 4 inputs per call
    assert sizes == [4] + [8] * 5
    # row order: perturbation index, then sample; default noise is U(-0.2, 0.2)
    deltas = np.concatenate(recorder.inputs[1:]).reshape(10, 4, 3, 16, 16) - x[None]
    assert 0.15 < np.abs(deltas).max() <= 0.2 + 1e-6
    assert np.all(np.abs(deltas.reshape(40, -1)).max(axis=1) > 0)


@pytest.mark.parametrize(
    "metric, low, high",
    [
        (MaxSensitivity(nr_samples=5), -0.2, 0.2),
        (MaxSensitivity(nr_samples=5, lower_bound=0.1, upper_bound=0.3), 0.1, 0.3),
        (AvgSensitivity(nr_samples=5, perturb_func_kwargs={"lower_bound": 0.05}), -0.05, 0.05),
        (RelativeInputStability(nr_samples=5), 0.02, 0.2),  # Quantus's parameters for RIS
    ],
)
def test_default_uniform_noise_has_quantus_parameters(metric, low, high, cnn):
    x, y = data(4)
    recorder = Recorder()
    metric(cnn, x, y, explain_func=recorder)
    deltas = np.concatenate(recorder.inputs[1:]) - np.tile(x, (5, 1, 1, 1))
    assert deltas.min() >= low - 1e-6 and deltas.max() <= high + 1e-6
    span = high - low
    assert deltas.min() < low + 0.05 * span and deltas.max() > high - 0.05 * span


def test_lipschitz_default_noise_is_gaussian_with_quantus_parameters(cnn):
    x, y = data(4)
    recorder = Recorder()
    LocalLipschitzEstimate(nr_samples=20, perturb_std=0.1)(cnn, x, y, explain_func=recorder)
    deltas = np.concatenate(recorder.inputs[1:]) - np.tile(x, (20, 1, 1, 1))
    assert abs(deltas.mean()) < 0.005 and 0.095 < deltas.std() < 0.105


# -- seeded determinism -------------------------------------------------------------------


@pytest.mark.parametrize("cls", OURS)
def test_seeded_and_independent_of_batch_and_chunk_size(cls, cnn):
    x, y = data()
    settings = dict(nr_samples=5, return_nan_when_prediction_changes=False, normalise=False)
    a = call(cls(seed=3, chunk_size=3, **settings), cnn, x, y, batch_size=4)
    b = call(cls(seed=3, **settings), cnn, x, y, batch_size=64)
    c = call(cls(seed=4, **settings), cnn, x, y, batch_size=64)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not np.allclose(b, c)
    np.testing.assert_array_equal(b, call(cls(seed=3, **settings), cnn, x, y, batch_size=64))


def test_quantus_noise_functions_select_the_seeded_noise(cnn):
    x, y = data(4)
    state = np.random.get_state()
    explicit = call(
        MaxSensitivity(nr_samples=4, perturb_func=quantus.perturb_func.batch_uniform_noise), cnn, x, y
    )
    default = call(MaxSensitivity(nr_samples=4), cnn, x, y)
    np.testing.assert_array_equal(explicit, default)
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]


# -- model, RNG, warnings -----------------------------------------------------------------


@pytest.mark.parametrize("cls", OURS)
def test_model_and_global_rng_untouched(cls, cnn):
    x, y = data(4)
    cnn.train()
    watch, before = ModelWatch(cnn), rng_states()
    scores = call(cls(nr_samples=3, return_nan_when_prediction_changes=True), cnn, x, y)
    assert scores.shape == (4,)
    assert cnn.training and all(m.training for m in cnn.modules())
    watch.assert_unchanged()
    assert_rng_unchanged(before)


def test_a_perturbation_without_effect_warns_and_scores_zero(cnn):
    x, y = data(4)
    metric = MaxSensitivity(nr_samples=3, perturb_func=lambda arr, **kw: arr.copy(), disable_warnings=False)
    with pytest.warns(RuntimeWarning, match="12 of 12 perturbed inputs equal their original"):
        scores = call(metric, cnn, x, y)
    np.testing.assert_array_equal(scores, 0.0)


def test_registered_with_quantus_names_and_metadata():
    for name, cls in [
        ("Max-Sensitivity", MaxSensitivity),
        ("Avg-Sensitivity", AvgSensitivity),
        ("Local Lipschitz Estimate", LocalLipschitzEstimate),
        ("Relative Input Stability", RelativeInputStability),
    ]:
        assert xs.METRICS[name] is cls
        assert cls.score_direction == ScoreDirection.LOWER
        assert cls.evaluation_category == EvaluationCategory.ROBUSTNESS


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, kwargs, error, match",
    [
        (MaxSensitivity, {"nr_samples": 0}, ValueError, "nr_samples must be >= 1"),
        (AvgSensitivity, {"nr_samples": 2.5}, TypeError, "nr_samples must be an int"),
        (MaxSensitivity, {"lower_bound": -0.1}, ValueError, "lower_bound must be >= 0"),
        (MaxSensitivity, {"lower_bound": 0.3, "upper_bound": 0.1}, ValueError, "upper_bound must be larger"),
        (AvgSensitivity, {"perturb_func_kwargs": {"upper_bound": 0.0}}, ValueError, "upper_bound must be"),
        (LocalLipschitzEstimate, {"perturb_std": -1.0}, ValueError, "perturb_std must be >= 0"),
        (LocalLipschitzEstimate, {"perturb_mean": float("nan")}, ValueError, "perturb_mean must be finite"),
        (RelativeInputStability, {"eps_min": 0.0}, ValueError, "eps_min must be > 0"),
        (MaxSensitivity, {"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        (MaxSensitivity, {"seed": "a"}, TypeError, "seed must be an int"),
        (MaxSensitivity, {"perturb_func": "salt"}, ValueError, "perturb_func must be"),
        (MaxSensitivity, {"perturb_func": 3}, TypeError, "perturb_func must be"),
    ],
)
def test_bad_parameters_raise_clear_errors(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_explain_func_is_required(cnn):
    x, y = data(4)
    a = xs.Saliency()(cnn, x, y)
    with pytest.raises(ValueError, match="needs explain_func"):
        MaxSensitivity(nr_samples=2)(cnn, x, y, a_batch=a)
    with pytest.raises(ValueError, match="needs the model"):
        MaxSensitivity(nr_samples=2)(None, x, y, explain_func=xs.Saliency())
