"""GhostNorm and SeqNorm on the Triton kernels of `triton_kernels.py`, as torch.library operators.

GhostNorm's forward reads x once for per-(group, channel) statistics and once to write y; its backward
reads x and dy once for sum(dy) and sum(dy * (x - mean)) and once to write dx: BatchNorm's traffic at any
gm. SeqNorm does the same with per-(sample, channel) rows (see seq_moments.py), plus two small kernels
each way for the GroupNorm and ghost stages. Each layer is two operators in the `seqnorm` torch.library
namespace, its forward's statistics and its backward's coefficients, with fake (meta) implementations so
that torch.compile keeps them whole, joined by an autograd.Function that torch.compile traces
(fullgraph=True); the apply passes (y, dx) are a Triton kernel in eager mode and torch ops, for Inductor
to fuse with the layer's neighbours, under torch.compile. The statistics operators also update BatchNorm's
running buffers in place, in their small kernel (declared as mutated: torch.compile keeps them in place).
CUDA tensors run compiled kernels; CPU tensors run only under Triton's interpreter (TRITON_INTERPRET=1 in
the environment before triton is imported: slow, for tests). Statistics are fp32 (fp64 for fp64 input),
outputs in the input's dtype; eps reaches compiled kernels as fp32, Triton's type for a Python float.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import triton
from torch import Tensor

from seqnorm_repro.norms import triton_kernels as kernels
from seqnorm_repro.norms.autograd import (
    ghost_reference,
    hand_written_backward,
    mark_statistics,
    seq_reference,
)
from seqnorm_repro.norms.fused import affine_params, dense
from seqnorm_repro.norms.reference import stats_dtype, unbiased_factor
from seqnorm_repro.norms.rows import in_layout_of

# Triton decides when a @triton.jit function is defined (on import) whether it compiles or interprets it.
INTERPRETED = triton.knobs.runtime.interpret


@dataclass(frozen=True)
class _Sizes:
    """Elements per tile of the full-size passes and of the small kernels, the widest channel block, the
    channels per program of SeqNorm's ghost-stage kernels, and how many programs a full-size pass aims for."""

    tile: int
    small_tile: int
    max_block_c: int
    ghost_block_c: int
    programs: int


def cuda_sizes(sms: int) -> _Sizes:
    """A GPU with `sms` multiprocessors: 4096-element tiles with 4 warps, 32 elements per thread in
    16-byte loads along the contiguous axis; about 8 programs per SM keep enough loads in flight to
    saturate memory bandwidth."""
    return _Sizes(tile=4096, small_tile=1024, max_block_c=128, ghost_block_c=8, programs=8 * sms)


@functools.cache
def _sizes(device: torch.device) -> _Sizes:
    if device.type == "cuda":
        return cuda_sizes(torch.cuda.get_device_properties(device).multi_processor_count)
    # The interpreter (CPU tests): tiny tiles and a few programs, so that small test tensors go through
    # several channel blocks, tiles and chunks, and their masked edges.
    return _Sizes(tile=256, small_tile=4, max_block_c=8, ghost_block_c=2, programs=4)


# Host-side integer helpers in plain Python: triton.cdiv and triton.next_power_of_2 are @jit functions,
# whose Python call costs microseconds each, dozens of times per layer call.
def _pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class _Plan:
    """How the full-size kernels see a (M, C, *) tensor as `groups` x (samples, positions, C) and split
    each group over programs: (BLOCK_M, BLOCK_S, BLOCK_C) tiles, `chunks` runs of tiles per group."""

    groups: int
    samples: int
    positions: int
    channels: int
    strides: tuple[int, int, int, int]  # group, sample, position, channel
    blocks: tuple[int, int, int]
    chunks: int
    tiles_per_chunk: int

    def launch(self, kernel, *args, **kwargs) -> None:
        channel_blocks = _cdiv(self.channels, self.blocks[2])
        grid = (self.groups * self.chunks * channel_blocks,)
        kernel[grid](
            *args, self.samples, self.positions, self.channels, *self.strides, self.chunks,
            self.tiles_per_chunk, **kwargs, BLOCK_M=self.blocks[0], BLOCK_S=self.blocks[1],
            BLOCK_C=self.blocks[2], num_warps=4,
        )  # fmt: skip


# At most this many chunks per group: GhostNorm's few large groups are split finely; SeqNorm's rows (one
# sample each) are many already.
GHOST_CHUNKS, ROW_CHUNKS = 1024, 16


