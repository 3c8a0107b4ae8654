"""ROAR / KAR: removal, the signal on real data, caching and resuming, executors, bad input."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import warnings

import numpy as np
import pytest
from helpers import ModelWatch, assert_rng_unchanged, linear_model, rng_states
from scipy.ndimage import gaussian_filter
from torch import nn

from xai_sanity.data import load_default_splits, make_model
from xai_sanity.metrics import KAR, ROAR
from xai_sanity.metrics.roar import control_estimators, plot_roar, removal_mask, remove_features, run_roar

TINY_TRAIN = {"epochs": 2, "batch_size": 16, "lr": 1e-2}


def tiny_model(seed: int = 0) -> nn.Module:
    """A linear two-class model of 3x8x8 images with small weights (train mode)."""
    return linear_model((3, 8, 8), n_classes=2, seed=seed, scale=0.05)


def tiny_data(n_train: int = 48, n_test: int = 24, seed: int = 0):
    """Synthetic 3x8x8 images whose class is a brighter top-left quadrant (a planted signal)."""
    rng = np.random.default_rng(seed)

    def make(n):
        x = rng.random((n, 3, 8, 8), dtype=np.float32)
        y = rng.integers(0, 2, n)
        x[y == 1, :, :4, :4] += 1.0
        return x, y

    x_tr, y_tr = make(n_train)
    x_te, y_te = make(n_test)
    a_tr = np.zeros((n_train, 1, 8, 8), dtype=np.float32)
    a_tr[:, :, :4, :4] = 1.0
    a_tr += rng.random(a_tr.shape, dtype=np.float32) * 0.1
    a_te = np.zeros((n_test, 1, 8, 8), dtype=np.float32)
    a_te[:, :, :4, :4] = 1.0
    return x_tr, y_tr, a_tr, x_te, y_te, a_te


class CountingTrainer:
    """A train_func that counts its calls (a class so the cache key stays the same)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, model, x, y, seed, **kwargs):
        from xai_sanity.training import train

        self.calls += 1
        return train(model, x, y, seed=seed, progress=False, **TINY_TRAIN)


# -- removal --------------------------------------------------------------------------------


@pytest.mark.parametrize("per_pixel", [True, False])
@pytest.mark.parametrize("keep", [False, True])
def test_removal_replaces_exactly_the_requested_fraction(per_pixel, keep):
    rng = np.random.default_rng(0)
    x = rng.random((5, 3, 7, 7), dtype=np.float32) + 2.0  # never equal to the fill
    a = np.round(rng.random((5, 3, 7, 7)), 1)  # many ties
    fill = np.array([0.25, 0.5, 0.75])
    n_features = 49 if per_pixel else 147
    for t in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        out = remove_features(x, a, t, fill, keep=keep, per_pixel=per_pixel, seed=3)
        changed = out != x
        if per_pixel:
            assert np.array_equal(changed.all(axis=1), changed.any(axis=1))  # whole pixels
            counts = changed.any(axis=1).reshape(5, -1).sum(1)
        else:
            counts = changed.reshape(5, -1).sum(1)
        assert (counts == round(t * n_features)).all(), (t, counts)
        for c in range(3):
            assert np.all(out[:, c][changed[:, c]] == np.float32(fill[c]))
    assert np.array_equal(x, x.copy())  # input not modified


def test_removal_follows_the_ranking():
    a = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    roar = removal_mask(a, (1, 3, 4, 4), 0.25)
    kar = removal_mask(a, (1, 3, 4, 4), 0.25, keep=True)
    assert np.flatnonzero(roar).tolist() == [12, 13, 14, 15]  # the highest attributions
    assert np.flatnonzero(kar).tolist() == [0, 1, 2, 3]  # the lowest attributions


def test_ties_are_broken_randomly_with_a_seed():
    a = np.ones((2, 1, 8, 8))
    shape = (2, 3, 8, 8)
    first = removal_mask(a, shape, 0.5, seed=1)
    assert np.array_equal(first, removal_mask(a, shape, 0.5, seed=1))
    assert not np.array_equal(first, removal_mask(a, shape, 0.5, seed=2))
    # Not by index: the removed half of a constant map is not the first half.
    assert not np.array_equal(first[0].ravel(), np.arange(64) < 32)
    assert not np.array_equal(first[0], first[1])  # each image gets its own order
    # Nested: the removal at 0.3 is part of the removal at 0.5.
    assert np.all(removal_mask(a, shape, 0.3, seed=1) <= first)


# -- the signal on real data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    """Two classes of the built-in 16x16 dataset, with ground-truth masks (blurred)."""
    train, test = load_default_splits(5000, 800, image_size=16, seed=0)
    tr = np.flatnonzero(train.y < 2)[:1000]
    te = np.flatnonzero(test.y < 2)[:200]
    # The raw mask, filled with the mean colour, draws the digit's outline into the
    # degraded image, which the retrained model reads (the leakage Rong et al. 2022 point
    # out). A blurred mask removes a blob around the digit instead.
    blur = lambda m: gaussian_filter(m, sigma=(0, 0, 2, 2))  # noqa: E731
    return (train.x[tr], train.y[tr], blur(train.masks[tr]), test.x[te], test.y[te], blur(test.masks[te]))


