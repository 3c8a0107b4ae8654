import sys
import textwrap
import warnings

import numpy as np
import pytest
from helpers import batch, small_cnn

import xai_sanity as xs
from xai_sanity.registry import METHODS, Registry

BUILTIN = [
    "Gradient", "Saliency", "GradientXInput", "IntegratedGradients", "GradientSHAP",
    "GuidedBackprop", "GradCAM", "GuidedGradCAM", "Random", "SobelEdges",
    "SmoothGrad", "SmoothGradSquared", "VarGrad", "NoiseGrad", "NoiseGrad++",
]  # fmt: skip


def test_every_builtin_method_is_registered():
    assert set(BUILTIN) <= set(METHODS)


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("InputXGradient", "GradientXInput"),
        ("GradientShap", "GradientSHAP"),
        ("noisegrad++", "NoiseGrad++"),
        ("NoiseGradPlusPlus", "NoiseGrad++"),
        ("SmoothGrad2", "SmoothGradSquared"),
        ("integrated_gradients", "IntegratedGradients"),
        ("Control Var. Sobel Filter", "SobelEdges"),
        ("LayerGradCam", "GradCAM"),
    ],
)
def test_aliases_resolve(alias, canonical):
    assert METHODS.canonical(alias) == canonical
    assert METHODS[alias] is METHODS[canonical]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="NoiseGrad"):
        METHODS["NoiseGrd"]


def test_register_function_and_class_and_refuse_duplicates():
    @xs.register(name="Ones")
    def ones(model, inputs, targets, **kwargs):
        return np.ones((len(inputs), 1, *np.shape(inputs)[2:]), np.float32)

    try:
        x, y = batch()
        np.testing.assert_array_equal(xs.explain(small_cnn(), x, y, method="Ones"), np.ones((4, 1, 8, 8)))
        with pytest.raises(ValueError, match="already registered"):
            xs.register(lambda *a, **k: None, name="ones")
        # usable as a base of an enhancer by name
        out = xs.SmoothGrad(base="Ones", n_samples=2)(small_cnn(), x, y)
        np.testing.assert_array_equal(out, np.ones((4, 1, 8, 8)))
    finally:
        METHODS.unregister("Ones")
    assert "Ones" not in METHODS


def test_register_rejects_non_callables_and_bad_kind():
    with pytest.raises(TypeError):
        xs.register(42, name="FortyTwo")
    with pytest.raises(ValueError, match="kind"):
        xs.register(lambda: None, name="x", kind="gadget")


def _install_fake_plugin(tmp_path, body, entry):
    pkg = tmp_path / "fake_xai_plugin.py"
    pkg.write_text(textwrap.dedent(body))
    dist = tmp_path / "fake_xai_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-xai-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[xai_sanity.methods]\n{entry}\n")


def test_entry_point_discovery(tmp_path, monkeypatch):
    _install_fake_plugin(
        tmp_path,
        """
        import numpy as np
        def zeros(model, inputs, targets, **kwargs):
            return np.zeros((len(inputs), 1, *np.shape(inputs)[2:]), np.float32)
        """,
        "PluginZeros = fake_xai_plugin:zeros",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("method", "xai_sanity.methods")
    assert "PluginZeros" in registry
    x, y = batch()
    assert not registry["PluginZeros"](small_cnn(), x, y).any()


def test_broken_entry_point_warns_and_does_not_break(tmp_path, monkeypatch):
    _install_fake_plugin(tmp_path, "raise ImportError('broken plugin')\n", "Broken = fake_xai_plugin:nothing")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fake_xai_plugin", None)
    registry = Registry("method", "xai_sanity.methods")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "Broken" not in registry
    assert any("could not load" in str(w.message) for w in caught)


def test_explain_routes_enhancer_parameters_and_base_parameters():
    model, (x, y) = small_cnn(), batch()
    via_names = xs.explain(
        model, x, y, method="NoiseGrad++", base="IntegratedGradients", steps=4, n_models=2, n_samples=2
    )
    explicit = xs.NoiseGradPlusPlus(base=xs.IntegratedGradients(steps=4), n_models=2, n_samples=2)(
        model, x, y
    )
    np.testing.assert_allclose(via_names, explicit, rtol=1e-6)


def test_explain_as_quantus_explain_func():
    import quantus

    model, (x, y) = small_cnn(), batch()
    metric = quantus.Sparseness(disable_warnings=True)
    scores = metric(
        model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.explain,
        explain_func_kwargs={"method": "SmoothGrad", "base": "Saliency", "n_samples": 2}, device="cpu",
    )  # fmt: skip
    assert len(scores) == 4 and np.isfinite(scores).all()


def test_explain_unknown_parameter_for_a_base_explainer_raises():
    with pytest.raises(TypeError, match="steps"):
        xs.explain(small_cnn(), *batch(), method="Gradient", steps=3)
