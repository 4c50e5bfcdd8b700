"""The real networks have the published sizes and one norm layer per normalised activation; built,
never run."""

import functools

import pytest
from torch import nn

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import BatchNorm, norm_layer

CONFIGS = {  # model id -> (config, num_classes, input shape)
    "simplenet": (ModelConfig(name="simplenet"), 10, (1, 28, 28)),
    "resnet56": (ModelConfig(name="resnet56"), 10, (3, 32, 32)),
    "wrn28_10": (ModelConfig(name="wide_resnet", dropout=0.3), 10, (3, 32, 32)),
    "resnet18_timm": (ModelConfig(name="resnet18", library="timm"), 1000, (3, 224, 224)),
    "resnet18_torchvision": (ModelConfig(name="resnet18", library="torchvision"), 1000, (3, 224, 224)),
}


@functools.cache
def built(model_id: str) -> nn.Module:
    """Each network once per session: WRN-28-10 alone has 36.5M parameters to initialise."""
    config, num_classes, shape = CONFIGS[model_id]
    return build_model(config, norm_layer("batchnorm"), num_classes, shape)


def parameter_count(model: nn.Module) -> int:
    return sum(param.numel() for param in model.parameters())


def test_simplenet_parameter_count_is_exact():
    linears = (784 * 512 + 512) + (512 * 300 + 300) + (300 * 10 + 10)
    norms = 2 * (512 + 300)  # weight and bias per hidden unit
    assert parameter_count(built("simplenet")) == linears + norms == 560_454


@pytest.mark.parametrize(
    ("model_id", "published"),
    [
        ("resnet56", 0.85e6),  # He et al. 2015, Table 6
        ("wrn28_10", 36.5e6),  # Zagoruyko & Komodakis 2016
        ("resnet18_timm", 11.7e6),  # 1000 classes
        ("resnet18_torchvision", 11.7e6),
    ],
)
def test_parameter_count_matches_published(model_id, published):
    assert parameter_count(built(model_id)) == pytest.approx(published, rel=0.02)


@pytest.mark.parametrize(
    ("model_id", "norm_layers"),
    [
        ("simplenet", 2),
        ("resnet56", 1 + 27 * 2),  # stem, then two per BasicBlock; option A shortcuts have none
        ("wrn28_10", 12 * 2 + 1),  # two per block, then the final one
        ("resnet18_timm", 1 + 8 * 2 + 3),  # stem, two per block, three downsampling shortcuts
        ("resnet18_torchvision", 1 + 8 * 2 + 3),
    ],
)
def test_one_norm_layer_per_normalised_activation(model_id, norm_layers):
    assert sum(isinstance(module, BatchNorm) for module in built(model_id).modules()) == norm_layers


def test_wrn28_10_has_the_configured_dropout_in_every_block():
    dropouts = [module.p for module in built("wrn28_10").modules() if isinstance(module, nn.Dropout)]
    assert dropouts == [0.3] * 12
