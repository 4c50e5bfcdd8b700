"""Full-size passes over the (sample, channel) rows of a (M, C, *) tensor: one value per row of each map.

Contiguous tensors use ATen's BatchNorm kernels: viewed as a (1, M*C, S) BatchNorm input, every (sample,
channel) pair is a "channel", so the eval-mode kernels apply any per-row affine map in one pass, and the
eval-mode backward gives dy * slope with the per-row sums of dy and dy * (x - mean) in one pass, with no
temporaries. With running_var = 1 and eps = 0 the kernels' inverse standard deviation is exactly 1, so the
maps are the intended ones; the eval kernel computes x * slope + (shift - mean * slope), BatchNorm's own
rounding, whose cancellation grows with |mean| * slope (a constant SeqNorm group: slope near 1 / eps).
Channels-last-like tensors (channels innermost), which that view cannot take, use broadcasting torch ops
over their (M, C, S) view, which keeps their layout.
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


def has_rows(t: Tensor) -> bool:
    """Whether the row passes take t, a tensor in one of their layouts (contiguous or channels-last-like,
    as `fused.dense` leaves it): it has a spatial axis, (M, C, S > 1)."""
    return t.dim() >= 3 and t.numel() > t.shape[0] * t.shape[1]


def _row_view(t: Tensor) -> Tensor:
    """(M, C, S): a view for contiguous and channels-last-like layouts."""
    return t.view(*t.shape[:2], -1)


def in_layout_of(dy: Tensor, x: Tensor) -> Tensor:
    """dy with x's strides, for the passes that address both with x's: a copy only where they differ."""
    return dy if dy.stride() == x.stride() else torch.empty_like(x).copy_(dy)


def row_sum_of_squares(centred: Tensor) -> Tensor:
    """Per-row sum of squares of an (M, C, S) view: ATen's norm kernel along a contiguous S (the fast
    case), a dot product of each row with itself along a strided one (the norm kernel is slow there)."""
    if centred.stride(-1) == 1:
        return torch.linalg.vector_norm(centred, dim=-1).square_()
    return torch.linalg.vecdot(centred, centred, dim=-1)


def rows_affine(x: Tensor, mean: Tensor, slope: Tensor, shift: Tensor, out: Tensor) -> None:
    """out = (x - mean) * slope + shift, each of mean, slope, shift one value per (M, C) row."""
    if not x.is_contiguous():  # one broadcasting pass, in the alpha * x + beta form of ATen's kernel
        offset = (shift - mean * slope).unsqueeze(-1)
        torch.addcmul(offset, _row_view(x), slope.unsqueeze(-1), out=_row_view(out))
        return
    ones = torch.ones_like(mean.reshape(-1))
    empty = mean.new_empty(0)
    torch.ops.aten.native_batch_norm.out(
        as_rows(x), slope.reshape(-1), shift.reshape(-1), mean.reshape(-1), ones, False, 0.0, 0.0,
        out=as_rows(out), save_mean=empty, save_invstd=empty.clone(),
    )  # fmt: skip


def rows_backward(x: Tensor, dy: Tensor, mean: Tensor, slope: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(dy * slope, per-row sum(dy), per-row sum(dy * (x - mean))); the sums shaped (M, C); dy in x's
    layout."""
    if not x.is_contiguous():  # x - mean in the output's buffer, its dot product with dy, then dy * slope
        scaled = torch.empty_like(x)
        rows, dy_rows = _row_view(scaled), _row_view(dy)
        centred = torch.sub(_row_view(x), mean.unsqueeze(-1), out=rows)
        sum_dy_centred = torch.linalg.vecdot(centred, dy_rows, dim=-1)
        torch.mul(dy_rows, slope.unsqueeze(-1), out=rows)
        return scaled, dy_rows.sum(-1), sum_dy_centred
    ones = torch.ones_like(mean.reshape(-1))
    scaled_dy, sum_dy_centred, sum_dy = torch.ops.aten.native_batch_norm_backward(
        as_rows(dy), as_rows(x), slope.reshape(-1), mean.reshape(-1), ones, None, None, False, 0.0,
        [True, True, True],
    )  # fmt: skip
    return scaled_dy.view(x.shape), sum_dy.view(x.shape[:2]), sum_dy_centred.view(x.shape[:2])
