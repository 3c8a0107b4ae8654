"""Tests of the built-in explain functions against independent references.

Attribution values are checked against captum, scikit-image, scipy or a closed form, never
against stored outputs of xai_sanity. The contract tests (numpy vs torch inputs, call-time
overrides, pickling, train vs eval mode) compare calls of one explainer with each other.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
from collections.abc import Callable, Iterator

import captum.attr as ca
import numpy as np
import pytest
import scipy.stats
import skimage.filters
import torch
from helpers import assert_rng_unchanged, linear_model, rng_states
from torch import nn

from xai_sanity._safety import snapshot
from xai_sanity.explainers import (
    GradCAM,
    Gradient,
    GradientSHAP,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    RandomAttribution,
    Saliency,
    SobelEdges,
)

# captum warns that it switches requires_grad on and that it hooks ReLUs; both are expected.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")

IG_METHODS = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
)

# One configured instance per explainer class (cheap settings) for the contract tests.
ALL_EXPLAINERS = {
    "Gradient": Gradient(),
    "Saliency": Saliency(),
    "GradientXInput": GradientXInput(),
    "IntegratedGradients": IntegratedGradients(steps=6),
    "GradientSHAP": GradientSHAP(baselines=0.25, n_samples=4, stdevs=0.1, seed=3),
    "GuidedBackprop": GuidedBackprop(),
    "GradCAM": GradCAM(),
    "GuidedGradCAM": GuidedGradCAM(),
    "RandomAttribution": RandomAttribution(seed=5),
    "SobelEdges": SobelEdges(),
}
# Explainers that run the model (the controls ignore it).
MODEL_EXPLAINERS = [k for k in ALL_EXPLAINERS if k not in ("RandomAttribution", "SobelEdges")]

all_explainers = pytest.mark.parametrize("name", list(ALL_EXPLAINERS))
model_explainers = pytest.mark.parametrize("name", MODEL_EXPLAINERS)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def assert_close(actual: np.ndarray, expected, rtol: float = 1e-5, atol_rel: float = 1e-5) -> None:
    """allclose with an absolute tolerance relative to the reference's magnitude."""
    expected = np.asarray(expected.detach() if isinstance(expected, torch.Tensor) else expected)
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max())
    assert scale > 0, "reference is all zeros: the comparison would prove nothing"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_rel * scale)


def rel_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@contextlib.contextmanager
def seeded_global_rng(seed: int = 0) -> Iterator[None]:
    """Run third-party code (captum draws from the global RNGs) on a fixed seed, then put
    the global torch and numpy RNG states back."""
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    torch.random.default_generator.manual_seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(np_state)


def captum_attr(
    captum_cls: Callable, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *init_args, **kwargs
) -> np.ndarray:
    """captum attributions on a private eval-mode copy of ``model``.

    ``init_args`` are passed to the captum class after the model; a string is resolved to
    the submodule of the copy with that name.
    """
    twin = copy.deepcopy(model).eval()
    args = [twin.get_submodule(a) if isinstance(a, str) else a for a in init_args]
    with seeded_global_rng():
        out = captum_cls(twin, *args).attribute(x.clone().requires_grad_(True), target=y, **kwargs)
    return out.detach().numpy()


def reduce(ref: np.ndarray, reduce_axes: tuple[int, ...]) -> np.ndarray:
    return ref.sum(axis=reduce_axes, keepdims=True) if reduce_axes else ref


# ---------------------------------------------------------------------------------------
# 1. gradient methods == captum
# ---------------------------------------------------------------------------------------
GRADIENT_CASES = {
    "Gradient": (Gradient(), ca.Saliency, {"abs": False}),
    "Saliency": (Saliency(), ca.Saliency, {"abs": True}),
    "GradientXInput": (GradientXInput(), ca.InputXGradient, {}),
    "GuidedBackprop": (GuidedBackprop(), ca.GuidedBackprop, {}),
}


@pytest.mark.parametrize("reduce_axes", [(1,), ()], ids=["summed", "channels"])
@pytest.mark.parametrize("case", list(GRADIENT_CASES))
def test_gradient_methods_match_captum(case, reduce_axes, cnn, images, labels):
    ours, captum_cls, kwargs = GRADIENT_CASES[case]
    ref = captum_attr(captum_cls, cnn, images, labels, **kwargs)
    out = ours(cnn, images, labels, reduce_axes=reduce_axes)
    assert_close(out, reduce(ref, reduce_axes))


def test_saliency_is_abs_before_channel_sum(cnn, images, labels):
    # |g| summed over channels, not |sum of g|: the two differ where channel signs disagree.
    grad = captum_attr(ca.Saliency, cnn, images, labels, abs=False)
    out = Saliency()(cnn, images, labels)
    assert_close(out, np.abs(grad).sum(1, keepdims=True))
    assert not np.allclose(out, np.abs(grad.sum(1, keepdims=True)))


