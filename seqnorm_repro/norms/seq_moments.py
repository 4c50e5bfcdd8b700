"""SeqNorm from per-(sample, channel) moments: one statistics read, one apply pass, one backward pass.

GroupNorm is an affine map per (sample, channel), so the per-row mean and variance of the input
give GroupNorm's statistics, the per-row moments of its output and, from those, GhostNorm's
statistics (Chan's parallel combination): SeqNorm is y = (x - mean_row) * slope_row + shift_row.
The small (M, C) maths and its vector-Jacobian product are written out below; the full-size
passes are `rows.py`'s. For fp32/fp64 inputs, contiguous or channels-last-like.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqnorm_repro.norms.autograd import hand_written_backward, mark_statistics, seq_reference
from seqnorm_repro.norms.rows import in_layout_of, row_sum_of_squares, rows_affine, rows_backward


class SeqCoefficients:
    """slope and shift of SeqNorm per (sample, channel) row from the rows' mean and biased variance,
    the ghost groups' statistics for the running averages, and the map's VJP."""

    def __init__(self, mean: Tensor, var: Tensor, weight: Tensor, bias: Tensor, gc: int, gm: int, eps: float):
        batch, channels = mean.shape
        self.weight = weight
        # GroupNorm: per (sample, channel group)
        self.var = var.view(batch, gc, -1)
        means = mean.view(batch, gc, -1)
        self.dev = means - means.mean(-1, keepdim=True)
        self.dev -= self.dev.mean(-1, keepdim=True)  # 0 for a group of equal means, as for the rows above
        self.rho = torch.rsqrt((self.var + self.dev.square()).mean(-1, keepdim=True) + eps)
        # its output's per-row moments, then GhostNorm: per (ghost group, channel)
        z_mean = (self.dev * self.rho).view(gm, -1, channels)
        z_var = (self.var * self.rho.square()).view(gm, -1, channels)
        self.ghost_mean = z_mean.mean(1, keepdim=True)
        self.ghost_dev = z_mean - self.ghost_mean
        self.ghost_var = (z_var + self.ghost_dev.square()).mean(1, keepdim=True)
        self.sigma = torch.rsqrt(self.ghost_var + eps)
        self.rho_rows = self.rho.expand_as(self.var).reshape(gm, -1, channels)
        self.slope = (self.rho_rows * self.sigma * weight).view(batch, channels)
        self.shift = (self.ghost_dev * self.sigma * weight + bias).view(batch, channels)

    def vjp(self, grad_slope: Tensor, grad_shift: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Gradients of (row mean, row variance, weight, bias) given those of slope and shift."""
        weight, sigma, ghost_dev = self.weight, self.sigma, self.ghost_dev
        per_group = ghost_dev.shape[1]
        g_slope, g_shift = grad_slope.view_as(ghost_dev), grad_shift.view_as(ghost_dev)
        grad_weight = (g_slope * self.rho_rows * sigma + g_shift * ghost_dev * sigma).sum((0, 1))
        grad_bias = g_shift.sum((0, 1))
        # GhostNorm stage: slope = rho * sigma * w, shift = (z_mean - ghost_mean) * sigma * w + b
        g_sigma = ((g_slope * self.rho_rows + g_shift * ghost_dev) * weight).sum(1, keepdim=True)
        g_ghost_var = -0.5 * g_sigma * sigma.pow(3)
        g_dev = g_shift * sigma * weight + g_ghost_var * 2 * ghost_dev / per_group
        g_z_mean = g_dev - g_dev.mean(1, keepdim=True)
        g_z_var = (g_ghost_var / per_group).expand_as(ghost_dev)
        # GroupNorm stage: z_mean = dev * rho, z_var = var * rho^2
        shape = self.var.shape
        g_z_mean, g_z_var = g_z_mean.reshape(shape), g_z_var.reshape(shape)
        g_rho_rows = (g_slope * sigma * weight).reshape(shape)
        rho, dev, var = self.rho, self.dev, self.var
        g_rho = (g_rho_rows + g_z_mean * dev + g_z_var * 2 * var * rho).sum(-1, keepdim=True)
        g_group_var = -0.5 * g_rho * rho.pow(3)
        channels_per_group = shape[-1]
        g_var = g_z_var * rho.square() + g_group_var / channels_per_group
        g_dev = g_z_mean * rho + g_group_var * 2 * dev / channels_per_group
        g_mean = g_dev - g_dev.mean(-1, keepdim=True)
        batch_channels = grad_slope.shape
        return g_mean.view(batch_channels), g_var.view(batch_channels), grad_weight, grad_bias


class SeqNormFunction(torch.autograd.Function):
    """SeqNorm training forward and backward for (M, C, S > 1) fp32/fp64 inputs that `rows.has_rows` takes."""

    @staticmethod
    def forward(ctx, x, weight, bias, gc, gm, eps):
        flat = x.view(x.shape[0], x.shape[1], -1)
        size = flat.shape[-1]
        mean = flat.sum(-1) / size
        y = torch.empty_like(x)
        centred = torch.sub(flat, mean.unsqueeze(-1), out=y.view(flat.shape))  # y's buffer, for now
        # sum / size rounds: a constant row would keep its rounding error as a variance, and x - mean as
        # an output, that the two stages' 1 / sqrt(var + eps) each scale up (to O(1) for |x| ~ 1e3). So
        # the corrected two-pass variance, and y from the centred rows, less their residual mean: the
        # affine's alpha * x + beta form cancels in proportion to its input's mean, here ~0, not x's
        residual = centred.sum(-1) / size
        var = (row_sum_of_squares(centred) / size - residual.square()).clamp_min_(0)
        mean += residual
        coefficients = SeqCoefficients(mean, var, weight, bias, gc, gm, eps)
        rows_affine(y, residual, coefficients.slope, coefficients.shift, out=y)
        ctx.save_for_backward(x, weight, bias, mean, var)
        ctx.hyper = (gc, gm, eps)
        ghost_mean, ghost_var = coefficients.ghost_mean.squeeze(1), coefficients.ghost_var.squeeze(1)
        mark_statistics(ctx, ghost_mean, ghost_var)
        return y, ghost_mean, ghost_var

    @staticmethod
    @hand_written_backward(seq_reference)
    def backward(ctx, dy, _grad_mean, _grad_var):
        x, weight, bias, mean, var = ctx.saved_tensors
        coefficients = SeqCoefficients(mean, var, weight, bias, *ctx.hyper)
        slope = coefficients.slope
        dx, sum_dy, sum_dy_centred = rows_backward(x, in_layout_of(dy, x), mean, slope)
        grad_mean, grad_var, grad_weight, grad_bias = coefficients.vjp(sum_dy_centred, sum_dy)
        # y = (x - mean) * slope + shift: x enters directly, through mean (1/S) and var (2(x - mean)/S)
        size = x[0, 0].numel()
        grad_mean = (grad_mean - slope * sum_dy) / size
        scale = 2 * grad_var / size
        flat = dx.view(x.shape[0], x.shape[1], -1)
        flat.addcmul_(x.view(flat.shape), scale.unsqueeze(-1)).add_((grad_mean - scale * mean).unsqueeze(-1))
        return dx, grad_weight, grad_bias, None, None, None
