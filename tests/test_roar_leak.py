"""ROAR/KAR with imputation= and the removal-pattern leak diagnostic (Rong et al., ICML 2022)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import build_cnn, conv1d_batch, conv1d_model, linear_model, tabular_batch, tabular_model
from scipy.ndimage import gaussian_filter
from torch import nn

from xai_sanity.data import load_default_splits, make_model
from xai_sanity.metrics.imputation import channel_stat, impute
from xai_sanity.metrics.roar import (
    KAR,
    ROAR,
    KARLeak,
    ROARLeak,
    control_estimators,
    leak_diagnostic,
    removal_mask,
    remove_features,
    run_roar,
)
from xai_sanity.metrics.roar.cells import cell_seed
from xai_sanity.metrics.roar.removal import channel_means, noise_generator
from xai_sanity.training import evaluate_accuracy


class RecordingTrainer:
    """A train_func that records the inputs it is given and returns the model untrained."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def __call__(self, model, x, y, seed, **kwargs):
        self.inputs.append(np.array(x, copy=True))
        return model


def small_data(n_train=24, n_test=12, seed=0):
    rng = np.random.default_rng(seed)
    x_tr, x_te = (
        rng.random((n_train, 3, 8, 8), dtype=np.float32),
        rng.random((n_test, 3, 8, 8), dtype=np.float32),
    )
    a_tr, a_te = rng.random((n_train, 1, 8, 8)), rng.random((n_test, 1, 8, 8))
    return x_tr, rng.integers(0, 2, n_train), a_tr, x_te, rng.integers(0, 2, n_test), a_te


def tiny_model():
    return linear_model((3, 8, 8), n_classes=2, seed=0, scale=0.05)


# -- the synthetic leak -----------------------------------------------------------------------


def bars(n, seed, side=16, length=6, width=2):
    """Two classes: a horizontal (0) or vertical (1) bright 2x6 bar at a random position, on a
    smooth random texture with a little pixel noise. The bar's pixels are the only evidence;
    they are bright enough to lift the channel means above the texture, so a mean fill paints
    a faint bar where the bar was."""
    rng = np.random.default_rng(seed)
    texture = gaussian_filter(rng.normal(size=(n, 3, side, side)), sigma=(0, 0, 2, 2), mode="wrap")
    texture *= 0.05 / texture.std(axis=(2, 3), keepdims=True)
    x = texture + 0.005 * rng.normal(size=(n, 3, side, side))
    y = rng.integers(0, 2, n)
    region = np.zeros((n, 1, side, side), dtype=np.float32)
    for i in range(n):
        h, w = (width, length) if y[i] == 0 else (length, width)
        top, left = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
        region[i, 0, top : top + h, left : left + w] = 1.0
    return (x + 4.0 * region).astype(np.float32), y, region


def test_removing_a_shape_leaks_it_under_mean_fill_not_under_noisy_linear():
    x_tr, y_tr, r_tr = bars(600, 0)
    x_te, y_te, r_te = bars(200, 10)
    oracle = {"oracle": (r_tr, r_te)}  # ranks the bar's 12 pixels first
    settings = dict(
        thresholds=(12 / 256,), n_repeats=1, train_kwargs={"epochs": 12, "batch_size": 32, "lr": 1e-2}
    )
    mean = run_roar(oracle, build_cnn(), x_tr, y_tr, x_te, y_te, **settings)
    noisy = run_roar(oracle, build_cnn(), x_tr, y_tr, x_te, y_te, imputation="noisy_linear", **settings)
    # Every pixel of the bar is gone, yet the mean-filled outline still tells the class ...
    assert mean["accuracy"].iloc[0] > 0.85, mean
    # ... while the noisy linear fill continues the texture and leaves nothing to read.
    assert abs(noisy["accuracy"].iloc[0] - 0.5) < 0.12, noisy
    # The diagnostic sees it: the oracle's removal masks alone give the class, random ones do not.
    estimators = {**oracle, "Random": control_estimators()["Random"]}
    leak = leak_diagnostic(estimators, build_cnn(), x_tr, y_tr, x_te, y_te, **settings)
    accuracy = leak.set_index("estimator")["accuracy"]
    assert accuracy["oracle"] > 0.9 and abs(accuracy["Random"] - 0.5) < 0.12, accuracy
    assert set(leak["method"]) == {"ROAR-leak"}