@pytest.mark.parametrize("baseline_kind", ["zero", "scalar", "per_sample", "numpy_chw"])
@pytest.mark.parametrize("method", IG_METHODS)
def test_integrated_gradients_matches_captum(method, baseline_kind, cnn, images, labels):
    steps = 7
    gen = torch.Generator().manual_seed(7)
    baseline = {
        "zero": 0.0,
        "scalar": 0.5,
        "per_sample": torch.rand(images.shape, generator=gen),
        "numpy_chw": torch.rand(images.shape[1:], generator=gen).numpy(),
    }[baseline_kind]
    captum_baseline = (
        torch.as_tensor(baseline).expand_as(images) if baseline_kind == "numpy_chw" else baseline
    )
    ref = captum_attr(
        ca.IntegratedGradients,
        cnn,
        images,
        labels,
        baselines=captum_baseline,
        n_steps=steps,
        method=method,
    )
    if method == "riemann_trapezoid":
        # captum gives every trapezoid node weight 1/n (ends 1/(2n)) although the n nodes
        # split [0, 1] into n - 1 intervals, so its weights sum to (n - 1)/n. We use the
        # textbook weights 1/(n - 1); the closed-form test below checks they are right.
        ref = ref * steps / (steps - 1)
    explainer = IntegratedGradients(baseline=baseline, steps=steps, quadrature=method)
    assert_close(explainer(cnn, images, labels, reduce_axes=()), ref)
    assert_close(explainer(cnn, images, labels), ref.sum(1, keepdims=True))


class HalfSquare(nn.Module):
    def forward(self, z):
        return 0.5 * z**2


@pytest.mark.parametrize("method", IG_METHODS)
def test_integrated_gradients_closed_form_on_quadratic_model(method):
    # f_k(x) = (w_k . x + c_k)^2 / 2 has gradient (w_k . x + c_k) w_k, linear along the path
    # b + a (x - b), so every rule has a closed form:
    # exact (Gauss-Legendre, trapezoid, midpoint): (x - b) w (w . (x + b) / 2 + c);
    # left sum: g(0) + (n - 1)/(2n) (g(1) - g(0)); right sum: g(0) + (n + 1)/(2n) (...).
    n, steps = 3, 5
    lin = linear_model(2 * 3 * 3, 4, seed=3, scale=1.0).eval()
    model = nn.Sequential(*lin, HalfSquare()).eval()
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(n, 2, 3, 3, generator=gen)
    b = torch.randn(n, 2, 3, 3, generator=gen)
    y = torch.tensor([0, 3, 1])
    w = lin[1].weight[y].detach().view(n, 2, 3, 3)
    c = lin[1].bias[y].detach().view(n, 1, 1, 1)
    proj_x = (w * x).flatten(1).sum(1).view(n, 1, 1, 1) + c
    proj_b = (w * b).flatten(1).sum(1).view(n, 1, 1, 1) + c
    frac = {"riemann_left": (steps - 1) / (2 * steps), "riemann_right": (steps + 1) / (2 * steps)}
    a = frac.get(method, 0.5)
    expected = (x - b) * w * (proj_b + a * (proj_x - proj_b))
    out = IntegratedGradients(baseline=b, steps=steps, quadrature=method)(model, x, y, reduce_axes=())
    assert_close(out, expected, rtol=1e-4)


@pytest.mark.parametrize("internal_batch_size", [1, 4, 8, 12, 10_000])
def test_integrated_gradients_chunking_does_not_change_result(internal_batch_size, cnn, images, labels):
    steps = 7  # with N = 4: chunks of 1, 1, 2 (uneven last chunk), 3 and all 7 steps
    ref = captum_attr(ca.IntegratedGradients, cnn, images, labels, baselines=0.2, n_steps=steps)
    out = IntegratedGradients(baseline=0.2, steps=steps, internal_batch_size=internal_batch_size)(
        cnn, images, labels, reduce_axes=()
    )
    assert_close(out, ref)


LAYER_SPECS = ["none", "conv2", "conv1", "relu2", "module:conv1"]


def resolve_layer(spec: str, model: nn.Module):
    if spec == "none":
        return None
    if spec.startswith("module:"):
        return model.get_submodule(spec.split(":", 1)[1])
    return spec


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("spec", LAYER_SPECS)
def test_gradcam_matches_captum(spec, relu, cnn, images, labels):
    layer_name = "relu2" if spec == "none" else spec.split(":")[-1]  # default: the last conv's ReLU
    cam = captum_attr(ca.LayerGradCam, cnn, images, labels, layer_name, relu_attributions=relu)
    ref = ca.LayerAttribution.interpolate(torch.from_numpy(cam), (16, 16), "bilinear").numpy()
    explainer = GradCAM(layer=resolve_layer(spec, cnn), relu=relu)
    for reduce_axes in [(1,), ()]:
        assert_close(explainer(cnn, images, labels, reduce_axes=reduce_axes), ref)
    if relu:
        assert ref.min() >= 0
    elif spec in ("conv1", "none"):
        assert ref.min() < 0, "relu=False should be exercised with negative evidence"


