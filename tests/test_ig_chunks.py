"""Integrated Gradients splits a batch larger than its chunk by inputs too, with the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from helpers import conv1d_batch, conv1d_model, resnet18_batch, resnet18_model, small_cnn

import xai_sanity as xs


def _forward_sizes(model):
    sizes = []
    handle = model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    return sizes, handle


@pytest.mark.parametrize("chunk", [1, 3, 8, 20])
def test_chunks_smaller_than_the_batch_bound_every_pass_and_match_captum(chunk, one_thread):
    model = small_cnn()
    x = torch.from_numpy(np.random.default_rng(0).random((8, 3, 8, 8), dtype=np.float32))
    y = torch.arange(8) % 10
    sizes, handle = _forward_sizes(model)
    ours = xs.IntegratedGradients(steps=6, internal_batch_size=chunk)(model, x, y, reduce_axes=None)
    handle.remove()
    assert max(sizes) <= chunk  # never more interpolated inputs in one pass than the chunk
    assert sum(sizes) == 8 * 6  # every (input, step) exactly once
    theirs = CaptumIG(model).attribute(x, target=y, n_steps=6, method="gausslegendre").detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("build", "data"),
    [(resnet18_model, lambda: resnet18_batch(n=3, side=32)), (conv1d_model, lambda: conv1d_batch(n=5))],
)
def test_other_layouts_are_independent_of_the_chunk(build, data, one_thread):
    model = build()
    x, y = data()
    small = xs.IntegratedGradients(steps=4, internal_batch_size=2)(model, x, y)
    large = xs.IntegratedGradients(steps=4, internal_batch_size=100)(model, x, y)
    np.testing.assert_allclose(small, large, rtol=1e-4, atol=1e-6)


def test_progress_bar_states_the_cost(capsys):
    model = small_cnn()
    x = np.random.default_rng(0).random((4, 3, 8, 8), dtype=np.float32)
    xs.IntegratedGradients(steps=5, internal_batch_size=2, progress=True)(model, x, np.arange(4))
    assert "20 gradients in 10 passes" in capsys.readouterr().err
