"""Fast GhostNorm and SeqNorm in plain torch ops: custom autograd Functions with fused backwards.

The paper's Figure 4 code lets autograd differentiate reshape, mean, var, subtract and divide one
by one, saving each intermediate. GhostNorm here computes its statistics by the corrected two-pass
form (the mean, then the sum and sum of squares of x - mean: never E[x^2] - mean^2), writing x - mean
into the output, and applies the affine to that in one more pass; its backward makes one pass
for sum(dy) and sum(dy * (x - mean)) per (group, channel) and one for dx. It saves only the input
and (gm, C) statistics, like BatchNorm, and allocates only its output and dx (on CPU every fresh
full-size buffer costs page faults). Every op covers all groups at once through a (gm, M/gm, C, S)
view, so the cost does not grow with gm. For contiguous inputs GhostNorm's apply and backward passes
run ATen's BatchNorm kernels over the (sample, channel) rows (`rows.py`). SeqNorm runs entirely from
per-row moments (`seq_moments.py`), contiguous or channels_last, for fp32/fp64 inputs. Statistics are
fp32 for fp16/bf16 inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqnorm_repro.norms.autograd import ghost_reference, hand_written_backward, mark_statistics
from seqnorm_repro.norms.reference import stats_dtype
from seqnorm_repro.norms.rows import as_rows, has_rows, rows_affine, rows_backward
from seqnorm_repro.norms.seq_moments import SeqNormFunction


class _GhostNormFunction(torch.autograd.Function):
    """GhostNorm training forward and its hand-written backward (BatchNorm's, per ghost group)."""

    @staticmethod
    def forward(ctx, x, weight, bias, gm, eps):
        groups = _grouped(x, gm)
        count = groups.shape[1] * groups.shape[3]
        mean = _group_sums(groups, stats_dtype(x)) / count  # (gm, C)
        y = torch.empty_like(x, dtype=mean.dtype)  # x's memory format; fp32 for fp16/bf16 x
        centred = torch.sub(groups, _grouped_stat(mean), out=_grouped(y, gm))
        # sum / count rounds: a constant channel would keep its rounding error as a variance and as x - mean,
        # which 1 / sqrt(var + eps) scales up. So the corrected two-pass variance, and y from the centred
        # values less their residual mean, where the affine's alpha * x + beta form does not cancel.
        residual = _group_sums(centred) / count
        var = (_sum_of_squares(centred) / count - residual.square()).clamp_min_(0)
        mean += residual
        scale = torch.rsqrt(var + eps) * weight
        if _rows_apply(x, mean):
            rows_affine(y, _per_row(residual, x), _per_row(scale, x), _per_row(bias, x), out=y)
        else:
            torch.addcmul(_grouped_stat(bias - residual * scale), centred, _grouped_stat(scale), out=centred)
        ctx.save_for_backward(x, weight, mean, var)
        ctx.gm, ctx.eps = gm, eps
        mark_statistics(ctx, mean, var)
        return y.to(x.dtype), mean, var

    @staticmethod
    @hand_written_backward(ghost_reference)
    def backward(ctx, dy, _grad_mean, _grad_var):
        x, weight, mean, var = ctx.saved_tensors
        gm = ctx.gm
        groups = _grouped(x, gm)
        count = groups.shape[1] * groups.shape[3]
        rstd = torch.rsqrt(var + ctx.eps)
        scale = rstd * weight
        if _rows_apply(x, mean) and _rows_apply(dy, mean):
            dx, row_sum_dy, row_sum_dy_centred = rows_backward(x, dy, _per_row(mean, x), _per_row(scale, x))
            sum_dy, sum_dy_centred = _per_group(row_sum_dy, gm), _per_group(row_sum_dy_centred, gm)
        else:
            dx, sum_dy, sum_dy_centred = _grouped_sums_and_scaled_dy(x, dense(dy), gm, scale, mean)
        # dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * rstd,
        # built in place as dy * scale + x * slope + offset.
        slope = -scale * rstd.square() * sum_dy_centred / count
        offset = -scale * sum_dy / count - mean * slope
        _grouped(dx, gm).addcmul_(groups, _grouped_stat(slope)).add_(_grouped_stat(offset))
        grad_weight, grad_bias = (sum_dy_centred * rstd).sum(0), sum_dy.sum(0)
        return dx.to(x.dtype), grad_weight.to(weight.dtype), grad_bias.to(weight.dtype), None, None


def _grouped_sums_and_scaled_dy(x, dy, gm, scale, mean):
    """Any layout: (dy * scale, sum(dy), sum(dy * (x - mean))) per (group, channel) with torch ops."""
    groups, dy_groups = _grouped(x, gm), _grouped(dy, gm)
    dx = torch.empty_like(x, dtype=mean.dtype)
    work = torch.sub(groups, _grouped_stat(mean), out=_grouped(dx, gm)).mul_(dy_groups)
    sum_dy_centred = _group_sums(work)
    sum_dy = _group_sums(dy_groups, mean.dtype)
    torch.mul(dy_groups, _grouped_stat(scale), out=work)
    return dx, sum_dy, sum_dy_centred


def _rows_apply(t: Tensor, stats: Tensor) -> bool:
    """ATen's row kernels apply: contiguous, spatial size > 1, already in the statistics' precision."""
    return as_rows(t) is not None and t.dtype == stats.dtype


def _per_row(stat: Tensor, x: Tensor) -> Tensor:
    """A (gm, C) or (C,) statistic repeated for each (sample, channel) row of x: (M, C)."""
    batch, channels = x.shape[:2]
    grouped = stat.view(-1, 1, channels)
    return grouped.expand(grouped.shape[0], batch // grouped.shape[0], channels).reshape(batch, channels)


def _per_group(rows: Tensor, gm: int) -> Tensor:
    """(M, C) per-row sums added up per ghost group: (gm, C)."""
    return rows.view(gm, -1, rows.shape[-1]).sum(1)


def _group_sums(groups: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """(gm, C) sums of a (gm, M/gm, C, S) tensor: over S first, which ATen reduces faster than both axes
    at once (CPU, WRN-28-10's first layer shape: 4x NCHW, 1.6x channels_last)."""
    return groups.sum(3, dtype=dtype).sum(1)


def _sum_of_squares(centred: Tensor) -> Tensor:
    """(gm, C) sums of squares of a (gm, M/gm, C, S) tensor, without a full-size temporary where
    the spatial axis is contiguous (ATen's norm kernel is fast only along the innermost axis)."""
    if centred.shape[3] > 1 and centred.stride(3) == 1:
        return torch.linalg.vector_norm(centred, dim=3).square_().sum(1)
    return _group_sums(centred.square())


def _grouped(x: Tensor, gm: int) -> Tensor:
    """(M, C, *) as a (gm, M/gm, C, S) view, for `dense` layouts (an error, never a silent copy, else)."""
    return x.view(gm, x.shape[0] // gm, x.shape[1], -1)


def _grouped_stat(stat: Tensor) -> Tensor:
    """A (gm, C) or (C,) statistic shaped to broadcast against the (gm, M/gm, C, S) view."""
    return stat.view(-1, 1, stat.shape[-1], 1)


def dense(t: Tensor) -> Tensor:
    """t when contiguous or channels-last-like (channels innermost, any rank), else a contiguous copy: the
    layouts whose (gm, M/gm, C, S) grouping is a view, so that results written into it land in the
    output (a cropped or spatially transposed input is neither)."""
    if t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)):
        return t  # the common cases, without building a view
    return t if t.movedim(1, -1).is_contiguous() else t.contiguous()


def affine_params(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, Tensor]:
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
    return _GhostNormFunction.apply(dense(x), *affine_params(x, weight, bias), gm, eps)


def seq_norm_fused(
    x: Tensor, gc: int, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """SeqNorm training forward, same contract as `reference.seq_norm_reference`: from per-row
    moments for fp32/fp64 inputs with a spatial axis, else ATen's GroupNorm then the fused GhostNorm.
    Also the latter under torch.compile: with symbolic sizes (dynamic=True, or a size that changed
    between calls) Inductor miscompiles the moments' backward (dx off by 1e2 times its size on CPU,
    torch 2.14; aot_eager is right), and dynamo cannot tell symbolic sizes from fixed ones."""
    # fp32 parameters for the fp32 GroupNorm output below, also when a model cast to half holds fp16 ones
    weight, bias = (p.to(stats_dtype(x)) for p in affine_params(x, weight, bias))
    if x.dtype == stats_dtype(x) and has_rows(dense_x := dense(x)) and not torch.compiler.is_compiling():
        return SeqNormFunction.apply(dense_x, weight, bias, gc, gm, eps)
    grouped = F.group_norm(x.to(stats_dtype(x)), gc, eps=eps)
    y, mean, var = ghost_norm_fused(grouped, gm, weight, bias, eps)
    return y.to(x.dtype), mean, var