def _plan(x: Tensor, groups: int, max_chunks: int) -> _Plan:
    """The plan for x split into `groups` groups of samples: cached, as eager mode pays for every line."""
    view = x.view(*x.shape[:2], -1)  # (M, C, S): a view for contiguous and channels-last-like inputs
    return _cached_plan(view.shape, view.stride(), x.device, groups, max_chunks)


def _channel_block(channels: int, widest: int) -> int:
    """The widest power-of-two channel block up to `widest` that tiles the channels without masked lanes
    (WRN's 160 channels: 32, not 128 + a quarter-used 128), else the one block that covers them."""
    covering = block = min(_pow2(channels), widest)
    while block > 16 and channels % block:
        block //= 2
    return block if channels % block == 0 else covering


@functools.lru_cache(maxsize=1024)
def _cached_plan(shape, strides, device: torch.device, groups: int, max_chunks: int) -> _Plan:
    """Tiles along the contiguous axis first; chunks so that the whole pass has about `programs` programs."""
    batch, channels, positions = shape
    stride_m, stride_c, stride_s = strides
    per_group = batch // groups
    samples = per_group
    if positions == 1:  # (M, C): a group's samples are its positions
        samples, positions, stride_s = 1, per_group, stride_m
    elif stride_m == positions * stride_s:  # channels_last: a group's samples and positions are one axis
        samples, positions = 1, per_group * positions
    sizes = _sizes(device)
    if stride_c == 1 and channels > 1:  # channels innermost: channels_last, (M, C)
        block_c = _channel_block(channels, sizes.max_block_c)
        block_s = min(_pow2(positions), max(1, sizes.tile // block_c))
    else:  # positions innermost: NCHW
        block_s = min(_pow2(positions), sizes.tile)
        block_c = min(_pow2(channels), sizes.max_block_c, max(1, sizes.tile // block_s))
    block_m = min(_pow2(samples), max(1, sizes.tile // (block_s * block_c)))
    tiles = _cdiv(samples, block_m) * _cdiv(positions, block_s)
    others = groups * _cdiv(channels, block_c)
    chunks = min(tiles, max_chunks, max(1, sizes.programs // others))
    tiles_per_chunk = _cdiv(tiles, chunks)
    return _Plan(
        groups, samples, positions, channels, (per_group * stride_m, stride_m, stride_s, stride_c),
        (block_m, block_s, block_c), _cdiv(tiles, tiles_per_chunk), tiles_per_chunk,
    )  # fmt: skip


def _moments(x: Tensor, plan: _Plan) -> Tensor:
    """(3, chunks, groups, C): count, mean and M2 of each chunk of each (group, channel)."""
    partials = x.new_empty((3, plan.chunks, plan.groups, plan.channels), dtype=stats_dtype(x))
    plan.launch(kernels.moments_kernel, x, partials, plan.groups)
    return partials


def _grad_sums(x: Tensor, dy: Tensor, mean: Tensor, plan: _Plan) -> Tensor:
    """(2, chunks, groups, C): sum(dy) and sum(dy * (x - mean)) of each chunk of each (group, channel)."""
    partials = x.new_empty((2, plan.chunks, plan.groups, plan.channels), dtype=mean.dtype)
    plan.launch(kernels.grad_sums_kernel, x, dy, mean, partials, plan.groups)
    return partials


def _affine(x: Tensor, plan: _Plan, mean: Tensor, a: Tensor, b: Tensor, dy=None, d=None) -> Tensor:
    """(x - mean) * a + b [+ dy * d] in x's dtype and layout; b may be one row shared by every group."""
    out = torch.empty_like(x)
    b_stride = 0 if b.dim() == 1 else b.stride(0)
    plan.launch(kernels.affine_kernel, x, dy, out, mean, a, b, d, b_stride, HAS_DY=dy is not None)
    return out


def _apply(x: Tensor, groups: int, max_chunks: int, mean: Tensor, a: Tensor, b: Tensor, dy=None, d=None):
    """(x - mean) * a + b [+ dy * d], the forward's y and the backward's dx: the Triton apply pass in eager
    mode; under torch.compile the same maths in torch ops, which Inductor fuses with the layer's
    neighbours (a ReLU after it, a residual gradient added to dx: one pass over the activation where a
    separate kernel would need two)."""
    if not torch.compiler.is_compiling():
        return _affine(x, _plan(x, groups, max_chunks), mean, a, b, dy, d)

    # Each sample's row of (groups, C) coefficients, broadcast over x's positions: no view of x, whose
    # symbolic strides Inductor cannot order under dynamic shapes (grouped views of x failed there).
    def per_sample(t: Tensor) -> Tensor:
        rows = t.expand(groups, x.shape[1]).repeat_interleave(x.shape[0] // groups, dim=0)
        return rows.view(*rows.shape, *[1] * (x.dim() - 2))

    wide = mean.dtype
    out = (x.to(wide) - per_sample(mean)) * per_sample(a) + per_sample(b)
    if dy is not None:
        out = out + dy.to(wide) * per_sample(d)
    return out.to(x.dtype)


def _small_blocks(outer: int, middle: int, inner: int, tile: int) -> tuple[int, int, int]:
    """Block sizes of a small kernel's 3-d tile: `inner` whole, then as much of the others as fits."""
    block_inner = _pow2(inner)
    block_middle = min(_pow2(middle), max(1, tile // block_inner))
    return min(_pow2(outer), max(1, tile // (block_middle * block_inner))), block_middle, block_inner


@functools.lru_cache(maxsize=1024)
def _ghost_blocks(plan: _Plan, device: torch.device) -> tuple[tuple[int], dict[str, int]]:
    """Grid and (groups, all chunks, channels) tiles of the ghost-statistics kernels."""
    small = _sizes(device).small_tile
    block_k = _pow2(plan.chunks)
    block_g = min(_pow2(plan.groups), max(1, small // block_k))
    block_c = min(_pow2(plan.channels), max(1, small // (block_g * block_k)))
    return (_cdiv(plan.channels, block_c),), {"BLOCK_G": block_g, "BLOCK_K": block_k, "BLOCK_C": block_c}


def _empty(like: Tensor, count: int, *shape: int) -> list[Tensor]:
    """`count` separate new tensors of `shape` on like's device, in like's dtype."""
    return [like.new_empty(shape) for _ in range(count)]


def check_device(device: torch.device) -> None:
    """Raises unless the kernels can run on `device`: CUDA, or any device under Triton's interpreter."""
    if device.type != "cuda" and not INTERPRETED:
        raise RuntimeError(
            f"impl='triton' runs on CUDA; got device {device.type}. On CPU the Triton kernels "
            "run only under Triton's interpreter (TRITON_INTERPRET=1 in the environment before Python "
            "imports triton: slow, for tests); use impl='auto' or 'fused' there"
        )


def _check(x: Tensor) -> None:
    check_device(x.device)
    if x.numel() >= 2**31:
        raise ValueError(f"impl='triton' indexes with 32-bit offsets: input {tuple(x.shape)} is too large")


_LIBRARY = torch.library.Library("seqnorm", "DEF")


def _operator(mutates_args: tuple[str, ...] = ()):
    """Registers the decorated `body` as the operator seqnorm::<its name> on every device, mutating (in place)
    the arguments named in `mutates_args`; returns the function to call:
    the operator under torch.compile, which traces it through its fake implementation and keeps it whole,
    and `body` itself in eager mode, where the dispatcher's round trip back into Python adds nothing.

    torch.library.define/impl, not @torch.library.custom_op with register_autograd: in eager mode the
    latter's per-call wrappers (aliasing checks, re-dispatch through an autograd Function of its own, a
    dynamo guard) took about a fifth of a layer call's host time, the dispatcher's round trip a tenth
    more (`benchmarks/host_overhead.py`).
    Autograd is the plain autograd.Function of each layer below; the fake implementation is registered
    beside each operator.
    """

    def register(body):
        name = body.__name__.removeprefix("_")
        _LIBRARY.define(name + torch.library.infer_schema(body, mutates_args=mutates_args))
        _LIBRARY.impl(name, body, "CompositeExplicitAutograd")
        operator = getattr(torch.ops.seqnorm, name).default

        @functools.wraps(body)
        def call(*args):
            return operator(*args) if torch.compiler.is_compiling() else body(*args)

        return call

    return register


# The statistics operators update BatchNorm's running buffers in place (when given): `factor` is the
# weight of this batch in the running averages (the momentum).
RUNNING = ("running_mean", "running_var")


def _running_args(x: Tensor, gm: int, running_mean: Tensor | None, running_var: Tensor | None, factor: float):
    """The statistics kernels' running-update arguments: the buffers, the factor and the unbiased variance's
    n / (n - 1) for the n elements of a (ghost group, channel); no update without the buffers."""
    return {
        "running_mean_ptr": running_mean, "running_var_ptr": running_var, "factor": factor,
        "unbias": unbiased_factor(x, gm), "UPDATE_RUNNING": running_mean is not None,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# GhostNorm


@_operator(mutates_args=RUNNING)
def _ghost_norm_statistics(
    x: Tensor, weight: Tensor, running_mean: Tensor | None, running_var: Tensor | None, factor: float,
    gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Per (ghost group, channel): mean, biased variance and the apply pass's scale = weight / std; and the
    running statistics' update."""
    plan = _plan(x, gm, GHOST_CHUNKS)
    partials = _moments(x, plan)
    mean, var, scale = _empty(partials, 3, gm, plan.channels)
    grid, blocks = _ghost_blocks(plan, x.device)
    kernels.ghost_stats_kernel[grid](
        partials, weight, mean, var, scale, gm, plan.chunks, plan.channels, eps,
        **_running_args(x, gm, running_mean, running_var, factor), **blocks,
    )  # fmt: skip
    return mean, var, scale


@torch.library.register_fake("seqnorm::ghost_norm_statistics", lib=_LIBRARY)
def _(x, weight, running_mean, running_var, factor, gm, eps):
    return tuple(x.new_empty((gm, x.shape[1]), dtype=stats_dtype(x)) for _ in range(3))


def _ghost_norm(
    x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
    factor: float, gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """GhostNorm's forward: y and the ghost groups' mean and variance."""
    mean, var, scale = _ghost_norm_statistics(x, weight, running_mean, running_var, factor, gm, eps)
    return _apply(x, gm, GHOST_CHUNKS, mean, scale, bias), mean, var


@_operator()
def _ghost_norm_backward_coefficients(
    dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, var: Tensor, gm: int, eps: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """dx = dy * d + (x - mean) * a + b per (ghost group, channel): d, a and b; and the parameters'
    gradients."""
    plan = _plan(x, gm, GHOST_CHUNKS)
    partials = _grad_sums(x, dy, mean, plan)
    d, a, b = _empty(partials, 3, gm, plan.channels)
    grad_weight, grad_bias = _empty(partials, 2, plan.channels)
    grid, blocks = _ghost_blocks(plan, x.device)
    count = x.numel() // (gm * plan.channels)
    kernels.ghost_grad_kernel[grid](
        partials, var, weight, d, a, b, grad_weight, grad_bias, gm, plan.chunks, plan.channels, float(count),
        eps, **blocks,
    )  # fmt: skip
    return d, a, b, grad_weight.to(weight.dtype), grad_bias.to(weight.dtype)


@torch.library.register_fake("seqnorm::ghost_norm_backward_coefficients", lib=_LIBRARY)
def _(dy, x, weight, mean, var, gm, eps):
    coefficients = (x.new_empty(mean.shape, dtype=mean.dtype) for _ in range(3))
    return *coefficients, torch.empty_like(weight), torch.empty_like(weight)


def _ghost_norm_backward(
    dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, var: Tensor, gm: int, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """GhostNorm's backward: dx and the parameters' gradients."""
    d, a, b, grad_weight, grad_bias = _ghost_norm_backward_coefficients(dy, x, weight, mean, var, gm, eps)
    return _apply(x, gm, GHOST_CHUNKS, mean, a, b, dy, d), grad_weight, grad_bias


class GhostNormTriton(torch.autograd.Function):
    """GhostNorm's two operators as one autograd node."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, factor, gm, eps):
        y, mean, var = _ghost_norm(x, weight, bias, running_mean, running_var, factor, gm, eps)
        ctx.save_for_backward(x, weight, mean, var)
        ctx.gm, ctx.eps = gm, eps
        mark_statistics(ctx, mean, var)
        return y, mean, var

    @staticmethod
    @hand_written_backward(ghost_reference)
    def backward(ctx, dy, _grad_mean, _grad_var):
        x, weight, mean, var = ctx.saved_tensors
        grads = _ghost_norm_backward(in_layout_of(dy, x), x, weight, mean, var, ctx.gm, ctx.eps)
        return *grads, None, None, None, None, None


def ghost_norm_triton(
    x: Tensor, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float,
    running_mean: Tensor | None = None, running_var: Tensor | None = None, factor: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """GhostNorm training forward, same contract as `reference.ghost_norm_reference`; given the running
    buffers, also their momentum update with weight `factor`, in the statistics kernel."""
    _check(x)
    params = affine_params(x, weight, bias)
    return GhostNormTriton.apply(dense(x), *params, running_mean, running_var, factor, gm, eps)


# ---------------------------------------------------------------------------------------------------------
# SeqNorm


@functools.lru_cache(maxsize=1024)
def _group_blocks(
    batch: int, channels: int, gc: int, device: torch.device
) -> tuple[tuple[int, int], dict[str, int]]:
    """Grid and (samples, channel groups, channels of a group) tiles of the GroupNorm-stage kernels."""
    block_m, block_j, block_q = _small_blocks(batch, gc, channels // gc, _sizes(device).small_tile)
    grid = (_cdiv(batch, block_m), _cdiv(gc, block_j))
    return grid, {"BLOCK_M": block_m, "BLOCK_J": block_j, "BLOCK_Q": block_q}


@functools.lru_cache(maxsize=1024)
def _seq_ghost_blocks(
    batch: int, channels: int, gm: int, device: torch.device
) -> tuple[tuple[int], dict[str, int]]:
    """Grid and (ghost groups, samples of a group, channels) tiles of the ghost-stage kernels: few
    channels per program, for more programs (each walks all M samples)."""
    sizes = _sizes(device)
    block_c = min(_pow2(channels), sizes.ghost_block_c)
    block_g, block_r, _ = _small_blocks(gm, batch // gm, 1, max(1, sizes.small_tile // block_c))
    return (_cdiv(channels, block_c),), {"BLOCK_G": block_g, "BLOCK_R": block_r, "BLOCK_C": block_c}


@_operator(mutates_args=RUNNING)
def _seq_norm_statistics(
    x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
    factor: float, gc: int, gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """The ghost groups' mean and variance; the rows' mean and variance and GroupNorm's mean and rho per
    (sample, channel group), for backward; the apply pass's slope and shift per row; and the running
    statistics' update."""
    batch, channels = x.shape[:2]
    plan = _plan(x, batch, ROW_CHUNKS)  # one sample per group: per-(sample, channel) rows
    partials = _moments(x, plan)
    row_mean, row_var, slope, shift = _empty(partials, 4, batch, channels)
    group_mean, rho = _empty(partials, 2, batch, gc)
    grid, blocks = _group_blocks(batch, channels, gc, x.device)
    kernels.seq_group_stats_kernel[grid](
        partials, row_mean, row_var, group_mean, rho, batch, channels, gc, plan.chunks, eps, **blocks
    )  # fmt: skip
    ghost_mean, ghost_var = _empty(partials, 2, gm, channels)
    grid, blocks = _seq_ghost_blocks(batch, channels, gm, x.device)
    kernels.seq_ghost_stats_kernel[grid](
        row_mean, row_var, group_mean, rho, weight, bias, ghost_mean, ghost_var, slope, shift, channels, gc,
        gm, batch // gm, eps, **_running_args(x, gm, running_mean, running_var, factor), **blocks,
    )  # fmt: skip
    return ghost_mean, ghost_var, row_mean, row_var, group_mean, rho, slope, shift


@torch.library.register_fake("seqnorm::seq_norm_statistics", lib=_LIBRARY)
def _(x, weight, bias, running_mean, running_var, factor, gc, gm, eps):
    batch, channels = x.shape[:2]
    shapes = [(gm, channels)] * 2 + [(batch, channels)] * 2 + [(batch, gc)] * 2 + [(batch, channels)] * 2
    return tuple(x.new_empty(shape, dtype=stats_dtype(x)) for shape in shapes)


def _seq_norm(
    x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
    factor: float, gc: int, gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """SeqNorm's forward: y, the ghost groups' mean and variance, and the row and GroupNorm statistics
    that its backward takes."""
    running = running_mean, running_var, factor
    ghost_mean, ghost_var, row_mean, row_var, group_mean, rho, slope, shift = _seq_norm_statistics(
        x, weight, bias, *running, gc, gm, eps
    )
    y = _apply(x, x.shape[0], ROW_CHUNKS, row_mean, slope, shift)
    return y, ghost_mean, ghost_var, row_mean, row_var, group_mean, rho


@_operator()
def _seq_norm_backward_coefficients(
    dy: Tensor, x: Tensor, weight: Tensor, row_mean: Tensor, row_var: Tensor, group_mean: Tensor, rho: Tensor,
    ghost_mean: Tensor, ghost_var: Tensor, gc: int, gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """dx = dy * d + (x - row_mean) * a + b per (sample, channel) row: d, a and b; and the parameters'
    gradients."""
    batch, channels = x.shape[:2]
    plan = _plan(x, batch, ROW_CHUNKS)
    partials = _grad_sums(x, dy, row_mean, plan)
    alpha, beta, gamma = _empty(partials, 3, gm, channels)
    grad_weight, grad_bias = _empty(partials, 2, channels)
    positions = x.numel() // (batch * channels)
    count = batch // gm * positions  # elements of a (ghost group, channel)
    grid, blocks = _seq_ghost_blocks(batch, channels, gm, x.device)
    kernels.seq_ghost_grad_kernel[grid](
        partials, row_mean, row_var, group_mean, rho, ghost_mean, ghost_var, weight, alpha, beta, gamma,
        grad_weight, grad_bias, channels, gc, gm, batch // gm, plan.chunks, float(count), eps, **blocks,
    )  # fmt: skip
    d, a, b = _empty(partials, 3, batch, channels)
    grid, blocks = _group_blocks(batch, channels, gc, x.device)
    kernels.seq_group_grad_kernel[grid](
        partials, row_mean, row_var, group_mean, rho, ghost_mean, alpha, beta, gamma, d, a, b, batch,
        channels, gc, batch // gm, plan.chunks, float(positions), **blocks,
    )  # fmt: skip
    return d, a, b, grad_weight.to(weight.dtype), grad_bias.to(weight.dtype)


@torch.library.register_fake("seqnorm::seq_norm_backward_coefficients", lib=_LIBRARY)
def _(dy, x, weight, row_mean, row_var, group_mean, rho, ghost_mean, ghost_var, gc, gm, eps):
    coefficients = (x.new_empty(row_mean.shape, dtype=row_mean.dtype) for _ in range(3))
    return *coefficients, torch.empty_like(weight), torch.empty_like(weight)


def _seq_norm_backward(
    dy: Tensor, x: Tensor, weight: Tensor, row_mean: Tensor, row_var: Tensor, group_mean: Tensor, rho: Tensor,
    ghost_mean: Tensor, ghost_var: Tensor, gc: int, gm: int, eps: float,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """SeqNorm's backward: dx and the parameters' gradients."""
    d, a, b, grad_weight, grad_bias = _seq_norm_backward_coefficients(
        dy, x, weight, row_mean, row_var, group_mean, rho, ghost_mean, ghost_var, gc, gm, eps
    )
    return _apply(x, x.shape[0], ROW_CHUNKS, row_mean, a, b, dy, d), grad_weight, grad_bias


class SeqNormTriton(torch.autograd.Function):
    """SeqNorm's two operators as one autograd node; only y is differentiable."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, factor, gc, gm, eps):
        outputs = _seq_norm(x, weight, bias, running_mean, running_var, factor, gc, gm, eps)
        _, ghost_mean, ghost_var, *row_and_group_stats = outputs
        ctx.save_for_backward(x, weight, *row_and_group_stats, ghost_mean, ghost_var)  # backward's order
        ctx.hyper = (gc, gm, eps)
        mark_statistics(ctx, *outputs[1:])
        return outputs

    @staticmethod
    @hand_written_backward(seq_reference)
    def backward(ctx, dy, *_grad_stats):
        x, weight, *stats = ctx.saved_tensors
        grads = _seq_norm_backward(in_layout_of(dy, x), x, weight, *stats, *ctx.hyper)
        return *grads, None, None, None, None, None, None


def seq_norm_triton(
    x: Tensor, gc: int, gm: int, weight: Tensor | None, bias: Tensor | None, eps: float,
    running_mean: Tensor | None = None, running_var: Tensor | None = None, factor: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """SeqNorm training forward, same contract as `reference.seq_norm_reference`; the running buffers'
    update as in `ghost_norm_triton`."""
    _check(x)
    params = affine_params(x, weight, bias)
    outputs = SeqNormTriton.apply(dense(x), *params, running_mean, running_var, factor, gc, gm, eps)
    return outputs[:3]


@contextlib.contextmanager
def launches_replaced(stand_in: Callable[[object], object], any_device: bool) -> Iterator[None]:
    """Every Triton launch `kernel[grid](...)` goes to `stand_in(kernel)[grid](...)` instead, to count or
    record the launches of a layer call (benchmarks/host_overhead.py, norms/triton_aot.py); `any_device`:
    CPU tensors are accepted (the launches must then not run)."""
    global _check
    saved, check = {name: getattr(kernels, name) for name in kernels.LAUNCHED}, _check
    for name, kernel in saved.items():
        setattr(kernels, name, stand_in(kernel))
    if any_device:
        _check = lambda x: None  # noqa: E731
    try:
        yield
    finally:
        for name, kernel in saved.items():
            setattr(kernels, name, kernel)
        _check = check
