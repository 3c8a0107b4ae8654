"""check_metric: every registered metric passes it, and it catches each kind of violation."""

import numpy as np
import pytest
import quantus
import torch

import xai_sanity as xs
import xai_sanity.metrics  # noqa: F401  (registers the metrics in xs.METRICS)
from xai_sanity.metrics import PointingGame
from xai_sanity.testing import ConformanceError, check_metric

# Cheaper or valid settings for the 3 x 16 x 16 inputs used here.
_TRAIN_RNG = np.random.default_rng(1)
PARAMS = {
    "TopKIntersection": {"k": 20},
    # Few perturbations keep the robustness checks fast.
    "MaxSensitivity": {"nr_samples": 5},
    "AvgSensitivity": {"nr_samples": 5},
    "LocalLipschitzEstimate": {"nr_samples": 5},
    "RelativeInputStability": {"nr_samples": 5},
    "SmoothMPRT": {"nr_samples": 3},
    # Few subsets / steps / fractions keep the faithfulness checks fast.
    "FaithfulnessCorrelation": {"nr_runs": 5, "subset_size": 32},
    "PixelFlipping": {"max_steps": 8},
    "ROAD": {"fractions": (0.2, 0.6)},
    # A tiny random-label training run keeps the data-randomisation check fast.
    "DataRandomisation": {
        "train_data": (_TRAIN_RNG.random((32, 3, 16, 16), dtype=np.float32), _TRAIN_RNG.integers(0, 10, 32)),
        "epochs": 2,
        "min_train_accuracy": 0.0,
    },
    # Remove-and-retrain on a tiny test set: two thresholds, one short retraining each.
    **{
        name: {
            "thresholds": (0.0, 0.5),
            "n_repeats": 1,
            "train_kwargs": {"epochs": 1, "batch_size": 4},
            "test_data": (_TRAIN_RNG.random((8, 3, 16, 16), dtype=np.float32), _TRAIN_RNG.integers(0, 10, 8)),
        }
        for name in ("ROAR", "KAR")
    },
}
LABELS = np.array([1, 4, 7, 9])


def data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, 16, 16), dtype=np.float32)
    s = (rng.random((n, 1, 16, 16)) < 0.3).astype(np.float32)
    s[:, 0, 8, 8] = 1  # at least one pixel per sample
    return x, LABELS[:n], s


CORE = {
    "model untouched",
    "global RNG untouched",
    "returns N scores",
    "scores finite or NaN",
    "deterministic",
    "quantus.evaluate gives the same scores",
    "rejects NaN in x_batch",
    "rejects y_batch of the wrong length",
}
MASKS = {"rejects masks of the wrong shape", "rejects non-binary masks"}


@pytest.mark.parametrize("name", list(xs.METRICS))
def test_every_registered_metric_conforms(name, cnn):
    metric = xs.METRICS[name](**PARAMS.get(name, {}))
    x, y, s = data()
    needs_masks = getattr(metric, "requires_s_batch", False)
    passed = check_metric(metric, cnn, x, y, s if needs_masks else None, explain_func=xs.Saliency())
    if metric.scores_per_sample:
        assert CORE <= set(passed)
    else:  # ROAR/KAR: one test accuracy per threshold
        assert CORE - {"returns N scores"} | {"returns one score per key"} <= set(passed)
    if needs_masks:
        assert MASKS <= set(passed)
    assert not cnn.training  # the model is handed back as it came (eval mode)


def test_precomputed_attributions_and_aggregate(cnn):
    x, y, s = data()
    a = xs.Saliency()(cnn, x, y)
    passed = check_metric(PointingGame(return_aggregate=True), cnn, x, y, s, a_batch=a)
    assert CORE | MASKS <= set(passed)


def test_masks_are_required_when_the_metric_needs_them(cnn):
    x, y, _ = data()
    with pytest.raises(ValueError, match="s_batch"):
        check_metric(PointingGame(), cnn, x, y)


# -- violations ---------------------------------------------------------------------------


class WritesWeights(PointingGame):
    def __call__(self, model, *args, **kwargs):
        with torch.no_grad():
            next(model.parameters()).add_(1e-3)
        return super().__call__(model, *args, **kwargs)


class SwitchesToEval(PointingGame):
    def __call__(self, model, *args, **kwargs):
        model.eval()
        return super().__call__(model, *args, **kwargs)


class UsesNumpyRNG(PointingGame):
    def evaluate_batch(self, **kwargs):
        np.random.random()
        return super().evaluate_batch(**kwargs)


class UsesTorchRNG(PointingGame):
    def evaluate_batch(self, **kwargs):
        torch.rand(1)
        return super().evaluate_batch(**kwargs)


class SkipsChecks(PointingGame):
    """Overrides __call__ to go straight to Quantus, skipping xai_sanity's batch checks."""

    def __call__(self, model, x_batch, y_batch, a_batch=None, s_batch=None, **kwargs):
        call = dict(channel_first=None, model_predict_kwargs=None, softmax=None, device=None)
        call.update(kwargs)
        return quantus.Metric.__call__(self, model, x_batch, y_batch, a_batch, s_batch, **call)


class DropsOne(PointingGame):
    def evaluate_batch(self, **kwargs):
        return super().evaluate_batch(**kwargs)[:-1]


class Infinite(PointingGame):
    def evaluate_batch(self, **kwargs):
        return super().evaluate_batch(**kwargs) + np.inf


class Noisy(PointingGame):
    def evaluate_batch(self, **kwargs):
        scores = super().evaluate_batch(**kwargs)
        return scores + np.random.default_rng().random(len(scores))


class ReturnsText(PointingGame):
    def __call__(self, *args, **kwargs):
        super().__call__(*args, **kwargs)
        return "fine"


@pytest.mark.parametrize(
    "metric, failure",
    [
        (WritesWeights(), "model untouched: tensor 'conv1.weight' changed"),
        (SwitchesToEval(), "model untouched: training flag"),
        (UsesNumpyRNG(), "global RNG untouched"),
        (UsesTorchRNG(), "global RNG untouched"),
        (SkipsChecks(), "rejects non-binary masks: no error raised"),
        (DropsOne(), "returns N scores: got 2, expected 4"),
        (Infinite(), "scores finite or NaN"),
        (Noisy(), "deterministic"),
        (ReturnsText(), "returns a list or array of floats"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_the_check_detects_each_violation(metric, failure, cnn):
    x, y, s = data()
    a = xs.Saliency()(cnn, x, y)  # precomputed, to keep the test fast
    cnn.train()
    with pytest.raises(ConformanceError, match=failure) as info:
        check_metric(metric, cnn, x, y, s, a_batch=a)
    assert any(f.startswith(failure.split(":")[0]) for f in info.value.failures)
    assert cnn.training  # check_metric restores the caller's model state


def test_quantus_own_metric_is_flagged(cnn):
    # Quantus's metric validates masks with assert statements: AssertionError, not ValueError
    # (and nothing at all under ``python -O``).
    x, y, s = data()
    with pytest.raises(ConformanceError) as info:
        check_metric(quantus.PointingGame(disable_warnings=True), cnn, x, y, s, explain_func=xs.Saliency())
    assert sorted(f.split(":")[0] for f in info.value.failures) == sorted(MASKS)
    assert all("raised AssertionError instead of ValueError" in f for f in info.value.failures)
