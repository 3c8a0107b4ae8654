"""The per-model probe cache of ``xai_sanity._memory``: one probe per model and input shape."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import xai_sanity as xs
from xai_sanity._memory import input_cost
from xai_sanity._model_ops import noisy_parameters, swapped_parameters
from xai_sanity.explainers.cam import default_layer


class Counting(nn.Module):
    """conv(3->4, 3x3, same) -> ReLU -> flatten -> linear(4*8*8 -> 2), counting forward calls."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.head = nn.Linear(4 * 8 * 8, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.relu(self.conv(x)).flatten(1))


def closed_form(side: int = 8) -> int:
    """Input + conv, ReLU and linear outputs of one float32 input, times 2 for the backward."""
    values = 3 * side * side + 4 * side * side + 4 * side * side + 2
    return 2 * 4 * values


def test_input_cost_is_probed_once_per_shape_and_equals_the_closed_form():
    model = Counting().eval()
    x = torch.rand(5, 3, 8, 8)
    assert input_cost(model, x) == closed_form()
    assert input_cost(model, x[:2]) == closed_form() and model.calls == 1  # same shape: kept
    assert input_cost(model, x, backward=False) == closed_form() // 2 and model.calls == 1
    with swapped_parameters(model, noisy_parameters(model, 0.2, "multiplicative", torch.Generator())):
        assert input_cost(model, x) == closed_form() and model.calls == 1  # new tensors, same layout
    model.head = nn.Linear(4 * 8 * 8, 3)  # a new module: probed again
    assert input_cost(model, x) == closed_form() + 2 * 4 and model.calls == 2
    model.train()  # another mode: probed again
    input_cost(model, x)
    assert model.calls == 3


def test_explainer_calls_probe_once_and_give_the_same_maps():
    model = Counting().eval()
    x = np.random.default_rng(0).random((4, 3, 8, 8), dtype=np.float32)
    first = xs.Saliency()(model, x, [0, 1, 0, 1])
    after_first = model.calls
    second = xs.Saliency()(model, x, [0, 1, 0, 1])
    assert model.calls == after_first + 1  # the attribution's forward only, no probe
    np.testing.assert_array_equal(first, second)


def test_gradcam_default_layer_is_probed_once_and_follows_inplace_flags():
    model = Counting().eval()
    x = torch.rand(2, 3, 8, 8)
    assert default_layer(model, x).name == "relu"
    calls = model.calls
    assert default_layer(model, x).name == "relu" and model.calls == calls
    # An in-place ReLU returns the conv's output tensor: the rule then picks the outer
    # module that returned it last, which the cached choice must not hide.
    model.relu.inplace = True
    assert default_layer(model, x).name == "relu" and model.calls == calls + 1
    gradcam = xs.GradCAM()
    a = gradcam(model, x.numpy(), [0, 1])
    calls = model.calls
    np.testing.assert_array_equal(a, gradcam(model, x.numpy(), [0, 1]))
    assert model.calls == calls + 1  # one forward for the maps, no probe
