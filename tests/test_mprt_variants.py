"""SmoothMPRT and EfficientMPRT (Hedström et al. 2023): parity with Quantus 0.6 and our MPRT.

Quantus draws its randomised layers like our ``layer_seeds="shared"`` mode, so with that
mode both run on identical randomised models and their numbers are compared directly. Where
Quantus's result cannot be reproduced (its sMPRT noise comes from NumPy's global generator,
unseeded), the noise definition itself is compared.
"""

import numpy as np
import pytest
import quantus
from helpers import (
    ModelWatch,
    assert_rng_unchanged,
    batch,
    conv1d_batch,
    conv1d_model,
    rng_states,
    small_cnn,
    tabular_batch,
    tabular_model,
)
from quantus.functions import n_bins_func
from quantus.functions.complexity_func import discrete_entropy as quantus_discrete_entropy
from quantus.functions.complexity_func import entropy as quantus_entropy

import xai_sanity as xs
from xai_sanity.metrics import EfficientMPRT, ModelParameterRandomisation, SmoothMPRT
from xai_sanity.metrics.randomisation.efficient import discrete_entropy, n_bins_from_rule

# Tiny models compute faster on one thread than with thread start-up and spin costs per op.
pytestmark = pytest.mark.usefixtures("one_thread")

ORDERS = ["bottom_up", "top_down", "independent"]
N_LAYERS = 4  # small_cnn: conv 0, conv 3, linear 6, linear 8
QUANTUS_GRADIENT = {"explain_func": quantus.explain, "explain_func_kwargs": {"method": "Gradient"}}


class Recorder:
    """An explain function (Gradient) that keeps a copy of every input batch it is given."""

    def __init__(self):
        self.inputs = []

    def __call__(self, model, inputs, targets, **kwargs):
        self.inputs.append(np.array(inputs, dtype=np.float64, copy=True))
        return xs.Gradient()(model, np.asarray(inputs, dtype=np.float32), targets)

    def rows(self):
        return np.concatenate(self.inputs) if self.inputs else np.zeros((0,))


def _quantus(metric, model, x, y, **call):
    call = {"explain_func": xs.Gradient(), **call}
    return metric(model=model, x_batch=x, y_batch=y, a_batch=None, device="cpu", **call)


def _versions(model):
    return [t._version for t in model.parameters()]


# ------------------------------------------------------------------ SmoothMPRT -------------
@pytest.mark.parametrize("order", ORDERS)
def test_smooth_matches_quantus_without_noise_draws(order):
    # nr_samples=1 is Quantus's noise-free copy alone; with quantus.explain as our explain
    # function both explain identical randomised models with the same function.
    model, (x, y) = small_cnn(), batch(n=6)
    ours = SmoothMPRT(layer_order=order, seed=7, layer_seeds="shared", nr_samples=1)(
        model, x, y, **QUANTUS_GRADIENT
    )
    theirs = _quantus(
        quantus.SmoothMPRT(layer_order=order, seed=7, nr_samples=1, disable_warnings=True),
        model, x, y, **QUANTUS_GRADIENT,
    )  # fmt: skip
    assert list(ours) == list(theirs) and len(ours) == N_LAYERS + 1
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-6)


@pytest.mark.parametrize("order", ORDERS)
def test_smooth_with_one_sample_is_our_mprt(order):
    model, (x, y) = small_cnn(), batch(n=5)
    mprt = ModelParameterRandomisation(layer_order=order, seed=3)(model, x, y, explain_func=xs.Gradient())
    one = SmoothMPRT(layer_order=order, seed=3, nr_samples=1, noise_magnitude=0.0)(
        model, x, y, explain_func=xs.Gradient()
    )
    assert one == mprt  # exactly
    # Averaging identical noise-free copies changes nothing but rounding.
    same = SmoothMPRT(layer_order=order, seed=3, nr_samples=4, noise_magnitude=0.0)(
        model, x, y, explain_func=xs.Gradient()
    )
    for key in mprt:
        np.testing.assert_allclose(same[key], mprt[key], atol=1e-6)


