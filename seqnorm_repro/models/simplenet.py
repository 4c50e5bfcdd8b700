"""SimpleNet, the paper's MNIST multilayer perceptron (Section 3.1, Appendix A.2): 784-512-300-10.

Each hidden layer is Linear -> Norm -> ReLU, the norm between the matmul and the activation as in
the paper's Eq. 1. The Linear layers keep their bias (nn.Linear's default, as an MLP is usually
written): under BatchNorm or GhostNorm it is cancelled by the mean subtraction, and it keeps the
no-normalisation baseline an ordinary MLP rather than one without any shift.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from seqnorm_repro.config import ModelConfig


class SimpleNet(nn.Module):
    """Flatten, then Linear -> Norm -> ReLU per hidden width, then a Linear classifier."""

    def __init__(
        self, in_features: int, hidden: Sequence[int], num_classes: int, norm_layer: Callable[..., nn.Module]
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for out_width in hidden:
            layers += [nn.Linear(width, out_width), norm_layer(out_width), nn.ReLU(inplace=True)]
            width = out_width
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def build_simplenet(
    model: ModelConfig, norm_layer: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]
) -> SimpleNet:
    """SimpleNet over the flattened input, with the hidden widths of `model.hidden` (512, 300)."""
    return SimpleNet(math.prod(input_shape), model.hidden, num_classes, norm_layer)
