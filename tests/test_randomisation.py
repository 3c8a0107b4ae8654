import inspect
import warnings

import numpy as np
import pytest
import quantus
import torch
from helpers import (
    ModelWatch,
    assert_rng_unchanged,
    batch,
    fails_on_call,
    linear_model,
    rng_states,
    small_cnn,
)
from scipy.stats import spearmanr
from torch import nn

import xai_sanity as xs
from xai_sanity.metrics import DataRandomisation, ModelParameterRandomisation, RandomLogit
from xai_sanity.metrics.randomisation import randomisable_layers

LAYERS_TOP_DOWN = ["original", "8", "6", "3", "0"]  # small_cnn: conv 0, conv 3, linear 6, linear 8


def _spearman_reference(a, b):
    return np.array([spearmanr(u.ravel(), v.ravel())[0] for u, v in zip(a, b)])


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_matches_quantus_mprt_under_its_seed_convention(order):
    model, (x, y) = small_cnn(), batch(n=6)
    ours = ModelParameterRandomisation(layer_order=order, seed=7, layer_seeds="shared")(
        model, x, y, explain_func=xs.Gradient()
    )
    theirs = quantus.MPRT(layer_order=order, seed=7, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.Gradient(), device="cpu"
    )
    assert list(ours) == list(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-6)


def test_scores_equal_an_independent_recomputation():
    # Re-create each cascading step by hand with reset_parameters under the same seeds.
    model, (x, y) = small_cnn(), batch(n=5)
    scores = ModelParameterRandomisation(seed=3)(model, x, y, explain_func=xs.Gradient())
    reference_model = small_cnn()
    original = np.abs(xs.Gradient()(reference_model, x, y))
    layers = randomisable_layers(reference_model)
    expected = {"original": _spearman_reference(original, original)}
    for i, (name, module) in reversed(list(enumerate(layers))):
        state = torch.random.get_rng_state()
        torch.manual_seed(3 + 1 + i)
        module.reset_parameters()
        torch.random.set_rng_state(state)
        expected[name] = _spearman_reference(original, np.abs(xs.Gradient()(reference_model, x, y)))
    assert list(scores) == LAYERS_TOP_DOWN
    for key, value in expected.items():
        np.testing.assert_allclose(scores[key], value, atol=1e-6)


@pytest.mark.parametrize("similarity", ["spearman", "spearman_abs"])
def test_mprt_ranks_the_reference_once_and_scores_as_scipy(monkeypatch, similarity):
    """The reference maps are ranked once for all steps (not once per step), scores unchanged."""
    from xai_sanity.similarity import correlation

    model, (x, y) = small_cnn(), batch(n=5)
    a = xs.Saliency()(model, x, y)
    calls = []
    rank = correlation._average_ranks
    monkeypatch.setattr(correlation, "_average_ranks", lambda t: calls.append(1) or rank(t))
    metric = ModelParameterRandomisation(seed=3, similarity_func=similarity, abs=False)
    scores = metric(model, x, y, a_batch=a, explain_func=xs.Saliency())
    assert len(calls) == 1 + len(LAYERS_TOP_DOWN)  # the reference, then each compared batch
    f = np.abs if similarity == "spearman_abs" else (lambda v: v)
    reference = metric._preprocess(a)
    for key, maps in metric.explanations_.items():
        np.testing.assert_allclose(scores[key], _spearman_reference(f(reference), f(maps)), atol=1e-10)


def test_average_excludes_the_original_unlike_quantus():
    model, (x, y) = small_cnn(), batch(n=6)
    per_layer = ModelParameterRandomisation(seed=7, layer_seeds="shared")(
        model, x, y, explain_func=xs.Gradient()
    )
    ours = ModelParameterRandomisation(seed=7, layer_seeds="shared", return_average_correlation=True)(
        model, x, y, explain_func=xs.Gradient()
    )
    steps = np.array([per_layer[k] for k in LAYERS_TOP_DOWN[1:]])
    np.testing.assert_allclose(ours, steps.mean(0), atol=1e-9)
    theirs = quantus.MPRT(seed=7, return_average_correlation=True, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.Gradient(), device="cpu"
    )
    with_original = np.vstack([per_layer["original"], steps]).mean(0)
    np.testing.assert_allclose(theirs, with_original, atol=1e-6)  # Quantus's defect, documented
    last = ModelParameterRandomisation(seed=7, layer_seeds="shared", return_last_correlation=True)(
        model, x, y, explain_func=xs.Gradient()
    )
    np.testing.assert_allclose(last, per_layer["0"])


def test_guided_backprop_stays_more_similar_than_gradient():
    # Adebayo et al.: Guided Backprop is insensitive to the top layers' weights.
    model, (x, y) = small_cnn(), batch(n=8)
    metric = ModelParameterRandomisation(return_last_correlation=False)
    gb = metric(model, x, y, explain_func=xs.GuidedBackprop())
    grad = metric(model, x, y, explain_func=xs.Gradient())
    assert np.mean(gb["8"]) > np.mean(grad["8"])


