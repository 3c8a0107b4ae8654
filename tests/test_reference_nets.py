"""The ResNet-18 and VGG-16 re-implementations keep torchvision's layout, sizes and init.

The expected layouts below are written out from torchvision's published architecture
(module names, order and shapes of its ``state_dict``); the parameter counts are its
published figures. Counting and naming use models built on the ``meta`` device (no
memory, no arithmetic); only a few tests build real weights.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_rng_unchanged, rng_states
from torch import nn

from xai_sanity.data.reference_nets import RESNET18_PARAMETERS, VGG16_PARAMETERS, BasicBlock, resnet18, vgg16

VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_POOLS = (4, 9, 16, 23, 30)


def on_meta(builder, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(*args, **kwargs)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def batch_norm_entries(prefix: str, channels: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (f"{prefix}.weight", (channels,)),
        (f"{prefix}.bias", (channels,)),
        (f"{prefix}.running_mean", (channels,)),
        (f"{prefix}.running_var", (channels,)),
        (f"{prefix}.num_batches_tracked", ()),
    ]


def resnet18_layout(num_classes: int) -> list[tuple[str, tuple[int, ...]]]:
    """torchvision's ``resnet18().state_dict()`` keys and shapes, in order."""
    entries = [("conv1.weight", (64, 3, 7, 7)), *batch_norm_entries("bn1", 64)]
    in_channels = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            name = f"layer{stage}.{block}"
            first_in = in_channels if block == 0 else width
            entries += [
                (f"{name}.conv1.weight", (width, first_in, 3, 3)),
                *batch_norm_entries(f"{name}.bn1", width),
                (f"{name}.conv2.weight", (width, width, 3, 3)),
                *batch_norm_entries(f"{name}.bn2", width),
            ]
            if block == 0 and stage > 1:  # stride 2 and more channels: a 1x1 projection
                entries += [
                    (f"{name}.downsample.0.weight", (width, in_channels, 1, 1)),
                    *batch_norm_entries(f"{name}.downsample.1", width),
                ]
        in_channels = width
    return entries + [("fc.weight", (num_classes, 512)), ("fc.bias", (num_classes,))]


def vgg16_layout(num_classes: int) -> list[tuple[str, tuple[int, ...]]]:
    """torchvision's ``vgg16().state_dict()`` keys and shapes, in order."""
    widths = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    entries = []
    in_channels = 3
    for index, width in zip(VGG16_CONVS, widths):
        entries += [
            (f"features.{index}.weight", (width, in_channels, 3, 3)),
            (f"features.{index}.bias", (width,)),
        ]
        in_channels = width
    for index, (n_in, n_out) in zip((0, 3, 6), ((512 * 7 * 7, 4096), (4096, 4096), (4096, num_classes))):
        entries += [(f"classifier.{index}.weight", (n_out, n_in)), (f"classifier.{index}.bias", (n_out,))]
    return entries


def layout(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items()]


@pytest.fixture(scope="module")
def vgg_weights() -> nn.Module:
    """One real VGG-16 (10 classes; the 25088 x 4096 layer makes it ~2 s to build)."""
    return vgg16(10, seed=0)


# -- layout ---------------------------------------------------------------------------------


def test_parameter_counts_are_torchvisions():
    assert n_parameters(on_meta(resnet18)) == RESNET18_PARAMETERS == 11_689_512
    assert n_parameters(on_meta(vgg16)) == VGG16_PARAMETERS == 138_357_544
    # Only the classifier's last layer depends on the number of classes.
    assert n_parameters(on_meta(resnet18, 10)) == RESNET18_PARAMETERS - 990 * 513
    assert n_parameters(on_meta(vgg16, 10)) == VGG16_PARAMETERS - 990 * 4097


@pytest.mark.parametrize("num_classes", [1000, 10])
def test_state_dict_layout_is_torchvisions(num_classes):
    resnet = on_meta(resnet18, num_classes)
    assert layout(resnet) == resnet18_layout(num_classes)
    assert len(resnet.state_dict()) == 122 and len(list(resnet.parameters())) == 62
    vgg = on_meta(vgg16, num_classes)
    assert layout(vgg) == vgg16_layout(num_classes)
    assert len(list(vgg.parameters())) == 32


def test_resnet18_module_names_and_key_layers():
    model = on_meta(resnet18)
    top = [name for name, _ in model.named_children()]
    assert top == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    layer4 = model.get_submodule("layer4")
    assert isinstance(layer4, nn.Sequential) and len(layer4) == 2
    assert all(isinstance(block, BasicBlock) for block in layer4)
    block = model.get_submodule("layer4.0")
    assert [name for name, _ in block.named_children()] == [
        "conv1",
        "bn1",
        "relu",
        "conv2",
        "bn2",
        "downsample",
    ]
    assert model.get_submodule("layer1.0").downsample is None
    conv = model.get_submodule("layer4.1.conv2")
    assert isinstance(conv, nn.Conv2d) and conv.bias is None
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (
        512, 512, (3, 3), (1, 1), (1, 1),
    )  # fmt: skip
    assert model.get_submodule("layer2.0.conv1").stride == (2, 2)
    assert model.get_submodule("layer2.0.downsample.0").stride == (2, 2)
    assert (model.conv1.kernel_size, model.conv1.stride, model.conv1.padding) == ((7, 7), (2, 2), (3, 3))
    assert (model.maxpool.kernel_size, model.maxpool.stride, model.maxpool.padding) == (3, 2, 1)
    assert model.avgpool.output_size == (1, 1)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 9 and all(m.inplace for m in relus)  # one per block, shared, and the stem's


