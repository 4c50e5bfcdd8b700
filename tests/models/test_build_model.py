"""build_model: names, input shapes and the architectural choices each network's paper makes."""

import dataclasses

import pytest
import torch
from torch import nn

from seqnorm_repro.config import _MODEL_SETTINGS, MODELS, ModelConfig
from seqnorm_repro.models import MODEL_BUILDERS, CifarResNet, WideResNet, build_model
from seqnorm_repro.models.resnet_cifar import PadShortcut
from seqnorm_repro.models.wide_resnet import WideBasicBlock
from seqnorm_repro.norms import BatchNorm, norm_layer

BATCHNORM = norm_layer("batchnorm")


def test_every_config_model_has_a_builder():
    assert set(MODEL_BUILDERS) == set(MODELS)


def test_every_model_setting_names_the_model_that_reads_it():
    """Without its owner, another model would take the setting and ignore it silently."""
    settings = {f.name for f in dataclasses.fields(ModelConfig)} - {"name"}
    assert settings == set(_MODEL_SETTINGS) and set(_MODEL_SETTINGS.values()) <= set(MODELS)


def test_unknown_model_name_lists_the_names():
    config = ModelConfig()
    config.name = "vgg16"  # past the config's own check, as a hand-made config could be
    with pytest.raises(ValueError, match=r"unknown model 'vgg16'; choose one of \[") as error:
        build_model(config, BATCHNORM, 10, (3, 32, 32))
    assert all(repr(name) in str(error.value) for name in MODEL_BUILDERS)


def test_unknown_resnet18_library_is_rejected():
    config = ModelConfig(name="resnet18")
    config.library = "keras"
    with pytest.raises(ValueError, match=r"model.library='keras' is not one of \('timm', 'torchvision'\)"):
        build_model(config, BATCHNORM, 10, (3, 64, 64))


def test_conv_model_rejects_a_flat_input_shape():
    with pytest.raises(ValueError, match=r"'resnet56' is convolutional and needs a \(C, H, W\) input shape"):
        build_model(ModelConfig(name="resnet56"), BATCHNORM, 10, (784,))


@pytest.mark.parametrize(
    "config",
    [ModelConfig(name="resnet56"), ModelConfig(name="resnet18", library="timm")],
    ids=["resnet56", "timm"],
)
def test_conv_models_take_the_input_channel_count(config):
    model = build_model(config, BATCHNORM, 10, (1, 28, 28))
    assert model(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_torchvision_resnet18_rejects_non_rgb_input():
    with pytest.raises(
        ValueError, match=r"3-channel images, got input shape \(1, 28, 28\); use model.library=timm"
    ):
        build_model(ModelConfig(name="resnet18", library="torchvision"), BATCHNORM, 10, (1, 28, 28))


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_resnet18_nvidia_fanin_init_is_nvidias_recipe(library):
    """Kaiming fan_in convolutions and no norm weight at zero (timm's own init zeroes the last of each
    residual branch, and draws convolutions with fan_out), whatever norm layer the network holds."""
    torch.manual_seed(0)
    ghost = norm_layer("ghostnorm", gm=2)
    own = build_model(ModelConfig(name="resnet18", library=library), ghost, 10, (3, 224, 224))
    nvidia = build_model(
        ModelConfig(name="resnet18", library=library, init="nvidia_fanin"), ghost, 10, (3, 224, 224)
    )
    stem = nvidia.conv1.weight  # 3 -> 64 channels, 7x7: fan_in 147, fan_out 3136
    assert stem.std().item() == pytest.approx((2 / 147) ** 0.5, rel=0.05)
    assert own.conv1.weight.std().item() == pytest.approx((2 / 3136) ** 0.5, rel=0.05)
    norms = [m for m in nvidia.modules() if type(m).__name__ == "GhostNorm"]
    assert len(norms) == 20
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in norms)
    zeroed = [m for m in own.modules() if type(m).__name__ == "GhostNorm" and not m.weight.any()]
    assert len(zeroed) == (8 if library == "timm" else 0)


