"""Quantus's and captum's keyword names, the quantus.evaluate one-liner, MPRT's layer selection."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from helpers import build_cnn, images, labels

import xai_sanity as xs
from xai_sanity.metrics import ModelParameterRandomisation


@pytest.fixture
def data():
    """The named-layer CNN (conv1-relu1-pool-conv2-relu2-flatten-fc1-relu3-fc2) and its batch."""
    return build_cnn(), images().numpy(), labels().numpy()


def test_captum_and_quantus_names_map_onto_our_parameters(data):
    model, x, y = data
    np.testing.assert_array_equal(
        xs.IntegratedGradients()(model, x, y, n_steps=6), xs.IntegratedGradients(steps=6)(model, x, y)
    )
    baseline = np.full_like(x, 0.5)
    np.testing.assert_array_equal(
        xs.IntegratedGradients()(model, x, y, baselines=baseline, n_steps=4),
        xs.IntegratedGradients(baseline=baseline, steps=4)(model, x, y),
    )
    # Quantus's gc_layer strings name the module as an attribute path of `model`.
    np.testing.assert_array_equal(
        xs.GradCAM()(model, x, y, gc_layer="model.relu2"), xs.GradCAM(layer="relu2")(model, x, y)
    )
    np.testing.assert_array_equal(
        xs.GradCAM()(model, x, y, gc_layer="model.conv2"), xs.GradCAM(layer="conv2")(model, x, y)
    )
    # The routes through explain()/build_method() understand them too.
    np.testing.assert_array_equal(
        xs.explain(model, x, y, method="NoiseGrad", base="IntegratedGradients", n_models=2, n_steps=4),
        xs.NoiseGrad(base=xs.IntegratedGradients(steps=4), n_models=2)(model, x, y),
    )


@pytest.mark.parametrize(
    "nt_type, enhancer",
    [("smoothgrad", xs.SmoothGrad), ("smoothgrad_sq", xs.SmoothGradSquared), ("vargrad", xs.VarGrad)],
)
def test_captum_noise_tunnel_keywords_wrap_the_method(data, nt_type, enhancer):
    model, x, y = data
    got = xs.Saliency()(model, x, y, nt_type=nt_type, nt_samples=4, stdevs=0.2)
    want = enhancer(base=xs.Saliency(), n_samples=4, noise_level=0.2, noise_relative=False)(model, x, y)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"xai_lib": "zennit"}, ValueError, "xai_lib"),
        ({"softmax": True}, ValueError, "softmax"),
        ({"channel_first": False}, ValueError, "channel_first"),
        ({"xai_lib_kwargs": {"multiply_by_inputs": False}}, ValueError, "xai_lib_kwargs"),
        ({"method": "GradCAM"}, ValueError, "build_method"),
        ({"nt_type": "laplace"}, ValueError, "nt_type"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
)
def test_keywords_we_cannot_honour_are_errors_not_dropped(data, kwargs, error, match):
    model, x, y = data
    with pytest.raises(error, match=match):
        xs.Saliency()(model, x, y, **kwargs)


def test_keywords_that_mean_the_same_are_accepted(data):
    model, x, y = data
    plain = xs.Saliency()(model, x, y)
    for kwargs in (
        {"xai_lib": "captum"},
        {"method": "Saliency"},
        {"method": "My display name"},
        {"softmax": False},
    ):
        np.testing.assert_array_equal(xs.Saliency()(model, x, y, **kwargs), plain)


def test_build_method_is_the_one_liner_for_quantus_evaluate(data):
    model, x, y = data
    x = np.ascontiguousarray(x)
    ng = xs.build_method("NoiseGrad", base="Saliency", n_models=2)
    result = quantus.evaluate(
        metrics={"Sparseness": quantus.Sparseness(disable_warnings=True)},
        xai_methods={"My NG": ng},
        model=model,
        x_batch=x,
        y_batch=y,
        explain_func_kwargs={},
        progress=False,
    )
    want = quantus.Sparseness(disable_warnings=True)(model, x, y, a_batch=ng(model, x, y))
    np.testing.assert_allclose(result["My NG"]["Sparseness"], want)
    # xs.explain itself under a display name: Quantus passes the key as method=.
    with pytest.raises(KeyError, match="build_method"):
        xs.explain(model, x, y, method="My NG")


def test_parameter_randomisation_layer_selection(data):
    model, x, y = data
    full = ModelParameterRandomisation()(model, x, y, explain_func=xs.Gradient())
    assert list(full)[1:] == ["fc2", "fc1", "conv2", "conv1"]
    top2 = ModelParameterRandomisation(layers=2)(model, x, y, explain_func=xs.Gradient())
    assert list(top2)[1:] == ["fc2", "fc1"]
    # Same layer seeds as the full cascade: the shared steps give the same scores.
    for name in ("fc2", "fc1"):
        np.testing.assert_array_equal(top2[name], full[name])
    convs = ModelParameterRandomisation(layers="^conv")(model, x, y, explain_func=xs.Gradient())
    assert list(convs)[1:] == ["conv2", "conv1"]
    named = ModelParameterRandomisation(layers=["conv1", "fc2"])(model, x, y, explain_func=xs.Gradient())
    assert list(named)[1:] == ["fc2", "conv1"]
    with pytest.raises(ValueError, match="not layers with parameters"):
        ModelParameterRandomisation(layers=["relu1"])(model, x, y, explain_func=xs.Gradient())
    with pytest.raises(ValueError, match="selects no layer"):
        ModelParameterRandomisation(layers="^nothing")(model, x, y, explain_func=xs.Gradient())
    with pytest.raises(TypeError, match="layers"):
        ModelParameterRandomisation(layers=1.5)(model, x, y, explain_func=xs.Gradient())
    assert torch.is_tensor(next(model.parameters()))
