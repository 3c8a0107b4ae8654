"""Loading a user's model (TorchScript, saved module, factory + state dict) and data (.npz, .npy)."""

import re

import numpy as np
import pytest
import torch
from helpers import batch, conv1d_model, small_cnn

from xai_sanity.io import (
    load_data,
    load_factory,
    load_model,
    load_module,
    load_state_dict,
    load_torchscript,
    model_file_format,
)


def outputs(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


@pytest.fixture
def x():
    return batch(n=3)[0]


# -- models ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_file_gives_the_same_function(tmp_path, x):
    model = small_cnn(seed=2)
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(model, torch.as_tensor(x)), str(path))
    assert model_file_format(path) == "torchscript"
    for loaded in (load_torchscript(path), load_model(path)):
        assert isinstance(loaded, torch.jit.ScriptModule) and not loaded.training
        np.testing.assert_allclose(outputs(loaded, x), outputs(model, x), rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torchscript_model_is_explained_and_scored(tmp_path):
    """TorchScript takes no forward hooks; the memory probe and the metrics must not need them."""
    from helpers import conv1d_batch

    import xai_sanity as xs

    model = conv1d_model()
    x, y = conv1d_batch(n=4)
    torch.jit.save(torch.jit.script(model), str(tmp_path / "ts.pt"))
    scripted = load_model(tmp_path / "ts.pt")
    np.testing.assert_allclose(xs.Saliency()(scripted, x, y), xs.Saliency()(model.eval(), x, y), rtol=1e-5)
    metrics = {"Sens": xs.METRICS["MaxSensitivity"](nr_samples=2), "RL": xs.METRICS["RandomLogit"]()}
    frame = xs.evaluate(
        scripted, x, y, methods={"SG": xs.SmoothGrad(n_samples=2)}, metrics=metrics, progress=False
    )
    assert frame["error"].isna().all(), frame["error"].dropna().unique()
    plain = xs.evaluate(
        model, x, y, methods={"SG": xs.SmoothGrad(n_samples=2)}, metrics=metrics, progress=False
    )
    np.testing.assert_allclose(frame["score"], plain["score"], rtol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("method", ["GradCAM", "GuidedGradCAM", "GuidedBackprop"])
@pytest.mark.parametrize("compile_", [torch.jit.script, torch.jit.trace])
def test_hooking_methods_refuse_torchscript_clearly(method, compile_):
    """Grad-CAM and Guided Backprop hook modules, which TorchScript forbids: a TypeError that
    names the method and the way out, not torch's hook error or 'no nn.ReLU found'."""
    import xai_sanity as xs

    model = small_cnn()
    x, y = batch(n=2)
    compiled = compile_(model, torch.as_tensor(x)) if compile_ is torch.jit.trace else compile_(model)
    with pytest.raises(TypeError, match=rf"{method} hooks .*TorchScript.*package.module:factory"):
        xs.METHODS[method]()(compiled, x, y)
    assert xs.METHODS[method]()(model, x, y).shape[0] == 2  # the plain module works
    assert xs.Saliency()(compiled, x, y).shape[0] == 2  # and the scripted one still does


def test_saved_module_gives_the_same_function(tmp_path, x):
    model = small_cnn(seed=3)
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    assert model_file_format(path) == "module"
    for loaded in (load_module(path), load_model(str(path))):
        assert type(loaded) is type(model) and not loaded.training
        np.testing.assert_allclose(outputs(loaded, x), outputs(model, x), rtol=1e-6, atol=1e-6)
    assert model.training  # the original object is not the one returned


def test_factory_with_state_dict_loads_the_weights(tmp_path, x):
    trained = small_cnn(seed=0)
    weights = tmp_path / "w.pt"
    torch.save(trained.state_dict(), weights)
    # The factory builds seed-1 weights; the state dict replaces them with seed 0's.
    model = load_factory("helpers:small_cnn", weights, {"seed": 1})
    np.testing.assert_allclose(outputs(model, x), outputs(trained, x), rtol=1e-6, atol=1e-6)
    assert not np.allclose(outputs(small_cnn(seed=1), x), outputs(trained, x))
    same = load_model("helpers:small_cnn", state_dict=weights, kwargs={"seed": 1})
    np.testing.assert_allclose(outputs(same, x), outputs(trained, x), rtol=1e-6, atol=1e-6)
    # Without weights: the factory's own model.
    np.testing.assert_allclose(
        outputs(load_factory("helpers:small_cnn", kwargs={"seed": 1}), x), outputs(small_cnn(seed=1), x)
    )


def test_checkpoint_with_a_nested_state_dict_is_unwrapped(tmp_path):
    trained = small_cnn(seed=4)
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": trained.state_dict()}, path)
    state = load_state_dict(path)
    assert state.keys() == trained.state_dict().keys()
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(ValueError, match=r"ckpt.pt' is not a state dict.*keys: epoch, lr"):
        load_state_dict(path)


def test_model_errors_name_the_file_and_what_was_expected(tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(small_cnn().state_dict(), weights)
    with pytest.raises(ValueError, match=r"w.pt' holds a state dict \(keys: 0.weight.*factory"):
        load_module(weights)
    with pytest.raises(ValueError, match=r"w.pt' is not a TorchScript file"):
        load_torchscript(weights)
    with pytest.raises(FileNotFoundError, match=r"model file '.*missing.pt' does not exist"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"state_dict and kwargs go with a factory"):
        load_model(weights, state_dict=weights)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list.pt' holds a list, not a torch.nn.Module"):
        load_module(tmp_path / "list.pt")
    # Factories: the spec, the module, the attribute, the result, the weights.
    with pytest.raises(ValueError, match=r"'package.module:name', got 'helpers.small_cnn'"):
        load_factory("helpers.small_cnn")
    with pytest.raises(ImportError, match=r"cannot import module 'no_such_module_h5'"):
        load_factory("no_such_module_h5:make")
    with pytest.raises(ImportError, match=r"module 'helpers' has no 'nope'"):
        load_factory("helpers:nope")
    with pytest.raises(TypeError, match=r"'helpers:batch' returned a tuple, not a torch.nn.Module"):
        load_factory("helpers:batch")
    with pytest.raises(TypeError, match=r"rejected kwargs \{'width': 3\}"):
        load_factory("helpers:small_cnn", kwargs={"width": 3})
    conv_weights = tmp_path / "conv1d.pt"
    torch.save(conv1d_model().state_dict(), conv_weights)
    with pytest.raises(ValueError, match=r"conv1d.pt' does not fit the model of 'helpers:small_cnn'"):
        load_factory("helpers:small_cnn", conv_weights)


def test_a_torch_export_archive_is_refused_with_the_alternatives(tmp_path, x):
    program = torch.export.export(small_cnn().eval(), (torch.as_tensor(x),))
    torch.export.save(program, tmp_path / "model.pt2")
    assert model_file_format(tmp_path / "model.pt2") == "export"
    with pytest.raises(ValueError, match=r"model.pt2' is a torch.export archive.*TorchScript file"):
        load_model(tmp_path / "model.pt2")


def test_a_module_whose_class_cannot_be_imported_says_so(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "h5_tmp_models.py").write_text(
        "import torch\nclass Tiny(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(2, 2)\n"
        "    def forward(self, x):\n        return self.fc(x)\n"
    )
    import importlib
    import sys

    sys.path.insert(0, str(source))
    try:
        module = importlib.import_module("h5_tmp_models")
        torch.save(module.Tiny(), tmp_path / "tiny.pt")
    finally:
        sys.path.remove(str(source))
        sys.modules.pop("h5_tmp_models", None)
    with pytest.raises(ValueError, match=r"cannot unpickle .*tiny.pt.*class must be importable"):
        load_module(tmp_path / "tiny.pt")
    # Found again when its folder is searched.
    assert isinstance(load_module(tmp_path / "tiny.pt", search_paths=[source]), torch.nn.Module)
    sys.modules.pop("h5_tmp_models", None)


# -- data ------------------------------------------------------------------------------------


def test_npz_with_our_names_and_with_quantus_names(tmp_path):
    x, y = batch(n=5)
    s = np.zeros((5, 1, 8, 8), np.float32)
    s[:, :, :2] = 1
    np.savez(tmp_path / "ours.npz", x=x, y=y, masks=s)
    np.savez(tmp_path / "quantus.npz", x_batch=x, y_batch=y, s_batch=s)
    for name in ("ours.npz", "quantus.npz"):
        data = load_data(tmp_path / name)
        np.testing.assert_array_equal(data.x, x)
        np.testing.assert_array_equal(data.y, y)
        np.testing.assert_array_equal(data.s, s)
        assert data.y.dtype == np.int64 and len(data.as_tuple()) == 3
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    data = load_data(tmp_path / "plain.npz", n=2)
    assert data.s is None and data.as_tuple()[0].shape == (2, 3, 8, 8) and len(data) == 2


def test_npy_files(tmp_path):
    x, y = batch(n=4, shape=(3, 16))  # (N, C, T) series
    np.save(tmp_path / "x.npy", (x * 255).astype(np.uint8))
    np.save(tmp_path / "y.npy", y.astype(np.float64))  # integer-valued floats are accepted
    s = np.zeros((4, 1, 16), bool)
    s[:, :, 3:6] = True
    np.save(tmp_path / "s.npy", s)
    data = load_data(tmp_path / "x.npy", tmp_path / "y.npy", tmp_path / "s.npy")
    assert data.x.dtype == np.float32 and data.x.max() > 1  # integers kept as they are, not rescaled
    np.testing.assert_array_equal(data.x, (x * 255).astype(np.uint8).astype(np.float32))
    np.testing.assert_array_equal(data.y, y)
    assert data.s.shape == (4, 1, 16)


def test_data_errors_name_the_file_the_key_and_what_was_expected(tmp_path):
    x, y = batch(n=4)
    masks = np.zeros((4, 1, 8, 8))
    np.savez(tmp_path / "data.npz", x=x, masks=masks)
    with pytest.raises(
        ValueError, match=re.escape("data.npz has no 'y' (keys: x, masks); give y or y_batch")
    ):
        load_data(tmp_path / "data.npz")
    np.savez(tmp_path / "nox.npz", y=y)
    with pytest.raises(ValueError, match=re.escape("nox.npz has no 'x' (keys: y); give x or x_batch")):
        load_data(tmp_path / "nox.npz")
    np.savez(tmp_path / "both.npz", x=x, x_batch=x, y=y)
    with pytest.raises(ValueError, match="both.npz has both 'x' and 'x_batch'"):
        load_data(tmp_path / "both.npz")
    np.savez(tmp_path / "onehot.npz", x=x, y=np.eye(10)[y])
    with pytest.raises(ValueError, match=r"onehot.npz\['y'\] must be class indices of shape \(4,\).*argmax"):
        load_data(tmp_path / "onehot.npz")
    np.savez(tmp_path / "short.npz", x=x, y_batch=y[:3])
    with pytest.raises(ValueError, match=r"short.npz\['y_batch'\] has 3 labels but short.npz\['x'\] has 4"):
        load_data(tmp_path / "short.npz")
    np.savez(tmp_path / "frac.npz", x=x, y=y + 0.5)
    with pytest.raises(TypeError, match=r"frac.npz\['y'\] must hold integer class indices"):
        load_data(tmp_path / "frac.npz")
    np.savez(tmp_path / "badmask.npz", x=x, y=y, s=masks + 0.5)
    with pytest.raises(ValueError, match=r"badmask.npz\['s'\] must be a binary mask"):
        load_data(tmp_path / "badmask.npz")
    np.savez(tmp_path / "maskshape.npz", x=x, y=y, s=np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match=r"maskshape.npz\['s'\] must have shape \(4, 1 or 3, 8, 8\)"):
        load_data(tmp_path / "maskshape.npz")
    np.savez(tmp_path / "nan.npz", x=np.full_like(x, np.nan), y=y)
    with pytest.raises(ValueError, match=r"nan.npz\['x'\] contains NaN"):
        load_data(tmp_path / "nan.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=y)
    with pytest.raises(ValueError, match=r"cannot read 'x' of objects.npz.*plain numeric"):
        load_data(tmp_path / "objects.npz")
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match=r"x.npy holds only the inputs: give the labels too"):
        load_data(tmp_path / "x.npy")
    with pytest.raises(ValueError, match=r"store y and masks in it"):
        load_data(tmp_path / "data.npz", tmp_path / "x.npy")
    with pytest.raises(ValueError, match=r"labels file .*y.txt' must be a .npy file"):
        (tmp_path / "y.txt").write_text("1")
        load_data(tmp_path / "x.npy", tmp_path / "y.txt")
    with pytest.raises(FileNotFoundError, match=r"data file '.*nothing.npz' does not exist"):
        load_data(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match=r"must be .npz \(x, y\[, s\]\) or .npy"):
        (tmp_path / "d.csv").write_text("1,2")
        load_data(tmp_path / "d.csv")
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 0"):
        np.savez(tmp_path / "ok.npz", x=x, y=y)
        load_data(tmp_path / "ok.npz", n=0)
