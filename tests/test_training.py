"""Tests of the trainer, accuracy evaluation, cache helpers and cached default models."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_rng_unchanged, rng_states
from torch import nn

from xai_sanity import cache as cache_mod
from xai_sanity.cache import atomic_write_bytes, cache_dir, config_digest
from xai_sanity.data import default_models, make_model, make_semi_natural
from xai_sanity.data.default_models import load_default_model
from xai_sanity.training import evaluate_accuracy, fit, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_data():
    data = make_semi_natural(256, image_size=16, seed=2)
    return data.x, data.y


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------- fit / train


def test_same_seed_same_weights_and_global_rng_untouched(small_data):
    x, y = small_data
    torch.manual_seed(0)
    np.random.seed(0)
    before = rng_states()
    results = []
    for seed in (1, 1, 2):
        model = make_model("lenet", image_size=16, seed=0)
        fit(model, x, y, epochs=2, batch_size=32, seed=seed, progress=False)
        results.append(_weights(model))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    assert any(not torch.equal(results[0][k], results[2][k]) for k in results[0])
    assert_rng_unchanged(before)


def test_numpy_and_tensor_inputs_agree(small_data):
    x, y = small_data
    a = make_model("lenet", image_size=16)
    b = make_model("lenet", image_size=16)
    fit(a, x, y, epochs=1, batch_size=64, progress=False)
    fit(b, torch.from_numpy(x), torch.from_numpy(y), epochs=1, batch_size=64, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_trains_in_place_and_reports_history(small_data):
    x, y = small_data
    model = make_model("lenet", image_size=16).eval()
    before = _weights(model)
    result = fit(model, x, y, epochs=3, batch_size=32, progress=False, x_val=x[:64], y_val=y[:64])
    assert result.model is model
    assert [h["epoch"] for h in result.history] == [1.0, 2.0, 3.0]
    assert all({"loss", "train_accuracy", "val_accuracy"} <= h.keys() for h in result.history)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    # Mode flags are restored and no gradients are left behind.
    assert model.training is False
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(result.labels, torch.from_numpy(y))
    assert result.seconds > 0
    assert train(model, x, y, epochs=1, progress=False) is model


def test_permuted_labels_are_memorised():
    data = make_semi_natural(256, image_size=16, seed=3)
    model = make_model("lenet", image_size=16, seed=0)
    result = fit(
        model,
        data.x,
        data.y,
        epochs=60,
        batch_size=32,
        lr=3e-3,
        permute_labels=True,
        progress=False,
    )
    permuted = result.labels.numpy()
    # A permutation of the labels: same multiset, mostly different positions.
    np.testing.assert_array_equal(np.sort(permuted), np.sort(data.y))
    assert (permuted != data.y).mean() > 0.7
    assert evaluate_accuracy(model, data.x, permuted) > 0.9
    assert evaluate_accuracy(model, data.x, data.y) < 0.4
    # The permutation is seeded.
    again = fit(
        make_model("lenet", image_size=16), data.x, data.y, epochs=1, permute_labels=True, progress=False
    )
    np.testing.assert_array_equal(again.labels.numpy(), permuted)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"epochs": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"lr": 0.0}, ValueError),
        ({"lr": -1.0}, ValueError),
        ({"x_val": np.zeros((2, 3, 16, 16), np.float32)}, ValueError),
        ({"device": "meta"}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"lr_schedule": "step"}, ValueError),
    ],
)
def test_fit_rejects_bad_arguments(small_data, kwargs, error):
    x, y = small_data
    with pytest.raises(error):
        fit(make_model("lenet", image_size=16), x, y, progress=False, **kwargs)


def test_fit_rejects_labels_out_of_range(small_data):
    x, _ = small_data
    with pytest.raises(ValueError, match="class"):
        fit(make_model("lenet", image_size=16), x, np.full(len(x), 12), progress=False)


def test_cosine_schedule_runs(small_data):
    x, y = small_data
    result = fit(make_model("lenet", image_size=16), x, y, epochs=2, lr_schedule="cosine", progress=False)
    assert len(result.history) == 2


# ------------------------------------------------------------------------ evaluate_accuracy


class _Oracle(nn.Module):
    """Predicts the class stored in the first input feature (logits = one-hot)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x[:, 0].long(), 10).float() * self.scale


