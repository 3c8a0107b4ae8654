"""Tests of the reference models (xai_sanity.data.models)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import assert_rng_unchanged, rng_states
from torch import nn

from xai_sanity.data import MODEL_NAMES, last_conv_layer, make_model

NAMES = list(MODEL_NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [32, 28, 64])
def test_output_shape(name, size):
    model = make_model(name, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 3, size, size))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_num_classes_and_channels(name):
    model = make_model(name, num_classes=4, in_channels=1, image_size=32).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 32, 32)).shape == (2, 4)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_and_global_rng_untouched(name):
    torch.manual_seed(7)
    np.random.seed(7)
    before = rng_states()
    a = make_model(name, seed=3)
    b = make_model(name, seed=3)
    c = make_model(name, seed=4)
    assert_rng_unchanged(before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("name", NAMES)
def test_initialisation_follows_pytorch_default_scheme(name):
    """Conv/linear weights are U(-b, b) with b = 1/sqrt(fan_in) (kaiming_uniform, a=sqrt(5))."""
    model = make_model(name, seed=0)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight.detach()
            fan_in = w[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            assert w.abs().max() <= bound + 1e-7
            if w.numel() >= 2000:
                # Standard deviation of U(-b, b) is b / sqrt(3).
                assert abs(w.std().item() - bound / math.sqrt(3)) < 0.05 * bound
            if module.bias is not None:
                assert module.bias.abs().max() <= bound + 1e-7
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
            assert torch.equal(module.running_var, torch.ones_like(module.running_var))


@pytest.mark.parametrize("name", NAMES)
def test_last_conv_is_the_last_applied_and_relus_are_modules(name):
    model = make_model(name).eval()
    conv_calls: list[nn.Module] = []
    relu_calls: list[nn.Module] = []
    handles = [
        m.register_forward_hook(lambda mod, i, o: conv_calls.append(mod))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    handles += [
        m.register_forward_hook(lambda mod, i, o: relu_calls.append(mod))
        for m in model.modules()
        if isinstance(m, nn.ReLU)
    ]
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    for handle in handles:
        handle.remove()
    last = last_conv_layer(model)
    assert isinstance(last, nn.Conv2d)
    assert conv_calls[-1] is last
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) >= 4
    assert all(not m.inplace for m in relus)
    # Every ReLU module is used exactly once per forward pass (no sharing).
    assert len(relu_calls) == len(relus) == len({id(m) for m in relu_calls})


def test_model_has_no_dropout_or_global_rng_use_in_training():
    for name in NAMES:
        model = make_model(name).train()
        assert not any(isinstance(m, nn.Dropout) for m in model.modules())
        state = torch.random.get_rng_state()
        model(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))).sum().backward()
        assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
@pytest.mark.parametrize("name", NAMES)
def test_guided_backprop_runs(name):
    captum_attr = pytest.importorskip("captum.attr")
    model = make_model(name).eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    attribution = captum_attr.GuidedBackprop(model).attribute(x, target=1)
    assert attribution.shape == x.shape
    cam = captum_attr.LayerGradCam(model, last_conv_layer(model)).attribute(x, target=1)
    assert cam.shape[0] == 2 and cam.shape[-1] > 1


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_model("alexnet")
    with pytest.raises(ValueError):
        make_model("lenet", image_size=12)
    with pytest.raises(ValueError):
        make_model("vgg", num_classes=1)
    with pytest.raises(TypeError):
        make_model("resnet", seed=1.5)
    with pytest.raises(ValueError):
        last_conv_layer(nn.Sequential(nn.Linear(2, 2)))


def test_name_is_case_insensitive():
    a, b = make_model("LeNet"), make_model("lenet")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