def test_gradcam_default_layer_is_the_last_rectified_feature_map():
    """The default is found by a probe forward: the last spatial feature map before the
    head (stepping back over a final pool), from the outermost module that returns it."""
    from xai_sanity.explainers.cam import find_layer

    x = torch.rand(1, 3, 8, 8)
    conv_bn_relu = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten()).eval()
    assert find_layer(conv_bn_relu, None, x) is conv_bn_relu[2]
    # A ReLU after the pool acts on the last feature map (6x6 -> 3x3): it is that map.
    pool_then_relu = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten())
    assert find_layer(pool_then_relu, None, x) is pool_then_relu[2]
    # A final pool before the head is stepped over: the map before it is the CAM layer.
    relu_then_pool = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    assert find_layer(relu_then_pool, None, x) is relu_then_pool[1]
    # Without inputs there is nothing to probe: a clear error.
    with pytest.raises(ValueError):
        find_layer(conv_bn_relu, None)


@pytest.mark.parametrize("spec", ["none", "conv1", "module:conv2"])
def test_guided_gradcam_matches_captum(spec, cnn, images, labels):
    layer_name = "relu2" if spec == "none" else spec.split(":")[-1]
    ref = captum_attr(ca.GuidedGradCam, cnn, images, labels, layer_name, interpolate_mode="bilinear")
    explainer = GuidedGradCAM(layer=resolve_layer(spec, cnn))
    assert_close(explainer(cnn, images, labels, reduce_axes=()), ref)
    assert_close(explainer(cnn, images, labels), ref.sum(1, keepdims=True))


def test_inplace_relu_model_matches_captum_and_keeps_flags(make_cnn, images, labels):
    inplace_model = make_cnn(inplace=True)
    reference_model = make_cnn(inplace=False)
    relus = [m for m in inplace_model.modules() if isinstance(m, nn.ReLU)]
    ref = captum_attr(ca.GuidedBackprop, reference_model, images, labels)
    assert_close(GuidedBackprop()(inplace_model, images, labels, reduce_axes=()), ref)
    assert all(m.inplace for m in relus)
    # Grad-CAM of a conv followed by ReLU(inplace=True): "conv1" is the conv's own (pre-ReLU)
    # output; the default is the output of the in-place ReLU after the last conv.
    for layer in (None, "conv1"):
        cam = captum_attr(
            ca.LayerGradCam,
            reference_model,
            images,
            labels,
            layer or "relu2",
            relu_attributions=True,
        )
        ref = ca.LayerAttribution.interpolate(torch.from_numpy(cam), (16, 16), "bilinear")
        assert_close(GradCAM(layer=layer)(inplace_model, images, labels), ref)
    ref = captum_attr(ca.GuidedGradCam, reference_model, images, labels, "conv1", interpolate_mode="bilinear")
    assert_close(GuidedGradCAM(layer="conv1")(inplace_model, images, labels, reduce_axes=()), ref)
    assert all(m.inplace for m in relus)


# ---------------------------------------------------------------------------------------
# 2. GradientSHAP
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("baseline_shape", ["chw", "1chw"])
def test_gradient_shap_closed_form_on_linear_model(baseline_shape, images, labels):
    n, c, h, w = images.shape
    model = linear_model(c * h * w, 10, scale=1.0).eval()
    b = torch.rand(c, h, w, generator=torch.Generator().manual_seed(2)) - 0.5
    weight = model[1].weight.detach()[labels].view(n, c, h, w)
    expected = weight * (images - b)  # the gradient is constant: E[grad (x - b)] = W_y (x - b)
    baselines = b if baseline_shape == "chw" else b[None]
    out = GradientSHAP(baselines=baselines, n_samples=3, stdevs=0.0, seed=1)(
        model, images, labels, reduce_axes=()
    )
    assert_close(out, expected)
    assert_close(GradientSHAP(baselines=baselines)(model, images, labels), expected.sum(1, True))
    ref = captum_attr(ca.GradientShap, model, images, labels, baselines=b[None], n_samples=3)
    assert_close(out, ref)


