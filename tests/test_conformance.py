import numpy as np
import pytest
import quantus
import torch
from helpers import batch, small_cnn

import xai_sanity as xs
from xai_sanity.testing import ConformanceError, check_explain_func

# Cheaper settings so the whole registry runs in seconds.
FAST = {
    "SmoothGrad": {"n_samples": 3},
    "SmoothGradSquared": {"n_samples": 3},
    "VarGrad": {"n_samples": 3},
    "NoiseGrad": {"n_models": 3},
    "NoiseGrad++": {"n_models": 2, "n_samples": 2},
    "IntegratedGradients": {"steps": 8},
}


@pytest.mark.parametrize("name", list(xs.METHODS))
def test_every_registered_method_conforms(name):
    func = xs.get_method(name, **FAST.get(name, {}))
    passed = check_explain_func(func, small_cnn(), *batch())
    assert {"model untouched", "global RNG untouched", "deterministic", "shape"} <= set(passed)
    assert "rejects NaN inputs" in passed  # our own methods are checked strictly


def _good(model, inputs, targets, **kwargs):
    return np.zeros((len(inputs), 1, *np.shape(inputs)[2:]), np.float32)


@pytest.mark.parametrize(
    "bad, failure",
    [
        (lambda m, i, t, **k: _good(m, i, t).astype(np.float64), "float32"),
        (lambda m, i, t, **k: _good(m, i, t)[:, :, :4], "shape"),
        (lambda m, i, t, **k: _good(m, i, t) * np.nan, "finite"),
        (lambda m, i, t, **k: (torch.rand(1), _good(m, i, t))[1], "global RNG"),
        (lambda m, i, t, **k: (m.train(False), _good(m, i, t))[1], "model untouched"),
        (lambda m, i, t, **k: _good(m, i, t) + np.random.default_rng().random(), "deterministic"),
        (lambda m, i, t, **k: list(_good(m, i, t)), "numpy array"),
    ],
)
def test_the_check_detects_each_violation(bad, failure):
    model = small_cnn()
    model.train()
    with pytest.raises(ConformanceError, match=failure):
        check_explain_func(bad, model, *batch())


def test_weight_change_detected():
    def writes(model, inputs, targets, **kwargs):
        with torch.no_grad():
            next(model.parameters()).add_(1e-6)
        return _good(model, inputs, targets)

    with pytest.raises(ConformanceError, match="tensor '0.weight' changed"):
        check_explain_func(writes, small_cnn(), *batch())


def test_quantus_explain_is_flagged_for_switching_the_model_to_eval():
    # A documented difference: quantus.explain calls model.eval() and leaves it so.
    model = small_cnn()
    model.train()
    with pytest.raises(ConformanceError, match="training flag"):
        check_explain_func(quantus.explain, model, *batch(), call_kwargs={"method": "Saliency"})
    model.eval()  # in eval mode already, it conforms
    assert "model untouched" in check_explain_func(
        quantus.explain, model, *batch(), call_kwargs={"method": "Saliency"}
    )