def test_skip_layers_scores_only_the_last_step_and_explanations_are_kept():
    model, (x, y) = small_cnn(), batch()
    metric = ModelParameterRandomisation(skip_layers=True)
    scores = metric(model, x, y, explain_func=xs.Saliency())
    assert list(scores) == ["original", "0"]
    assert set(metric.explanations_) == {"original", "0"} and metric.explanations_["0"].shape == (4, 1, 8, 8)


@pytest.mark.parametrize(
    "explain_func", [xs.Gradient(), xs.NoiseGrad(n_models=2), xs.SmoothGrad(n_samples=2)]
)
def test_model_and_rng_untouched_also_on_error(explain_func):
    model, (x, y) = small_cnn(), batch()
    model.train()
    watch, before = ModelWatch(model), rng_states()
    ModelParameterRandomisation(layer_order="independent")(model, x, y, explain_func=explain_func)
    watch.assert_unchanged()
    assert_rng_unchanged(before)
    fails_on_third = fails_on_call(explain_func, 3, "explainer broke")
    with pytest.raises(RuntimeError, match="explainer broke"):
        ModelParameterRandomisation()(model, x, y, explain_func=fails_on_third)
    watch.assert_unchanged()
    assert_rng_unchanged(before)


def test_runs_inside_quantus_evaluate_for_each_metric():
    model, (x, y) = small_cnn(), batch(n=4)
    train = batch(n=24)
    results = quantus.evaluate(
        metrics={
            "MPRT": ModelParameterRandomisation(return_average_correlation=True),
            "RandomLogit": RandomLogit(similarity_func="spearman"),
            "DataRandomisation": DataRandomisation(train_data=train, epochs=1, min_train_accuracy=0.0),
        },
        xai_methods={"Saliency": xs.Saliency()},
        model=model,
        x_batch=x,
        y_batch=y,
        explain_func_kwargs={},
    )
    for name in ("MPRT", "RandomLogit", "DataRandomisation"):
        assert np.asarray(results["Saliency"][name]).shape == (4,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layer_order": "sideways"}, "layer_order"),
        ({"layer_seeds": "random"}, "layer_seeds"),
        ({"similarity_func": "cosine-ish"}, "cosine-ish"),
        ({"return_average_correlation": True, "return_last_correlation": True}, "choose one"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises((ValueError, KeyError), match=match):
        ModelParameterRandomisation(**kwargs)(small_cnn(), *batch(), explain_func=xs.Gradient())


def test_needs_explain_func_and_layers_with_parameters():
    with pytest.raises(ValueError, match="explain_func"):
        ModelParameterRandomisation()(small_cnn(), *batch())
    # A model without parameters has nothing to randomise.
    parameterless = nn.Sequential(nn.Flatten(), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="no layers"):
        ModelParameterRandomisation()(parameterless, *batch(n=4, shape=(10,)), explain_func=xs.Saliency())
    # A frozen model is still a model: every layer is randomised (as Quantus does).
    frozen = small_cnn().requires_grad_(False)
    scores = ModelParameterRandomisation()(frozen, *batch(), explain_func=xs.Gradient())
    assert len(scores) == 1 + len(randomisable_layers(frozen))


# ---------------------------------------------------------------- random logit -----------
def test_random_logit_closed_form_on_linear_model():
    # Gradient of class k of a linear model is W[k]: the score is sim(W[y], W[y_off]).
    model = linear_model(in_shape=(1, 12, 12), n_classes=10)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 12, 12), dtype=np.float32), rng.integers(0, 10, 40)
    metric = RandomLogit(similarity_func="spearman", normalise=False)
    scores = metric(model, x, y, explain_func=xs.Gradient())
    off = metric.off_labels_
    assert np.all(off != y) and set(off) <= set(range(10)) and len(set(off)) > 5
    w = model[1].weight.detach().numpy().reshape(10, 12, 12)
    np.testing.assert_allclose(scores, _spearman_reference(w[y], w[off]), atol=1e-6)
    assert_rng_unchanged(rng_states())


def test_random_logit_reads_the_number_of_classes_from_the_model():
    model, (x, y) = small_cnn(n_classes=3), batch(n=6, n_classes=3)
    metric = RandomLogit(similarity_func="spearman")
    scores = metric(model, x, y, explain_func=xs.Gradient())
    assert len(scores) == 6 and set(metric.off_labels_) <= {0, 1, 2}
    # Quantus's default num_classes=1000 breaks on a 3-class model.
    with pytest.raises(Exception):  # noqa: B017
        quantus.RandomLogit(disable_warnings=True)(
            model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.Gradient(), device="cpu"
        )


def test_random_logit_default_ssim_needs_maps_of_at_least_11_pixels():
    with pytest.raises(ValueError, match="11x11"):
        RandomLogit()(small_cnn(), *batch(), explain_func=xs.Gradient())


