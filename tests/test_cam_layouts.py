"""Grad-CAM's default layer on common layouts, and Grad-CAM / Sobel on time series.

References are captum (``LayerGradCam`` + ``LayerAttribution.interpolate``,
``GuidedGradCam``) and scipy.ndimage; the default layer is checked by name on
torchvision-layout ResNet-18 and VGG-16, a DenseNet-like layout, the built-in models and
Conv1d models.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import captum.attr as ca
import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F
from helpers import (
    ModelWatch,
    assert_rng_unchanged,
    batch,
    conv1d_batch,
    conv1d_model,
    fan_in_uniform_,
    predict,
    resnet18_model,
    rng_states,
    tabular_batch,
    tabular_model,
)
from torch import nn

from xai_sanity.data import last_conv_layer, make_model
from xai_sanity.data.reference_nets import vgg16
from xai_sanity.explainers import GradCAM, GuidedGradCAM, SobelEdges
from xai_sanity.explainers.cam import default_layer, find_layer
from xai_sanity.testing import check_explain_func

# captum warns that it switches requires_grad on and that it hooks ReLUs; both are expected.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def assert_close(actual: np.ndarray, expected, rtol: float = 1e-5, atol_rel: float = 1e-5) -> None:
    """allclose with an absolute tolerance relative to the reference's magnitude."""
    expected = np.asarray(expected.detach() if isinstance(expected, torch.Tensor) else expected)
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max())
    assert scale > 0, "reference is all zeros: the comparison would prove nothing"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_rel * scale)


def _twin(model: nn.Module) -> nn.Module:
    """An eval-mode copy with out-of-place ReLUs (the same function; captum's hooks need
    them out of place)."""
    twin = copy.deepcopy(model).eval()
    for module in twin.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return twin


def captum_cam(model, x, y, layer: str, mode: str, relu: bool = True) -> np.ndarray:
    """captum's Grad-CAM of ``layer`` upsampled to the input size, on a copy of ``model``."""
    twin = _twin(model)
    x = torch.as_tensor(x)
    cam = ca.LayerGradCam(twin, twin.get_submodule(layer)).attribute(
        x.clone().requires_grad_(True), target=torch.as_tensor(y), relu_attributions=relu
    )
    return ca.LayerAttribution.interpolate(cam, tuple(x.shape[2:]), mode).detach().numpy()


def captum_guided_cam(model, x, y, layer: str, mode: str) -> np.ndarray:
    """captum's Guided Grad-CAM of ``layer``, on a copy of ``model``."""
    twin = _twin(model)
    x = torch.as_tensor(x)
    out = ca.GuidedGradCam(twin, twin.get_submodule(layer)).attribute(
        x.clone().requires_grad_(True), target=torch.as_tensor(y), interpolate_mode=mode
    )
    return out.detach().numpy()


def chosen(model: nn.Module, x) -> str:
    """The default layer's name, as recorded by a Grad-CAM call."""
    explainer = GradCAM()
    explainer(model, x, 0)
    return explainer.layer_


def _built(module: nn.Module, seed: int = 0) -> nn.Module:
    return fan_in_uniform_(module, seed).eval()


