"""Faithfulness metrics: ROAD (ours) against closed forms, a plain loop and Quantus's ROAD;
FaithfulnessCorrelation and PixelFlipping against Quantus and independent loops."""

import warnings

import numpy as np
import pytest
import quantus
import scipy.stats
import torch
from helpers import (
    assert_rng_unchanged,
    conv1d_batch,
    conv1d_model,
    linear_model,
    resnet18_batch,
    resnet18_model,
    rng_states,
    small_cnn,
    tabular_batch,
    tabular_model,
)
from quantus.functions.perturb_func import noisy_linear_imputation
from torch import nn

import xai_sanity as xs
from xai_sanity.metrics import ROAD, FaithfulnessCorrelation, PixelFlipping
from xai_sanity.metrics.faithfulness import auto_features_in_step, road_curves, road_score
from xai_sanity.reproduce.demo import default_metrics


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _two_class_linear(n_in, seed=0):
    """Logit 0 = v . x, logit 1 = 0: the target-0 probability is sigmoid(v . x)."""
    v = np.random.default_rng(seed).normal(size=n_in)
    model = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 2, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.as_tensor(np.stack([v, np.zeros(n_in)]), dtype=torch.float32))
    return model, v


# -- ROAD ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6,), (1, 3, 4)])
def test_road_closed_form_on_a_linear_model(shape):
    # Zero fill: removing features subtracts their contributions v_i x_i from the logit;
    # with a = v * x the MoRF/LeRF sets are the top/bottom contributions.
    n_in = int(np.prod(shape))
    model, v = _two_class_linear(n_in)
    x = np.random.default_rng(1).random((5, *shape)).astype(np.float32)
    contrib = x.reshape(5, -1).astype(np.float64) * v
    a = contrib.reshape(x.shape)
    fractions = (0.25, 0.5, 0.75) if n_in == 12 else (1 / 6, 0.5, 5 / 6)
    y = np.zeros(5, dtype=int)
    metric = ROAD(
        return_area_per_sample=True, fractions=fractions, imputation="mean", fill=0.0, normalise=False
    )
    scores = metric(model, x, y, a_batch=a)
    order = np.argsort(-contrib, axis=1)
    expected_morf, expected_lerf = [], []
    for f in fractions:
        k = int(round(f * n_in))
        top = np.take_along_axis(contrib, order[:, :k], 1).sum(1)
        bottom = np.take_along_axis(contrib, order[:, n_in - k :], 1).sum(1)
        expected_morf.append(_sigmoid(contrib.sum(1) - top))
        expected_lerf.append(_sigmoid(contrib.sum(1) - bottom))
    morf, lerf = np.stack(expected_morf, 1), np.stack(expected_lerf, 1)
    np.testing.assert_allclose(metric.curves["morf"], morf, atol=1e-5)
    np.testing.assert_allclose(metric.curves["lerf"], lerf, atol=1e-5)
    gap = lerf - morf
    expected = [np.trapezoid(g, fractions) / (fractions[-1] - fractions[0]) for g in gap]
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert np.all(np.asarray(scores) > 0)  # the exact contributions are a faithful map


def test_road_matches_a_plain_loop_with_quantus_noisy_linear_imputation():
    # One-channel images, no ties, no noise: each curve point by hand, imputing with
    # Quantus's own noisy_linear_imputation (an independent implementation).
    model = linear_model(in_shape=(1, 6, 6), n_classes=3, seed=2).eval()
    rng = np.random.default_rng(3)
    x = rng.random((3, 1, 6, 6)).astype(np.float32)
    a = rng.random((3, 1, 6, 6))
    y = np.array([0, 1, 2])
    fractions = (0.25, 0.5, 0.75)
    morf, lerf = road_curves(model, x, y, a, fractions, noise=0.0)
    for i in range(3):
        order = np.argsort(-a[i].ravel(), kind="stable")
        for j, f in enumerate(fractions):
            k = int(round(f * 36))
            for curve, idx in ((morf, order[:k]), (lerf, order[36 - k :])):
                xi = noisy_linear_imputation(arr=x[i].astype(np.float64), indices=idx, noise=0.0)
                with torch.no_grad():
                    p = torch.softmax(model(torch.as_tensor(xi[None], dtype=torch.float32)), -1)[0, y[i]]
                assert curve[i, j] == pytest.approx(float(p), abs=1e-5)


