import pickle

import numpy as np
import pytest
import quantus
import torch
from helpers import (
    ModelWatch,
    Quadratic,
    assert_rng_unchanged,
    batch,
    fails_on_call,
    linear_model,
    rng_states,
    seeded_,
    small_cnn,
)
from torch import nn

import xai_sanity as xs
from xai_sanity.enhancers import RunningStatistic

ENHANCERS = {
    "SmoothGrad": lambda **kw: xs.SmoothGrad(n_samples=6, **kw),
    "SmoothGradSquared": lambda **kw: xs.SmoothGradSquared(n_samples=6, **kw),
    "VarGrad": lambda **kw: xs.VarGrad(n_samples=6, **kw),
    "NoiseGrad": lambda **kw: xs.NoiseGrad(n_models=4, **kw),
    "NoiseGrad++": lambda **kw: xs.NoiseGradPlusPlus(n_models=3, n_samples=3, **kw),
}


# ---------------------------------------------------------------- closed forms -----------
def test_smoothgrad_of_linear_model_equals_its_gradient():
    model = linear_model()
    x, y = batch(n=3, shape=(3, 4, 4), n_classes=5)
    weights = model[1].weight.detach().numpy().reshape(5, 3, 4, 4)
    out = xs.SmoothGrad(n_samples=20, noise_level=0.3)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(out, weights[y], rtol=1e-6, atol=1e-7)


def test_vargrad_of_linear_model_is_zero_and_smoothgrad2_is_squared_weight():
    model = linear_model()
    x, y = batch(n=3, shape=(3, 4, 4), n_classes=5)
    weights = model[1].weight.detach().numpy().reshape(5, 3, 4, 4)
    var = xs.VarGrad(n_samples=20, noise_level=0.5)(model, x, y, reduce_axes=())
    assert np.abs(var).max() < 1e-12
    sq = xs.SmoothGradSquared(n_samples=20)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(sq, weights[y] ** 2, rtol=1e-5, atol=1e-8)


def test_noisegrad_variance_across_draws_matches_sigma_squared_w_squared():
    # d/dx of (W(1+eps))_y x is W_y (1+eps_y): variance sigma^2 W_y^2, mean W_y.
    model = linear_model()
    x, y = batch(n=2, shape=(3, 4, 4), n_classes=5)
    sigma, draws = 0.3, 3000
    weights = model[1].weight.detach().numpy().reshape(5, 3, 4, 4)[y]
    var = xs.NoiseEnsemble(n_models=draws, weight_noise=sigma, statistic="variance")(
        model, x, y, reduce_axes=()
    )
    rel = var / (sigma**2 * weights**2)
    # Sampling error of a variance over n draws: sqrt(2/n) ~ 2.6% per element.
    assert abs(rel.mean() - 1) < 0.02 and np.abs(rel - 1).max() < 0.15
    mean = xs.NoiseGrad(n_models=draws, noise_level=sigma)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(mean, weights, atol=5 * sigma * np.abs(weights).max() / np.sqrt(draws))


@pytest.mark.parametrize("relative", [True, False])
def test_input_noise_statistics_on_quadratic_model(relative):
    # grad = 2 a_y (x + s z): mean 2 a_y x, variance 4 a_y^2 s^2, mean of squares their sum.
    model = Quadratic()
    x, y = batch(n=2, shape=(2, 3, 3), n_classes=3)
    level, n = 0.2, 4000
    s = level * (x.reshape(2, -1).max(1) - x.reshape(2, -1).min(1)) if relative else np.full(2, level)
    s = s[:, None, None, None]
    a = model.a.detach().numpy()[y]
    kw = dict(n_samples=n, noise_level=level, noise_relative=relative, seed=3)
    sg = xs.SmoothGrad(**kw)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(sg, 2 * a * x, atol=6 * np.abs(2 * a * s).max() / np.sqrt(n))
    var = xs.VarGrad(**kw)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(var, 4 * a**2 * s**2, rtol=0.15)
    sq = xs.SmoothGradSquared(**kw)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(sq, 4 * a**2 * (x**2 + s**2), rtol=0.1, atol=1e-3)