@pytest.fixture(scope="module")
def digits():
    """Two classes of the built-in 16x16 dataset with their raw (unblurred) ground-truth masks."""
    train, test = load_default_splits(5000, 800, image_size=16, seed=0)
    tr = np.flatnonzero(train.y < 2)[:1000]
    te = np.flatnonzero(test.y < 2)[:200]
    return train.x[tr], train.y[tr], train.masks[tr], test.x[te], test.y[te], test.masks[te]


def test_oracle_beats_random_under_noisy_linear_with_raw_masks(digits):
    # With the mean fill the raw masks need a blur (tests/test_roar.py): the filled outline
    # of the digit tells the class. Noisy linear imputation leaves no outline.
    x_tr, y_tr, m_tr, x_te, y_te, m_te = digits
    model = make_model("lenet", num_classes=2, image_size=16, seed=0)
    estimators = {"oracle": (m_tr, m_te), "Random": control_estimators()["Random"]}
    roar = run_roar(
        estimators, model, x_tr, y_tr, x_te, y_te, thresholds=(0.5,), n_repeats=2,
        train_kwargs={"epochs": 6, "batch_size": 32, "lr": 3e-3}, imputation="noisy_linear",
    )  # fmt: skip
    accuracy = roar.groupby("estimator")["accuracy"].mean()
    assert accuracy["oracle"] < accuracy["Random"] - 0.3, accuracy


# -- what the cells train on ------------------------------------------------------------------


def test_cells_train_on_the_imputed_data_with_noise_from_the_cell_seed():
    x_tr, y_tr, a_tr, x_te, y_te, a_te = small_data()
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    t, seed = 0.5, 3
    mean_trainer, noisy_trainer = RecordingTrainer(), RecordingTrainer()
    ROAR(thresholds=(t,), n_repeats=2, train_func=mean_trainer, seed=seed)(tiny_model(), x_tr, y_tr, **call)
    ROAR(thresholds=(t,), n_repeats=2, train_func=noisy_trainer, seed=seed, imputation="noisy_linear")(
        tiny_model(), x_tr, y_tr, **call
    )
    fill = channel_means(x_tr)
    # The mean fill is Hooker et al.'s, as before imputation= existed.
    assert all(
        np.array_equal(x, remove_features(x_tr, a_tr, t, fill, seed=seed)) for x in mean_trainer.inputs
    )
    mask = removal_mask(a_tr, x_tr.shape, t, seed=seed, stream=0)
    noise = 0.01 * channel_stat(x_tr, "std")
    for r, x in enumerate(noisy_trainer.inputs):
        expected = impute(
            x_tr, mask, "noisy_linear", fill=fill, noise=noise, seed=noise_generator(cell_seed(seed, t, r), 0)
        )
        assert np.array_equal(x, expected)
    first, second = noisy_trainer.inputs
    assert not np.array_equal(first, second)  # each repeat draws its own noise ...
    full = np.broadcast_to(mask, x_tr.shape)
    assert np.array_equal(first[~full], second[~full])  # ... on the removed pixels only


def test_no_retraining_uses_the_imputation_too():
    x_tr, y_tr, a_tr, x_te, y_te, a_te = small_data(n_test=40)
    model = tiny_model()
    t, seed = 0.7, 1
    scores = KAR(thresholds=(t,), retrain=False, imputation="noisy_linear", seed=seed)(
        model, x_tr, y_tr, a_batch=a_tr, custom_batch=(x_te, y_te, a_te)
    )
    mask = removal_mask(a_te, x_te.shape, t, keep=True, seed=seed, stream=1)
    degraded = impute(
        x_te, mask, "noisy_linear", fill=channel_means(x_tr), noise=0.01 * channel_stat(x_tr, "std"),
        seed=noise_generator(cell_seed(seed, t, 0), 1),
    )  # fmt: skip
    assert scores[t] == evaluate_accuracy(model, degraded, y_te)


