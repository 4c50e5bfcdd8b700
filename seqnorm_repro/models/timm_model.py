"""Any timm model by name (`model=timm model.arch=efficientnet_b0`) with our norm in place of each of its
BatchNorms: beyond the paper's networks, for trying GhostNorm and SeqNorm on other architectures.

The norm goes in by `convert_norm`, not by timm's `norm_layer=` keyword, which some builders lack
(MobileNetV3, DLA, HRNet) or use for only some of their norms (DPN). timm's BatchNorm + activation layers
keep their activation (`norms/norm_act.py`), and each layer keeps timm's initialisation (ResNets' zero
weight on the last norm of a residual branch). Models without BatchNorm (ViTs, ConvNeXt) are refused:
their LayerNorms would stay, and the run would not test the norm it names; hybrids that keep some
(MobileViT) get a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import timm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.models.common import image_channels
from seqnorm_repro.norms import convert_norm

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig

log = logging.getLogger(__name__)
_OTHER_NORMS = (nn.LayerNorm, nn.GroupNorm)  # in timm: its LayerNorm2d, GroupNorm1 and norm+act variants


def build_timm_model(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> nn.Module:
    """timm's `model.arch` for `input_shape` images and `num_classes` outputs, its BatchNorms replaced by
    `norm_layer`'s norm (a partial of a norm class, as `seqnorm_repro.norms.norm_layer` returns)."""
    if not timm.is_model(model.arch):
        raise ValueError(
            f"model.arch={model.arch!r} is not a timm model; "
            f"timm.list_models('*{model.arch}*') lists the names that contain it"
        )
    channels = image_channels(input_shape, model.arch)
    network = timm.create_model(model.arch, num_classes=num_classes, in_chans=channels)
    if not any(isinstance(module, _BatchNorm) for module in network.modules()):
        raise ValueError(
            f"timm's {model.arch} has no BatchNorm layer for the norm to replace; pick a convolutional "
            "model built with BatchNorm (resnet50, efficientnet_b0, regnety_016, ...)"
        )
    kept = sorted({type(m).__name__ for m in network.modules() if isinstance(m, _OTHER_NORMS)})
    if kept:  # hybrids such as MobileViT: convert_norm replaces BatchNorms only
        log.warning("timm's %s keeps its %s layers beside the converted BatchNorms", model.arch, kept)
    return convert_norm(network, norm_layer)
