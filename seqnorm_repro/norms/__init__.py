"""GhostNorm, SeqNorm and friends: drop-in replacements for nn.BatchNorm (see README, "The layers")."""

from seqnorm_repro.norms.convert import convert_norm, to_torch_norms
from seqnorm_repro.norms.factory import NORM_LAYERS, make_norm, norm_layer
from seqnorm_repro.norms.layers import (
    BatchNorm,
    GhostNorm,
    GroupNorm,
    NoisyBatchNorm,
    NoNorm,
    SeqNorm,
)

__all__ = [
    "NORM_LAYERS",
    "BatchNorm",
    "GhostNorm",
    "GroupNorm",
    "NoNorm",
    "NoisyBatchNorm",
    "SeqNorm",
    "convert_norm",
    "make_norm",
    "norm_layer",
    "to_torch_norms",
]