def test_gradient_shap_closed_form_expectation_on_quadratic_model():
    # f(x) = (w . x + c)^2 / 2, baseline b_j picked uniformly, x~ = x + eps, eps ~ N(0, s^2 I),
    # a ~ U(0, 1): E[grad f(b + a (x~ - b)) (x~ - b)]
    #   = mean_j (c + w . (x + b_j) / 2) w (x - b_j) + s^2 w^2 / 2
    # (the last term comes from multiplying by the noisy x~, as captum does).
    n, d, sigma, n_samples = 3, 2 * 3 * 3, 1.5, 20_000
    lin = linear_model(d, 4, seed=5, scale=1.0).eval()
    model = nn.Sequential(*lin, HalfSquare()).eval()
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(n, 2, 3, 3, generator=gen)
    pool = torch.randn(2, 2, 3, 3, generator=gen)
    y = torch.tensor([2, 0, 3])
    w = lin[1].weight[y].detach().view(n, 1, 2, 3, 3)
    c = lin[1].bias[y].detach().view(n, 1, 1, 1, 1)
    xb, pb = x[:, None], pool[None]  # (n, 1, ...) against (1, pool, ...)
    proj = (w * (xb + pb)).flatten(2).sum(2).view(n, -1, 1, 1, 1) / 2 + c
    expected = (proj * w * (xb - pb)).mean(1) + sigma**2 * w[:, 0] ** 2 / 2

    def estimate(seed):
        shap = GradientSHAP(baselines=pool, n_samples=n_samples, stdevs=sigma, seed=seed)
        return shap(model, x, y, reduce_axes=())

    first = estimate(1)
    tolerance = 2.5 * rel_l2(first, estimate(2))
    assert 0 < tolerance < 0.1
    assert rel_l2(first, expected) < tolerance
    # Multiplying by the clean input instead (dropping the noise term) would be caught:
    assert rel_l2(first, expected - sigma**2 * w[:, 0] ** 2 / 2) > 2 * tolerance
    # captum agrees with the same closed form.
    ref = captum_attr(ca.GradientShap, model, x, y, baselines=pool, n_samples=n_samples, stdevs=sigma)
    assert rel_l2(ref, expected) < tolerance


@pytest.mark.parametrize("stdevs", [0.0, 0.2])
def test_gradient_shap_agrees_with_captum_in_expectation(stdevs, cnn, images, labels):
    x, y = images[:2], labels[:2]  # two images keep the 2000-sample estimates quick
    n_samples = 2000
    baselines = torch.rand(5, *x.shape[1:], generator=torch.Generator().manual_seed(21)) * 0.5
    ref = captum_attr(ca.GradientShap, cnn, x, y, baselines=baselines, n_samples=n_samples, stdevs=stdevs)

    def ours(seed, pool=baselines, samples=n_samples):
        explainer = GradientSHAP(baselines=pool, n_samples=samples, stdevs=stdevs, seed=seed)
        return explainer(cnn, x, y, reduce_axes=())

    estimate = ours(seed=1)
    # Two of our estimates with different seeds differ by Monte-Carlo noise alone, and so
    # should captum's estimate of the same expectation: the tolerance is set from that spread.
    spread = rel_l2(estimate, ours(seed=2))
    assert 0 < spread < 0.1
    tolerance = 2.5 * spread
    assert rel_l2(estimate, ref) < tolerance
    # The test can fail: related but different attributions lie well outside the tolerance.
    assert rel_l2(ours(seed=1, pool=baselines[:2], samples=500), ref) > 2 * tolerance
    assert rel_l2(ours(seed=1, pool=0.0, samples=100), ref) > 2 * tolerance
    ig_at_mean_baseline = IntegratedGradients(baseline=baselines.mean(0), steps=16)
    assert rel_l2(ig_at_mean_baseline(cnn, x, y, reduce_axes=()), ref) > 2 * tolerance
    assert rel_l2(Gradient()(cnn, x, y, reduce_axes=()), ref) > 2 * tolerance


@pytest.mark.parametrize("cls", [GradientSHAP, RandomAttribution])
def test_seeded_determinism_and_global_rng_untouched(cls, cnn, images, labels):
    kwargs = {"baselines": 0.3, "n_samples": 3, "stdevs": 0.1} if cls is GradientSHAP else {}
    before = rng_states()
    first = cls(seed=7, **kwargs)(cnn, images, labels)
    again = cls(seed=7, **kwargs)(cnn, images, labels)
    other = cls(seed=8, **kwargs)(cnn, images, labels)
    unseeded = [cls(seed=None, **kwargs)(cnn, images, labels) for _ in range(2)]
    assert_rng_unchanged(before)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(*unseeded)


# ---------------------------------------------------------------------------------------
# 3. SobelEdges == skimage.filters.sobel
# ---------------------------------------------------------------------------------------
def sharp_edge_images() -> np.ndarray:
    imgs = np.zeros((4, 2, 12, 10))
    imgs[0, 0, :, 5:] = 1.0  # vertical step
    imgs[0, 1, 7:, :] = 3.0  # horizontal step
    imgs[1, 0, ::2, ::2] = 1.0  # fine checkerboard-like grid
    imgs[1, 1, 6, 4] = 5.0  # single spike
    imgs[2, :, 3:8, 2:6] = -2.0  # a dark rectangle touching nothing
    imgs[3, 0, 0, :] = 1.0  # edge on the image border
    imgs[3, 1] = np.arange(10.0)[None, :] * 0.5  # linear ramp
    return imgs


