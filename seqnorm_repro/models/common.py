"""Pieces shared by the CIFAR convolutional networks (He et al. 2015; Zagoruyko & Komodakis 2016).

Both papers use bias-free 3x3 convolutions followed by a norm and He (Kaiming) normal initialisation;
the norm layers initialise themselves (weight 1, bias 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """The 3x3 "same" convolution of both papers; no bias, since a norm's shift follows it."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def init_conv_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convolutions, as torchvision's and timm's ResNets do."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def image_channels(input_shape: Sequence[int], model_name: str) -> int:
    """The channel count of a (C, H, W) input shape; anything else cannot feed a convolution."""
    if len(input_shape) != 3:
        raise ValueError(
            f"model {model_name!r} is convolutional and needs a (C, H, W) input shape, "
            f"got {tuple(input_shape)}"
        )
    return input_shape[0]