def test_road_morf_accuracy_matches_quantus_road_where_quantus_is_right():
    # Quantus's ROAD is right for one-channel images, one batch, maps without ties and no
    # noise: its per-percentage accuracy is the mean of our MoRF accuracy curves.
    model = linear_model(in_shape=(1, 10, 10), n_classes=3, seed=4).eval()
    rng = np.random.default_rng(5)
    x = rng.random((8, 1, 10, 10)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.as_tensor(x)).argmax(-1).numpy()
    a = rng.random((8, 1, 10, 10)).astype(np.float32)
    percentages = [10, 30, 50, 70, 90]
    ours = ROAD(
        return_area_per_sample=True, fractions=[p / 100 for p in percentages], noise=0.0, measure="accuracy"
    )
    ours(model, x, y, a_batch=a)
    as_quantus = ROAD(percentages, 0.0)(model, x, y, a_batch=a)  # Quantus's positional order
    theirs = quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True, normalise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = theirs(model, x, y, a_batch=a, batch_size=64)
    np.testing.assert_allclose(ours.curves["morf"].mean(0), [reference[p] for p in percentages], atol=1e-12)
    assert list(as_quantus) == percentages  # Quantus's output: {percentage: MoRF accuracy}
    np.testing.assert_allclose(
        [as_quantus[p] for p in percentages], [reference[p] for p in percentages], atol=1e-12
    )


def test_quantus_road_is_wrong_where_ours_is_used():
    # The two failures that make ROAD ours: 3-channel images with 1-channel maps, and
    # scoring only the first batch.
    model = small_cnn().eval()
    rng = np.random.default_rng(6)
    x, y = rng.random((4, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2, 3])
    a = rng.random((4, 1, 8, 8)).astype(np.float32)
    with warnings.catch_warnings(), pytest.raises(IndexError):
        warnings.simplefilter("ignore")
        quantus.ROAD(percentages=[50], disable_warnings=True)(model, x, y, a_batch=a)
    scores = ROAD(return_area_per_sample=True, fractions=(0.5,))(model, x, y, a_batch=a, batch_size=1)
    assert np.isfinite(scores).all()
    assert ROAD(return_area_per_sample=True, fractions=(0.5,))(model, x, y, a_batch=a, batch_size=4) == scores


def test_road_is_a_drop_in_for_quantus_road():
    """Quantus's keywords and output: {percentage: MoRF accuracy} over *all* samples (Quantus
    scores only the first batch), pluggable perturb_func called as Quantus calls it."""
    model = small_cnn().eval()
    rng = np.random.default_rng(14)
    x, y = rng.random((4, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2, 3])
    a = rng.random((4, 1, 8, 8)).astype(np.float32)
    default = ROAD()(model, x, y, a_batch=a)
    assert list(default) == list(range(1, 100, 2)) and all(0.0 <= v <= 1.0 for v in default.values())
    one = ROAD(percentages=[20, 60])(model, x, y, a_batch=a, batch_size=1)
    assert one == ROAD(percentages=[20, 60])(model, x, y, a_batch=a, batch_size=4)
    metric = ROAD(percentages=[20, 60], measure="accuracy")
    assert metric(model, x, y, a_batch=a) == one and metric.curves["lerf"] is None
    np.testing.assert_allclose(list(one.values()), metric.curves["morf"].mean(0))
    # perturb_func: Quantus's own noisy linear imputation is the built-in one ...
    explicit = ROAD(
        percentages=[20, 60], perturb_func=noisy_linear_imputation, perturb_func_kwargs={"noise": 0.0}
    )
    assert explicit(model, x, y, a_batch=a) == ROAD(percentages=[20, 60], noise=0.0)(model, x, y, a_batch=a)
    # ... any other is called per imputed input with the sample and the removed pixels' indices.
    calls = []

    def zero_pixels(arr, indices, **kwargs):
        calls.append(kwargs)
        out = arr.reshape(arr.shape[0], -1).copy()
        out[:, indices] = 0.0
        return out.reshape(arr.shape)

    custom = ROAD(percentages=[20, 60], perturb_func=zero_pixels, noise=0.5, return_area_per_sample=True)
    scores = custom(model, x, y, a_batch=a)
    assert len(calls) == 4 * 2 * 2 and all(k == {"noise": 0.5} for k in calls)
    zero_fill = ROAD(fractions=(0.2, 0.6), imputation="mean", fill=0.0, return_area_per_sample=True)
    np.testing.assert_allclose(scores, zero_fill(model, x, y, a_batch=a), atol=1e-6)
    with pytest.raises(ValueError, match="not both"):
        ROAD(percentages=[10], fractions=(0.1,))
    with pytest.raises(ValueError, match="not both"):
        ROAD(perturb_func=zero_pixels, imputation="mean")
    with pytest.raises(ValueError, match="noise"):
        ROAD(noise=0.1, perturb_func_kwargs={"noise": 0.0})
    with pytest.raises(ValueError, match="perturb_func_kwargs"):
        ROAD(perturb_func_kwargs={"fill": 0.0})
    assert (
        ROAD().score_direction.value == "lower"
        and ROAD(return_area_per_sample=True).score_direction.value == "higher"
    )


