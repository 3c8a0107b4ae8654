"""The shared test models and batches (helpers.py, conftest.py) are what they claim to be."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
import torch
from helpers import assert_rng_unchanged, rng_states
from torch import nn

# fixture name of each model -> fixture name of its batch
PAIRS = {
    "resnet18_model": "resnet18_batch",
    "conv1d_model": "conv1d_batch",
    "tabular_model": "tabular_batch",
    "dropout_model": "dropout_batch",
    "frozen_model": "frozen_batch",
}


def outputs(model: nn.Module, x: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.from_numpy(x))


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("model_name", list(PAIRS))
def test_each_model_runs_on_its_batch(model_name, request):
    model = request.getfixturevalue(model_name)
    x, y = request.getfixturevalue(PAIRS[model_name])
    assert x.dtype == np.float32 and y.dtype == np.int64 and len(x) == len(y)
    assert x.min() >= 0 and x.max() < 1 and y.min() >= 0 and y.max() < helpers.N_CLASSES
    out = outputs(model.eval(), x)
    assert out.shape == (len(x), helpers.N_CLASSES) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "build",
    [
        helpers.build_cnn,
        helpers.small_cnn,
        helpers.linear_model,
        helpers.resnet18_model,
        helpers.conv1d_model,
        helpers.tabular_model,
        helpers.dropout_model,
        helpers.frozen_model,
    ],
    ids=lambda f: f.__name__,
)
def test_builders_are_seeded_and_leave_the_global_rng_alone(build):
    torch.manual_seed(11)  # a global state the builders must neither read nor move
    before = rng_states()
    a, b, c = build(seed=0), build(seed=0), build(seed=1)
    assert_rng_unchanged(before)
    assert same_state(a, b)
    assert not same_state(a, c)


def test_batches_are_seeded():
    for make in (helpers.batch, helpers.resnet18_batch, helpers.conv1d_batch, helpers.tabular_batch):
        (x1, y1), (x2, y2), (x3, _) = make(seed=0), make(seed=0), make(seed=1)
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
        assert not np.array_equal(x1, x3)
    assert helpers.resnet18_batch()[0].shape == (2, 3, 32, 32)
    assert helpers.conv1d_batch()[0].shape == (4, 3, 32)
    assert helpers.tabular_batch()[0].shape == (8, 8)


def test_resnet18_model_is_in_eval_mode_with_torchvision_names(resnet18_model):
    assert not any(m.training for m in resnet18_model.modules())
    assert isinstance(resnet18_model.get_submodule("layer4.1.conv2"), nn.Conv2d)
    assert resnet18_model.fc.out_features == helpers.N_CLASSES


def test_conv1d_model_takes_any_series_length(conv1d_model):
    kinds = [type(m) for m in conv1d_model]
    assert kinds == [nn.Conv1d, nn.ReLU, nn.Conv1d, nn.ReLU, nn.AdaptiveAvgPool1d, nn.Flatten, nn.Linear]
    for length in (1, 7, 100):
        assert outputs(conv1d_model, helpers.conv1d_batch(length=length)[0]).shape == (4, helpers.N_CLASSES)


def test_tabular_model_layout(tabular_model):
    assert [type(m) for m in tabular_model] == [nn.Linear, nn.ReLU, nn.Linear]
    assert tabular_model.fc1.in_features == 8


def test_dropout_model_is_small_cnn_plus_dropout(dropout_model, dropout_batch):
    assert dropout_model.training and isinstance(dropout_model[8], nn.Dropout)
    x, _ = dropout_batch
    torch.manual_seed(0)
    noisy = [outputs(dropout_model, x) for _ in range(2)]
    assert not torch.equal(*noisy)  # dropout is active in train mode
    reference = outputs(helpers.small_cnn(), x)
    assert torch.equal(outputs(dropout_model.eval(), x), reference)


def test_frozen_model_freezes_only_the_first_conv(frozen_model, frozen_batch):
    frozen = {name for name, p in frozen_model.named_parameters() if not p.requires_grad}
    assert frozen == {"0.weight", "0.bias"}
    x, _ = frozen_batch
    assert torch.equal(outputs(frozen_model, x), outputs(helpers.small_cnn(), x))


def test_image_fixtures(cnn, images, labels):
    assert images.shape == helpers.IMAGE_SHAPE and images.dtype == torch.float32
    assert labels.tolist() == list(helpers.IMAGE_LABELS)
    assert not cnn.training and outputs(cnn, images.numpy()).shape == (4, helpers.N_CLASSES)