def test_random_logit_is_seeded():
    model, (x, y) = small_cnn(), batch(n=8)
    a = RandomLogit(seed=1, similarity_func="spearman")(model, x, y, explain_func=xs.Gradient())
    b = RandomLogit(seed=1, similarity_func="spearman")(model, x, y, explain_func=xs.Gradient())
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- data randomisation -----
def test_data_randomisation_memorises_and_scores():
    model, (x, y) = small_cnn(), batch(n=5)
    x_train, y_train = batch(n=64)
    model.train()
    watch, before = ModelWatch(model), rng_states()
    metric = DataRandomisation(
        train_data=(x_train, y_train), epochs=60, train_kwargs={"batch_size": 16, "lr": 5e-3}
    )
    scores = metric(model, x, y, explain_func=xs.Gradient())
    watch.assert_unchanged()
    assert_rng_unchanged(before)
    assert len(scores) == 5 and np.isfinite(scores).all()
    assert metric.random_model_train_accuracy_ > 0.8  # it memorised its permuted labels
    # The score is the similarity of the two models' explanations, recomputed independently.
    expected = _spearman_reference(
        np.abs(xs.Gradient()(model, x, y)), np.abs(xs.Gradient()(metric.random_model_, x, y))
    )
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_data_randomisation_with_user_train_func_and_bad_one():
    model, (x, y) = small_cnn(), batch(n=3)
    seen = {}

    def train_func(net, xt, yt):
        seen["labels"] = yt
        return net

    x_train, y_train = batch(n=64)
    DataRandomisation(train_func=train_func, min_train_accuracy=0.0)(
        model, x, y, explain_func=xs.Gradient(), custom_batch=(x_train, y_train)
    )
    assert sorted(seen["labels"]) == sorted(y_train) and not np.array_equal(seen["labels"], y_train)
    with pytest.raises(TypeError, match="train_func"):
        DataRandomisation(train_func=lambda *a: None)(
            model, x, y, explain_func=xs.Gradient(), custom_batch=(x_train, y_train)
        )
    with pytest.raises(ValueError, match="training data"):
        DataRandomisation()(model, x, y, explain_func=xs.Gradient())


def test_data_randomisation_warns_when_not_memorised():
    model, (x, y) = small_cnn(), batch(n=3)
    with pytest.warns(RuntimeWarning, match="memorise|only"):
        DataRandomisation(train_data=batch(n=64), epochs=1, min_train_accuracy=0.99)(
            model, x, y, explain_func=xs.Gradient()
        )


def test_layers_without_reset_parameters_are_redrawn():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((3, 1, 1), 2.0))

        def forward(self, x):
            return x * self.w

    model = nn.Sequential(Scale(), nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    metric = ModelParameterRandomisation()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no constant (all-zero) maps
        scores = metric(model, *batch(), explain_func=xs.Gradient())
    assert list(scores) == ["original", "2", "0"]
    # The constant scale (all 2.0, std 0) is redrawn around its magnitude, not to zeros.
    assert np.isfinite(scores["0"]).all() and np.abs(metric.explanations_["0"]).max() > 0


def test_quantus_deprecated_return_sample_correlation_and_positional_order():
    """Quantus's MPRT maps return_sample_correlation to return_average_correlation (with a
    notice); its first seven positional parameters bind as in Quantus."""
    model, (x, y) = small_cnn(), batch(n=4)
    with pytest.warns(FutureWarning, match="return_average_correlation"):
        metric = ModelParameterRandomisation(return_sample_correlation=True, seed=3)
    assert metric.return_average_correlation is True
    scores = metric(model, x, y, explain_func=xs.Gradient())
    assert np.asarray(scores).shape == (4,)
    np.testing.assert_allclose(
        scores,
        ModelParameterRandomisation(seed=3, return_average_correlation=True)(
            model, x, y, explain_func=xs.Gradient()
        ),
    )
    quantus_names = list(inspect.signature(quantus.MPRT).parameters)[:7]
    assert list(inspect.signature(ModelParameterRandomisation).parameters)[:7] == quantus_names
    positional = ModelParameterRandomisation("spearman", "bottom_up", 5, None, False, True, True)
    assert (
        positional.layer_order,
        positional.seed,
        positional.return_last_correlation,
        positional.skip_layers,
    ) == (
        "bottom_up",
        5,
        True,
        True,
    )


def test_default_layer_seeds_differ_from_quantus_on_purpose():
    """Quantus seeds every layer with seed + 1, so two layers of the same shape get the same
    weights; ours seeds each layer by its position (README lists the difference)."""
    model, (x, y) = small_cnn(), batch(n=4)
    ours = ModelParameterRandomisation(seed=7)(model, x, y, explain_func=xs.Gradient())
    shared = ModelParameterRandomisation(seed=7, layer_seeds="shared")(
        model, x, y, explain_func=xs.Gradient()
    )
    theirs = quantus.MPRT(seed=7, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.Gradient(), device="cpu"
    )
    np.testing.assert_allclose(shared["0"], theirs["0"], atol=1e-6)
    assert not np.allclose(ours["0"], theirs["0"], atol=1e-3)