def test_oracle_beats_random_under_roar_and_kar(digits):
    x_tr, y_tr, m_tr, x_te, y_te, m_te = digits
    model = make_model("lenet", num_classes=2, image_size=16, seed=0)
    estimators = {"oracle": (m_tr, m_te), "Random": control_estimators()["Random"]}
    train_kwargs = {"epochs": 6, "batch_size": 32, "lr": 3e-3}
    roar = run_roar(
        estimators, model, x_tr, y_tr, x_te, y_te, thresholds=(0.5,), n_repeats=2, train_kwargs=train_kwargs
    )
    kar = run_roar(
        estimators,
        model,
        x_tr,
        y_tr,
        x_te,
        y_te,
        method="KAR",
        thresholds=(0.9,),
        n_repeats=2,
        train_kwargs=train_kwargs,
    )
    roar_acc = roar.groupby("estimator")["accuracy"].mean()
    kar_acc = kar.groupby("estimator")["accuracy"].mean()
    assert roar_acc["oracle"] < roar_acc["Random"] - 0.1, roar_acc
    assert kar_acc["oracle"] > kar_acc["Random"] + 0.1, kar_acc


# -- the metric's interface -----------------------------------------------------------------


def test_call_returns_means_and_keeps_tidy_results(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    metric = ROAR(thresholds=(0, 0.5, 0.9), n_repeats=2, train_kwargs=TINY_TRAIN)
    scores = metric(tiny_model(), x_tr, y_tr, a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    assert list(scores) == [0.0, 0.5, 0.9]
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    df = metric.results_
    assert list(df.columns[:5]) == ["estimator", "method", "threshold", "repeat", "accuracy"]
    assert len(df) == 6 and set(df["method"]) == {"ROAR"}
    assert np.allclose(metric.summary_["mean"], list(scores.values()))
    repeats = ROAR(thresholds=(0, 0.5, 0.9), n_repeats=2, train_kwargs=TINY_TRAIN, return_repeats=True)(
        tiny_model(), x_tr, y_tr, a_batch=a_tr, x_test=x_te, y_test=y_te, a_test=a_te
    )
    assert {t: float(np.mean(v)) for t, v in repeats.items()} == scores  # same seeds, same numbers
    fig = plot_roar(df, tmp_path / "roar.png")
    assert (tmp_path / "roar.png").stat().st_size > 0
    fig.clf()


def test_no_retraining_deletion_curve_and_explain_func():
    x_tr, y_tr, _, x_te, y_te, _ = tiny_data()
    model = tiny_model()
    metric = KAR(thresholds=(0, 0.5), n_repeats=3, retrain=False)
    scores = metric(model, x_tr, y_tr, explain_func=control_estimators()["Sobel"], custom_batch=(x_te, y_te))
    assert len(metric.results_) == 2  # one evaluation per threshold without retraining
    assert set(metric.results_["estimator"]) == {"SobelEdges"}
    from xai_sanity.training import evaluate_accuracy

    assert scores[0.0] == evaluate_accuracy(model, x_te, y_te)


# -- caching and resuming -------------------------------------------------------------------


def test_resume_recomputes_only_missing_and_corrupt_cells(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    trainer = CountingTrainer()
    metric = ROAR(thresholds=(0, 0.5, 0.9), n_repeats=2, train_func=trainer, cache_dir=tmp_path)
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    first = metric(tiny_model(), x_tr, y_tr, **call)
    assert trainer.calls == 6
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 6 and not list(tmp_path.glob("*.tmp"))
    for path in files[:2]:
        path.unlink()
    trainer.calls = 0
    assert metric(tiny_model(), x_tr, y_tr, **call) == first
    assert trainer.calls == 2
    assert metric.results_["from_cache"].sum() == 4
    files[3].write_text('{"digest": "trunc')  # a partial write
    payload = json.loads(files[4].read_text())
    payload["accuracy"] = 7.0
    files[4].write_text(json.dumps(payload))
    trainer.calls = 0
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert metric(tiny_model(), x_tr, y_tr, **call) == first
    assert trainer.calls == 2
    trainer.calls = 0
    metric(tiny_model(), x_tr, y_tr, **call)
    assert trainer.calls == 0  # everything cached again
    # A different setting is a different cell.
    ROAR(thresholds=(0,), n_repeats=1, train_func=trainer, cache_dir=tmp_path, per_pixel=False)(
        tiny_model(), x_tr, y_tr, **call
    )
    assert trainer.calls == 1


def test_cells_that_do_not_depend_on_the_estimator_are_trained_once(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    trainer = CountingTrainer()
    metric = ROAR(thresholds=(0, 0.5), n_repeats=2, train_func=trainer, cache_dir=tmp_path)
    metric(tiny_model(), x_tr, y_tr, a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    assert trainer.calls == 4
    trainer.calls = 0
    # Another estimator: removing 0% leaves the same data, so only the 50% cells are new.
    other_train, other_test = -a_tr, -a_te
    metric(tiny_model(), x_tr, y_tr, a_batch=other_train, custom_batch=(x_te, y_te, other_test))
    assert trainer.calls == 2
    assert metric.results_.groupby("threshold")["from_cache"].all().to_dict() == {0.0: True, 0.5: False}
    # The same ranking from a rescaled attribution is the same degraded data: all cached.
    trainer.calls = 0
    metric(tiny_model(), x_tr, y_tr, a_batch=3 * a_tr, custom_batch=(x_te, y_te, 3 * a_te))
    assert trainer.calls == 0


def test_precomputed_maps_hit_the_cells_of_an_explain_func_run(tmp_path):
    from xai_sanity.metrics.roar import explain_in_batches

    x_tr, y_tr, _, x_te, y_te, _ = tiny_data()
    model, sobel = tiny_model(), control_estimators()["Sobel"]
    settings = dict(thresholds=(0, 0.5), n_repeats=1, train_kwargs=TINY_TRAIN, cache_dir=tmp_path)
    first = run_roar({"Sobel": sobel}, model, x_tr, y_tr, x_te, y_te, batch_size=16, **settings)
    maps = tuple(explain_in_batches(sobel, model, x, y, 16) for x, y in ((x_tr, y_tr), (x_te, y_te)))
    again = run_roar({"Sobel": maps}, model, x_tr, y_tr, x_te, y_te, **settings)
    assert again["from_cache"].all()
    assert again["accuracy"].tolist() == first["accuracy"].tolist()


# -- executors ------------------------------------------------------------------------------


def test_process_pool_gives_the_sequential_numbers():
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    kwargs = dict(thresholds=(0, 0.5, 0.9), n_repeats=2, train_kwargs=TINY_TRAIN, return_repeats=True)
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    sequential = ROAR(**kwargs)(tiny_model(), x_tr, y_tr, **call)
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = ROAR(executor=pool, **kwargs)(tiny_model(), x_tr, y_tr, **call)
    assert parallel == sequential


def test_dask_executor_gives_the_sequential_numbers():
    distributed = pytest.importorskip("distributed")
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    kwargs = dict(thresholds=(0, 0.9), n_repeats=2, train_kwargs=TINY_TRAIN, return_repeats=True)
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    sequential = ROAR(**kwargs)(tiny_model(), x_tr, y_tr, **call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            distributed.LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            parallel = ROAR(executor=client.get_executor(), **kwargs)(tiny_model(), x_tr, y_tr, **call)
    assert parallel == sequential


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("thresholds", [(-0.1, 0.5), (0.5, 1.5), (float("nan"),), ()])
def test_thresholds_outside_the_unit_interval_are_rejected(thresholds):
    with pytest.raises(ValueError, match="thresholds"):
        ROAR(thresholds=thresholds)


def test_bad_input_leaves_model_rng_and_cache_alone(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    model = tiny_model().train()
    watch, before_rng = ModelWatch(model), rng_states()
    call = dict(custom_batch=(x_te, y_te, a_te))
    with pytest.raises(ValueError, match="a_batch"):
        ROAR(n_repeats=1)(model, x_tr, y_tr, a_batch=a_tr[:, :, :4], **call)
    with pytest.raises(ValueError, match="test set"):
        ROAR(n_repeats=1)(model, x_tr, y_tr, a_batch=a_tr)
    ROAR(thresholds=(0, 0.5), n_repeats=1, train_kwargs=TINY_TRAIN, cache_dir=tmp_path)(
        model, x_tr, y_tr, a_batch=a_tr, **call
    )
    saved = {p: p.read_bytes() for p in tmp_path.glob("*.json")}
    assert len(saved) == 2
    with pytest.raises(TypeError, match="nn.Module"):
        ROAR(thresholds=(0, 0.5, 0.9), n_repeats=1, train_func=lambda m, x, y, s: None, cache_dir=tmp_path)(
            model, x_tr, y_tr, a_batch=a_tr, **call
        )
    assert {p: p.read_bytes() for p in tmp_path.glob("*.json")} == saved
    watch.assert_unchanged()
    assert model.training
    assert_rng_unchanged(before_rng)


def test_batched_retraining_follows_the_sequential_recipe(tmp_path):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    kwargs = dict(thresholds=(0, 0.5, 0.9), n_repeats=2, train_kwargs=TINY_TRAIN, return_repeats=True)
    call = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    sequential = ROAR(**kwargs)(tiny_model(), x_tr, y_tr, **call)
    batched = ROAR(batched=True, batch_cells=4, cache_dir=tmp_path, **kwargs)(
        tiny_model(), x_tr, y_tr, **call
    )
    assert list(batched) == list(sequential)
    diffs = np.abs(np.array(list(batched.values())) - np.array(list(sequential.values())))
    assert diffs.max() <= 2 / len(y_te)  # same recipe and seeds; float sums may differ
    assert len(list(tmp_path.glob("*.json"))) == 6
    with pytest.raises(ValueError, match="train_func"):
        ROAR(batched=True, train_func=CountingTrainer())
