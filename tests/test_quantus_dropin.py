"""Quantus 0.6's own call patterns against every metric we ship, on every data type Quantus handles.

Each registered metric is called the way Quantus users call Quantus's metrics: float64 inputs
(Quantus's fixtures are float64), ``quantus.explain`` or our explainers as ``explain_func``,
a Quantus model wrapper as ``model``, and on images ``(N, C, H, W)``, time series
``(N, C, T)`` (a Conv1d model) and tables ``(N, F)`` (an MLP), wherever the metric's
``data_applicability`` claims the type. Where a Quantus metric of the same name exists, the
numbers are compared with it (under deterministic perturbations and Quantus's layer seeds),
and every place where they differ on purpose has a test of its own in the last section,
which shows the difference and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import helpers
import numpy as np
import pytest
import quantus
from quantus.functions import similarity_func as qsim
from quantus.functions.normalise_func import normalise_by_average_second_moment_estimate
from quantus.helpers.enums import DataType
from quantus.helpers.model.pytorch_model import PyTorchModel

import xai_sanity as xs
import xai_sanity.metrics  # noqa: F401  (registers the metrics in xs.METRICS)
from xai_sanity.metrics import ModelParameterRandomisation, RandomLogit
from xai_sanity.metrics.randomisation.base import preprocess
from xai_sanity.metrics.roar.removal import remove_features

# Tiny models compute faster on one thread than with thread start-up and spin costs per op.
pytestmark = pytest.mark.usefixtures("one_thread")

KINDS = ("image", "timeseries", "tabular")
DATA_TYPES = {"image": DataType.IMAGE, "timeseries": DataType.TIMESERIES, "tabular": DataType.TABULAR}
SHAPES = {"image": (3, 8, 8), "timeseries": (2, 16), "tabular": (6,)}
ALL_TYPES = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}

LOCALISATION = ["PointingGame", "AttributionLocalisation", "TopKIntersection", "RelevanceRankAccuracy",
                "RelevanceMassAccuracy", "AUC"]  # fmt: skip
ROBUSTNESS = ["MaxSensitivity", "AvgSensitivity", "LocalLipschitzEstimate", "RelativeInputStability"]

#: The data types each of our metrics declares: what the Quantus metric of the same name
#: declares, except ROAR and KAR, whose per_pixel=True default ranks a table's row as one
#: pixel (test_roar_and_kar_do_not_claim_tables).
EXPECTED_DATA_TYPES = {
    **dict.fromkeys(
        [*LOCALISATION, *ROBUSTNESS, "ModelParameterRandomisation", "RandomLogit", "DataRandomisation"],
        ALL_TYPES,
    ),
    "ROAR": {DataType.IMAGE, DataType.TIMESERIES},
    "KAR": {DataType.IMAGE, DataType.TIMESERIES},
}

#: The Quantus 0.6 metric of the same name, where there is one (ROAR, KAR and
#: DataRandomisation have none).
QUANTUS_METRICS: dict[str, type] = {
    "PointingGame": quantus.PointingGame,
    "AttributionLocalisation": quantus.AttributionLocalisation,
    "TopKIntersection": quantus.TopKIntersection,
    "RelevanceRankAccuracy": quantus.RelevanceRankAccuracy,
    "RelevanceMassAccuracy": quantus.RelevanceMassAccuracy,
    "AUC": quantus.AUC,
    "MaxSensitivity": quantus.MaxSensitivity,
    "AvgSensitivity": quantus.AvgSensitivity,
    "LocalLipschitzEstimate": quantus.LocalLipschitzEstimate,
    "RelativeInputStability": quantus.RelativeInputStability,
    "ModelParameterRandomisation": quantus.MPRT,
    "RandomLogit": quantus.RandomLogit,
    "SmoothMPRT": quantus.SmoothMPRT,
    "EfficientMPRT": quantus.EfficientMPRT,
}

#: The two kinds of explain function a Quantus user passes: Quantus's and ours.
EXPLAINERS = {
    "quantus.explain": (quantus.explain, {"method": "Saliency"}),
    "xs.Saliency": (xs.Saliency(), {}),
}


# -- data ----------------------------------------------------------------------------------


def model_for(kind: str, n_classes: int = 3):
    """The tiny model of each data type, in eval mode."""
    if kind == "image":
        return helpers.small_cnn(n_classes=n_classes).eval()
    if kind == "timeseries":
        return helpers.conv1d_model(in_channels=2, n_classes=n_classes)
    return helpers.tabular_model(n_features=6, n_classes=n_classes)


def batch_for(kind: str, n: int = 4, n_classes: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 inputs of the data type and labels below ``n_classes``."""
    return helpers.batch(n, SHAPES[kind], n_classes=n_classes, seed=seed)