def test_road_does_not_depend_on_chunking_and_keeps_the_global_rng():
    model = small_cnn().eval()
    rng = np.random.default_rng(7)
    x, y = rng.random((5, 3, 8, 8)).astype(np.float32), rng.integers(0, 10, 5)
    a = np.round(rng.random((5, 1, 8, 8)), 1)  # many ties
    before = rng_states()
    metric = ROAD(return_area_per_sample=True, fractions=(0.2, 0.6))
    whole = metric(model, x, y, a_batch=a)
    assert_rng_unchanged(before)
    pieces = ROAD(return_area_per_sample=True, fractions=(0.2, 0.6), chunk_size=1)(model, x, y, a_batch=a)
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-9)  # float32 batching only
    # A sample's curves depend on its position (which draws its tie order and noise), not
    # on the other samples: the last one alone, at its position, gives the same curves.
    morf, lerf = road_curves(model, x[4:], y[4:], a[4:], (0.2, 0.6), positions=np.array([4]))
    np.testing.assert_allclose(morf[0], metric.curves["morf"][4], rtol=1e-5)
    np.testing.assert_allclose(lerf[0], metric.curves["lerf"][4], rtol=1e-5)
    other_seed = ROAD(return_area_per_sample=True, fractions=(0.2, 0.6), seed=1)(model, x, y, a_batch=a)
    assert not np.allclose(other_seed, whole, rtol=1e-3, atol=0)  # ties and noise come from the seed


def test_road_runs_on_series_tables_and_a_resnet():
    model, (x, y) = conv1d_model(), conv1d_batch()
    assert np.isfinite(
        ROAD(return_area_per_sample=True, fractions=(0.3, 0.6))(model, x, y, explain_func=xs.Saliency())
    ).all()
    model, (x, y) = tabular_model(), tabular_batch()
    with pytest.raises(ValueError, match="imputation='mean'"):
        ROAD(imputation="noisy_linear")(model, x, y, explain_func=xs.Saliency())
    a = xs.Saliency()(model, x, y)
    by_default = ROAD(return_area_per_sample=True, fractions=(0.5,))(
        model, x, y, a_batch=a
    )  # tables: mean fill
    assert np.isfinite(by_default).all()
    assert by_default == ROAD(return_area_per_sample=True, imputation="mean", fractions=(0.5,))(
        model, x, y, a_batch=a
    )
    model, (x, y) = resnet18_model(), resnet18_batch(n=2, side=32)
    a = np.random.default_rng(13).random((2, 1, 32, 32)).astype(np.float32)
    assert np.isfinite(ROAD(return_area_per_sample=True, fractions=(0.5,))(model, x, y, a_batch=a)).all()