@pytest.mark.parametrize("skip_layers", [False, True])
def test_smooth_explains_with_the_given_explain_func_unlike_quantus(skip_layers):
    model, (x, y) = small_cnn(), batch(n=4)
    nr_samples, n_passes = 4, 2 if skip_layers else N_LAYERS + 1
    ours = Recorder()
    SmoothMPRT(nr_samples=nr_samples, skip_layers=skip_layers)(model, x, y, explain_func=ours)
    rows = ours.rows()
    assert len(rows) == len(x) * nr_samples * n_passes  # every copy, every pass, by explain_func
    clean = (rows == x[np.arange(len(rows)) % len(x)]).all(axis=(1, 2, 3))
    assert clean.sum() == len(x) * n_passes  # one noise-free copy per sample and pass
    # Deliberate divergence: Quantus 0.6 never calls explain_func (it always calls quantus.explain).
    theirs = Recorder()
    _quantus(
        quantus.SmoothMPRT(nr_samples=2, skip_layers=skip_layers, disable_warnings=True),
        model, x, y, explain_func=theirs, explain_func_kwargs={"method": "Gradient"},
    )  # fmt: skip
    assert theirs.inputs == []


def test_smooth_noise_is_relative_to_each_input_range_as_in_quantus(monkeypatch):
    # Inputs of very different ranges: the noise std must follow each input's max - min.
    model, (x, y) = small_cnn(), batch(n=4)
    x = x * np.array([1.0, 4.0, 0.25, 10.0], dtype=np.float32)[:, None, None, None]
    nr_samples, magnitude = 5, 0.2

    def noise_ratios(recorder):
        rows = recorder.rows()
        reference = x[np.arange(len(rows)) % len(x)].astype(np.float64)  # rows come in sample order
        noise = (rows - reference).reshape(len(rows), -1)
        spread = (reference.max(axis=(1, 2, 3)) - reference.min(axis=(1, 2, 3)))[:, None]
        return (noise / spread).std(axis=1)

    ours = Recorder()
    SmoothMPRT(nr_samples=nr_samples, noise_magnitude=magnitude, skip_layers=True)(
        model, x, y, explain_func=ours
    )
    theirs = Recorder()
    monkeypatch.setattr(quantus, "explain", theirs)  # what Quantus's SmoothMPRT calls
    state = np.random.get_state()
    try:
        _quantus(
            quantus.SmoothMPRT(nr_samples=nr_samples, noise_magnitude=magnitude, skip_layers=True,
                               disable_warnings=True),
            model, x, y, explain_func=theirs,
        )  # fmt: skip
    finally:
        np.random.set_state(state)
    for ratios in (noise_ratios(ours), noise_ratios(theirs)):
        assert np.mean(ratios == 0) == pytest.approx(1 / nr_samples)  # one clean copy in each
        noisy = ratios[ratios > 0]
        np.testing.assert_allclose(noisy, magnitude, rtol=0.2)
        assert np.mean(noisy) == pytest.approx(magnitude, rel=0.05)


def test_smooth_is_seeded_and_leaves_model_and_rng_alone():
    model, (x, y) = small_cnn(), batch(n=4)
    model.train()
    watch, before, versions = ModelWatch(model), rng_states(), _versions(model)
    metric = SmoothMPRT(nr_samples=3, noise_magnitude=0.2, seed=5, return_last_correlation=True)
    first = metric(model, x, y, explain_func=xs.Gradient())
    assert metric(model, x, y, explain_func=xs.Gradient()) == first
    other = SmoothMPRT(nr_samples=3, noise_magnitude=0.2, seed=6, return_last_correlation=True)
    assert other(model, x, y, explain_func=xs.Gradient()) != first
    noiseless = SmoothMPRT(nr_samples=1, seed=5, return_last_correlation=True)
    assert noiseless(model, x, y, explain_func=xs.Gradient()) != first
    watch.assert_unchanged()
    assert _versions(model) == versions and model.training
    assert_rng_unchanged(before)


def test_smooth_runs_on_time_series_and_tables():
    for model, (x, y) in ((conv1d_model(), conv1d_batch()), (tabular_model(), tabular_batch())):
        scores = SmoothMPRT(nr_samples=3, return_last_correlation=True)(
            model, x, y, explain_func=xs.Gradient()
        )
        assert len(scores) == len(x) and np.all(np.isfinite(scores))