def masks_for(kind: str, n: int = 4, seed: int = 3) -> np.ndarray:
    """Binary float64 masks, ``(N, 1, ...)`` for images and series, ``(N, F)`` for tables.

    Each mask has at least one feature inside and one outside.
    """
    shape = (n, *SHAPES[kind]) if kind == "tabular" else (n, 1, *SHAPES[kind][1:])
    s = (np.random.default_rng(seed).random(shape) < 0.4).astype(np.float64)
    s.reshape(n, -1)[:, 0] = 1
    s.reshape(n, -1)[:, -1] = 0
    return s


def scores_of(result: Any) -> np.ndarray:
    """A metric's result as one float64 vector (dict values in key order)."""
    if isinstance(result, dict):
        return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in result.values()])
    return np.ravel(np.asarray(result, dtype=np.float64))


def quantus_call(metric: Any, model: Any, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> Any:
    """Call a Quantus metric as its tests do (``a_batch=None``, ``device="cpu"``), quietly.

    ``explain_func_kwargs`` is handed over as a copy: Quantus adds ``device`` to it in place.
    """
    kwargs = {"a_batch": None, "explain_func": xs.Saliency(), "device": "cpu", **kwargs}
    kwargs["explain_func_kwargs"] = dict(kwargs.get("explain_func_kwargs") or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(model=model, x_batch=x, y_batch=y, **kwargs)


class CountingNoise:
    """A Quantus-style ``perturb_func``, deterministic given how often it has been called.

    Call ``i`` adds uniform noise from ``default_rng(i)``, so two fresh instances given to
    two implementations that call them alike give both the same perturbations.
    """

    def __init__(self, scale: float = 0.1) -> None:
        self.scale = scale
        self.calls = 0

    def __call__(self, arr: np.ndarray, indices: np.ndarray, **kwargs: Any) -> np.ndarray:
        self.calls += 1
        noise = np.random.default_rng(self.calls).uniform(-self.scale, self.scale, size=indices.shape)
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] += noise
        return out


# -- every registered metric, each declared data type --------------------------------------

#: Cheap constructor arguments of our metrics on the tiny data (others use ``quick_params``).
CHEAP = {
    "TopKIntersection": {"k": 4},
    **{name: {"nr_samples": 3} for name in ROBUSTNESS},
    # The default SSIM needs 11 x 11 image maps; it is tested on its own below.
    "RandomLogit": {"similarity_func": "spearman"},
    "DataRandomisation": {"epochs": 1, "min_train_accuracy": 0.0},
    **{
        name: {"thresholds": (0.0, 0.5), "n_repeats": 1, "train_kwargs": {"epochs": 1, "batch_size": 4}}
        for name in ("ROAR", "KAR")
    },
}


def build(name: str, x: np.ndarray, y: np.ndarray) -> Any:
    """Metric ``name`` with the default suite's cheap settings (one score per sample, as in
    tables); data-bound arguments taken from ``(x, y)``."""
    cls = xs.METRICS[name]
    params = {**getattr(cls, "suite_params", {}), **getattr(cls, "quick_params", {}), **CHEAP.get(name, {})}
    if name == "DataRandomisation":
        params["train_data"] = (x, y)
    if name in ("ROAR", "KAR"):
        params["test_data"] = (x, y)
    return cls(**params)


def run(name: str, model: Any, x: np.ndarray, y: np.ndarray, s: np.ndarray, explainer: str) -> Any:
    """Call metric ``name`` (cheap settings) with the explain function named ``explainer``."""
    explain_func, explain_kwargs = EXPLAINERS[explainer]
    metric = build(name, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN-score warnings of tiny random models
        return metric(
            model=model,
            x_batch=x,
            y_batch=y,
            s_batch=s if metric.requires_s_batch else None,
            explain_func=explain_func,
            explain_func_kwargs=dict(explain_kwargs),
        )


@pytest.mark.parametrize("name", sorted(xs.METRICS))
def test_declared_data_types_are_truthful(name):
    declared = set(xs.METRICS[name].data_applicability)
    assert declared and declared <= ALL_TYPES
    if name in EXPECTED_DATA_TYPES:
        assert declared == EXPECTED_DATA_TYPES[name]
    if name in QUANTUS_METRICS:  # never more than Quantus's metric of the same name claims
        assert declared <= set(QUANTUS_METRICS[name].data_applicability)


def test_quantus_explain_and_ours_give_the_same_saliency():
    # So that a metric given either must give the same numbers (checked below).
    for kind in KINDS:
        model, (x, y) = model_for(kind), batch_for(kind)
        np.testing.assert_array_equal(
            quantus.explain(model, x, y, method="Saliency"), xs.Saliency()(model, x, y)
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(xs.METRICS))
def test_runs_on_each_declared_type_with_float64_quantus_explain_and_a_quantus_wrapper(name, kind):
    """float32 inputs with our explainer, float64 inputs with ``quantus.explain``, and
    float64 inputs with a Quantus model wrapper all give the same N scores."""
    if DATA_TYPES[kind] not in xs.METRICS[name].data_applicability:
        pytest.skip(f"{name} does not claim {kind} data")
    model = model_for(kind)
    x, y = batch_for(kind)
    s = masks_for(kind)
    base = run(name, model, x, y, s, "xs.Saliency")
    as_float64 = run(name, model, x.astype(np.float64), y, s, "quantus.explain")
    wrapped = PyTorchModel(model, channel_first=True, softmax=False, device="cpu")
    via_wrapper = run(name, wrapped, x.astype(np.float64), y, s, "xs.Saliency")
    got = scores_of(base)
    if xs.METRICS[name].scores_per_sample:
        per_key = list(base.values()) if isinstance(base, dict) else [base]
        assert all(len(v) == len(x) for v in per_key)
    else:
        assert isinstance(base, dict) and set(base) == {0.0, 0.5}
    assert type(as_float64) is type(base) and type(via_wrapper) is type(base)
    np.testing.assert_allclose(scores_of(as_float64), got, rtol=1e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(scores_of(via_wrapper), got, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_roar_and_kar_do_not_claim_tables():
    # With per_pixel=True (the default) the attributions are summed over axis 1, which for a
    # table (N, F) is every feature: each row loses all of its features or none. Only
    # per_pixel=False ranks the features of a table. (Once removal ranks a table's features
    # under per_pixel=True, ROAR and KAR can claim TABULAR and this test changes.)
    x = np.arange(12, dtype=np.float32).reshape(2, 6) + 1
    a = np.random.default_rng(0).random((2, 6))
    per_pixel = remove_features(x, a, 0.5, np.zeros(6))
    per_feature = remove_features(x, a, 0.5, np.zeros(6), per_pixel=False)
    removed = (per_pixel == 0).sum(axis=1)
    assert set(removed.tolist()) <= {0, 6}
    np.testing.assert_array_equal((per_feature == 0).sum(axis=1), [3, 3])


# -- parity with Quantus: localisation and robustness ----------------------------------------


def _quantus_localisation_on_tables(qmetric: Any, model: Any, x, y, s, explain_func, kwargs) -> np.ndarray:
    """Quantus's scores of (N, F) masks: its own preprocessing and ``evaluate_batch``.

    Quantus 0.6's mask check refuses masks without a channel axis of one, so the whole call
    cannot run on a table (see test_quantus_refuses_table_masks_that_we_score).
    """
    a = np.asarray(explain_func(model=model, inputs=x, targets=y, **kwargs))
    a = qmetric.normalise_func(a) if qmetric.normalise else a
    a = np.abs(a) if qmetric.abs else a
    return np.asarray(qmetric.evaluate_batch(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s), float)


@pytest.mark.parametrize("explainer", list(EXPLAINERS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_equals_quantus_on_float64_inputs(name, kind, explainer):
    model, (x, y), s = model_for(kind), batch_for(kind, n=5), masks_for(kind, n=5)
    x = x.astype(np.float64)
    explain_func, kwargs = EXPLAINERS[explainer]
    params = {"k": 4} if name == "TopKIntersection" else {}
    ours = xs.METRICS[name](**params)(
        model=model, x_batch=x, y_batch=y, s_batch=s, explain_func=explain_func, explain_func_kwargs=kwargs
    )
    qmetric = QUANTUS_METRICS[name](**params, disable_warnings=True)
    if kind == "tabular":
        theirs = _quantus_localisation_on_tables(qmetric, model, x, y, s, explain_func, kwargs)
    else:
        theirs = quantus_call(
            qmetric, model, x, y, s_batch=s, explain_func=explain_func, explain_func_kwargs=kwargs
        )
    np.testing.assert_allclose(scores_of(ours), scores_of(theirs), atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("explainer", list(EXPLAINERS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ROBUSTNESS)
def test_robustness_equals_quantus_under_the_same_perturbations(name, kind, explainer):
    # The tabular and time-series cases include RelativeInputStability on (N, F) and (N, C, T).
    model, (x, _) = model_for(kind), batch_for(kind, n=5)
    x = x.astype(np.float64)
    y = helpers.predict(model, x.astype(np.float32))
    explain_func, kwargs = EXPLAINERS[explainer]
    settings = {"nr_samples": 3, "return_nan_when_prediction_changes": True}
    call = {"explain_func": explain_func, "explain_func_kwargs": kwargs, "batch_size": 3}
    ours = xs.METRICS[name](perturb_func=CountingNoise(), **settings)(
        model=model, x_batch=x, y_batch=y, **call
    )
    qmetric = QUANTUS_METRICS[name](perturb_func=CountingNoise(), disable_warnings=True, **settings)
    theirs = quantus_call(qmetric, model, x, y, **call)
    np.testing.assert_allclose(scores_of(ours), scores_of(theirs), rtol=1e-5, atol=1e-6, equal_nan=True)


# -- parity with Quantus: randomisation ------------------------------------------------------


@pytest.mark.parametrize("explainer", list(EXPLAINERS))
@pytest.mark.parametrize("kind", KINDS)
def test_mprt_equals_quantus_under_its_seed_convention(kind, explainer):
    model, (x, y) = model_for(kind), batch_for(kind, n=5)
    x = x.astype(np.float64)
    explain_func, kwargs = EXPLAINERS[explainer]
    call = {"explain_func": explain_func, "explain_func_kwargs": kwargs}
    ours = ModelParameterRandomisation(seed=7, layer_seeds="shared")(model, x, y, **call)
    theirs = quantus_call(quantus.MPRT(seed=7, disable_warnings=True), model, x, y, **call)
    assert list(ours) == list(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-6, err_msg=key)


@pytest.mark.parametrize("explainer", list(EXPLAINERS))
@pytest.mark.parametrize("kind", KINDS)
def test_random_logit_equals_quantus_when_the_off_class_is_forced(kind, explainer):
    # With two classes the off class is the other one in both implementations.
    model, (x, y) = model_for(kind, n_classes=2), batch_for(kind, n=5, n_classes=2)
    x = x.astype(np.float64)
    explain_func, kwargs = EXPLAINERS[explainer]
    call = {"explain_func": explain_func, "explain_func_kwargs": kwargs}
    metric = RandomLogit(similarity_func="spearman", num_classes=2)
    ours = metric(model, x, y, **call)
    np.testing.assert_array_equal(metric.off_labels_, 1 - y)
    qmetric = quantus.RandomLogit(
        similarity_func=qsim.correlation_spearman, num_classes=2, disable_warnings=True
    )
    theirs = quantus_call(qmetric, model, x, y, **call)
    np.testing.assert_allclose(ours, np.asarray(theirs, float), atol=1e-6)


#: Quantus's similarity functions that give one number per pair of maps. ``difference``
#: is left out: it returns the element-wise difference, a map, not a score
#: (test_difference_is_not_a_similarity).
SIMILARITIES = [
    "correlation_spearman", "correlation_pearson", "correlation_kendall_tau", "distance_euclidean",
    "distance_manhattan", "distance_chebyshev", "cosine", "ssim", "abs_difference", "squared_difference",
]  # fmt: skip
#: Those that compare rows when Quantus 0.6's randomisation metrics call them on ``(N, F)``
#: maps with ``batched=True``; the others compare 1-D maps only (or reduce a whole batch to
#: one number), and Quantus's batched call fails with them.
ROW_WISE = {"correlation_spearman", "correlation_pearson", "correlation_kendall_tau", "distance_euclidean",
            "distance_manhattan", "ssim"}  # fmt: skip


def quantus_similarity(func: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What Quantus computes for each pair of maps: its batched call, or one call per pair."""
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if func.__name__ in ROW_WISE:
        return np.asarray(func(flat_a, flat_b, batched=True), dtype=np.float64)
    return np.array([func(u, v) for u, v in zip(flat_a, flat_b)], dtype=np.float64)


@pytest.mark.parametrize("func_name", SIMILARITIES)
def test_mprt_with_each_quantus_similarity(func_name):
    func = getattr(qsim, func_name)
    model, (x, y) = model_for("image"), batch_for("image", n=5)
    metric = ModelParameterRandomisation(similarity_func=func, seed=7, layer_seeds="shared", normalise=False)
    ours = metric(model, x, y, explain_func=xs.Saliency())
    original = metric.explanations_["original"]
    for key, maps in metric.explanations_.items():
        assert len(ours[key]) == len(x)
        np.testing.assert_allclose(ours[key], quantus_similarity(func, original, maps), rtol=1e-6, atol=1e-6)
    qmetric = quantus.MPRT(similarity_func=func, seed=7, normalise=False, disable_warnings=True)
    if func_name in ROW_WISE - {"ssim"}:
        theirs = quantus_call(qmetric, model, x, y)
        for key in ours:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    else:  # a divergence: Quantus 0.6's MPRT fails with the 1-D functions on (N, F) maps, and
        # with ssim, whose batched call returns a list on which MPRT calls .tolist()
        with pytest.raises((ValueError, TypeError, AttributeError)):
            quantus_call(qmetric, model, x, y)


@pytest.mark.parametrize("func_name", SIMILARITIES)
def test_random_logit_with_each_quantus_similarity(func_name):
    func = getattr(qsim, func_name)
    model, (x, y) = model_for("image", n_classes=2), batch_for("image", n=5, n_classes=2)
    metric = RandomLogit(similarity_func=func, normalise=False)
    ours = metric(model, x, y, explain_func=xs.Saliency())
    assert len(ours) == len(x)
    true = preprocess(xs.Saliency()(model, x, y), normalise=False, absolute=False)
    off = preprocess(xs.Saliency()(model, x, metric.off_labels_), normalise=False, absolute=False)
    np.testing.assert_allclose(ours, quantus_similarity(func, true, off), rtol=1e-6, atol=1e-6)
    qmetric = quantus.RandomLogit(similarity_func=func, num_classes=2, normalise=False, disable_warnings=True)
    if func_name in ROW_WISE:
        theirs = np.asarray(quantus_call(qmetric, model, x, y), dtype=np.float64)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    else:  # a divergence: Quantus 0.6's RandomLogit fails with the 1-D functions on (N, F) maps
        with pytest.raises((ValueError, TypeError)):
            quantus_call(qmetric, model, x, y)


@pytest.mark.parametrize("cls", [ModelParameterRandomisation, RandomLogit])
def test_difference_is_not_a_similarity(cls):
    # quantus.similarity_func.difference returns a - b, one number per feature: Quantus's
    # metrics hand back lists of maps; ours refuse it with a clear error.
    model, (x, y) = model_for("image", n_classes=2), batch_for("image", n_classes=2)
    with pytest.raises(ValueError, match="returned 256 scores for 4 samples"):
        cls(similarity_func=qsim.difference)(model, x, y, explain_func=xs.Saliency())
    theirs = quantus_call(quantus.RandomLogit(similarity_func=qsim.difference, num_classes=2), model, x, y)
    assert np.shape(theirs) == (4, 64)


def test_randomisation_metrics_apply_a_quantus_normalise_func_to_each_map():
    model, (x, y) = model_for("image"), batch_for("image", n=5)
    settings = {
        "similarity_func": qsim.distance_euclidean,
        "normalise_func": normalise_by_average_second_moment_estimate,
        "seed": 7,
    }
    ours = ModelParameterRandomisation(layer_seeds="shared", **settings)(
        model, x, y, explain_func=xs.Saliency()
    )
    # Quantus normalises a batch together; a batch of one is one map.
    theirs = quantus_call(quantus.MPRT(**settings), model, x, y, batch_size=1)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    default = ModelParameterRandomisation(layer_seeds="shared", **{**settings, "normalise_func": None})
    assert not np.allclose(scores_of(default(model, x, y, explain_func=xs.Saliency())), scores_of(ours))


# -- RandomLogit: num_classes and the SSIM default on non-image data --------------------------


def test_random_logit_accepts_and_checks_num_classes():
    model, (x, y) = helpers.small_cnn(n_classes=10).eval(), batch_for("image", n_classes=10)
    scores = RandomLogit(similarity_func="spearman", num_classes=10)(model, x, y, explain_func=xs.Saliency())
    assert len(scores) == 4
    with pytest.raises(ValueError, match=r"num_classes=1000 but the model has 10 outputs"):
        RandomLogit(similarity_func="spearman", num_classes=1000)(model, x, y, explain_func=xs.Saliency())


def test_random_logit_default_ssim_falls_back_to_quantus_ssim_on_series():
    model, (x, y) = model_for("timeseries", n_classes=2), batch_for("timeseries", n=5, n_classes=2)
    with pytest.warns(UserWarning, match="falls back to Quantus's SSIM of the flattened maps"):
        ours = RandomLogit(normalise=False)(model, x, y, explain_func=xs.Saliency())
    # Quantus's default similarity_func is its ssim.
    qmetric = quantus.RandomLogit(num_classes=2, normalise=False, disable_warnings=True)
    np.testing.assert_allclose(ours, np.asarray(quantus_call(qmetric, model, x, y), float), rtol=1e-6)


def test_random_logit_default_ssim_on_a_small_table_raises_clearly():
    # Six features are fewer than the window of 7 of Quantus's SSIM: Quantus fails there too.
    model, (x, y) = model_for("tabular", n_classes=2), batch_for("tabular", n_classes=2)
    with pytest.raises(ValueError, match="at least 7 values per map, got 6"):
        RandomLogit()(model, x, y, explain_func=xs.Saliency())
    with pytest.raises(ValueError, match="win_size"):
        quantus_call(quantus.RandomLogit(num_classes=2, disable_warnings=True), model, x, y)


# -- divergences from Quantus, each shown with its reason -------------------------------------


def test_divergence_mprt_average_excludes_the_original_self_similarity():
    # Quantus's average skips a key "orig" that does not exist, so it averages in the
    # similarity of the original maps with themselves (1 for Spearman).
    model, (x, y) = model_for("image"), batch_for("image", n=5)
    steps = ModelParameterRandomisation(seed=7, layer_seeds="shared")(model, x, y, explain_func=xs.Saliency())
    ours = ModelParameterRandomisation(seed=7, layer_seeds="shared", return_average_correlation=True)(
        model, x, y, explain_func=xs.Saliency()
    )
    theirs = quantus_call(quantus.MPRT(seed=7, return_average_correlation=True), model, x, y)
    layers = np.array([v for k, v in steps.items() if k != "original"])
    np.testing.assert_allclose(ours, layers.mean(0), atol=1e-9)
    np.testing.assert_allclose(theirs, np.vstack([steps["original"], layers]).mean(0), atol=1e-6)


def test_divergence_random_logit_reads_the_class_count_from_the_model():
    # Quantus's num_classes defaults to 1000 and draws off classes up to it.
    model, (x, y) = model_for("image"), batch_for("image")
    assert len(RandomLogit(similarity_func="spearman")(model, x, y, explain_func=xs.Saliency())) == 4
    with pytest.raises(ValueError, match="model has 3 outputs"):
        quantus_call(quantus.RandomLogit(similarity_func=qsim.correlation_spearman), model, x, y)


def test_divergence_random_logit_draws_off_classes_from_a_private_generator():
    # Quantus reseeds the global numpy RNG (np.random.seed) in every batch; ours never
    # touches it, so the off classes differ for more than two classes.
    model, (x, y) = helpers.small_cnn(n_classes=10).eval(), batch_for("image", n=8, n_classes=10)
    before = helpers.rng_states()
    metric = RandomLogit(similarity_func="spearman", seed=42)
    metric(model, x, y, explain_func=xs.Saliency())
    helpers.assert_rng_unchanged(before)
    np.random.seed(0)
    quantus_call(quantus.RandomLogit(similarity_func=qsim.correlation_spearman, num_classes=10), model, x, y)
    after_quantus = np.random.randint(0, 2**31)
    np.random.seed(42)
    picks = np.random.randint(0, 9, len(x))  # the one draw of Quantus's batch: among the others
    assert after_quantus == np.random.randint(0, 2**31)
    quantus_off = np.array([np.delete(np.arange(10), label)[pick] for label, pick in zip(y, picks)])
    assert np.all(metric.off_labels_ != y) and np.all(quantus_off != y)
    assert not np.array_equal(metric.off_labels_, quantus_off)


def test_divergence_robustness_noise_is_private_and_seeded():
    # Quantus's default noise draws from the global numpy RNG: its scores move with it.
    model, (x, _) = model_for("image"), batch_for("image")
    y = helpers.predict(model, x)
    quantus_metric = quantus.MaxSensitivity(nr_samples=3, disable_warnings=True)
    np.random.seed(0)
    first = quantus_call(quantus_metric, model, x, y)
    second = quantus_call(quantus_metric, model, x, y)
    assert not np.allclose(first, second)
    np.random.seed(0)
    np.testing.assert_allclose(quantus_call(quantus_metric, model, x, y), first)
    before = helpers.rng_states()
    ours = [
        xs.metrics.MaxSensitivity(nr_samples=3)(model, x, y, explain_func=xs.Saliency()) for _ in range(2)
    ]
    helpers.assert_rng_unchanged(before)
    np.testing.assert_array_equal(ours[0], ours[1])


def test_divergence_one_nan_map_costs_only_its_own_localisation_score():
    # Quantus's normalise_by_max divides by the maximum of the whole batch, which one NaN map
    # makes NaN for every sample.
    model, (x, y), s = model_for("image"), batch_for("image", n=5), masks_for("image", n=5)

    def nan_first(model, inputs, targets, **kwargs):
        a = xs.Saliency()(model, inputs, targets)
        a[0] = np.nan
        return a

    with pytest.warns(RuntimeWarning, match="1 of 5 samples have non-finite attributions"):
        ours = xs.metrics.RelevanceMassAccuracy()(model, x, y, s_batch=s, explain_func=nan_first)
    theirs = quantus_call(quantus.RelevanceMassAccuracy(), model, x, y, s_batch=s, explain_func=nan_first)
    assert np.isnan(theirs).all()
    assert np.isnan(ours[0])
    rest = quantus_call(quantus.RelevanceMassAccuracy(), model, x[1:], y[1:], s_batch=s[1:])
    np.testing.assert_allclose(ours[1:], rest, atol=1e-6)


def test_divergence_pointing_game_on_an_empty_mask():
    # Quantus writes NaN into a boolean array, which reads back as True: a hit.
    model, (x, y), s = model_for("image"), batch_for("image"), masks_for("image")
    s[0] = 0
    with pytest.warns(RuntimeWarning, match="1 of 4 samples have an empty mask"):
        ours = xs.metrics.PointingGame()(model, x, y, s_batch=s, explain_func=xs.Saliency())
    theirs = quantus_call(quantus.PointingGame(), model, x, y, s_batch=s)
    assert np.isnan(ours[0]) and theirs[0] == 1
    np.testing.assert_array_equal(ours[1:], np.asarray(theirs[1:], float))


def test_quantus_refuses_table_masks_that_we_score():
    # Quantus 0.6 declares TABULAR for its localisation metrics, but its mask check wants
    # masks (N, 1, ...); a table's masks are (N, F). Ours score them as Quantus's maths would
    # (test_localisation_equals_quantus_on_float64_inputs).
    model, (x, y), s = model_for("tabular"), batch_for("tabular"), masks_for("tabular")
    with pytest.raises(AssertionError, match="second dimension of the segmentations"):
        quantus_call(quantus.AUC(), model, x, y, s_batch=s)
    assert len(xs.metrics.AUC()(model, x, y, s_batch=s, explain_func=xs.Saliency())) == 4


def test_divergence_randomisation_normalises_each_map_on_its_own():
    # Quantus normalises the maps of a batch by the batch's maximum, so a scale-sensitive
    # similarity (a distance, SSIM) depends on batch_size and on the other samples; ours
    # equals Quantus with batches of one map, whatever batch_size.
    model, (x, y) = model_for("image"), batch_for("image", n=5)
    settings = {"similarity_func": qsim.distance_euclidean, "seed": 7}
    ours = [
        ModelParameterRandomisation(layer_seeds="shared", **settings)(
            model, x, y, explain_func=xs.Saliency(), batch_size=size
        )
        for size in (2, 64)
    ]
    np.testing.assert_allclose(scores_of(ours[0]), scores_of(ours[1]), rtol=1e-6)
    per_map = quantus_call(quantus.MPRT(**settings), model, x, y, batch_size=1)
    per_batch = quantus_call(quantus.MPRT(**settings), model, x, y, batch_size=64)
    np.testing.assert_allclose(scores_of(ours[1]), scores_of(per_map), rtol=1e-5, atol=1e-6)
    assert not np.allclose(scores_of(ours[1]), scores_of(per_batch))


def test_divergence_random_logit_default_ssim_is_an_image_ssim():
    # Ours compares image maps with a 2-D SSIM (11 x 11 Gaussian window); Quantus's default
    # is scikit-image's SSIM of the flattened maps (a 1-D window along the rows).
    model = helpers.linear_model(in_shape=(1, 12, 12), n_classes=2).eval()
    x, y = helpers.batch(5, (1, 12, 12), n_classes=2)
    ours = RandomLogit(normalise=False)(model, x, y, explain_func=xs.Saliency())
    flattened = RandomLogit(similarity_func=qsim.ssim, normalise=False)(
        model, x, y, explain_func=xs.Saliency()
    )
    theirs = quantus_call(quantus.RandomLogit(num_classes=2, normalise=False), model, x, y)
    np.testing.assert_allclose(flattened, np.asarray(theirs, float), rtol=1e-6)
    assert not np.allclose(ours, flattened)


def test_divergence_relative_input_stability_aggregates_over_all_samples():
    # Quantus's RelativeInputStability aggregates each batch, then the batches' aggregates.
    model, (x, _) = model_for("image"), batch_for("image", n=3)
    y = helpers.predict(model, x)
    settings = {"nr_samples": 2, "return_nan_when_prediction_changes": False}
    call = {"explain_func": xs.Saliency(), "batch_size": 2}
    per_sample = xs.metrics.RelativeInputStability(perturb_func=CountingNoise(), **settings)(
        model, x, y, **call
    )
    ours = xs.metrics.RelativeInputStability(perturb_func=CountingNoise(), return_aggregate=True, **settings)(
        model, x, y, **call
    )
    qmetric = quantus.RelativeInputStability(perturb_func=CountingNoise(), return_aggregate=True, **settings)
    theirs = quantus_call(qmetric, model, x, y, batch_size=2)
    np.testing.assert_allclose(ours, [np.mean(per_sample)], rtol=1e-6)
    np.testing.assert_allclose(theirs, [np.mean([np.mean(per_sample[:2]), per_sample[2]])], rtol=1e-5)


@pytest.mark.parametrize("name", ["RelevanceMassAccuracy", "MaxSensitivity"])
def test_divergence_constant_maps_are_scored_not_asserted(name):
    # Quantus asserts that a batch of maps is not all zero / all one / constant (a bare
    # AssertionError); ours score each sample (NaN with a warning where undefined).
    model, (x, _), s = model_for("image"), batch_for("image"), masks_for("image")
    y = helpers.predict(model, x)

    def constant(model, inputs, targets, **kwargs):
        return np.ones((len(inputs), 1, 8, 8), dtype=np.float32)

    extra = {"s_batch": s} if name in LOCALISATION else {}
    params = {"nr_samples": 2} if name in ROBUSTNESS else {}
    with pytest.raises(AssertionError, match="all equal to one"):
        quantus_call(QUANTUS_METRICS[name](**params), model, x, y, explain_func=constant, **extra)
    ours = xs.METRICS[name](**params)(model, x, y, explain_func=constant, **extra)
    expected = s.reshape(4, -1).mean(axis=1) if name in LOCALISATION else np.zeros(4)
    np.testing.assert_allclose(ours, expected)


def test_divergences_of_the_localisation_options():
    x, y, s = np.zeros((4, 3, 8, 8)), np.zeros(4, dtype=int), masks_for("image")
    a = np.random.default_rng(0).random((4, 1, 8, 8))
    call = {"model": None, "x_batch": x, "y_batch": y, "a_batch": a, "s_batch": s}
    # AttributionLocalisation(weighted=True): Quantus takes the image size from x_batch[2:],
    # a slice of the batch axis; ours weights by the mask's share of one map.
    plain = xs.metrics.AttributionLocalisation()(**call)
    weighted = xs.metrics.AttributionLocalisation(weighted=True)(**call)
    np.testing.assert_allclose(weighted, np.asarray(plain) * s.reshape(4, -1).mean(axis=1))
    theirs = quantus.AttributionLocalisation(weighted=True, disable_warnings=True)(**call)
    assert not np.allclose(weighted, np.asarray(theirs, float), equal_nan=True)
    # TopKIntersection: k equal to the number of features is accepted (Quantus wants k < it).
    np.testing.assert_allclose(xs.metrics.TopKIntersection(k=64)(**call), s.reshape(4, -1).mean(axis=1))
    with pytest.raises(ValueError, match="'k' must be smaller than input size"):
        quantus.TopKIntersection(k=64, disable_warnings=True)(**call)
    # PointingGame(weighted=True) works (Quantus 0.6 raises a TypeError).
    assert len(xs.metrics.PointingGame(weighted=True)(**call)) == 4
    with pytest.raises(TypeError):
        quantus.PointingGame(weighted=True, disable_warnings=True)(**call)
    # RelevanceMassAccuracy of a map summing to 0 is NaN (Quantus: a division by zero).
    zero_sum = np.where(np.arange(64).reshape(1, 1, 8, 8) % 2 == 0, 1.0, -1.0).repeat(4, axis=0)
    zero_call = {**call, "a_batch": zero_sum}
    with pytest.warns(RuntimeWarning, match="sum to 0"):
        ours = xs.metrics.RelevanceMassAccuracy(normalise=False)(**zero_call)
    assert np.isnan(ours).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = quantus.RelevanceMassAccuracy(normalise=False, disable_warnings=True)(**zero_call)
    assert not np.isfinite(np.asarray(theirs, float)).any()