def test_road_nan_and_bad_arguments():
    model = small_cnn().eval()
    rng = np.random.default_rng(8)
    x, y = rng.random((3, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2])
    a = rng.random((3, 1, 8, 8))
    a[1, 0, 0, 0] = np.nan  # from a faulty explain function (a given a_batch must be finite)

    def explain(model, inputs, targets, **kwargs):
        return a[: len(inputs)]

    with pytest.warns(RuntimeWarning, match="1 of 3 samples have non-finite"):
        scores = ROAD(return_area_per_sample=True, fractions=(0.5,))(
            model, x, y, explain_func=explain, batch_size=3
        )
    assert np.isnan(scores[1]) and np.isfinite(scores[0]) and np.isfinite(scores[2])
    with pytest.raises(ValueError, match="noisy_linear"):
        ROAD(imputation="zeros")
    with pytest.raises(ValueError, match="measure"):
        ROAD(measure="logit")
    with pytest.raises(ValueError, match="fractions"):
        ROAD(return_area_per_sample=True, fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match="seed"):
        ROAD(seed=-1)
    assert road_score(np.zeros((1, 1)), np.ones((1, 1)), (0.5,)).tolist() == [1.0]


# -- Quantus-based metrics -----------------------------------------------------------------


def test_faithfulness_correlation_is_quantus_seeded_without_global_side_effects():
    model = small_cnn().eval()
    rng = np.random.default_rng(9)
    x, y = rng.random((4, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2, 3])
    a = rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
    before = rng_states()
    ours = FaithfulnessCorrelation(nr_runs=10, subset_size=16, seed=3, return_aggregate=False)(
        model, x, y, a_batch=a
    )
    assert_rng_unchanged(before)
    np.random.seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = quantus.FaithfulnessCorrelation(
            nr_runs=10, subset_size=16, return_aggregate=False, disable_warnings=True
        )(model, x, y, a_batch=a)
        np.random.seed(3)
        theirs_default = quantus.FaithfulnessCorrelation(nr_runs=10, subset_size=16, disable_warnings=True)(
            model, x, y, a_batch=a
        )
    np.random.set_state(before[1])
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    fraction = FaithfulnessCorrelation(nr_runs=10, subset_size=16 / 192, seed=3, return_aggregate=False)(
        model, x, y, a_batch=a
    )
    np.testing.assert_allclose(fraction, ours)
    # Quantus's default (return_aggregate=True): one number, the mean over the samples.
    default = FaithfulnessCorrelation(nr_runs=10, subset_size=16, seed=3)(model, x, y, a_batch=a)
    assert len(default) == 1 and len(theirs_default) == 1
    np.testing.assert_allclose(default, theirs_default, atol=1e-12)
    np.testing.assert_allclose(default, [np.mean(ours)], atol=1e-12)


def test_faithfulness_correlation_on_tables_against_a_plain_loop():
    # Quantus 0.6 refuses every table (its subset-size check uses the axes after the second).
    model, (x, y) = tabular_model(), tabular_batch()
    a = np.random.default_rng(10).normal(size=x.shape).astype(np.float32)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="subset_size"):
        warnings.simplefilter("ignore")
        quantus.FaithfulnessCorrelation(nr_runs=5, subset_size=3, disable_warnings=True)(
            model, x, y, a_batch=a
        )
    drawn = []  # the subsets Quantus draws, recorded by the perturbation function

    def replace_by_minimum(arr, indices, **kwargs):
        drawn.append(indices.copy())
        out = arr.copy()
        np.put_along_axis(out, indices, arr.min(axis=1, keepdims=True), axis=1)
        return out

    metric = FaithfulnessCorrelation(
        nr_runs=6,
        subset_size=3,
        seed=5,
        normalise=False,
        perturb_func=replace_by_minimum,
        return_aggregate=False,
    )
    scores = metric(model, x, y, a_batch=a)
    with torch.no_grad():
        logits = model(torch.as_tensor(x)).numpy().astype(np.float64)
    n = len(x)
    sums, drops = np.zeros((n, 6)), np.zeros((n, 6))
    for run, idx in enumerate(drawn):
        xp = x.copy()
        for i in range(n):
            xp[i, idx[i]] = x[i].min()
        with torch.no_grad():
            out = model(torch.as_tensor(xp)).numpy().astype(np.float64)
        drops[:, run] = logits[np.arange(n), y] - out[np.arange(n), y]
        sums[:, run] = np.take_along_axis(a.astype(np.float64), idx, 1).sum(1)
    expected = [scipy.stats.pearsonr(s, d)[0] for s, d in zip(sums, drops)]
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_pixel_flipping_against_a_plain_deletion_loop():
    model = small_cnn().eval()
    rng = np.random.default_rng(11)
    x, y = rng.random((3, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2])
    a = rng.normal(size=(3, 3, 8, 8)).astype(np.float32)  # one value per input value: no ties
    metric = PixelFlipping(features_in_step=16, normalise=False, return_auc_per_sample=True)
    scores = metric(model, x, y, a_batch=a)
    assert metric.curves.shape == (3, 12)
    for i in range(3):
        order = np.argsort(-a[i].ravel())
        xp, curve = x[i].ravel().copy(), []
        for step in range(12):
            xp[order[16 * step : 16 * (step + 1)]] = x[i].min()
            with torch.no_grad():
                p = torch.softmax(model(torch.as_tensor(xp.reshape(1, 3, 8, 8))), -1)[0, y[i]]
            curve.append(float(p))
        np.testing.assert_allclose(metric.curves[i], curve, atol=1e-6)
        assert scores[i] == pytest.approx(np.trapezoid(curve), abs=1e-5)


