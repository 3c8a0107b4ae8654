import numpy as np
import pytest
import torch
from helpers import ModelWatch, assert_rng_unchanged, batch, predict, rng_states, small_cnn
from scipy.stats import norm
from torch import nn

import xai_sanity as xs


def two_class_sign_model() -> nn.Linear:
    """Logits ``[w1 x, -w2 x]`` with ``w = (1, 1)``: for x > 0 and label 0, a noisy model
    ``w ⊙ (1 + σ z)`` is right iff ``z1 + z2 > -2/σ``, so ``ACC(σ) = Φ(√2 / σ)`` and
    ``AD(σ) = 2 Φ(-√2 / σ)`` (ACC(0) = 1, chance 1/2)."""
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    return model


def test_heuristic_finds_the_closed_form_noise_level():
    target = 0.05
    expected = np.sqrt(2) / norm.ppf(1 - target / 2)  # 0.7216
    x, y = np.ones((4, 1), np.float32), np.zeros(4, dtype=int)
    result = xs.tune_noise_level(two_class_sign_model(), x, y, target_drop=target, n_draws=6000, seed=0)
    # The sampling error of AD over 6000 draws is ~0.004, i.e. ~1.7% in sigma.
    assert result.reached and abs(result.std / expected - 1) < 0.06
    assert result.accuracy_clean == 1.0 and result.chance == 0.5
    # Each measured point agrees with the closed form within sampling error.
    positive = result.sigmas > 0
    closed = norm.cdf(np.sqrt(2) / result.sigmas[positive])
    se = np.sqrt(closed * (1 - closed) / 6000) + 1e-9
    assert np.all(np.abs(result.accuracies[positive] - closed) < 5 * se + 1e-3)
    np.testing.assert_allclose(result.drops, 1 - (result.accuracies - 0.5) / 0.5)


def test_heuristic_leaves_model_and_rng_untouched_and_is_deterministic():
    model = small_cnn()
    x, _ = batch(n=32)
    y = predict(model, x)  # the model is right on all of them
    model.train()
    watch, before = ModelWatch(model), rng_states()
    a = xs.tune_noise_level(model, x, y, n_draws=3, refine_steps=3)
    watch.assert_unchanged()
    assert_rng_unchanged(before)
    b = xs.tune_noise_level(model, x, y, n_draws=3, refine_steps=3)
    assert a.std == b.std
    np.testing.assert_array_equal(a.accuracies, b.accuracies)
    frame = a.to_frame()
    assert list(frame.columns) == ["sigma", "accuracy", "accuracy_std", "drop"]
    assert frame["sigma"].is_monotonic_increasing and frame["sigma"].iloc[0] == 0.0
    assert a.plot() is not None


def test_heuristic_refuses_a_model_at_chance():
    model = small_cnn()
    x, _ = batch(n=16)
    pred = predict(model, x)
    with pytest.raises(ValueError, match="not above chance"):
        xs.tune_noise_level(model, x, (pred + 1) % 10, n_draws=2)


def test_heuristic_warns_when_target_unreachable():
    x, y = np.ones((4, 1), np.float32), np.zeros(4, dtype=int)
    with pytest.warns(RuntimeWarning, match="sigma_max"):
        result = xs.tune_noise_level(two_class_sign_model(), x, y, target_drop=0.9, sigma_max=0.2, n_draws=50)
    assert not result.reached and result.std == 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target_drop": 0.0}, "target_drop"),
        ({"target_drop": 1.5}, "target_drop"),
        ({"n_draws": 0}, "n_draws"),
        ({"noise_mode": "weird"}, "noise_mode"),
        ({"sigma_start": 5.0, "sigma_max": 1.0}, "sigma_start"),
    ],
)
def test_heuristic_bad_arguments(kwargs, match):
    x, y = np.ones((4, 1), np.float32), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match=match):
        xs.tune_noise_level(two_class_sign_model(), x, y, **kwargs)


def test_heuristic_rejects_labels_out_of_range():
    x = np.ones((4, 1), np.float32)
    with pytest.raises(ValueError, match="y"):
        xs.tune_noise_level(two_class_sign_model(), x, np.array([0, 0, 5, 0]), n_draws=2)