# ---------------------------------------------------------------------------------------
# model layouts defined here
# ---------------------------------------------------------------------------------------
class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 whose output is concatenated to its input (DenseNet's growth)."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(self.relu(self.norm(x)))], 1)


class TinyDenseNet(nn.Module):
    """torchvision's DenseNet layout in miniature: ``features`` (stem, dense blocks, a
    transition with average pooling, final ``norm5``), then a functional in-place ReLU,
    global average pooling, flatten and ``classifier``."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(3, 8, 3, padding=1, bias=False),
                norm0=nn.BatchNorm2d(8),
                relu0=nn.ReLU(inplace=True),
                pool0=nn.MaxPool2d(2),
                denseblock1=nn.Sequential(DenseLayer(8, 4), DenseLayer(12, 4)),
                transition1=nn.Sequential(
                    OrderedDict(
                        norm=nn.BatchNorm2d(16),
                        relu=nn.ReLU(inplace=True),
                        conv=nn.Conv2d(16, 8, 1, bias=False),
                        pool=nn.AvgPool2d(2),
                    )
                ),
                denseblock2=nn.Sequential(DenseLayer(8, 4), DenseLayer(12, 4)),
                norm5=nn.BatchNorm2d(16),
            )
        )
        self.classifier = nn.Linear(16, n_classes)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class SharedActivationNet(nn.Module):
    """One ``nn.ReLU`` module applied after both convolutions and the hidden linear layer:
    its second call gives the last feature maps, its third a 2-D hidden vector."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(8 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.fc2(self.act(self.fc1(x.flatten(1))))


def separate_activations(shared: SharedActivationNet) -> nn.Sequential:
    """The same function as ``shared`` with one ReLU module per use."""
    twin = nn.Sequential(
        OrderedDict(
            conv1=copy.deepcopy(shared.conv1), relu1=nn.ReLU(),
            conv2=copy.deepcopy(shared.conv2), relu2=nn.ReLU(),
            flatten=nn.Flatten(), fc1=copy.deepcopy(shared.fc1), relu3=nn.ReLU(),
            fc2=copy.deepcopy(shared.fc2),
        )
    )  # fmt: skip
    return twin.eval()


def conv1d_vgg(seed: int = 0) -> nn.Sequential:
    """A VGG-like series classifier for (N, 2, 32): two conv-ReLU(inplace)-max-pool blocks,
    flatten, linear."""
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(
            nn.Conv1d(2, 6, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool1d(2),
            nn.Conv1d(6, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool1d(2),
            nn.Flatten(), nn.Linear(8 * 8, 10),
        )  # fmt: skip
    return _built(model, seed)


def _seq(*modules: nn.Module) -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        return _built(nn.Sequential(*modules))


# ---------------------------------------------------------------------------------------
# 1. the default layer on each layout
# ---------------------------------------------------------------------------------------
def test_resnet18_default_is_layer4_and_matches_captum():
    model = resnet18_model()
    x, y = batch(2, (3, 64, 64), seed=1)
    explainer = GradCAM()
    out = explainer(model, x, y)
    assert explainer.layer_ == "layer4"
    assert default_layer(model, torch.from_numpy(x)).module is model.layer4
    assert_close(out, captum_cam(model, x, y, "layer4", "bilinear"))
    # not the old default, the pre-BatchNorm convolution of the last block
    assert not np.allclose(out, GradCAM(layer="layer4.1.conv2")(model, x, y))


def test_resnet18_at_224_gives_no_all_zero_map():
    model = resnet18_model()
    x, _ = batch(2, (3, 224, 224), seed=2)
    y = predict(model, x)
    explainer = GradCAM()
    out = explainer(model, x, y)
    assert explainer.layer_ == "layer4" and out.shape == (2, 1, 224, 224)
    assert (out.reshape(2, -1).max(1) > 0).all()


def test_resnet18_with_one_pixel_last_stage_falls_back_to_layer3():
    # At 32 x 32 layer4's maps are 1 x 1 (a constant once upsampled): the last stage with
    # larger maps is chosen.
    assert chosen(resnet18_model(), batch(1, (3, 32, 32))[0]) == "layer3"


@pytest.fixture(scope="module")
def vgg16_model():
    return vgg16(10, seed=0).eval()


def test_vgg16_default_is_the_relu_after_the_last_conv(vgg16_model):
    # features.28 is the last conv, .29 its in-place ReLU, .30 the last max-pool; the map
    # before the max-pool and the adaptive average pool is the classic choice. At 32 x 32
    # the max-pool's output is 1 x 1 and the adaptive pool copies it to 7 x 7.
    x, y = batch(2, (3, 32, 32), seed=3)
    explainer = GradCAM()
    out = explainer(vgg16_model, x, y)
    assert explainer.layer_ == "features.29"
    assert_close(out, captum_cam(vgg16_model, x, y, "features.29", "bilinear"))
    assert default_layer(vgg16_model, torch.rand(1, 3, 64, 64)).name == "features.29"


def test_densenet_layout_default_is_the_features_output():
    with torch.random.fork_rng(devices=[]):
        model = _built(TinyDenseNet())
    x, y = batch(2, (3, 16, 16), seed=4)
    explainer = GradCAM()
    out = explainer(model, x, y)
    # The features' output is norm5's (the ReLU after it is functional, not a module).
    assert explainer.layer_ == "features"
    assert_close(out, captum_cam(model, x, y, "features", "bilinear"))
    assert_close(out, captum_cam(model, x, y, "features.norm5", "bilinear"))


@pytest.mark.parametrize(
    "name, expected", [("lenet", "features.4"), ("vgg", "features.11"), ("resnet", "layers")]
)
def test_builtin_models(name, expected):
    model = make_model(name)
    x, y = batch(2, (3, 32, 32), seed=5)
    explainer = GradCAM(relu=False)  # random weights: the rectified maps may be all zero
    out = explainer(model, x, y)
    assert explainer.layer_ == expected
    assert_close(out, captum_cam(model, x, y, expected, "bilinear", relu=False))
    if name != "resnet":  # LeNet and SmallVGG keep the ReLU after the last convolution
        features = list(model.features)
        after_conv = features[features.index(last_conv_layer(model)) + 1]
        assert model.get_submodule(expected) is after_conv and isinstance(after_conv, nn.ReLU)


@pytest.mark.parametrize(
    "model_factory, shape, expected",
    [
        (conv1d_model, (3, 32), "relu2"),
        (conv1d_vgg, (2, 32), "4"),  # the in-place ReLU before the last max-pool
    ],
    ids=["conv1d_model", "conv1d_vgg"],
)
def test_conv1d_default_layer(model_factory, shape, expected):
    assert chosen(model_factory(), batch(1, shape)[0]) == expected


def test_rule_on_small_sequentials():
    x = torch.rand(1, 3, 8, 8)
    conv_bn_relu = _seq(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    assert find_layer(conv_bn_relu, None, x) is conv_bn_relu[2]
    # A ReLU after the pool is the last map; the pool is stepped back over only when it is
    # the last module to write the map.
    pool_then_relu = _seq(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(36, 2))
    assert default_layer(pool_then_relu, x).name == "2"
    # Dropout hands back the same tensor in eval mode: the ReLU is named, not the dropout.
    dropout = _seq(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(144, 2))
    assert default_layer(dropout, x).name == "1"
    # A features container that ends with the rectified map is itself the layer.
    nested = _seq(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True)), nn.Flatten(), nn.Linear(144, 2))
    assert default_layer(nested, x).name == "0"
    with pytest.raises(ValueError, match="inputs"):
        find_layer(nested, None)


def test_shared_activation_is_hooked_at_the_right_call():
    with torch.random.fork_rng(devices=[]):
        model = _built(SharedActivationNet())
    x, y = batch(3, (3, 8, 8), seed=6)
    choice = default_layer(model, torch.from_numpy(x))
    assert (choice.name, choice.call) == ("act", 1)  # its second of three calls
    twin = separate_activations(model)
    for explainer, twin_explainer in (
        (GradCAM(), GradCAM(layer="relu2")),
        (GuidedGradCAM(), GuidedGradCAM(layer="relu2")),
    ):
        np.testing.assert_allclose(
            explainer(model, x, y, reduce_axes=()), twin_explainer(twin, x, y, reduce_axes=()), rtol=1e-6
        )


def test_no_feature_map_raises():
    with pytest.raises(ValueError, match="layer=None.*Conv1d"):
        GradCAM()(_seq(nn.Flatten(), nn.Linear(3 * 16, 2)), np.zeros((2, 3, 16), np.float32), 0)


def test_default_layer_probe_leaves_model_and_rng_alone():
    model = make_model("resnet")  # training mode: the probe runs in eval mode and restores it
    x, y = batch(2, (3, 32, 32), seed=7)
    watch, before = ModelWatch(model), rng_states()
    first = GradCAM()
    out = first(model, x, y)
    choice = default_layer(model, torch.from_numpy(x))
    watch.assert_unchanged()
    assert_rng_unchanged(before)
    assert model.training
    second = GradCAM()
    np.testing.assert_array_equal(out, second(model, x, y))
    assert first.layer_ == second.layer_ == choice.name == "layers"


def test_explicit_layer_is_recorded_by_name():
    model = conv1d_model()
    explainer = GradCAM(layer=model.conv1)
    explainer(model, *conv1d_batch())
    assert explainer.layer_ == "conv1"


# ---------------------------------------------------------------------------------------
# 2. time series: Grad-CAM and Guided Grad-CAM on Conv1d models
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("layer", [None, "conv1", "conv2", "relu1"])
def test_conv1d_gradcam_matches_captum(layer, relu):
    model = conv1d_model()
    x, y = conv1d_batch()
    ref = captum_cam(model, x, y, layer or "relu2", "linear", relu=relu)
    explainer = GradCAM(layer=layer, relu=relu)
    for mode in ("bilinear", "linear"):  # "bilinear" is linear on a time axis
        assert_close(explainer(model, x, y, interpolate_mode=mode), ref)
    assert_close(explainer(model, x, y, reduce_axes=()), ref)
    if not relu and layer in ("conv1", "conv2"):
        assert ref.min() < 0, "relu=False should be exercised with negative evidence"


@pytest.mark.parametrize("mode", ["nearest", "area"])
def test_conv1d_gradcam_other_modes(mode):
    model = conv1d_vgg()
    x, y = batch(3, (2, 32), seed=8)
    assert_close(GradCAM(interpolate_mode=mode)(model, x, y), captum_cam(model, x, y, "4", mode))


@pytest.mark.parametrize("layer", [None, "conv1"])
def test_conv1d_guided_gradcam_matches_captum(layer):
    model = conv1d_model()
    x, y = conv1d_batch()
    ref = captum_guided_cam(model, x, y, layer or "relu2", "linear")
    explainer = GuidedGradCAM(layer=layer)
    assert_close(explainer(model, x, y, reduce_axes=()), ref)
    assert_close(explainer(model, x, y), ref.sum(1, keepdims=True))


def test_conv1d_guided_gradcam_inplace_relus_match_captum():
    model = conv1d_vgg()
    x, y = batch(3, (2, 32), seed=9)
    ref = captum_guided_cam(model, x, y, "4", "linear")
    assert_close(GuidedGradCAM()(model, x, y, reduce_axes=()), ref)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


@pytest.mark.parametrize(
    "explainer, shape, pattern",
    [
        (GradCAM(interpolate_mode="bicubic"), (4, 3, 32), "interpolate_mode='bicubic'.*time series"),
        (GradCAM(interpolate_mode="cubic"), (4, 3, 32), "interpolate_mode must be one of"),
    ],
)
def test_conv1d_bad_modes_raise(explainer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        explainer(conv1d_model(), np.zeros(shape, np.float32), 0)


@pytest.mark.parametrize("explainer", [GradCAM(), GuidedGradCAM(), SobelEdges()], ids=lambda e: e.name)
def test_tabular_inputs_need_images_or_time_series(explainer):
    with pytest.raises(ValueError, match="needs images .* or time series"):
        explainer(tabular_model(), *tabular_batch())


@pytest.mark.parametrize("explainer", [GradCAM(), GuidedGradCAM(), SobelEdges()], ids=lambda e: e.name)
def test_time_series_methods_conform(explainer):
    passed = check_explain_func(explainer, conv1d_model(), *conv1d_batch())
    assert {"model untouched", "global RNG untouched", "deterministic", "shape"} <= set(passed)


# ---------------------------------------------------------------------------------------
# 3. SobelEdges on time series == |scipy.ndimage.sobel| of each series
# ---------------------------------------------------------------------------------------
def edge_series() -> np.ndarray:
    s = np.zeros((3, 2, 11))
    s[0, 0, 5:] = 1.0  # step
    s[0, 1, 0] = 4.0  # spike on the border
    s[1, 0] = np.arange(11.0) * 0.5  # ramp: constant derivative, halved at the borders
    s[1, 1, ::2] = 1.0  # alternating
    s[2] = np.random.default_rng(0).normal(size=(2, 11))
    return s


SOBEL_SERIES = {
    "random": lambda: np.random.default_rng(1).normal(size=(4, 3, 32)),
    "edges": edge_series,
    "length_2": lambda: np.random.default_rng(2).normal(size=(2, 3, 2)),
    "length_3": lambda: np.random.default_rng(3).normal(size=(2, 1, 3)),
}


@pytest.mark.parametrize("kind", list(SOBEL_SERIES))
def test_sobel_1d_matches_scipy(kind):
    series = SOBEL_SERIES[kind]().astype(np.float32)
    model = conv1d_model(in_channels=series.shape[1])
    as64 = series.astype(np.float64)
    ref = np.abs(np.stack([[scipy.ndimage.sobel(s) for s in sample] for sample in as64]))
    # the same closed form along the time axis of the whole batch: |x[t+1] - x[t-1]|
    # with scipy's 'reflect' border (the edge sample repeated)
    np.testing.assert_allclose(
        ref, np.abs(scipy.ndimage.correlate1d(as64, [-1.0, 0.0, 1.0], axis=-1, mode="reflect"))
    )
    assert_close(SobelEdges()(model, series, 0, reduce_axes=()), ref)
    assert_close(SobelEdges()(model, torch.from_numpy(series), 0), ref.sum(1, keepdims=True))


def test_sobel_1d_rejects_single_steps_and_image_models():
    with pytest.raises(ValueError, match="2 steps"):
        SobelEdges()(conv1d_model(), np.zeros((2, 3, 1), np.float32), 0)
    image_model = make_model("lenet")
    with pytest.raises(ValueError, match="expects 4-D inputs"):
        SobelEdges()(image_model, np.zeros((2, 3, 32), np.float32), 0)