def test_vargrad_unbiased_uses_n_minus_one():
    model = Quadratic()
    x, y = batch(n=2, shape=(2, 3, 3), n_classes=3)
    pop = xs.VarGrad(n_samples=5)(model, x, y, reduce_axes=())
    unb = xs.VarGrad(n_samples=5, unbiased=True)(model, x, y, reduce_axes=())
    np.testing.assert_allclose(unb, pop * 5 / 4, rtol=1e-5)


# ---------------------------------------------------------------- running statistic ------
@pytest.mark.parametrize("statistic", ["mean", "mean_square", "variance"])
def test_running_statistic_matches_numpy_over_uneven_chunks(statistic):
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(37, 4, 5)).astype(np.float32)
    stat = RunningStatistic(statistic)
    for lo, hi in [(0, 1), (1, 9), (9, 10), (10, 37)]:
        stat.update(torch.from_numpy(data[lo:hi]))
    ref = {
        "mean": data.astype(np.float64).mean(0),
        "mean_square": (data.astype(np.float64) ** 2).mean(0),
        "variance": data.astype(np.float64).var(0),
    }[statistic]
    np.testing.assert_allclose(stat.result().numpy(), ref, rtol=1e-5)


def test_variance_is_never_negative_where_the_naive_formula_is():
    # Large mean, tiny spread: E[a^2] - E[a]^2 cancels catastrophically in float32.
    rng = np.random.default_rng(1)
    data = (1000.0 + 1e-3 * rng.standard_normal((64, 200))).astype(np.float32)
    naive = (data**2).mean(0) - data.mean(0) ** 2
    assert (naive < 0).any(), "the reference case should break the naive formula"
    stat = RunningStatistic("variance")
    for chunk in np.array_split(data, 7):
        stat.update(torch.from_numpy(chunk))
    ours = stat.result().numpy()
    assert (ours >= 0).all()
    np.testing.assert_allclose(ours, data.astype(np.float64).var(0), rtol=0.05)


def test_vargrad_engine_is_non_negative_with_an_offset_base():
    def offset_gradient(model, inputs, targets, **kwargs):
        return 1000.0 + 1e-3 * xs.Gradient()(model, inputs, targets)

    x, y = batch(n=4)
    out = xs.VarGrad(base=offset_gradient, n_samples=16)(small_cnn(), x, y)
    assert (out >= 0).all()


# ---------------------------------------------------------------- invariants ------------
def test_each_noisegrad_draw_perturbs_the_original_weights():
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 100), nn.ReLU(), nn.Linear(100, 5))
    seeded_(model, 0)
    original = model[1].weight.detach().clone()
    seen = []

    def recording_base(model, inputs, targets, **kwargs):
        seen.append(model[1].weight.detach().clone())
        return xs.Gradient()(model, inputs, targets)

    sigma = 0.2
    xs.NoiseGrad(base=recording_base, n_models=6, noise_level=sigma)(
        model, *batch(n=2, shape=(3, 4, 4), n_classes=5)
    )
    eps = [(w / original - 1).flatten() for w in seen]
    assert len(eps) == 6
    for e in eps:  # each draw is W(1+eps) with std(eps) = sigma, even the last one
        assert abs(float(e.std()) / sigma - 1) < 0.05
    for a, b in zip(eps, eps[1:]):  # compounding would correlate successive draws (~0.7)
        assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.05
    assert torch.equal(model[1].weight, original)


@pytest.mark.parametrize("name", list(ENHANCERS))
def test_model_untouched_and_rng_untouched(name):
    model = small_cnn()
    model.train()
    model[3].weight.requires_grad_(False)
    handle = model[0].register_forward_hook(lambda *a: None)
    watch, before = ModelWatch(model), rng_states()
    ENHANCERS[name]()(model, *batch())
    watch.assert_unchanged()
    assert_rng_unchanged(before)
    assert model.training
    handle.remove()