def test_vgg16_module_names_and_key_layers():
    model = on_meta(vgg16)
    assert [name for name, _ in model.named_children()] == ["features", "avgpool", "classifier"]
    assert len(model.features) == 31
    for index, module in enumerate(model.features):
        if index in VGG16_CONVS:
            assert isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3) and module.padding == (1, 1)
        elif index in VGG16_POOLS:
            assert isinstance(module, nn.MaxPool2d) and (module.kernel_size, module.stride) == (2, 2)
        else:
            assert isinstance(module, nn.ReLU) and module.inplace
    last_conv = model.get_submodule("features.28")
    assert (last_conv.in_channels, last_conv.out_channels) == (512, 512)
    assert model.avgpool.output_size == (7, 7)
    kinds = [type(m) for m in model.classifier]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert model.classifier[2].p == model.classifier[5].p == 0.5
    logits = model.get_submodule("classifier.6")
    assert (logits.in_features, logits.out_features) == (4096, 1000)


def test_shortcut_runs_after_the_main_branch():
    # Forward hooks see a downsampling block's convolutions in torchvision's order.
    model = resnet18(10).eval()
    block = model.get_submodule("layer2.0")
    seen = []
    for name in ("conv1", "conv2", "downsample.0"):
        block.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.append(name))
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert seen == ["conv1", "conv2", "downsample.0"]


# -- forward --------------------------------------------------------------------------------


def test_resnet18_output_shape_at_224():
    model = resnet18().eval()
    assert model.training is False
    with torch.no_grad():
        out = model(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_vgg16_output_shape_at_32_thanks_to_the_adaptive_pool(vgg_weights):
    model = vgg_weights.eval()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = model.features(x)
        out = model(x)
    assert features.shape == (1, 512, 1, 1)
    assert out.shape == (1, 10) and torch.isfinite(out).all()


# -- initialisation, seeding, RNG -------------------------------------------------------------


def test_initialisation_follows_torchvision():
    model = resnet18(seed=1)
    assert model.training  # returned in training mode, as torchvision does
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.weight.numel() >= 100_000:
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            expected = math.sqrt(2.0 / fan_out)  # He normal, fan_out mode
            assert abs(module.weight.std().item() / expected - 1) < 0.03, name
            assert abs(module.weight.mean().item()) < 0.03 * expected, name
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
    bound = 1 / math.sqrt(512)  # the linear layer keeps PyTorch's default U(-b, b)
    assert model.fc.weight.abs().max() <= bound and model.fc.weight.std() > 0.5 * bound / math.sqrt(3)


def test_vgg16_initialisation_follows_torchvision(vgg_weights):
    for index in VGG16_CONVS:
        conv = vgg_weights.features[index]
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
    deep = vgg_weights.features[28].weight
    assert abs(deep.std().item() / math.sqrt(2.0 / (512 * 9)) - 1) < 0.03
    for index in (0, 3, 6):
        linear = vgg_weights.classifier[index]
        assert abs(linear.weight.std().item() / 0.01 - 1) < 0.03
        assert torch.equal(linear.bias, torch.zeros_like(linear.bias))


def test_resnet18_same_seed_same_weights_other_seed_other_weights():
    a, b, c = resnet18(10, seed=3), resnet18(10, seed=3), resnet18(10, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["conv1.weight"], sc["conv1.weight"])
    assert not torch.equal(sa["fc.weight"], sc["fc.weight"])


def test_vgg16_same_seed_same_weights(vgg_weights):
    again = vgg16(10, seed=0).state_dict()
    assert all(torch.equal(t, again[k]) for k, t in vgg_weights.state_dict().items())


def test_global_rng_untouched_and_not_read():
    torch.manual_seed(1)
    before = rng_states()
    first = resnet18(10, seed=0)
    assert_rng_unchanged(before)
    torch.manual_seed(2)  # another global state: the same weights
    second = resnet18(10, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters()))
    before = rng_states()
    on_meta(vgg16)
    assert_rng_unchanged(before)


@pytest.mark.parametrize("builder", [resnet18, vgg16])
def test_bad_arguments(builder):
    with pytest.raises(ValueError, match="num_classes"):
        builder(0)
    with pytest.raises(ValueError, match="num_classes"):
        builder(2.5)
    with pytest.raises(TypeError, match="seed"):
        builder(10, seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        builder(10, seed=True)
