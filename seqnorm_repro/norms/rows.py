"""ATen's BatchNorm kernels over the (sample, channel) rows of a contiguous (M, C, *) tensor.

Viewed as a (1, M*C, S) BatchNorm input, every (sample, channel) pair is a "channel", so the eval-mode
kernels apply any per-row affine map in one pass, and the eval-mode backward gives dy * slope with the
per-row sums of dy and dy * (x - mean) in one pass, with no temporaries. With running_var = 1 and
eps = 0 the kernels' inverse standard deviation is exactly 1, so the maps below are exact.
"""

from __future__ import annotations

import torch
from torch import Tensor


def as_rows(t: Tensor) -> Tensor | None:
    """(M, C, *) as a (1, M*C, S) view when contiguous with S > 1, else None."""
    rows = t.shape[0] * t.shape[1]
    if t.dim() < 3 or not t.is_contiguous() or t.numel() == rows:
        return None
    return t.view(1, rows, -1)


def rows_affine(x: Tensor, mean: Tensor, slope: Tensor, shift: Tensor, out: Tensor) -> None:
    """out = (x - mean) * slope + shift, each of mean, slope, shift one value per (M, C) row."""
    ones = torch.ones_like(mean.reshape(-1))
    empty = mean.new_empty(0)
    torch.ops.aten.native_batch_norm.out(
        as_rows(x), slope.reshape(-1), shift.reshape(-1), mean.reshape(-1), ones, False, 0.0, 0.0,
        out=as_rows(out), save_mean=empty, save_invstd=empty.clone(),
    )  # fmt: skip


def rows_backward(x: Tensor, dy: Tensor, mean: Tensor, slope: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(dy * slope, per-row sum(dy), per-row sum(dy * (x - mean))); the sums shaped (M, C)."""
    ones = torch.ones_like(mean.reshape(-1))
    scaled_dy, sum_dy_centred, sum_dy = torch.ops.aten.native_batch_norm_backward(
        as_rows(dy), as_rows(x), slope.reshape(-1), mean.reshape(-1), ones, None, None, False, 0.0,
        [True, True, True],
    )  # fmt: skip
    return scaled_dy.view(x.shape), sum_dy.view(x.shape[:2]), sum_dy_centred.view(x.shape[:2])