def random_images(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


SOBEL_IMAGES = {
    "random_16x16": lambda: random_images((4, 3, 16, 16)),
    "sharp_edges": sharp_edge_images,
    "2x2": lambda: random_images((3, 3, 2, 2), seed=1),
    "non_square_5x9": lambda: random_images((2, 3, 5, 9), seed=2),
    "non_square_7x2": lambda: random_images((2, 1, 7, 2), seed=3),
}


@pytest.mark.parametrize("kind", list(SOBEL_IMAGES))
def test_sobel_matches_skimage(kind, cnn):
    imgs = SOBEL_IMAGES[kind]().astype(np.float32)
    ref = np.stack([[skimage.filters.sobel(channel.astype(np.float64)) for channel in img] for img in imgs])
    assert_close(SobelEdges()(cnn, imgs, 0, reduce_axes=()), ref)
    assert_close(SobelEdges()(cnn, imgs, 0), ref.sum(1, keepdims=True))
    assert_close(SobelEdges()(cnn, torch.from_numpy(imgs), 0, keepdims=False), ref.sum(1))


@pytest.mark.parametrize("shape", [(1, 3, 1, 5), (1, 3, 6, 1)])
def test_sobel_rejects_images_thinner_than_two_pixels(shape, cnn):
    with pytest.raises(ValueError, match="2x2"):
        SobelEdges()(cnn, np.zeros(shape, np.float32), 0)


# ---------------------------------------------------------------------------------------
# 4. RandomAttribution
# ---------------------------------------------------------------------------------------
def test_random_attribution_is_uniform_and_ignores_model(cnn, make_cnn, images, labels):
    out = RandomAttribution(seed=0)(cnn, images, labels, reduce_axes=())
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() < 1.0
    assert scipy.stats.kstest(out.ravel(), "uniform").pvalue > 1e-3
    summed = RandomAttribution(seed=0)(cnn, images, labels)
    assert summed.shape == (4, 1, 16, 16)
    assert_close(summed, out.sum(1, keepdims=True))
    other_model = RandomAttribution(seed=0)(make_cnn(seed=5), images, [0, 0, 0, 0], reduce_axes=())
    np.testing.assert_array_equal(other_model, out)


# ---------------------------------------------------------------------------------------
# 5. the explain-function contract
# ---------------------------------------------------------------------------------------
@all_explainers
def test_numpy_and_torch_inputs_agree(name, cnn, images, labels):
    explainer = ALL_EXPLAINERS[name]
    x_np, y_np = images.numpy().copy(), labels.numpy().copy()
    from_torch = explainer(cnn, images, labels)
    from_numpy = explainer(cnn, x_np, y_np)
    from_list = explainer(cnn, x_np, labels.tolist())
    from_float64 = explainer(cnn, x_np.astype(np.float64), y_np)
    assert from_torch.dtype == np.float32 and from_torch.shape == (4, 1, 16, 16)
    np.testing.assert_array_equal(from_numpy, from_torch)
    np.testing.assert_array_equal(from_list, from_torch)
    np.testing.assert_array_equal(from_float64, from_torch)
    # The caller's arrays are left alone.
    np.testing.assert_array_equal(x_np, images.numpy())
    assert not images.requires_grad


@all_explainers
def test_scalar_target_is_broadcast(name, cnn, images):
    explainer = ALL_EXPLAINERS[name]
    full = explainer(cnn, images, [3, 3, 3, 3])
    np.testing.assert_array_equal(explainer(cnn, images, 3), full)
    np.testing.assert_array_equal(explainer(cnn, images, np.int64(3)), full)
    np.testing.assert_array_equal(explainer(cnn, images, torch.tensor(3)), full)


@all_explainers
def test_method_keyword_is_ignored(name, cnn, images, labels):
    explainer = ALL_EXPLAINERS[name]
    plain = explainer(cnn, images, labels)
    np.testing.assert_array_equal(explainer(cnn, images, labels, method=name), plain)
    # IntegratedGradients names its quadrature rule ``quadrature`` so this cannot clash.
    np.testing.assert_array_equal(explainer(cnn, images, labels, method="riemann_left"), plain)
    if name == "IntegratedGradients":
        assert not np.array_equal(explainer(cnn, images, labels, quadrature="riemann_left"), plain)


@pytest.mark.parametrize(
    "explainer, overrides",
    [
        (IntegratedGradients(), {"steps": 8}),
        (IntegratedGradients(), {"steps": 5, "baseline": 0.1, "internal_batch_size": 3}),
        (GradientSHAP(), {"n_samples": 3, "seed": 4, "stdevs": 0.05}),
        (GradCAM(), {"layer": "conv1", "relu": False}),
        (GuidedGradCAM(), {"interpolate_mode": "nearest"}),
        (RandomAttribution(), {"seed": 9}),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, dict) else ",".join(v),
)
def test_call_time_overrides_equal_constructor_parameters(explainer, overrides, cnn, images, labels):
    configured = type(explainer)(**overrides)
    expected = configured(cnn, images, labels)
    np.testing.assert_array_equal(explainer(cnn, images, labels, **overrides), expected)
    assert explainer == type(explainer)(), "overrides must not change the explainer"


@all_explainers
def test_unknown_keyword_raises_type_error_naming_it(name, cnn, images, labels):
    with pytest.raises(TypeError, match="bogus_option"):
        ALL_EXPLAINERS[name](cnn, images, labels, bogus_option=1)


@all_explainers
def test_reduce_axes_and_keepdims(name, cnn, images, labels):
    explainer = ALL_EXPLAINERS[name]
    kept = explainer(cnn, images, labels, reduce_axes=())
    assert kept.shape[0] == 4 and kept.shape[2:] == (16, 16)
    assert kept.shape[1] in (1, 3)  # Grad-CAM has a single channel
    np.testing.assert_array_equal(explainer(cnn, images, labels, reduce_axes=None), kept)
    summed = explainer(cnn, images, labels)
    assert_close(summed, kept.astype(np.float64).sum(1, keepdims=True))
    flat = explainer(cnn, images, labels, keepdims=False)
    assert flat.shape == (4, 16, 16)
    np.testing.assert_array_equal(flat, summed[:, 0])
    np.testing.assert_array_equal(explainer(cnn, images, labels, reduce_axes=(-3,)), summed)
    for bad in [(0,), (0, 1), (-4,)]:
        with pytest.raises(ValueError, match="batch axis"):
            explainer(cnn, images, labels, reduce_axes=bad)
    with pytest.raises(ValueError, match="reduce_axes"):
        explainer(cnn, images, labels, reduce_axes=(4,))


# ---------------------------------------------------------------------------------------
# 6. the model comes back exactly as it was
# ---------------------------------------------------------------------------------------
def train_mode_model() -> nn.Sequential:
    """Conv-BN-ReLU-Dropout-Linear in train() mode, with a frozen bias and a stored grad."""
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Flatten(),
            nn.Linear(4 * 16 * 16, 10),
        )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        model[1].running_mean.copy_(torch.randn(4, generator=gen))
        model[1].running_var.copy_(torch.rand(4, generator=gen) + 0.5)
    model[0].bias.requires_grad_(False)
    model[5].weight.grad = torch.ones_like(model[5].weight)
    return model.train()