@pytest.mark.parametrize("name", list(ENHANCERS))
def test_model_restored_when_base_raises_mid_draw(name):
    failing_base = fails_on_call(xs.Gradient(), 2, "boom in the middle")
    model = small_cnn()
    model.train()
    watch, before = ModelWatch(model), rng_states()
    with pytest.raises(RuntimeError, match="boom"):
        ENHANCERS[name](base=failing_base, batch_size=4)(model, *batch())
    watch.assert_unchanged()
    assert_rng_unchanged(before)


@pytest.mark.parametrize("name", list(ENHANCERS))
def test_seeded_determinism(name):
    model, (x, y) = small_cnn(), batch()
    a = ENHANCERS[name](seed=5)(model, x, y)
    b = ENHANCERS[name](seed=5)(model, x, y)
    c = ENHANCERS[name](seed=6)(model, x, y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generator_is_advanced_and_reproducible():
    model, (x, y) = small_cnn(), batch()
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    first = xs.SmoothGrad(n_samples=4, generator=g1)(model, x, y)
    np.testing.assert_array_equal(first, xs.SmoothGrad(n_samples=4, generator=g2)(model, x, y))
    assert not np.array_equal(first, xs.SmoothGrad(n_samples=4, generator=g1)(model, x, y))


def test_results_do_not_depend_on_batch_size_and_chunks_are_bounded():
    model, (x, y) = small_cnn(), batch(n=5)
    sizes = []

    def sized_base(model, inputs, targets, **kwargs):
        sizes.append(len(inputs))
        return xs.Gradient()(model, inputs, targets)

    small = xs.NoiseGradPlusPlus(base=sized_base, n_models=2, n_samples=7, batch_size=3)(model, x, y)
    assert max(sizes) <= 3 and sum(sizes) == 2 * 7 * 5
    large = xs.NoiseGradPlusPlus(base="Gradient", n_models=2, n_samples=7, batch_size=1000)(model, x, y)
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-7)


def test_stochastic_base_is_seeded_through_the_engine():
    model, (x, y) = small_cnn(), batch()
    make = lambda: xs.SmoothGrad(base="GradientSHAP", n_samples=3, seed=1)  # noqa: E731
    np.testing.assert_array_equal(make()(model, x, y), make()(model, x, y))


# ---------------------------------------------------------------- interoperability ------
def test_quantus_explain_as_base_equals_our_saliency_base():
    # No input noise, same weight draws: mean then channel-sum equals channel-sum then mean.
    model, (x, y) = small_cnn(), batch()
    model.train()
    watch = ModelWatch(model)
    theirs = xs.NoiseGrad(base=quantus.explain, base_kwargs={"method": "Saliency"}, n_models=3)(model, x, y)
    ours = xs.NoiseGrad(base="Saliency", n_models=3)(model, x, y)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-7)
    watch.assert_unchanged()  # quantus.explain switches the model to eval(); we restore it


def test_quantus_evaluate_runs_our_enhancers():
    model = small_cnn()
    x, y = batch(n=6)
    results = quantus.evaluate(
        metrics={
            "Sparseness": quantus.Sparseness(disable_warnings=True),
            "Complexity": quantus.Complexity(disable_warnings=True),
        },
        xai_methods={
            "NoiseGrad++": xs.NoiseGradPlusPlus(base="Saliency", n_models=2, n_samples=2),
            "SmoothGrad": xs.SmoothGrad(base="Saliency", n_samples=3),
        },
        model=model,
        x_batch=x,
        y_batch=y,
        explain_func_kwargs={},
    )
    for method in ("NoiseGrad++", "SmoothGrad"):
        for metric in ("Sparseness", "Complexity"):
            scores = np.asarray(results[method][metric])
            assert scores.shape == (6,) and np.isfinite(scores).all()


def test_quantus_metric_calls_enhancer_as_explain_func():
    model, (x, y) = small_cnn(), batch(n=4)
    metric = quantus.MaxSensitivity(nr_samples=2, disable_warnings=True, return_aggregate=False)
    scores = metric(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=None,
        explain_func=xs.NoiseGrad(base="Saliency", n_models=2),
        explain_func_kwargs={},
        device="cpu",
    )
    assert len(scores) == 4 and np.isfinite(scores).all()


