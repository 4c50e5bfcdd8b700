"""ResNet-18 for ImageNet (He et al. 2015, Table 1), the paper's ImageNet network (Section 3.2,
Appendix A.3: "a ResNet-18 v1.5 architecture", NVIDIA's recipe), from timm or torchvision.

ResNet v1.5 moves the stride-2 of each downsampling Bottleneck from its first 1x1 conv to its 3x3
conv. ResNet-18 is built from BasicBlocks (two 3x3 convs, the first one strided) and has no
Bottleneck, so for it v1.5 and v1 are the same network: timm's and torchvision's resnet18 both are.
Both libraries take the norm as `norm_layer`: torchvision calls it with the channel count only, timm
with `device`/`dtype` keywords too (after unbinding and rebinding a partial's keywords); the layers of
seqnorm_repro.norms accept both. `model.init=library` keeps each library's own initialisation (timm
zero-initialises the weight of the last norm in every residual branch, torchvision does not; both draw
convolutions Kaiming-normal with fan_out); `model.init=nvidia_fanin` is the one NVIDIA's recipe trains
from (its scripts' `-c fanin` model config), which the paper's ImageNet presets use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import timm
import torchvision
from torch import nn

from seqnorm_repro.models.common import image_channels

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig


def build_resnet18(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> nn.Module:
    """ResNet-18 from `model.library` (timm or torchvision) with our norm in every norm position."""
    network = _from_library(model.library, norm_layer, num_classes, input_shape)
    if model.init == "nvidia_fanin":
        nvidia_fanin_init(network)
    return network


def _from_library(
    library: str, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> nn.Module:
    channels = image_channels(input_shape, "resnet18")
    if library == "timm":
        return timm.create_model(
            "resnet18", num_classes=num_classes, in_chans=channels, norm_layer=norm_layer
        )
    if library == "torchvision":
        if channels != 3:
            raise ValueError(
                f"torchvision's resnet18 takes 3-channel images, got input shape {tuple(input_shape)}; "
                "use model.library=timm for other channel counts"
            )
        return torchvision.models.resnet18(num_classes=num_classes, norm_layer=norm_layer)
    raise ValueError(f"model.library={library!r} is not one of ('timm', 'torchvision')")


def nvidia_fanin_init(network: nn.Module) -> None:
    """NVIDIA DeepLearningExamples' ResNet v1.5 `-c fanin` initialisation, which the paper's ImageNet
    recipe follows: convolutions Kaiming-normal with fan_in, every norm weight 1 and bias 0 (no norm
    starts at zero, unlike timm's residual branches), the classifier left at PyTorch's default."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        elif not isinstance(module, nn.Linear) and getattr(module, "weight", None) is not None:
            nn.init.ones_(module.weight)  # a norm's affine weight (the only other weights of a ResNet)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