def hook_table(model: nn.Module) -> dict:
    snap = snapshot(model, copy_tensors=False)
    return {
        (name, attr): list(hooks.items())
        for name, table in snap.hooks.items()
        for attr, hooks in table.items()
    }


def assert_model_restored(model: nn.Module, before, hooks_before: dict) -> None:
    after = snapshot(model)
    assert after.tensors.keys() == before.tensors.keys()
    for key, value in before.tensors.items():
        assert torch.equal(after.tensors[key], value), f"{key} changed"
    for key, grad in before.grads.items():
        now = after.grads[key]
        assert (grad is None and now is None) or torch.equal(grad, now), f"{key}.grad changed"
    assert after.requires_grad == before.requires_grad
    assert after.training == before.training
    assert after.full_backward == before.full_backward
    assert hook_table(model) == hooks_before


@all_explainers
def test_model_restored_after_call_in_train_mode(name, images, labels):
    model = train_mode_model()
    calls = []
    model[0].register_forward_hook(lambda mod, inp, out: calls.append(1))
    model[5].register_forward_pre_hook(lambda mod, inp: None)
    model[2].register_full_backward_hook(lambda mod, gin, gout: None)
    before, hooks_before = snapshot(model), hook_table(model)
    assert before.requires_grad["0.bias"] is False and before.training[""] is True

    out = ALL_EXPLAINERS[name](model, images, labels, reduce_axes=())

    assert_model_restored(model, before, hooks_before)
    assert model.training and model[1].training and model[3].training
    assert model[1].num_batches_tracked.item() == 0
    if name in MODEL_EXPLAINERS:
        assert calls, "the user's forward hook stays active during the call"
    # Computed in eval mode: equal to the same explainer on an eval-mode copy.
    eval_copy = copy.deepcopy(model).eval()
    np.testing.assert_array_equal(ALL_EXPLAINERS[name](eval_copy, images, labels, reduce_axes=()), out)


class FailingForward(nn.Module):
    """Wraps a model; its forward raises on the ``fail_on``-th call."""

    def __init__(self, inner: nn.Module, fail_on: int) -> None:
        super().__init__()
        self.inner = inner
        self.fail_on = fail_on
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("forward failed on purpose")
        return self.inner(x)


FAILURE_CASES = [(name, ALL_EXPLAINERS[name], 1) for name in MODEL_EXPLAINERS] + [
    ("GuidedGradCAM-second-pass", GuidedGradCAM(), 2),
    ("IntegratedGradients-second-chunk", IntegratedGradients(steps=6, internal_batch_size=8), 2),
]


