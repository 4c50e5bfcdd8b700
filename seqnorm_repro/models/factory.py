"""Build the paper's networks (and any timm model) by name, each taking its norm only as a timm-style
`norm_layer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from seqnorm_repro.models.resnet18 import build_resnet18
from seqnorm_repro.models.resnet_cifar import build_resnet56
from seqnorm_repro.models.simplenet import build_simplenet
from seqnorm_repro.models.timm_model import build_timm_model
from seqnorm_repro.models.wide_resnet import build_wide_resnet

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig

Builder = Callable[["ModelConfig", Callable[..., nn.Module], int, tuple[int, ...]], nn.Module]

MODEL_BUILDERS: dict[str, Builder] = {
    "simplenet": build_simplenet,
    "resnet56": build_resnet56,
    "wide_resnet": build_wide_resnet,
    "resnet18": build_resnet18,
    "timm": build_timm_model,
}


def build_model(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: tuple[int, ...]
) -> nn.Module:
    """The network `model.name` for inputs of `input_shape` (no batch axis) and `num_classes` outputs.

    `norm_layer(num_features)` builds every norm layer, e.g. `seqnorm_repro.norms.norm_layer("seqnorm",
    gc=4, gm=8)`, so every norm works with every network.
    """
    try:
        builder = MODEL_BUILDERS[model.name]
    except KeyError:
        raise ValueError(f"unknown model {model.name!r}; choose one of {sorted(MODEL_BUILDERS)}") from None
    return builder(model, norm_layer, num_classes, tuple(input_shape))