@pytest.mark.parametrize("batch_size", [1, 3, 512])
def test_evaluate_accuracy_matches_closed_form(batch_size):
    rng = np.random.default_rng(0)
    predictions = rng.integers(0, 10, size=37)
    labels = np.where(rng.random(37) < 0.4, predictions, (predictions + 1) % 10)
    x = predictions[:, None].astype(np.float32)
    expected = np.count_nonzero(predictions == labels) / 37
    assert evaluate_accuracy(_Oracle(), x, labels, batch_size=batch_size) == expected


@pytest.mark.parametrize("mode", [True, False])
def test_evaluate_accuracy_restores_flags(mode):
    model = make_model("resnet", image_size=16).train(mode)
    model.layers[0].bn1.eval()  # a mixed state must come back as it was
    flags = {name: m.training for name, m in model.named_modules()}
    before = _weights(model)
    x = torch.rand(8, 3, 16, 16)
    evaluate_accuracy(model, x, torch.arange(8))
    assert {name: m.training for name, m in model.named_modules()} == flags
    # Eval mode inside: BatchNorm running statistics are untouched.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------------- cache


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert not (tmp_path / "mine").exists()  # not created by asking


def test_cache_dir_platform_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("XAI_SANITY_CACHE", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "xai_sanity"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
    assert cache_dir() == Path.home() / ".cache" / "xai_sanity"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "xai_sanity"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cache_dir() == Path.home() / "Library" / "Caches" / "xai_sanity"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert cache_dir() == tmp_path / "local" / "xai_sanity" / "Cache"


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second version")
    assert target.read_bytes() == b"second version"
    assert os.listdir(target.parent) == ["file.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(cache_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text")


def test_config_digest_is_order_independent():
    assert config_digest({"a": 1, "b": [1, 2]}) == config_digest({"b": [1, 2], "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 2})


TINY = dict(image_size=16, epochs=1, n_train=64, n_test=32, progress=False)


def test_default_model_is_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path))
    model, info = load_default_model("lenet", **TINY)
    path = Path(info["path"])
    assert info["from_cache"] is False
    assert path.is_file() and path.parent.parent == tmp_path
    assert 0.0 <= info["test_accuracy"] <= 1.0
    assert not model.training
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left

    def no_training(*args, **kwargs):
        raise AssertionError("must load from the cache, not train")

    monkeypatch.setattr(default_models, "fit", no_training)
    again, info2 = load_default_model("lenet", **TINY)
    assert info2["from_cache"] is True
    assert info2["test_accuracy"] == info["test_accuracy"]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    # A different recipe is a different cache entry (and would need training).
    with pytest.raises(AssertionError, match="must load"):
        load_default_model("lenet", **{**TINY, "epochs": 2})


def test_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path))
    _, info = load_default_model("lenet", **TINY)
    path = Path(info["path"])
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])  # truncated, e.g. by a crash of a non-atomic tool
    with pytest.warns(RuntimeWarning, match="could not be loaded"):
        model, info2 = load_default_model("lenet", **TINY)
    assert info2["from_cache"] is False
    assert info2["test_accuracy"] == info["test_accuracy"]  # deterministic retraining
    # The file was overwritten with a readable one.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info3 = load_default_model("lenet", **TINY)
    assert info3["from_cache"] is True


def test_use_cache_false_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path))
    _, info = load_default_model("lenet", use_cache=False, **TINY)
    assert info["from_cache"] is False
    assert list(tmp_path.iterdir()) == []


def test_load_default_model_rejects_bad_names():
    with pytest.raises(ValueError):
        load_default_model("alexnet")
    with pytest.raises(ValueError):
        load_default_model("lenet", image_size=8)