@pytest.mark.parametrize("name", list(ENHANCERS))
def test_pickle_round_trip(name):
    enhancer = ENHANCERS[name](base=quantus.explain, base_kwargs={"method": "Saliency"})
    clone = pickle.loads(pickle.dumps(enhancer))
    assert clone == enhancer
    model, (x, y) = small_cnn(), batch()
    np.testing.assert_array_equal(clone(model, x, y), enhancer(model, x, y))


def test_nested_enhancers_compose():
    model, (x, y) = small_cnn(), batch()
    watch = ModelWatch(model)
    out = xs.NoiseGrad(base=xs.SmoothGrad(n_samples=2), n_models=2)(model, x, y)
    assert out.shape == (4, 1, 8, 8) and np.isfinite(out).all()
    watch.assert_unchanged()


# ---------------------------------------------------------------- bad input -------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_models": -1}, ValueError, "n_models"),
        ({"input_noise": -0.1}, ValueError, "input_noise"),
        ({"weight_noise": float("nan")}, ValueError, "weight_noise"),
        ({"statistic": "median"}, ValueError, "statistic"),
        ({"weight_noise_mode": "exotic"}, ValueError, "weight_noise_mode"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"base": 3}, TypeError, "base"),
        ({"base": "NoSuchMethod"}, KeyError, "NoSuchMethod"),
        ({"generator": 5}, TypeError, "generator"),
        ({"statistic": "variance", "unbiased": True}, ValueError, "unbiased"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, error, match):
    model = small_cnn()
    watch = ModelWatch(model)
    with pytest.raises(error, match=match):
        xs.NoiseEnsemble(**kwargs)(model, *batch())
    watch.assert_unchanged()


@pytest.mark.parametrize(
    "x_change, y_change, error, match",
    [
        (lambda x: x[:, :, :, :], lambda y: y[:-1], ValueError, "targets"),
        (lambda x: np.where(x > 0.5, np.nan, x), lambda y: y, ValueError, "inputs.*NaN"),
        (lambda x: x[0, 0, 0], lambda y: y, ValueError, "inputs"),
        (lambda x: x, lambda y: y + 10, ValueError, "targets"),
    ],
)
def test_bad_inputs_raise_clear_errors(x_change, y_change, error, match):
    model, (x, y) = small_cnn(), batch()
    with pytest.raises(error, match=match):
        xs.NoiseGrad(n_models=2)(model, x_change(x), y_change(y))


def test_non_module_model_and_bad_base_output():
    x, y = batch()
    with pytest.raises(TypeError, match="model"):
        xs.SmoothGrad(n_samples=2)(lambda t: t, x, y)

    def short_base(model, inputs, targets, **kwargs):
        return np.zeros((1, 1, 8, 8), np.float32)

    with pytest.raises(ValueError, match="base explain function returned"):
        xs.SmoothGrad(base=short_base, n_samples=2)(small_cnn(), x, y)


def test_method_keyword_from_quantus_evaluate_is_accepted():
    model, (x, y) = small_cnn(), batch()
    sg = xs.SmoothGrad(n_samples=2)
    np.testing.assert_array_equal(sg(model, x, y, method="SG"), sg(model, x, y))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_within_noise_free_enhancers():
    model, (x, y) = small_cnn(), batch()
    cpu = xs.VarGrad(n_samples=4, noise_level=0.0)(model, x, y)
    gpu_model = small_cnn().cuda()
    out = xs.NoiseGradPlusPlus(n_models=2, n_samples=2)(gpu_model, x, y, device="cuda")
    assert out.shape == (4, 1, 8, 8) and np.isfinite(out).all()
    np.testing.assert_allclose(xs.VarGrad(n_samples=4, noise_level=0.0)(gpu_model, x, y), cpu, atol=1e-6)
    assert next(gpu_model.parameters()).is_cuda
