"""The user's model is never written to; seeded means seeded; presets have one source of truth.

Each test here failed on the code before the reliability round (in-place weight noise and
layer randomisation, global-RNG dropout, batch-size-dependent stochastic bases, frozen
layers skipped, presets ignoring later parameter changes).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import batch, dropout_model, frozen_model, small_cnn
from scipy.stats import norm
from torch import nn

import xai_sanity as xs
from xai_sanity import METHODS, METRICS
from xai_sanity._model_ops import fresh_copy, randomisable_layers
from xai_sanity.metrics import ModelParameterRandomisation
from xai_sanity.training import evaluate_accuracy, fit

# Metrics that run the model, with parameters that keep them cheap.
MODEL_METRICS = {
    "ModelParameterRandomisation": {"layer_order": "independent"},
    "RandomLogit": {"similarity_func": "spearman"},
    "MaxSensitivity": {"nr_samples": 2},
    "AvgSensitivity": {"nr_samples": 2},
    "LocalLipschitzEstimate": {"nr_samples": 2},
    "RelativeInputStability": {"nr_samples": 2},
    "PointingGame": {},
}


def _graph(model: nn.Module, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """A loss whose graph reaches every parameter, built before the call under test."""
    model.train()
    return nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y).long())


def _versions(model: nn.Module) -> list[int]:
    return [t._version for t in (*model.parameters(), *model.buffers())]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_graph_built_before_an_explain_call_still_backpropagates(name):
    model, (x, y) = small_cnn(), batch(n=2)
    loss = _graph(model, x, y)
    versions = _versions(model)
    params = {"n_samples": 2} if name in ("SmoothGrad", "SmoothGradSquared", "VarGrad") else {}
    if name in ("NoiseGrad", "NoiseGrad++", "NoiseEnsemble"):
        params = {"n_models": 2, **({"n_samples": 2} if name == "NoiseGrad++" else {})}
        if name == "NoiseEnsemble":
            params["weight_noise"] = 0.1
    xs.explain(model, x, y, method=name, **params)
    assert _versions(model) == versions
    loss.backward()  # raised "modified by an inplace operation" when weights were copied back
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODEL_METRICS))
def test_graph_built_before_a_metric_call_still_backpropagates(name):
    model, (x, y) = small_cnn(), batch(n=4)
    s = np.zeros((4, 1, *x.shape[2:]), np.float32)
    s[:, :, 2:6, 2:6] = 1
    loss = _graph(model, x, y)
    versions = _versions(model)
    METRICS[name](**MODEL_METRICS[name])(model, x, y, s_batch=s, explain_func=xs.Saliency())
    assert _versions(model) == versions
    loss.backward()


def test_roar_and_data_randomisation_leave_the_graph_alone():
    model, (x, y) = small_cnn(), batch(n=8)
    loss = _graph(model, x, y)
    versions = _versions(model)
    xs.metrics.ROAR(thresholds=(0.5,), n_repeats=1, train_kwargs={"epochs": 1, "batch_size": 8})(
        model, x, y, x_test=x, y_test=y, explain_func=xs.Saliency()
    )
    xs.metrics.DataRandomisation(epochs=1, train_data=(x, y))(model, x, y, explain_func=xs.Saliency())
    assert _versions(model) == versions
    loss.backward()


def test_guard_reports_a_third_party_write_instead_of_hiding_it():
    model, (x, y) = small_cnn(), batch(n=2)

    def writes(model, inputs, targets, **kwargs):
        with torch.no_grad():
            next(model.parameters()).mul_(1.0)
        return xs.Saliency()(model, inputs, targets)

    with pytest.raises(xs._safety.ModelWrittenError, match="written to in place"):
        xs.SmoothGrad(base=writes, n_samples=1)(model, x, y)
    # Under NoiseGrad the base sees swapped-in noisy copies: the user's tensors stay untouched.
    versions = _versions(model)
    xs.NoiseGrad(base=writes, n_models=1)(model, x, y)
    assert _versions(model) == versions


# -- frozen layers are layers --------------------------------------------------------------


def test_parameter_randomisation_randomises_frozen_layers():
    model, (x, y) = frozen_model(), batch(n=2)
    scores = ModelParameterRandomisation()(model, x, y, explain_func=xs.Saliency())
    first = randomisable_layers(model)[0][0]
    assert first in scores  # the cascade's last step includes the frozen first conv
    assert list(scores)[-1] == first
    assert not model[0].weight.requires_grad  # and the caller's flags are as they were


def test_fresh_copy_is_fresh_also_in_frozen_layers():
    model = frozen_model()
    fresh = fresh_copy(model, seed=3)
    assert not torch.equal(fresh[0].weight, model[0].weight)
    assert all(p.requires_grad for p in fresh.parameters()) and fresh.training
    # Every layer with parameters is re-drawn: none keeps a trained tensor.
    for (_, old), (_, new) in zip(randomisable_layers(model), randomisable_layers(fresh)):
        for p, q in zip(old.parameters(recurse=False), new.parameters(recurse=False)):
            assert not torch.equal(p, q)


# -- seeded means seeded -------------------------------------------------------------------


@pytest.mark.parametrize("global_seed", [1, 2])
def test_training_with_dropout_depends_only_on_its_seed(global_seed):
    x, y = batch(n=32)
    reference = fit(dropout_model(), x, y, epochs=2, batch_size=8, seed=5, progress=False).model
    torch.manual_seed(global_seed)
    state = torch.random.get_rng_state()
    again = fit(dropout_model(), x, y, epochs=2, batch_size=8, seed=5, progress=False).model
    assert torch.equal(torch.random.get_rng_state(), state)  # not advanced
    for p, q in zip(reference.parameters(), again.parameters()):
        assert torch.equal(p, q)


def test_stochastic_base_inside_an_enhancer_does_not_depend_on_batch_size():
    model, (x, y) = small_cnn(), batch(n=3)
    outs = [
        xs.SmoothGrad(base="GradientSHAP", n_samples=4, batch_size=size)(model, x, y)
        for size in (3, 5, 12, 256)
    ]
    # Same draws whatever the chunking; only the float summation order of the running mean
    # differs (before, different chunkings gave different draws: differences of order 1).
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=1e-5, atol=1e-6)
    random = [xs.VarGrad(base="RandomAttribution", n_samples=3, batch_size=s)(model, x, y) for s in (3, 9)]
    np.testing.assert_allclose(random[0], random[1], rtol=1e-5, atol=1e-6)


# -- additive weight noise and the noise-level search ----------------------------------------


def zero_weight_linear() -> nn.Linear:
    model = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.0, 0.0]]))
    return model


def test_additive_weight_noise_is_additive():
    """Gradient of a linear model = its weight row: W(1+ε) keeps zeros at zero, W+ε does not;
    the mean over n draws of W+ε has std σ/√n around W."""
    model, x, y = zero_weight_linear(), np.ones((1, 4), np.float32), np.array([0])
    mult = xs.NoiseGrad(base="Gradient", n_models=400, noise_level=0.3)(model, x, y)
    assert mult[0, 1] == 0 and mult[0, 3] == 0
    add = xs.NoiseGrad(base="Gradient", n_models=400, noise_level=0.3, noise_mode="additive")(model, x, y)
    deviation = add[0] - np.array([1.0, 0.0, 2.0, 0.0])
    assert np.all(np.abs(deviation) < 5 * 0.3 / math.sqrt(400)) and np.all(deviation != 0)
    single = np.stack(
        [
            xs.NoiseGrad(base="Gradient", n_models=1, noise_level=0.3, noise_mode="additive", seed=s)(
                model, x, y
            )[0]
            for s in range(300)
        ]
    )
    assert abs(single[:, 1].std() / 0.3 - 1) < 0.15  # additive: std σ also where W = 0


def test_additive_noise_level_search_matches_its_closed_form():
    """Logits [w x, -w x] with w = 1 and additive noise: right iff 2 + ε1 + ε2 > 0 (x = 1),
    ACC(σ) = Φ(√2/σ) as in the multiplicative case; and with w = 2 additive noise is the
    same as multiplicative noise of σ/2, so the found σ doubles."""
    x, y = np.ones((4, 1), np.float32), np.zeros(4, dtype=int)
    expected = math.sqrt(2) / norm.ppf(1 - 0.05 / 2)
    for scale in (1.0, 2.0):
        model = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            model.weight.copy_(torch.tensor([[scale], [-scale]]))
        result = xs.tune_noise_level(model, x, y, n_draws=4000, noise_mode="additive", seed=0)
        assert abs(result.std / (scale * expected) - 1) < 0.08


@pytest.mark.parametrize("refine_steps", [0, 1, 2])
def test_noise_level_search_follows_its_algorithm_exactly(refine_steps):
    """Replay bracket doubling, geometric bisection and log-linear interpolation on the
    drops the search itself measured: the returned σ must be exactly that."""
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x, y = np.ones((4, 1), np.float32), np.zeros(4, dtype=int)
    result = xs.tune_noise_level(model, x, y, n_draws=500, refine_steps=refine_steps, seed=1)
    drop = dict(zip(result.sigmas.tolist(), result.drops.tolist()))
    lo, hi = 0.0, 0.01
    while drop[hi] < 0.05:
        lo, hi = hi, hi * 2
    for _ in range(refine_steps):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if drop[mid] >= 0.05 else (mid, hi)
    t = (0.05 - drop[lo]) / (drop[hi] - drop[lo])
    want = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
    assert result.std == pytest.approx(want, rel=1e-12)
    assert lo < result.std < hi  # interpolated, not an end of the bracket
    # and the measured drops follow the closed form AD(σ) = 2Φ(-√2/σ) within sampling error
    for sigma, d in drop.items():
        if sigma > 0:
            closed = 2 * norm.cdf(-math.sqrt(2) / sigma)
            assert abs(d - closed) < 6 * math.sqrt(closed * (1 - closed) / 500) * 2 + 1e-3


# -- presets: one source of truth; one resolver --------------------------------------------


def test_setting_a_preset_parameter_after_construction_takes_effect():
    model, (x, y) = small_cnn(), batch(n=2)
    ng = xs.NoiseGrad(n_models=2, noise_level=0.1)
    ng.noise_level = 0.5
    np.testing.assert_array_equal(ng(model, x, y), xs.NoiseGrad(n_models=2, noise_level=0.5)(model, x, y))
    sg = xs.SmoothGrad(n_samples=2)
    sg.noise_level = 0.4
    np.testing.assert_array_equal(sg(model, x, y), xs.SmoothGrad(n_samples=2, noise_level=0.4)(model, x, y))
    assert "weight_noise" not in xs.NoiseGrad().get_params()
    # scikit-learn's get_params / set_params / clone, nested parameters included.
    ng = xs.NoiseGrad(base=xs.IntegratedGradients(steps=4), n_models=2)
    assert ng.get_params()["base__steps"] == 4 and "base__steps" not in ng.get_params(deep=False)
    assert ng.set_params(noise_level=0.3, base__steps=8) is ng
    assert ng.noise_level == 0.3 and ng.base.steps == 8
    assert ng.clone() == ng and ng.clone() is not ng and ng.clone(n_models=3).n_models == 3
    with pytest.raises(TypeError, match="no parameter"):
        ng.set_params(weight_noise=0.1)
    with pytest.raises(ValueError, match="noise_level"):
        xs.NoiseGrad(noise_level=-1)(model, x, y)
    with pytest.raises(ValueError, match="noise_mode"):
        xs.NoiseGrad(noise_mode="sideways")(model, x, y)


def test_every_resolver_routes_enhancer_parameters_to_the_base():
    via_registry = xs.get_method("NoiseGrad", steps=16, n_models=3)
    via_build = xs.build_method("NoiseGrad", steps=16, n_models=3)
    assert via_registry == via_build and via_registry.base_kwargs == {"steps": 16}
    inner = xs.NoiseGrad(base="IntegratedGradients", base_kwargs={"steps": 4})._base()
    assert inner == xs.IntegratedGradients(steps=4)


# -- bad input fails before any work --------------------------------------------------------


def test_non_positive_batch_size_is_refused():
    model, (x, y) = small_cnn(), batch(n=4)
    with pytest.raises(ValueError, match="batch_size"):
        xs.metrics.MaxSensitivity(nr_samples=2)(model, x, y, explain_func=xs.Saliency(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        xs.evaluate(model, x, y, methods={"S": xs.Saliency()}, metrics={}, batch_size=-1, progress=False)


def test_channels_last_inputs_get_a_clear_error():
    model, (x, y) = small_cnn(), batch(n=2)
    last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="channels-last"):
        xs.Saliency()(model, last, y)
    with pytest.raises(ValueError, match="channels-last"):
        xs.metrics.MaxSensitivity(nr_samples=2)(model, last, y, explain_func=xs.Saliency())
    with pytest.raises(ValueError, match="4-D"):
        xs.Saliency()(model, x[:, 0], y)


def test_accuracy_refuses_labels_outside_the_model():
    model, (x, _) = small_cnn(), batch(n=4)
    with pytest.raises(ValueError, match="class 12"):
        evaluate_accuracy(model, x, np.array([0, 1, 12, 3]))


def test_channels_last_hint_does_not_suggest_a_keyword_that_is_refused():
    model, (x, y) = small_cnn(), batch(n=2)
    last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="channel-first inputs only") as err:
        xs.metrics.RandomLogit()(model, last, y, explain_func=xs.Saliency(), channel_first=False)
    assert "channel_first=False" not in str(err.value)


@pytest.mark.parametrize("labels", [[0, -1], [0, 2.5]])
def test_metrics_refuse_labels_that_are_not_class_indices(labels):
    """A negative label indexed the last class and 2.5 became 2, silently, with a_batch given."""
    model, (x, _) = small_cnn(), batch(n=2)
    a = xs.Saliency()(model, x, np.array([0, 1]))
    s = np.zeros((2, 1, *x.shape[2:]), np.float32)
    s[..., :4, :4] = 1
    for metric in (
        xs.metrics.PointingGame(),
        xs.metrics.RandomLogit(),
        xs.metrics.MaxSensitivity(nr_samples=2),
    ):
        with pytest.raises(ValueError, match="y_batch"):
            metric(model, x, np.array(labels), a_batch=a, s_batch=s, explain_func=xs.Saliency())
    with pytest.raises(ValueError, match="y_batch"):
        xs.evaluate(
            model, x, np.array(labels), methods={"S": xs.Saliency()}, metrics={"P": xs.metrics.PointingGame()}
        )


def test_explain_function_returning_none_is_named():
    model, (x, y) = small_cnn(), batch(n=2)

    def broken(model, inputs, targets, **kwargs):
        return None

    with pytest.raises(TypeError, match="explain_func returned NoneType"):
        xs.metrics.RandomLogit()(model, x, y, explain_func=broken)
    with pytest.raises(TypeError, match="base explain function returned NoneType"):
        xs.SmoothGrad(base=broken, n_samples=2)(model, x, y)


def test_explainers_and_metrics_work_inside_inference_mode():
    """torch.inference_mode() disables autograd; like torch.no_grad() it is left for the call."""
    model, (x, y) = small_cnn(), batch(n=2)
    plain = xs.Saliency()(model, x, y)
    metric_plain = xs.metrics.MaxSensitivity(nr_samples=2)(model, x, y, explain_func=xs.Saliency())
    with torch.inference_mode():
        inside = xs.Saliency()(model, torch.as_tensor(x), torch.as_tensor(y))  # inference tensors
        metric_inside = xs.metrics.MaxSensitivity(nr_samples=2)(model, x, y, explain_func=xs.Saliency())
        mprt = xs.metrics.ModelParameterRandomisation(layers=1)(model, x, y, explain_func=xs.Saliency())
        assert torch.is_inference_mode_enabled()
    np.testing.assert_allclose(inside, plain)
    np.testing.assert_allclose(metric_inside, metric_plain)
    assert len(mprt) == 2 and all(np.isfinite(v).all() for v in mprt.values())  # original + one layer


def test_evaluate_hands_back_the_global_rng_and_checks_a_batches():
    import quantus

    model, (x, y) = small_cnn(), batch(n=2)
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    xs.evaluate(
        model, x, y, methods={"S": xs.Saliency()},
        metrics={"Q": quantus.MaxSensitivity(nr_samples=2, disable_warnings=True)}, progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    with pytest.raises(ValueError, match="a_batches names no method: \\['saliency'\\]"):
        xs.evaluate(model, x, y, methods={"S": xs.Saliency()}, metrics={"Q": xs.metrics.PointingGame()},
                    a_batches={"saliency": np.zeros((2, 1, *x.shape[2:]))})  # fmt: skip