def test_imputation_is_part_of_the_cache_key(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = small_data()
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    trainer = RecordingTrainer()
    # cache_key: the recording trainer changes its state, which the automatic key would see.
    settings = dict(
        thresholds=(0.0, 0.5), n_repeats=1, train_func=trainer, cache_dir=tmp_path, cache_key="rec"
    )
    ROAR(**settings)(tiny_model(), x_tr, y_tr, **call)
    assert len(trainer.inputs) == 2
    noisy = ROAR(imputation="noisy_linear", **settings)
    noisy(tiny_model(), x_tr, y_tr, **call)
    assert len(trainer.inputs) == 4 and not noisy.results_["from_cache"].any()
    configs = [json.loads(p.read_text())["config"] for p in tmp_path.glob("roar_*.json")]
    assert len(configs) == 4
    # The mean cells keep the key they had before imputation= existed (no extra entry).
    assert sorted(c.get("imputation", "mean") for c in configs) == [
        "mean",
        "mean",
        "noisy_linear",
        "noisy_linear",
    ]
    assert sum("imputation" in c for c in configs) == 2
    noisy(tiny_model(), x_tr, y_tr, **call)
    assert len(trainer.inputs) == 4 and noisy.results_["from_cache"].all()


def test_sequences_work_and_tables_are_refused_before_any_work():
    x, y = conv1d_batch(n=16, channels=3, length=24)
    a = np.abs(x).sum(axis=1, keepdims=True)
    scores = ROAR(thresholds=(0.0, 0.5), n_repeats=1, imputation="noisy_linear", train_kwargs={"epochs": 1})(
        conv1d_model(n_classes=5), x, y % 5, a_batch=a, custom_batch=(x, y % 5, a)
    )
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    xt, yt = tabular_batch(n=8, n_features=8)
    trainer = RecordingTrainer()
    with pytest.raises(ValueError, match=r"imputation='noisy_linear'.*table \(N, F\)"):
        ROAR(n_repeats=1, train_func=trainer, imputation="noisy_linear", per_pixel=False)(
            tabular_model(), xt, yt, a_batch=xt, custom_batch=(xt, yt, xt)
        )
    assert trainer.inputs == []
    with pytest.raises(ValueError, match=r"\('mean', 'noisy_linear'\)"):
        ROAR(imputation="linear")


# -- the leak diagnostic's cells ----------------------------------------------------------------


def test_leak_cells_train_on_the_masks_and_are_cached_apart(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = small_data()
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    t, seed = 0.3, 2
    roar_trainer, leak_trainer = RecordingTrainer(), RecordingTrainer()
    settings = dict(thresholds=(t,), n_repeats=1, seed=seed, cache_dir=tmp_path)
    ROAR(train_func=roar_trainer, **settings)(tiny_model(), x_tr, y_tr, **call)
    leak = ROARLeak(train_func=leak_trainer, **settings)
    scores = leak(tiny_model(), x_tr, y_tr, **call)
    assert len(leak_trainer.inputs) == 1  # not served from the ROAR cell
    mask = removal_mask(a_tr, x_tr.shape, t, seed=seed, stream=0)
    assert np.array_equal(leak_trainer.inputs[0], np.broadcast_to(mask, x_tr.shape).astype(np.float32))
    assert list(scores) == [t] and set(leak.results_["method"]) == {"ROAR-leak"}
    assert len(list(tmp_path.glob("roar-leak_*.json"))) == 1
    kar = KARLeak(train_func=leak_trainer, **settings)
    kar(tiny_model(), x_tr, y_tr, **call)
    kar_mask = removal_mask(a_tr, x_tr.shape, t, keep=True, seed=seed, stream=0)
    assert np.array_equal(leak_trainer.inputs[1], np.broadcast_to(kar_mask, x_tr.shape).astype(np.float32))
    assert set(kar.results_["method"]) == {"KAR-leak"}
    with pytest.raises(ValueError, match="retrain"):
        ROARLeak(retrain=False)
    with pytest.raises(ValueError, match="method"):
        leak_diagnostic({"a": (a_tr, a_te)}, tiny_model(), x_tr, y_tr, x_te, y_te, method="deletion")


def test_leak_diagnostic_leaves_the_model_alone():
    from helpers import ModelWatch

    x_tr, y_tr, a_tr, x_te, y_te, a_te = small_data()
    model: nn.Module = tiny_model()
    watch = ModelWatch(model)
    df = leak_diagnostic(
        {"maps": (a_tr, a_te)}, model, x_tr, y_tr, x_te, y_te, thresholds=(0.5,), n_repeats=1,
        train_kwargs={"epochs": 1, "batch_size": 8},
    )  # fmt: skip
    watch.assert_unchanged()
    assert list(df.columns[:5]) == ["estimator", "method", "threshold", "repeat", "accuracy"]
