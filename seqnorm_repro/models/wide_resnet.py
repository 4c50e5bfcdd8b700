"""WRN-28-10 (Zagoruyko & Komodakis 2016, "Wide Residual Networks", Section 2 and Table 1), the
paper's CIFAR-10/100 network (Section 3.2, Appendix A.3).

A 16-filter 3x3 conv stem, then three stages of (depth - 4) / 6 pre-activation wide basic blocks
(Norm -> ReLU -> conv3x3 -> Norm -> ReLU -> dropout -> conv3x3) with 16k, 32k and 64k channels
(k = width; strides 1, 2, 2), then Norm -> ReLU -> global average pool -> linear. Where a block
changes the shape, its shortcut is a strided 1x1 conv of the block's pre-activated input, as in the
authors' code. WRN-28-10: 4 blocks per stage, 160/320/640 channels, about 36.5M parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from torch import Tensor, nn

from seqnorm_repro.models.common import conv3x3, image_channels, init_conv_weights

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig

STEM_WIDTH = 16
STAGE_WIDTHS = (16, 32, 64)  # times the widening factor k


class WideBasicBlock(nn.Module):
    """Pre-activation block: the norms precede the convolutions, dropout sits between them."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, dropout: float,
        norm_layer: Callable[..., nn.Module],
    ) -> None:  # fmt: skip
        super().__init__()
        self.norm1 = norm_layer(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.norm2 = norm_layer(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU()  # not in place: with norm "none" it would overwrite x, the shortcut's input
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu(self.norm1(x))
        out = self.conv1(activated)
        out = self.conv2(self.dropout(self.relu(self.norm2(out))))
        return out + (x if self.shortcut is None else self.shortcut(activated))


class WideResNet(nn.Module):
    """WRN-depth-width: model.depth and model.widen_factor (the paper's WRN-28-10 by default)."""

    def __init__(
        self, norm_layer: Callable[..., nn.Module], num_classes: int, in_channels: int = 3,
        depth: int = 28, width: int = 10, dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40), got {depth}")
        blocks_per_stage = (depth - 4) // 6
        self.stem = conv3x3(in_channels, STEM_WIDTH)
        stages, channels = [], STEM_WIDTH
        for index, stage_width in enumerate(STAGE_WIDTHS):
            blocks = []
            for block_index in range(blocks_per_stage):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(WideBasicBlock(channels, stage_width * width, stride, dropout, norm_layer))
                channels = stage_width * width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(norm_layer(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes)
        init_conv_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.head(self.stages(self.stem(x))))


def build_wide_resnet(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> WideResNet:
    """WRN-`model.depth`-`model.widen_factor` (the paper's WRN-28-10) on (C, H, W) images, with dropout
    `model.dropout` inside each block."""
    channels = image_channels(input_shape, model.name)
    return WideResNet(
        norm_layer, num_classes, channels, depth=model.depth, width=model.widen_factor, dropout=model.dropout
    )
