"""The paper's GhostNorm and SeqNorm in plain torch ops (Appendix Figure 4): the tested reference.

Slow (autograd through every step, about 2-3x BatchNorm) but obviously right; the fast path in
`fused.py` is tested against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def ghost_norm_reference(
    x: Tensor, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalise each of gm contiguous batch chunks per channel; return output and (gm, C) stats.

    The stats are each group's mean and biased variance, used for the running statistics.
    """
    batch, channels = x.shape[:2]
    groups = x.to(stats_dtype(x)).reshape(gm, batch // gm, channels, -1)  # Figure 4: (GM, M/GM, C, F)
    mean = groups.mean((1, 3), keepdim=True)
    var = groups.var((1, 3), correction=0, keepdim=True)
    y = ((groups - mean) / torch.sqrt(var + eps)).reshape(x.shape)
    y = _affine(y, weight, bias)
    return y.to(x.dtype), mean.view(gm, channels), var.view(gm, channels)


def seq_norm_reference(
    x: Tensor, gc: int, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """GroupNorm(gc) without affine, then GhostNorm(gm) with the affine; stats are of the former's output."""
    grouped = F.group_norm(x.to(stats_dtype(x)), gc, eps=eps)
    y, mean, var = ghost_norm_reference(grouped, gm, weight, bias, eps)
    return y.to(x.dtype), mean, var


def stats_dtype(x: Tensor) -> torch.dtype:
    """fp32 statistics for fp16/bf16 inputs, the input's own precision otherwise."""
    return torch.promote_types(x.dtype, torch.float32)


def unbiased_factor(x: Tensor, gm: int) -> float:
    """n / (n - 1) for the n elements of one (ghost group, channel) of x: what the running variance, an
    unbiased estimate as in BatchNorm, multiplies the groups' biased variances by."""
    count = x.numel() // (gm * x.shape[1])
    return count / max(count - 1, 1)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """Per-channel scale and shift of a (M, C, *) tensor."""
    shape = (1, -1) + (1,) * (y.dim() - 2)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y