def test_pixel_flipping_returns_quantus_curves_by_default():
    """Quantus's PixelFlipping returns one curve per sample unless return_auc_per_sample; a
    Quantus user's code that reads curves keeps working, and positional calls bind as in Quantus."""
    model = small_cnn().eval()
    rng = np.random.default_rng(13)
    x, y = rng.random((3, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2])
    a = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    ours = PixelFlipping(16)(model, x, y, a_batch=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = quantus.PixelFlipping(16, disable_warnings=True)(model, x, y, a_batch=a)
        theirs_mean = quantus.PixelFlipping(16, return_aggregate=True, disable_warnings=True)(
            model, x, y, a_batch=a
        )
    assert isinstance(ours, list) and [len(c) for c in ours] == [len(c) for c in theirs] == [12, 12, 12]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    mean = PixelFlipping(16, return_aggregate=True)(model, x, y, a_batch=a)
    np.testing.assert_allclose(mean, theirs_mean, atol=1e-6)  # the mean of every point, as Quantus
    area = PixelFlipping(16, return_auc_per_sample=True)(model, x, y, a_batch=a)
    np.testing.assert_allclose(area, np.trapezoid(np.asarray(theirs), axis=1), atol=1e-6)
    assert PixelFlipping(16, True).abs is True  # Quantus's second positional parameter is abs
    frame = xs.evaluate(
        model, x, y, methods={"S": xs.Saliency()}, metrics={"PF": PixelFlipping(16)}, progress=False
    )
    assert list(frame["metric"].unique()) == [f"PF[{j}]" for j in range(12)]
    assert len(frame) == 36 and frame["error"].isna().all()


def test_pixel_flipping_step_choice():
    assert auto_features_in_step((1, 3, 32, 32), 32) == 128  # 24 steps
    assert auto_features_in_step((1, 3, 224, 224), 32) == 6272  # 24 steps
    assert auto_features_in_step((1, 8), 4) == 1  # a table: Quantus allows only 1
    rng = np.random.default_rng(12)
    x, a = rng.random((2, 3, 8, 8)).astype(np.float32), rng.random((2, 1, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="features_in_step"):
        PixelFlipping(features_in_step=5)(small_cnn().eval(), x, np.array([0, 1]), a_batch=a)


def test_faithfulness_metrics_are_registered_and_in_the_default_suite():
    for name, alias in (
        ("FaithfulnessCorrelation", "Faithfulness Correlation"),
        ("PixelFlipping", "Pixel-Flipping"),
    ):
        assert xs.METRICS[alias] is xs.METRICS[name]
    suite = default_metrics(quick=True, seed=4)
    assert {"FaithfulnessCorrelation", "PixelFlipping", "ROAD"} <= set(suite)
    assert suite["ROAD"].seed == 4 and suite["FaithfulnessCorrelation"].seed == 4
    # one score per sample in tables, not Quantus's defaults (a batch mean, curves)
    assert suite["FaithfulnessCorrelation"].return_aggregate is False
    assert suite["PixelFlipping"].return_auc_per_sample is True
    assert suite["ROAD"].fractions == (0.1, 0.3, 0.5, 0.7, 0.9)


@pytest.mark.parametrize("cls", [ROAD, FaithfulnessCorrelation, PixelFlipping])
def test_faithfulness_metrics_give_the_device_to_the_explain_function_as_quantus_does(cls):
    """Quantus adds the call's ``device`` to ``explain_func_kwargs`` (unless they name one);
    ours did not, so an explain function that needs to know the device missed it."""
    model, x, y = tabular_model(), *tabular_batch(n=4)
    seen = []

    def explain(model, inputs, targets, **kwargs):
        seen.append(kwargs)
        return xs.Saliency()(model, inputs, targets)

    kw = {ROAD: {"fractions": (0.5,)}, FaithfulnessCorrelation: {"subset_size": 2}}.get(cls, {})
    cls(**kw)(model, x, y, explain_func=explain, device="cpu")
    assert seen and all(k.get("device") == "cpu" for k in seen)
    seen.clear()
    cls(**kw)(model, x, y, explain_func=explain, explain_func_kwargs={"device": "meta-own"}, device="cpu")
    assert seen and all(k.get("device") == "meta-own" for k in seen)  # the caller's own wins
    seen.clear()
    cls(**kw)(model, x, y, explain_func=explain)
    assert seen and all("device" not in k for k in seen)


@pytest.mark.parametrize("cls", [ROAD, FaithfulnessCorrelation, PixelFlipping])
def test_faithfulness_labels_are_checked_even_with_a_batch(cls):
    """A negative label silently indexed the last class, a fractional one was truncated and one
    past the model's classes raised a bare IndexError; 3.0 is a class index."""
    model, (x, y) = tabular_model(), tabular_batch(n=4)
    a = np.random.default_rng(15).normal(size=x.shape).astype(np.float32)
    kw = {
        ROAD: {"fractions": (0.5,), "return_area_per_sample": True},
        FaithfulnessCorrelation: {"subset_size": 2},
    }
    metric = cls(**kw.get(cls, {}))
    for bad, match in (([0, -1, 2, 1], ">= 0"), ([0, 2.7, 2, 1], "integer"), ([0, 99, 2, 1], "99")):
        with pytest.raises(ValueError, match=match):
            metric(model, x, np.array(bad), a_batch=a)
    as_floats = metric(model, x, y.astype(np.float64), a_batch=a)
    np.testing.assert_array_equal(np.asarray(as_floats), np.asarray(metric(model, x, y, a_batch=a)))


@pytest.mark.parametrize("cls", [FaithfulnessCorrelation, PixelFlipping])
def test_quantus_based_metrics_score_constant_maps_nan(cls):
    """All-zero maps (a dead Grad-CAM) made Quantus raise an AssertionError for the whole call."""
    model = small_cnn().eval()
    rng = np.random.default_rng(16)
    x, y = rng.random((3, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2])
    a = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    kw = (
        {"nr_runs": 5, "subset_size": 16, "return_aggregate": False}
        if cls is FaithfulnessCorrelation
        else {"features_in_step": 16, "return_auc_per_sample": True}
    )
    zero = np.zeros_like(a)
    with pytest.warns(RuntimeWarning, match="3 of 3"):
        assert np.isnan(cls(**kw)(model, x, y, a_batch=zero)).all()
    mixed = a.copy()
    mixed[1] = 0.7
    with pytest.warns(RuntimeWarning, match="1 of 3"):
        scores = cls(**kw)(model, x, y, a_batch=mixed)
    scores = np.asarray(scores)
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2]]).all()
    alone = cls(**kw)(model, x[[0, 2]], y[[0, 2]], a_batch=a[[0, 2]])
    if cls is PixelFlipping:  # FaithfulnessCorrelation's subsets depend on the batch's draws
        np.testing.assert_allclose(scores[[0, 2]], alone, atol=1e-6)