# --------------------------------------------------------------- EfficientMPRT -------------
@pytest.mark.parametrize("skip_layers", [True, False])
@pytest.mark.parametrize("order", ORDERS)
def test_efficient_matches_quantus(order, skip_layers):
    model, (x, y) = small_cnn().eval(), batch(n=6)  # Quantus's output entropy needs eval mode
    kwargs = dict(layer_order=order, seed=7, compute_extra_scores=True, skip_layers=skip_layers)
    ours = EfficientMPRT(layer_seeds="shared", **kwargs)
    theirs = quantus.EfficientMPRT(disable_warnings=True, **kwargs)
    np.testing.assert_allclose(
        ours(model, x, y, explain_func=xs.Gradient()), _quantus(theirs, model, x, y), rtol=1e-9, atol=1e-12
    )
    renamed = {("original" if k == "orig" else k): v for k, v in theirs.explanation_scores_by_layer.items()}
    assert list(ours.explanation_scores_by_layer) == list(renamed)
    for key, value in renamed.items():
        np.testing.assert_allclose(ours.explanation_scores_by_layer[key], value, rtol=1e-9)
    assert set(ours.scores_extra) == set(theirs.scores_extra)
    for key, value in theirs.scores_extra.items():
        # Output entropies: our float64 softmax entropy vs Quantus's float32 one.
        np.testing.assert_allclose(ours.scores_extra[key], np.asarray(value, dtype=float), atol=1e-6)


def test_efficient_score_is_quantus_formula_on_our_maps():
    model, (x, y) = small_cnn(), batch(n=6)
    metric = EfficientMPRT(skip_layers=False)
    scores = metric(model, x, y, explain_func=xs.Saliency())
    maps = metric.explanations_
    assert list(maps) == ["original", "0", "3", "6", "8"] and metric.n_bins_ == 100
    h0, h1 = ([quantus_discrete_entropy(a=m, x=xi) for m, xi in zip(maps[k], x)] for k in ("original", "8"))
    np.testing.assert_allclose(scores, [(b - a) / a for a, b in zip(h0, h1)], rtol=1e-12)
    for n_bins in (5, 100):
        a = np.random.default_rng(n_bins).normal(size=(1, 8, 8))
        assert discrete_entropy(a, n_bins=n_bins) == pytest.approx(
            quantus_discrete_entropy(a=a, x=a, n_bins=n_bins)
        )


def test_efficient_bin_rules_count_the_values_of_one_map():
    a = np.random.default_rng(0).random((4, 1, 16, 16))  # 256 values per map
    assert n_bins_from_rule(a, "Square Root") == 16
    assert n_bins_from_rule(a, "Rice") == 12
    assert n_bins_from_rule(a, "Sturges Formula") == 10  # 9, clipped to min_n_bins
    # Quantus's rules count a map's axes (a[0].ndim == 3), not its values:
    assert n_bins_func.square_root_choice(a_batch=a) == int(np.sqrt(3))
    model, (x, y) = small_cnn(), batch(n=4)
    chosen = {"rule": "Square Root", "min_n_bins": 2}
    metric = EfficientMPRT(complexity_func_kwargs=chosen)
    metric(model, x, y, explain_func=xs.Gradient())
    assert metric.n_bins_ == 8  # 8 x 8 maps
    assert metric.complexity_func_kwargs == chosen  # the bins are not stored for later calls
    with pytest.raises(ValueError, match="rule"):
        EfficientMPRT(complexity_func_kwargs={"rule": "Guess"})(model, x, y, explain_func=xs.Gradient())


def test_efficient_takes_any_complexity_function():
    model, (x, y) = small_cnn(), batch(n=4)
    own = EfficientMPRT(complexity_func=lambda a, x: float(np.std(a)))(
        model, x, y, explain_func=xs.Gradient()
    )
    theirs = EfficientMPRT(complexity_func=quantus_entropy, abs=True)(model, x, y, explain_func=xs.Gradient())
    assert np.all(np.isfinite(own)) and np.all(np.isfinite(theirs))