@pytest.mark.parametrize(
    "explainer, fail_on", [c[1:] for c in FAILURE_CASES], ids=[c[0] for c in FAILURE_CASES]
)
def test_model_restored_when_forward_raises(explainer, fail_on, make_cnn, images, labels):
    model = FailingForward(make_cnn(inplace=True), fail_on).train()
    model.inner.conv1.register_forward_hook(lambda mod, inp, out: None)
    before, hooks_before = snapshot(model), hook_table(model)
    with pytest.raises(RuntimeError, match="on purpose"):
        explainer(model, images, labels)
    assert model.calls == fail_on
    assert_model_restored(model, before, hooks_before)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert all(p.requires_grad for p in model.parameters())


@model_explainers
def test_model_restored_when_targets_out_of_range(name, make_cnn, images):
    model = make_cnn(inplace=True).train()
    before, hooks_before = snapshot(model), hook_table(model)
    with pytest.raises(ValueError, match="targets"):
        ALL_EXPLAINERS[name](model, images, [0, 1, 10, 2])
    assert_model_restored(model, before, hooks_before)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


# ---------------------------------------------------------------------------------------
# 7. bad input -> an error naming the argument
# ---------------------------------------------------------------------------------------
def nan_inputs(x):
    x = x.clone()
    x[1, 2, 3, 4] = float("nan")
    return x


def inf_inputs(x):
    x = x.numpy().copy()
    x[0, 0, 0, 0] = -np.inf
    return x


BAD_CALLS = {
    "targets_too_short": (ValueError, "targets", lambda m, x, y: (m, x, y[:3])),
    "targets_too_long": (ValueError, "targets", lambda m, x, y: (m, x, [0, 1, 2, 3, 4])),
    "targets_2d": (ValueError, "targets", lambda m, x, y: (m, x, y[:, None])),
    "targets_negative": (ValueError, "targets", lambda m, x, y: (m, x, [0, -1, 2, 3])),
    "targets_fractional": (ValueError, "targets", lambda m, x, y: (m, x, [0.5, 1, 2, 3])),
    "targets_strings": (TypeError, "targets", lambda m, x, y: (m, x, ["a", "b", "c", "d"])),
    "inputs_nan": (ValueError, "inputs.*NaN", lambda m, x, y: (m, nan_inputs(x), y)),
    "inputs_inf": (ValueError, "inputs.*Inf", lambda m, x, y: (m, inf_inputs(x), y)),
    "inputs_1d": (ValueError, "inputs", lambda m, x, y: (m, x.flatten()[:4], y)),
    "inputs_empty": (ValueError, "inputs", lambda m, x, y: (m, x[:0], y[:0])),
    "inputs_list": (TypeError, "inputs", lambda m, x, y: (m, x.tolist(), y)),
    "inputs_complex": (TypeError, "inputs", lambda m, x, y: (m, x.numpy().astype(complex), y)),
    "model_not_module": (TypeError, "model", lambda m, x, y: (lambda z: z, x, y)),
}


@pytest.mark.parametrize("bad", list(BAD_CALLS))
@all_explainers
def test_bad_arguments_raise_naming_the_argument(name, bad, cnn, images, labels):
    error, pattern, make_args = BAD_CALLS[bad]
    with pytest.raises(error, match=pattern):
        ALL_EXPLAINERS[name](*make_args(cnn, images, labels))


@model_explainers
def test_targets_beyond_model_outputs_raise(name, cnn, images):
    with pytest.raises(ValueError, match="targets.*10 outputs"):
        ALL_EXPLAINERS[name](cnn, images, 10)


@pytest.mark.parametrize("name", ["GradCAM", "GuidedGradCAM", "SobelEdges"])
def test_image_methods_need_4d_inputs_for_an_image_model(name, cnn, images, labels):
    # A 3-D batch is a time series now (Conv1d models); for an image model it is refused.
    with pytest.raises(ValueError, match="expects 4-D inputs"):
        ALL_EXPLAINERS[name](cnn, images[:, 0], labels)


class NoConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 16 * 16, 10)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x.flatten(1)))


class FunctionalReluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 16 * 16, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _type_name(value) -> str:
    return value.__name__ if isinstance(value, type) else type(value).__name__