def test_model_init_other_than_the_library_s_is_for_resnet18_only():
    with pytest.raises(ValueError, match=r"model.init=nvidia_fanin applies to model.name=resnet18 only"):
        ModelConfig(name="resnet56", init="nvidia_fanin")


def test_simplenet_is_linear_norm_relu_per_configured_width():
    model = build_model(ModelConfig(name="simplenet", hidden=[64, 32]), BATCHNORM, 10, (1, 28, 28))
    layers = list(model.layers)
    expected = [nn.Flatten, nn.Linear, BatchNorm, nn.ReLU, nn.Linear, BatchNorm, nn.ReLU, nn.Linear]
    assert [type(layer) for layer in layers] == expected
    assert [(layer.in_features, layer.out_features) for layer in layers if isinstance(layer, nn.Linear)] == [
        (784, 64),
        (64, 32),
        (32, 10),
    ]


def test_resnet56_shortcuts_are_parameter_free_option_a():
    model = CifarResNet(BATCHNORM, 10, depth=56)
    shortcuts = [block.shortcut for stage in model.stages for block in stage]
    assert sum(isinstance(s, PadShortcut) for s in shortcuts) == 2
    assert sum(param.numel() for s in shortcuts for param in s.parameters()) == 0


def test_pad_shortcut_subsamples_and_zero_pads_channels():
    x = torch.randn(2, 16, 8, 8)
    out = PadShortcut(stride=2, extra_channels=16)(x)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert out.shape == (2, 32, 4, 4) and not out[:, 16:].any()


def test_wrn_shortcut_is_a_1x1_conv_where_the_shape_changes():
    model = WideResNet(BATCHNORM, 10, depth=16, width=2)
    first_blocks = [stage[0] for stage in model.stages]
    assert [(b.shortcut.in_channels, b.shortcut.out_channels, b.shortcut.stride) for b in first_blocks] == [
        (16, 32, (1, 1)),
        (32, 64, (2, 2)),
        (64, 128, (2, 2)),
    ]
    assert all(block.shortcut is None for stage in model.stages for block in list(stage)[1:])


@pytest.mark.parametrize(("cls", "depth"), [(CifarResNet, 57), (WideResNet, 27)])
def test_impossible_depth_is_rejected(cls, depth):
    with pytest.raises(ValueError, match=f"depth must be 6n \\+ \\d with n >= 1 .*got {depth}"):
        cls(BATCHNORM, 10, depth=depth)


def test_wrn_block_is_norm_relu_conv_norm_relu_dropout_conv_with_preactivated_shortcut():
    """Zagoruyko & Komodakis's block; where widths differ the 1x1 shortcut takes relu(norm1(x)), as the
    authors' code does."""
    block = WideBasicBlock(16, 32, stride=2, dropout=0.3, norm_layer=BATCHNORM).train()
    inputs = {}  # in call order
    for name in ("conv1", "norm2", "dropout", "conv2", "shortcut"):
        getattr(block, name).register_forward_pre_hook(
            lambda _module, args, name=name: inputs.setdefault(name, args[0].clone())
        )
    assert block(torch.randn(4, 16, 8, 8)).shape == (4, 32, 4, 4)
    assert [name for name in inputs if name in ("norm2", "dropout", "conv2")] == ["norm2", "dropout", "conv2"]
    assert torch.equal(inputs["shortcut"], inputs["conv1"])


@pytest.mark.parametrize(
    "config",
    [ModelConfig(name="resnet56"), ModelConfig(name="wide_resnet", depth=10, widen_factor=1)],
    ids=["resnet56", "wrn10_1"],
)
def test_cifar_convolutions_start_kaiming_normal_fan_out(config):
    """He init with fan_out, as torchvision's ResNets: the 3 -> 16 3x3 stem has fan_out 144 (fan_in 27)."""
    torch.manual_seed(0)
    stem = build_model(config, BATCHNORM, 10, (3, 32, 32)).stem
    weight = (stem[0] if isinstance(stem, nn.Sequential) else stem).weight
    assert weight.shape == (16, 3, 3, 3)
    assert weight.std().item() == pytest.approx((2 / 144) ** 0.5, rel=0.1)
