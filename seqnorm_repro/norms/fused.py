"""Fast GhostNorm and SeqNorm in plain torch ops: a custom autograd Function with a fused backward.

The paper's Figure 4 code lets autograd differentiate reshape, mean, var, subtract and divide one
by one, saving each intermediate. Here the forward makes two passes for the statistics (mean, then
the centred sum of squares: never E[x^2] - mean^2) and applies y = x * scale + shift; the backward
reduces sum(dy) and sum(dy * (x - mean)) per (group, channel) and writes dx = dy * a + x * b + c,
saving only the input and (gm, C) statistics, like BatchNorm. Few full-size temporaries, because on
CPU each fresh allocation costs page faults. Every op covers all groups at once (a
(gm, M/gm, C, S) view), so the cost does not grow with gm. Statistics are fp32 for fp16/bf16 inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqnorm_repro.norms.reference import stats_dtype


class _GhostNormFunction(torch.autograd.Function):
    """GhostNorm training forward and its hand-written backward (BatchNorm's, per ghost group)."""

    @staticmethod
    def forward(ctx, x, weight, bias, gm, eps):
        groups = _grouped(x, gm)
        count = groups.shape[1] * groups.shape[3]
        mean = groups.sum((1, 3), dtype=stats_dtype(x)) / count  # (gm, C)
        y = torch.empty_like(x, dtype=mean.dtype)  # x's memory format; fp32 for fp16/bf16 x
        centred = torch.sub(groups, _grouped_stat(mean), out=_grouped(y, gm))
        var = _sum_of_squares(centred) / count
        rstd = torch.rsqrt(var + eps)
        centred.mul_(_grouped_stat(rstd * weight)).add_(_grouped_stat(bias))
        ctx.save_for_backward(x, weight, mean, var)
        ctx.gm, ctx.eps = gm, eps
        ctx.mark_non_differentiable(mean, var)
        return y.to(x.dtype), mean, var

    @staticmethod
    def backward(ctx, dy, _grad_mean, _grad_var):
        x, weight, mean, var = ctx.saved_tensors
        gm, eps = ctx.gm, ctx.eps
        groups = _grouped(x, gm)
        count = groups.shape[1] * groups.shape[3]
        rstd = torch.rsqrt(var + eps)
        scale = rstd * weight
        # dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * rstd,
        # built in place as dy * scale + x * slope + offset.
        if _as_rows(x) is not None and _as_rows(dy) is not None and dy.dtype == x.dtype == mean.dtype:
            dx, sum_dy, sum_dy_xhat = _row_sums_and_scaled_dy(x, dy, weight, mean, var, eps)
        else:
            dx, sum_dy, sum_dy_xhat = _grouped_sums_and_scaled_dy(x, dy, gm, scale, mean, rstd)
        slope = -scale * rstd * sum_dy_xhat / count
        offset = -scale * sum_dy / count - mean * slope
        _grouped(dx, gm).addcmul_(groups, _grouped_stat(slope)).add_(_grouped_stat(offset))
        grad_weight, grad_bias = sum_dy_xhat.sum(0), sum_dy.sum(0)
        return dx.to(x.dtype), grad_weight.to(weight.dtype), grad_bias.to(weight.dtype), None, None


def _grouped_sums_and_scaled_dy(x, dy, gm, scale, mean, rstd):
    """Any layout: (dy * scale, sum(dy), sum(dy * xhat)) per (group, channel) with torch ops."""
    groups, dy_groups = _grouped(x, gm), _grouped(dy, gm)
    dx = torch.empty_like(x, dtype=mean.dtype)
    work = torch.sub(groups, _grouped_stat(mean), out=_grouped(dx, gm)).mul_(dy_groups)
    sum_dy_xhat = work.sum((1, 3)) * rstd
    sum_dy = dy_groups.sum((1, 3), dtype=mean.dtype)
    torch.mul(dy_groups, _grouped_stat(scale), out=work)
    return dx, sum_dy, sum_dy_xhat


def _row_sums_and_scaled_dy(x, dy, weight, mean, var, eps):
    """Contiguous (M, C, S) tensors: ATen's eval-mode BatchNorm backward over M*C rows of S values
    gives dy * scale and the per-row sum(dy), sum(dy * xhat) in one pass, no temporaries."""
    gm, channels = mean.shape

    def per_row(stat):  # (gm, C) or (C,) -> (M * C,): one value per (sample, channel) row
        return stat.view(-1, 1, channels).expand(gm, x.shape[0] // gm, channels).reshape(-1)

    dx, row_sum_dy_xhat, row_sum_dy = torch.ops.aten.native_batch_norm_backward(
        _as_rows(dy), _as_rows(x), per_row(weight), per_row(mean), per_row(var),
        None, None, False, eps, [True, True, True],
    )  # fmt: skip

    def per_group(rows):
        return rows.view(gm, -1, channels).sum(1)

    return dx.view(x.shape), per_group(row_sum_dy), per_group(row_sum_dy_xhat)


def _as_rows(t: Tensor) -> Tensor | None:
    """(M, C, *) as a (1, M*C, S) BatchNorm input when contiguous with S > 1, else None."""
    rows = t.shape[0] * t.shape[1]
    if t.dim() < 3 or not t.is_contiguous() or t.numel() == rows:
        return None
    return t.view(1, rows, -1)


def _sum_of_squares(centred: Tensor) -> Tensor:
    """(gm, C) sums of squares of a (gm, M/gm, C, S) tensor, without a full-size temporary where
    the spatial axis is contiguous (ATen's norm kernel is fast only along the innermost axis)."""
    if centred.shape[3] > 1 and centred.stride(3) == 1:
        return torch.linalg.vector_norm(centred, dim=3).square_().sum(1)
    return centred.square().sum((1, 3))


def _grouped(x: Tensor, gm: int) -> Tensor:
    """(M, C, *) as (gm, M/gm, C, S): a view for contiguous and channels_last inputs alike."""
    return x.reshape(gm, x.shape[0] // gm, x.shape[1], -1)


def _grouped_stat(stat: Tensor) -> Tensor:
    """A (gm, C) or (C,) statistic shaped to broadcast against the (gm, M/gm, C, S) view."""
    return stat.view(-1, 1, stat.shape[-1], 1)


def _affine_params(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """Identity scale and shift when the layer has no affine parameters."""
    channels, dtype = x.shape[1], stats_dtype(x)
    if weight is None:
        weight = torch.ones(channels, device=x.device, dtype=dtype)
    if bias is None:
        bias = torch.zeros(channels, device=x.device, dtype=dtype)
    return weight, bias


def ghost_norm_fused(
    x: Tensor, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """GhostNorm training forward, same contract as `reference.ghost_norm_reference`."""
    return _GhostNormFunction.apply(x, *_affine_params(x, weight, bias), gm, eps)


def seq_norm_fused(
    x: Tensor, gc: int, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """SeqNorm training forward: ATen's GroupNorm kernel, then the fused GhostNorm."""
    grouped = F.group_norm(x.to(stats_dtype(x)), gc, eps=eps)
    y, mean, var = ghost_norm_fused(grouped, gm, weight, bias, eps)
    return y.to(x.dtype), mean, var
