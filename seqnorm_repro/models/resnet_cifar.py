"""ResNet-56 for CIFAR (He et al. 2015, "Deep Residual Learning", Section 4.2), used by the paper's
CIFAR-10 loss-landscape experiments (Section 3.1, Appendix A.2).

A 3x3 conv with 16 filters, then three stages of n BasicBlocks on 32x32, 16x16 and 8x8 maps with
16, 32 and 64 channels (depth = 6n + 2; n = 9 for ResNet-56), global average pooling and a linear
classifier: about 0.85M parameters.

Shortcuts use option A, the parameter-free identity: where a stage halves the map and doubles the
channels, the input is subsampled with stride 2 and the new channels are zero-padded. He et al. use
exactly this for every CIFAR ResNet ("we use identity shortcuts in all cases (i.e., option A)"), so
the network and its 0.85M parameters match theirs, and every norm layer sits in a residual branch,
none in a shortcut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn

from seqnorm_repro.models.common import conv3x3, image_channels, init_conv_weights

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig

STAGE_WIDTHS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option A: subsample by the stride and zero-pad the extra channels, adding no parameters."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra_channels = stride, extra_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class BasicBlock(nn.Module):
    """conv3x3 -> Norm -> ReLU -> conv3x3 -> Norm, plus the shortcut, then ReLU (He et al. Fig. 2)."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, norm_layer: Callable[..., nn.Module]
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.norm1 = norm_layer(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.norm2 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = PadShortcut(stride, out_channels - in_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al.'s 6n + 2 layer CIFAR ResNet; depth=56 is ResNet-56."""

    def __init__(
        self, norm_layer: Callable[..., nn.Module], num_classes: int, in_channels: int = 3, depth: int = 56
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got {depth}"
            )
        blocks_per_stage = (depth - 2) // 6
        self.stem = nn.Sequential(
            conv3x3(in_channels, STAGE_WIDTHS[0]), norm_layer(STAGE_WIDTHS[0]), nn.ReLU(inplace=True)
        )
        stages, width = [], STAGE_WIDTHS[0]
        for index, stage_width in enumerate(STAGE_WIDTHS):
            blocks = []
            for block_index in range(blocks_per_stage):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(BasicBlock(width, stage_width, stride, norm_layer))
                width = stage_width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, num_classes)
        init_conv_weights(self)
        if isinstance(self.stem[1], nn.Identity):  # norm=none: the paper's baseline
            # Without normalisation, He init lets 27 residual branches add up to logits of ~1e3 and a
            # nan after one update at the baseline's lr 0.1. Each branch's last convolution starts at
            # zero instead (SkipInit, De & Smith 2020), so every block starts as the identity.
            for block in self.modules():
                if isinstance(block, BasicBlock):
                    nn.init.zeros_(block.conv2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))))


def build_resnet56(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> CifarResNet:
    """ResNet-56 on (C, H, W) images."""
    return CifarResNet(norm_layer, num_classes, image_channels(input_shape, model.name), depth=56)