@pytest.mark.parametrize(
    "explainer, model_factory, error, pattern",
    [
        (GradCAM(layer="conv9"), None, ValueError, "layer='conv9'"),
        (GuidedGradCAM(layer="features.3"), None, ValueError, "layer='features.3'"),
        (GradCAM(layer=nn.Conv2d(6, 8, 3)), None, ValueError, "layer"),
        (GradCAM(layer=3), None, TypeError, "layer"),
        (GradCAM(layer="flatten"), None, ValueError, "layer"),  # 2-D output
        (GradCAM(), NoConvNet, ValueError, "layer=None.*Conv2d"),
        (GuidedGradCAM(), NoConvNet, ValueError, "layer=None.*Conv2d"),
        (GuidedBackprop(), FunctionalReluNet, ValueError, "nn.ReLU"),
        (GuidedGradCAM(), FunctionalReluNet, ValueError, "nn.ReLU"),
        (GradCAM(interpolate_mode="linear"), None, ValueError, "interpolate_mode"),
        (IntegratedGradients(steps=0), None, ValueError, "steps"),
        (IntegratedGradients(steps=1, quadrature="riemann_trapezoid"), None, ValueError, "steps"),
        (IntegratedGradients(quadrature="simpson"), None, ValueError, "quadrature"),
        (IntegratedGradients(internal_batch_size=0), None, ValueError, "internal_batch_size"),
        (IntegratedGradients(baseline=np.zeros((2, 16, 16))), None, ValueError, "baseline"),
        (GradientSHAP(n_samples=0), None, ValueError, "n_samples"),
        (GradientSHAP(stdevs=-0.1), None, ValueError, "stdevs"),
        (GradientSHAP(stdevs="big"), None, TypeError, "stdevs"),
        (GradientSHAP(baselines=np.zeros((2, 3, 8, 8))), None, ValueError, "baselines"),
        (GradientSHAP(seed="abc"), None, TypeError, "seed"),
        (RandomAttribution(seed=1.5), None, TypeError, "seed"),
    ],
    ids=lambda v: "cnn" if v is None else v if isinstance(v, str) else _type_name(v),
)
def test_bad_parameters_and_models_raise(explainer, model_factory, error, pattern, cnn, images, labels):
    model = cnn if model_factory is None else model_factory()
    before, hooks_before = snapshot(model), hook_table(model)
    with pytest.raises(error, match=pattern):
        explainer(model, images, labels)
    assert_model_restored(model, before, hooks_before)


def test_device_argument_must_match_model(cnn, images, labels):
    with pytest.raises(ValueError, match="device"):
        Gradient()(cnn, images, labels, device="meta")
    np.testing.assert_array_equal(
        Gradient()(cnn, images, labels, device="cpu"), Gradient()(cnn, images, labels)
    )


# ---------------------------------------------------------------------------------------
# 8. pickling
# ---------------------------------------------------------------------------------------
PICKLE_CASES = {
    **ALL_EXPLAINERS,
    "IntegratedGradients-array": IntegratedGradients(
        baseline=np.full((3, 16, 16), 0.25, np.float32), steps=5, quadrature="riemann_middle"
    ),
    "GradientSHAP-tensor": GradientSHAP(baselines=torch.zeros(2, 3, 16, 16), n_samples=3, seed=11),
    "GradCAM-named": GradCAM(layer="conv1", relu=False, interpolate_mode="nearest"),
}


@pytest.mark.parametrize("name", list(PICKLE_CASES))
def test_pickle_round_trip(name, cnn, images, labels):
    explainer = PICKLE_CASES[name]
    clone = pickle.loads(pickle.dumps(explainer))
    assert clone == explainer and clone is not explainer
    assert repr(clone) == repr(explainer)
    np.testing.assert_array_equal(clone(cnn, images, labels), explainer(cnn, images, labels))


# ---------------------------------------------------------------------------------------
# 9. CUDA
# ---------------------------------------------------------------------------------------
@pytest.fixture
def no_tf32():
    """Full float32 on the GPU (TF32 convolutions would differ from the CPU by ~1e-3)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@all_explainers
def test_cuda_matches_cpu(name, cnn, images, labels, no_tf32):
    explainer = ALL_EXPLAINERS[name]
    gpu_model = copy.deepcopy(cnn).cuda()
    before, hooks_before = snapshot(gpu_model), hook_table(gpu_model)
    if explainer.stochastic:
        # A CUDA generator draws other numbers than a CPU one: check determinism and range,
        # and GradientSHAP on a linear model, where every draw gives the same value.
        first = explainer(gpu_model, images, labels)
        assert_close(explainer(gpu_model, images.numpy(), labels), first, rtol=1e-5)
        if name == "GradientSHAP":
            lin = linear_model(3 * 16 * 16, 10, scale=1.0).eval()
            shap = GradientSHAP(baselines=0.3, n_samples=4)
            assert_close(
                shap(copy.deepcopy(lin).cuda(), images, labels, reduce_axes=()),
                shap(lin, images, labels, reduce_axes=()),
                rtol=1e-4,
            )
        else:
            assert first.min() >= 0 and first.max() < 3
    else:
        on_gpu = explainer(gpu_model, images, labels, reduce_axes=())
        on_gpu_device_arg = explainer(gpu_model, images.numpy(), labels, device="cuda")
        on_cpu = explainer(cnn, images, labels, reduce_axes=())
        assert_close(on_gpu, on_cpu, rtol=1e-4, atol_rel=1e-4)
        assert_close(on_gpu_device_arg, on_cpu.sum(1, keepdims=True), rtol=1e-4, atol_rel=1e-4)
    assert_model_restored(gpu_model, before, hooks_before)
    assert next(gpu_model.parameters()).is_cuda