def test_efficient_constant_maps_give_nan_with_a_warning():
    model, (x, y) = small_cnn(), batch(n=3)

    def constant(model, inputs, targets, **kwargs):
        return np.ones((len(inputs), 1, *np.shape(inputs)[2:]), dtype=np.float32)

    with pytest.warns(RuntimeWarning, match="complexity 0"):
        scores = EfficientMPRT()(model, x, y, explain_func=constant)
    assert np.isnan(scores).all()


def test_efficient_uses_a_batch_as_the_original_explanation():
    model, (x, y) = small_cnn(), batch(n=4)
    a = xs.Gradient()(model, x, y)
    recorder = Recorder()
    metric = EfficientMPRT()
    with_a = metric(model, x, y, a_batch=a, explain_func=recorder)
    assert len(recorder.rows()) == len(x)  # only the fully randomised model is explained
    np.testing.assert_array_equal(metric.explanations_["original"], a)
    assert with_a == EfficientMPRT()(model, x, y, explain_func=xs.Gradient())


def test_efficient_is_seeded_and_leaves_model_and_rng_alone():
    model, (x, y) = small_cnn(), batch(n=4)
    model.train()
    watch, before, versions = ModelWatch(model), rng_states(), _versions(model)
    metric = EfficientMPRT(compute_extra_scores=True, seed=1)
    first = metric(model, x, y, explain_func=xs.SmoothGrad(n_samples=2))
    assert metric(model, x, y, explain_func=xs.SmoothGrad(n_samples=2)) == first
    assert EfficientMPRT(seed=2)(model, x, y, explain_func=xs.SmoothGrad(n_samples=2)) != first
    watch.assert_unchanged()
    assert _versions(model) == versions and model.training
    assert_rng_unchanged(before)
    for model, (x, y) in ((conv1d_model(), conv1d_batch()), (tabular_model(), tabular_batch())):
        assert np.all(np.isfinite(EfficientMPRT()(model, x, y, explain_func=xs.Gradient())))


# ---------------------------------------------------------------- both ---------------------
@pytest.mark.parametrize(
    "metric, match",
    [
        (SmoothMPRT(nr_samples=0), "nr_samples"),
        (SmoothMPRT(noise_magnitude=-0.1), "noise_magnitude"),
        (SmoothMPRT(layer_order="sideways"), "layer_order"),
        (EfficientMPRT(layer_order="sideways"), "layer_order"),
        (EfficientMPRT(complexity_func="entropy"), "complexity_func"),
    ],
)
def test_bad_parameters(metric, match):
    with pytest.raises((ValueError, TypeError), match=match):
        metric(small_cnn(), *batch(), explain_func=xs.Gradient())


def test_registered_under_quantus_names_with_truthful_metadata():
    from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection

    from xai_sanity.reproduce.demo import default_metrics

    for cls, theirs, aliases in (
        (SmoothMPRT, quantus.SmoothMPRT, ("sMPRT", "Smooth MPRT")),
        (EfficientMPRT, quantus.EfficientMPRT, ("eMPRT", "Efficient MPRT")),
    ):
        assert cls.name == theirs.name
        for alias in (cls.__name__, cls.name, *aliases):
            assert xs.METRICS[alias] is cls
        assert cls.score_direction == theirs.score_direction
        assert cls.evaluation_category == EvaluationCategory.RANDOMISATION
        assert cls.data_applicability == {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    assert SmoothMPRT.score_direction == ScoreDirection.LOWER
    assert EfficientMPRT.score_direction == ScoreDirection.HIGHER
    suite = default_metrics(quick=True, seed=4)
    smooth, efficient = suite["SmoothMPRT"], suite["EfficientMPRT"]
    assert (smooth.nr_samples, smooth.skip_layers, smooth.return_last_correlation, smooth.seed) == (
        3,
        True,
        True,
        4,
    )
    assert efficient.skip_layers and efficient.seed == 4
    model, (x, y) = small_cnn(), batch(n=3)
    for metric in (smooth, efficient):
        assert len(metric(model, x, y, explain_func=xs.Gradient())) == 3
