"""Triton kernels of GhostNorm and SeqNorm: full-size passes over the input and small per-(row, group) maths.

The full-size kernels see the input as G groups of `samples` x `positions` x C, addressed by strides, so
NCHW, channels_last and (M, C) inputs run the same code: channels_last folds a group's samples and
positions into one axis (`samples` = 1). GhostNorm uses its gm ghost groups; SeqNorm uses G = M (one
sample per group: per-(sample, channel) rows). Each program owns one (group, chunk, channel block) and
walks its chunk's (BLOCK_M, BLOCK_S, BLOCK_C) tiles, so every group is spread over several programs
whatever gm is; their partial results go to (field, chunk, group, channel) buffers that a small kernel
combines. Statistics are accumulated in the dtype of the statistics buffers (fp32, fp64 for fp64 input).
Launch wrappers and block sizes: `triton_ops.py`.
"""

from __future__ import annotations

import triton
import triton.language as tl

# Each launched kernel leaves unspecialised the counts that are only loop bounds or factors of C-multiple
# offsets: groups, chunks, tiles per chunk, the batch and its ghost and channel groups. Triton would
# otherwise compile a variant per value class of each (1, a multiple of 16, other): 271 sm_90 compilations
# where 110 do for the GPU benchmark's gm and gc settings on ResNet-56's and WRN-28-10's shapes (counted
# with Triton's binder, 2026-12-02), for no faster code. C, SAMPLES, POSITIONS and the strides, which
# decide whether accesses are 16 bytes wide, stay specialised.


@triton.jit
def _chan(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.'s combination of two (count, mean, sum of squared deviations) summaries: exact, and
    never E[x^2] - mean^2, whose cancellation loses the variance when |mean| >> std."""
    n = n_a + n_b
    weight_b = n_b / tl.maximum(n, 1)
    delta = mean_b - mean_a
    return n, mean_a + delta * weight_b, m2_a + m2_b + delta * delta * n_a * weight_b


@triton.jit
def _program(C, CHUNKS, BLOCK_C: tl.constexpr, REVERSE: tl.constexpr):
    """(group, chunk, channels) of this program; channel blocks vary fastest, as they do in memory."""
    pid = tl.program_id(0)
    if REVERSE:  # run the apply passes back to front: the tiles read last by the pass before are in L2
        pid = tl.num_programs(0) - 1 - pid
    blocks = tl.cdiv(C, BLOCK_C)
    rest = pid // blocks
    return rest // CHUNKS, rest % CHUNKS, (pid % blocks) * BLOCK_C + tl.arange(0, BLOCK_C)


@triton.jit
def _tile(t, g, c, SAMPLES, POSITIONS, C, stride_g, stride_m, stride_s, stride_c,
          BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):  # fmt: skip
    """Offsets, mask and element count (per channel) of tile t of group g: (BLOCK_M, BLOCK_S, BLOCK_C)."""
    s_blocks = tl.cdiv(POSITIONS, BLOCK_S)
    m0 = (t // s_blocks) * BLOCK_M
    s0 = (t % s_blocks) * BLOCK_S
    m = m0 + tl.arange(0, BLOCK_M)
    s = s0 + tl.arange(0, BLOCK_S)
    offsets = (
        g * stride_g + m[:, None, None] * stride_m + s[None, :, None] * stride_s + c[None, None, :] * stride_c
    )
    mask = (m < SAMPLES)[:, None, None] & (s < POSITIONS)[None, :, None] & (c < C)[None, None, :]
    count = tl.minimum(SAMPLES - m0, BLOCK_M) * tl.minimum(POSITIONS - s0, BLOCK_S)
    return offsets, mask, count


@triton.jit
def _tile_range(k, SAMPLES, POSITIONS, TILES_PER_CHUNK, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """First and end tile of chunk k: chunks split a group's tiles into contiguous runs."""
    tiles = tl.cdiv(SAMPLES, BLOCK_M) * tl.cdiv(POSITIONS, BLOCK_S)
    return k * TILES_PER_CHUNK, tl.minimum(k * TILES_PER_CHUNK + TILES_PER_CHUNK, tiles)


# ---------------------------------------------------------------------------------------------------------
# Full-size passes, shared by GhostNorm and SeqNorm


@triton.jit(do_not_specialize=["G", "CHUNKS", "TILES_PER_CHUNK"])
def moments_kernel(x_ptr, part_ptr, G, SAMPLES, POSITIONS, C, stride_g, stride_m, stride_s, stride_c,
                   CHUNKS, TILES_PER_CHUNK,
                   BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """(count, mean, M2) per (chunk, group, channel) in one read of x: each tile's mean and centred sum of
    squares (the corrected two-pass form: sum / count rounds, which would leave a constant channel a
    variance that SeqNorm's two 1 / sqrt(var + eps) scale up to O(1) outputs), merged into the running
    summary by Chan's formula."""
    acc = part_ptr.dtype.element_ty
    g, k, c = _program(C, CHUNKS, BLOCK_C, False)
    n = tl.zeros([BLOCK_C], acc)
    mean = tl.zeros([BLOCK_C], acc)
    m2 = tl.zeros([BLOCK_C], acc)
    first, end = _tile_range(k, SAMPLES, POSITIONS, TILES_PER_CHUNK, BLOCK_M, BLOCK_S)
    for t in range(first, end):
        offsets, mask, count = _tile(t, g, c, SAMPLES, POSITIONS, C, stride_g, stride_m, stride_s, stride_c,
                                     BLOCK_M, BLOCK_S)  # fmt: skip
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(acc)
        tile_mean = tl.sum(tl.sum(x, 0), 0) / count
        centred = tl.where(mask, x - tile_mean[None, None, :], 0.0)
        residual = tl.sum(tl.sum(centred, 0), 0) / count
        tile_m2 = tl.maximum(tl.sum(tl.sum(centred * centred, 0), 0) - residual * residual * count, 0.0)
        n, mean, m2 = _chan(n, mean, m2, count, tile_mean + residual, tile_m2)
    out = (k * G + g) * C + c
    field = CHUNKS * G * C
    cmask = c < C
    tl.store(part_ptr + out, n, mask=cmask)
    tl.store(part_ptr + field + out, mean, mask=cmask)
    tl.store(part_ptr + 2 * field + out, m2, mask=cmask)


@triton.jit(do_not_specialize=["G", "CHUNKS", "TILES_PER_CHUNK"])
def grad_sums_kernel(x_ptr, dy_ptr, mean_ptr, part_ptr, G, SAMPLES, POSITIONS, C,
                     stride_g, stride_m, stride_s, stride_c, CHUNKS, TILES_PER_CHUNK,
                     BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """sum(dy) and sum(dy * (x - mean)) per (chunk, group, channel) in one read of x and dy. The products
    are already centred, so plain per-lane sums are safe; lanes are reduced once, at the end."""
    acc = part_ptr.dtype.element_ty
    g, k, c = _program(C, CHUNKS, BLOCK_C, False)
    mean = tl.load(mean_ptr + g * C + c, mask=c < C, other=0.0)[None, None, :]
    sum_dy = tl.zeros([BLOCK_M, BLOCK_S, BLOCK_C], acc)
    sum_dy_centred = tl.zeros([BLOCK_M, BLOCK_S, BLOCK_C], acc)
    first, end = _tile_range(k, SAMPLES, POSITIONS, TILES_PER_CHUNK, BLOCK_M, BLOCK_S)
    for t in range(first, end):
        offsets, mask, _ = _tile(t, g, c, SAMPLES, POSITIONS, C, stride_g, stride_m, stride_s, stride_c,
                                 BLOCK_M, BLOCK_S)  # fmt: skip
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(acc)
        dy = tl.load(dy_ptr + offsets, mask=mask, other=0.0).to(acc)  # 0 where masked: adds nothing
        sum_dy += dy
        sum_dy_centred += dy * (x - mean)
    out = (k * G + g) * C + c
    cmask = c < C
    tl.store(part_ptr + out, tl.sum(tl.sum(sum_dy, 0), 0), mask=cmask)
    tl.store(part_ptr + CHUNKS * G * C + out, tl.sum(tl.sum(sum_dy_centred, 0), 0), mask=cmask)


@triton.jit(do_not_specialize=["CHUNKS", "TILES_PER_CHUNK"])
def affine_kernel(x_ptr, dy_ptr, out_ptr, mean_ptr, a_ptr, b_ptr, d_ptr, b_stride_g, SAMPLES, POSITIONS, C,
                  stride_g, stride_m, stride_s, stride_c, CHUNKS, TILES_PER_CHUNK, HAS_DY: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """out = (x - mean) * a + b [+ dy * d], coefficients per (group, channel): the forward's output and the
    backward's dx. Centred on the mean, so a large |mean| / std does not cancel digits away."""
    acc = mean_ptr.dtype.element_ty
    g, k, c = _program(C, CHUNKS, BLOCK_C, True)
    cmask = c < C
    mean = tl.load(mean_ptr + g * C + c, mask=cmask, other=0.0)[None, None, :]
    a = tl.load(a_ptr + g * C + c, mask=cmask, other=0.0)[None, None, :]
    b = tl.load(b_ptr + g * b_stride_g + c, mask=cmask, other=0.0).to(acc)[None, None, :]
    if HAS_DY:
        d = tl.load(d_ptr + g * C + c, mask=cmask, other=0.0)[None, None, :]
    first, end = _tile_range(k, SAMPLES, POSITIONS, TILES_PER_CHUNK, BLOCK_M, BLOCK_S)
    for t in range(first, end):
        offsets, mask, _ = _tile(t, g, c, SAMPLES, POSITIONS, C, stride_g, stride_m, stride_s, stride_c,
                                 BLOCK_M, BLOCK_S)  # fmt: skip
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(acc)
        out = (x - mean) * a + b
        if HAS_DY:
            out += tl.load(dy_ptr + offsets, mask=mask, other=0.0).to(acc) * d
        tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=mask)


# ---------------------------------------------------------------------------------------------------------
# GhostNorm's small maths: per (ghost group, channel), all groups of a channel block in one program


@triton.jit
def _ghost_block(g0, c, G, CHUNKS, C, BLOCK_G: tl.constexpr, BLOCK_K: tl.constexpr):
    """Offsets and mask of the (BLOCK_G groups, all chunks, BLOCK_C channels) partials from group g0 on."""
    g = g0 + tl.arange(0, BLOCK_G)
    k = tl.arange(0, BLOCK_K)
    offsets = (k[None, :, None] * G + g[:, None, None]) * C + c[None, None, :]
    mask = (g < G)[:, None, None] & (k < CHUNKS)[None, :, None] & (c < C)[None, None, :]
    stats = g[:, None] * C + c[None, :]
    return offsets, mask, stats, (g < G)[:, None] & (c < C)[None, :]


@triton.jit
def _update_running(running_mean_ptr, running_var_ptr, c, C, mean, var, factor):
    """BatchNorm's momentum update, running += factor * (batch - running), of channels c with this batch's
    mean and unbiased variance: in the statistics kernel, where they are in registers already, instead of
    half a dozen small kernels after it."""
    mask = c < C
    running_mean = tl.load(running_mean_ptr + c, mask=mask, other=0.0).to(mean.dtype)
    running_var = tl.load(running_var_ptr + c, mask=mask, other=0.0).to(var.dtype)
    new_mean = running_mean + factor * (mean - running_mean)
    new_var = running_var + factor * (var - running_var)
    tl.store(running_mean_ptr + c, new_mean.to(running_mean_ptr.dtype.element_ty), mask=mask)
    tl.store(running_var_ptr + c, new_var.to(running_var_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["G", "CHUNKS"])
def ghost_stats_kernel(part_ptr, weight_ptr, mean_ptr, var_ptr, scale_ptr, G, CHUNKS, C, eps,
                       running_mean_ptr, running_var_ptr, factor, unbias, UPDATE_RUNNING: tl.constexpr,
                       BLOCK_G: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """Each group's mean and biased variance from its chunks' (count, mean, M2), all chunks at once
    (the many-way form of Chan's formula), and the apply pass's scale = weight / sqrt(var + eps); with
    UPDATE_RUNNING, the running statistics from the mean over groups of the means and of the variances
    times `unbias` = n / (n - 1)."""
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    weight = tl.load(weight_ptr + c, mask=c < C, other=0.0).to(mean_ptr.dtype.element_ty)
    field = CHUNKS * G * C
    mean_total = tl.zeros([BLOCK_C], mean_ptr.dtype.element_ty)
    var_total = tl.zeros([BLOCK_C], mean_ptr.dtype.element_ty)
    for g0 in range(0, G, BLOCK_G):
        offsets, mask, stats, stats_mask = _ghost_block(g0, c, G, CHUNKS, C, BLOCK_G, BLOCK_K)
        n = tl.load(part_ptr + offsets, mask=mask, other=0.0)
        means = tl.load(part_ptr + field + offsets, mask=mask, other=0.0)
        m2 = tl.load(part_ptr + 2 * field + offsets, mask=mask, other=0.0)
        count = tl.maximum(tl.sum(n, 1), 1)
        mean = tl.sum(n * means, 1) / count  # 0 for masked groups, as var
        deviation = means - mean[:, None, :]
        var = tl.sum(m2 + n * deviation * deviation, 1) / count
        tl.store(mean_ptr + stats, mean, mask=stats_mask)
        tl.store(var_ptr + stats, var, mask=stats_mask)
        tl.store(scale_ptr + stats, weight[None, :] / tl.sqrt(var + eps), mask=stats_mask)
        mean_total += tl.sum(mean, 0)
        var_total += tl.sum(var, 0)
    if UPDATE_RUNNING:
        _update_running(running_mean_ptr, running_var_ptr, c, C, mean_total / G, var_total / G * unbias,
                        factor)  # fmt: skip


@triton.jit(do_not_specialize=["G", "CHUNKS"])
def ghost_grad_kernel(part_ptr, var_ptr, weight_ptr, d_ptr, a_ptr, b_ptr, grad_weight_ptr, grad_bias_ptr,
                      G, CHUNKS, C, count, eps,
                      BLOCK_G: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """BatchNorm's backward per ghost group, as dx = dy * d + (x - mean) * a + b:
    dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * rstd, scale = rstd * weight.
    Also grad_weight = sum(dy * xhat) and grad_bias = sum(dy), summed over every group here."""
    acc = var_ptr.dtype.element_ty
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    weight = tl.load(weight_ptr + c, mask=c < C, other=0.0).to(acc)
    grad_weight = tl.zeros([BLOCK_C], acc)
    grad_bias = tl.zeros([BLOCK_C], acc)
    for g0 in range(0, G, BLOCK_G):
        offsets, mask, stats, stats_mask = _ghost_block(g0, c, G, CHUNKS, C, BLOCK_G, BLOCK_K)
        sum_dy = tl.sum(tl.load(part_ptr + offsets, mask=mask, other=0.0), 1)
        sum_dy_centred = tl.sum(tl.load(part_ptr + CHUNKS * G * C + offsets, mask=mask, other=0.0), 1)
        rstd = 1 / tl.sqrt(tl.load(var_ptr + stats, mask=stats_mask, other=1.0) + eps)
        scale = rstd * weight[None, :]
        tl.store(d_ptr + stats, scale, mask=stats_mask)
        tl.store(a_ptr + stats, -scale * rstd * rstd * sum_dy_centred / count, mask=stats_mask)
        tl.store(b_ptr + stats, -scale * sum_dy / count, mask=stats_mask)
        grad_weight += tl.sum(sum_dy_centred * rstd, 0)
        grad_bias += tl.sum(sum_dy, 0)
    tl.store(grad_weight_ptr + c, grad_weight, mask=c < C)
    tl.store(grad_bias_ptr + c, grad_bias, mask=c < C)


# ---------------------------------------------------------------------------------------------------------
# SeqNorm's small maths, from per-(sample, channel) row moments (see seq_moments.py): GroupNorm is affine
# per row, z = (x - group_mean) * rho, so rows give GroupNorm's statistics and the ghost groups' statistics
# of z; SeqNorm is then y = (x - row_mean) * slope + shift per row. The GroupNorm stage reduces over the
# channels of a channel group (programs own whole channel groups of a block of samples); the ghost stage
# reduces over the samples of a ghost group (programs own a channel block, all samples).


@triton.jit
def _channel_groups(pid_m, pid_j, M, C, GC, BLOCK_M: tl.constexpr, BLOCK_J: tl.constexpr,
                    BLOCK_Q: tl.constexpr):  # fmt: skip
    """Rows of a (BLOCK_M samples, BLOCK_J channel groups, BLOCK_Q channels of a group) tile."""
    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    j = pid_j * BLOCK_J + tl.arange(0, BLOCK_J)
    q = tl.arange(0, BLOCK_Q)
    c = j[None, :, None] * (C // GC) + q[None, None, :]
    mask = (m < M)[:, None, None] & (j < GC)[None, :, None] & (q < C // GC)[None, None, :]
    groups = m[:, None] * GC + j[None, :]
    return m, c, m[:, None, None] * C + c, mask, groups, (m < M)[:, None] & (j < GC)[None, :]


@triton.jit
def _ghost_rows(g, r, c, mean_ptr, var_ptr, group_mean_ptr, rho_ptr, C, GC, GM, MG):
    """Rows of a (ghost groups g, their samples r, channels c) tile: the row mean and variance of the
    GroupNorm output z, and rho = GroupNorm's 1 / std; zeros where masked."""
    m = g[:, None] * MG + r[None, :]
    mask = (g < GM)[:, None, None] & (r < MG)[None, :, None] & (c < C)[None, None, :]
    rows = m[:, :, None] * C + c[None, None, :]
    groups = m[:, :, None] * GC + (c // (C // GC))[None, None, :]
    mean = tl.load(mean_ptr + rows, mask=mask, other=0.0)
    var = tl.load(var_ptr + rows, mask=mask, other=0.0)
    rho = tl.load(rho_ptr + groups, mask=mask, other=0.0)
    z_mean = (mean - tl.load(group_mean_ptr + groups, mask=mask, other=0.0)) * rho
    return rows, mask, z_mean, var * rho * rho, rho


@triton.jit
def _sum_chunks(ptr, offsets, mask, CHUNKS, chunk_stride):
    """A per-row sum from its chunks' partial sums."""
    total = tl.load(ptr + offsets, mask=mask, other=0.0)
    for k in range(1, CHUNKS):
        total += tl.load(ptr + k * chunk_stride + offsets, mask=mask, other=0.0)
    return total


@triton.jit(do_not_specialize=["M", "GC", "CHUNKS"])
def seq_group_stats_kernel(part_ptr, mean_ptr, var_ptr, group_mean_ptr, rho_ptr, M, C, GC, CHUNKS, eps,
                           BLOCK_M: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_Q: tl.constexpr):  # fmt: skip
    """Row mean and variance from the chunks' (count, mean, M2), then GroupNorm's mean and rho per
    (sample, channel group): its variance is the mean of var + (row mean - group mean)^2 (Chan again)."""
    m, c, rows, mask, groups, groups_mask = _channel_groups(tl.program_id(0), tl.program_id(1), M, C, GC,
                                                            BLOCK_M, BLOCK_J, BLOCK_Q)  # fmt: skip
    offsets = m[:, None, None] * C + c  # chunk k at + k * M * C
    field = CHUNKS * M * C
    n = tl.load(part_ptr + offsets, mask=mask, other=1.0)
    mean = tl.load(part_ptr + field + offsets, mask=mask, other=0.0)
    m2 = tl.load(part_ptr + 2 * field + offsets, mask=mask, other=0.0)
    for k in range(1, CHUNKS):
        chunk = offsets + k * M * C
        n, mean, m2 = _chan(n, mean, m2, tl.load(part_ptr + chunk, mask=mask, other=0.0),
                            tl.load(part_ptr + field + chunk, mask=mask, other=0.0),
                            tl.load(part_ptr + 2 * field + chunk, mask=mask, other=0.0))  # fmt: skip
    var = m2 / n
    tl.store(mean_ptr + rows, mean, mask=mask)
    tl.store(var_ptr + rows, var, mask=mask)
    channels = C // GC
    group_mean = tl.sum(mean, 2) / channels
    deviation = tl.where(mask, mean - group_mean[:, :, None], 0.0)
    residual = tl.sum(deviation, 2) / channels  # corrected, as in moments_kernel: equal means, no variance
    group_mean += residual
    deviation = tl.where(mask, deviation - residual[:, :, None], 0.0)
    group_var = tl.sum(var + deviation * deviation, 2) / channels
    tl.store(group_mean_ptr + groups, group_mean, mask=groups_mask)
    tl.store(rho_ptr + groups, 1 / tl.sqrt(group_var + eps), mask=groups_mask)


@triton.jit(do_not_specialize=["GC", "GM", "MG"])
def seq_ghost_stats_kernel(mean_ptr, var_ptr, group_mean_ptr, rho_ptr, weight_ptr, bias_ptr, ghost_mean_ptr,
                           ghost_var_ptr, slope_ptr, shift_ptr, C, GC, GM, MG, eps,
                           running_mean_ptr, running_var_ptr, factor, unbias, UPDATE_RUNNING: tl.constexpr,
                           BLOCK_G: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """Ghost groups' mean and variance of z from its rows (Chan over blocks of samples, every row holding
    the same number of positions), then each row's slope = rho * sigma * weight and
    shift = (z_mean - ghost_mean) * sigma * weight + bias, sigma = 1 / sqrt(ghost_var + eps); with
    UPDATE_RUNNING, the running statistics as in `ghost_stats_kernel`."""
    acc = ghost_mean_ptr.dtype.element_ty
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    weight = tl.load(weight_ptr + c, mask=c < C, other=0.0).to(acc)[None, :]
    bias = tl.load(bias_ptr + c, mask=c < C, other=0.0).to(acc)[None, None, :]
    r = tl.arange(0, BLOCK_R)
    mean_total = tl.zeros([BLOCK_C], acc)
    var_total = tl.zeros([BLOCK_C], acc)
    for g0 in range(0, GM, BLOCK_G):
        g = g0 + tl.arange(0, BLOCK_G)
        n = tl.zeros([BLOCK_G, BLOCK_C], acc)
        mean = tl.zeros([BLOCK_G, BLOCK_C], acc)
        m2 = tl.zeros([BLOCK_G, BLOCK_C], acc)
        for r0 in range(0, MG, BLOCK_R):
            _, mask, z_mean, z_var, _ = _ghost_rows(g, r0 + r, c, mean_ptr, var_ptr, group_mean_ptr, rho_ptr,
                                                    C, GC, GM, MG)  # fmt: skip
            rows = tl.minimum(MG - r0, BLOCK_R)
            block_mean = tl.sum(z_mean, 1) / rows
            deviation = tl.where(mask, z_mean - block_mean[:, None, :], 0.0)
            n, mean, m2 = _chan(n, mean, m2, rows, block_mean, tl.sum(z_var + deviation * deviation, 1))
        var = m2 / MG
        stats = g[:, None] * C + c[None, :]
        stats_mask = (g < GM)[:, None] & (c < C)[None, :]
        tl.store(ghost_mean_ptr + stats, mean, mask=stats_mask)
        tl.store(ghost_var_ptr + stats, var, mask=stats_mask)
        sigma_weight = (weight / tl.sqrt(var + eps))[:, None, :]
        for r0 in range(0, MG, BLOCK_R):
            rows, mask, z_mean, _, rho = _ghost_rows(g, r0 + r, c, mean_ptr, var_ptr, group_mean_ptr, rho_ptr,
                                                     C, GC, GM, MG)  # fmt: skip
            tl.store(slope_ptr + rows, rho * sigma_weight, mask=mask)
            tl.store(shift_ptr + rows, (z_mean - mean[:, None, :]) * sigma_weight + bias, mask=mask)
        mean_total += tl.sum(mean, 0)  # masked groups and channels hold 0
        var_total += tl.sum(var, 0)
    if UPDATE_RUNNING:
        _update_running(running_mean_ptr, running_var_ptr, c, C, mean_total / GM, var_total / GM * unbias,
                        factor)  # fmt: skip


@triton.jit(do_not_specialize=["GC", "GM", "MG", "CHUNKS"])
def seq_ghost_grad_kernel(part_ptr, mean_ptr, var_ptr, group_mean_ptr, rho_ptr, ghost_mean_ptr, ghost_var_ptr,
                          weight_ptr, alpha_ptr, beta_ptr, gamma_ptr, grad_weight_ptr, grad_bias_ptr,
                          C, GC, GM, MG, CHUNKS, count, eps,
                          BLOCK_G: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """The ghost stage's BatchNorm backward, dz = alpha * dy + beta * (z - ghost_mean) + gamma per (ghost
    group, channel), from the rows' sum(dy) and sum(dy * (x - row_mean)):
    sum(dy * (z - ghost_mean)) over a row = rho * sum(dy * (x - row_mean)) + (z_mean - ghost_mean) * sum(dy).
    Also grad_weight and grad_bias, summed over every ghost group here."""
    acc = ghost_mean_ptr.dtype.element_ty
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    weight = tl.load(weight_ptr + c, mask=c < C, other=0.0).to(acc)[None, :]
    r = tl.arange(0, BLOCK_R)
    rows_total = GM * MG * C
    grad_weight = tl.zeros([BLOCK_C], acc)
    grad_bias = tl.zeros([BLOCK_C], acc)
    for g0 in range(0, GM, BLOCK_G):
        g = g0 + tl.arange(0, BLOCK_G)
        stats = g[:, None] * C + c[None, :]
        stats_mask = (g < GM)[:, None] & (c < C)[None, :]
        ghost_mean = tl.load(ghost_mean_ptr + stats, mask=stats_mask, other=0.0)
        sigma = 1 / tl.sqrt(tl.load(ghost_var_ptr + stats, mask=stats_mask, other=1.0) + eps)
        sum_dy = tl.zeros([BLOCK_G, BLOCK_C], acc)
        sum_dy_z = tl.zeros([BLOCK_G, BLOCK_C], acc)
        for r0 in range(0, MG, BLOCK_R):
            rows, mask, z_mean, _, rho = _ghost_rows(g, r0 + r, c, mean_ptr, var_ptr, group_mean_ptr, rho_ptr,
                                                     C, GC, GM, MG)  # fmt: skip
            row_dy = _sum_chunks(part_ptr, rows, mask, CHUNKS, rows_total)
            row_dy_x = _sum_chunks(part_ptr + CHUNKS * rows_total, rows, mask, CHUNKS, rows_total)
            sum_dy += tl.sum(row_dy, 1)
            sum_dy_z += tl.sum(rho * row_dy_x + (z_mean - ghost_mean[:, None, :]) * row_dy, 1)
        alpha = sigma * weight
        tl.store(alpha_ptr + stats, alpha, mask=stats_mask)
        tl.store(beta_ptr + stats, -alpha * sigma * sigma * sum_dy_z / count, mask=stats_mask)
        tl.store(gamma_ptr + stats, -alpha * sum_dy / count, mask=stats_mask)
        grad_weight += tl.sum(sigma * sum_dy_z, 0)
        grad_bias += tl.sum(sum_dy, 0)
    tl.store(grad_weight_ptr + c, grad_weight, mask=c < C)
    tl.store(grad_bias_ptr + c, grad_bias, mask=c < C)


@triton.jit(do_not_specialize=["M", "GC", "MG", "CHUNKS"])
def seq_group_grad_kernel(part_ptr, mean_ptr, var_ptr, group_mean_ptr, rho_ptr, ghost_mean_ptr, alpha_ptr,
                          beta_ptr, gamma_ptr, d_ptr, a_ptr, b_ptr, M, C, GC, MG, CHUNKS, positions,
                          BLOCK_M: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_Q: tl.constexpr):  # fmt: skip
    """GroupNorm's backward of dz, dx = rho * (dz - mean(dz) - z * mean(dz * z)) with means over a
    (sample, channel group), written per row as dx = dy * d + (x - row_mean) * a + b. Each row's sums of
    dz and dz * z over its positions follow from its sum(dy), sum(dy * (x - row_mean)) and moments."""
    m, c, rows, mask, groups, groups_mask = _channel_groups(tl.program_id(0), tl.program_id(1), M, C, GC,
                                                            BLOCK_M, BLOCK_J, BLOCK_Q)  # fmt: skip
    group_mean = tl.load(group_mean_ptr + groups, mask=groups_mask, other=0.0)[:, :, None]
    rho = tl.load(rho_ptr + groups, mask=groups_mask, other=0.0)[:, :, None]
    z_mean = (tl.load(mean_ptr + rows, mask=mask, other=0.0) - group_mean) * rho
    z_var = tl.load(var_ptr + rows, mask=mask, other=0.0) * rho * rho
    ghost = (m // MG)[:, None, None] * C + c
    ghost_mean = tl.load(ghost_mean_ptr + ghost, mask=mask, other=0.0)
    alpha = tl.load(alpha_ptr + ghost, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + ghost, mask=mask, other=0.0)
    gamma = tl.load(gamma_ptr + ghost, mask=mask, other=0.0)
    row_dy = _sum_chunks(part_ptr, rows, mask, CHUNKS, M * C)
    row_dy_x = _sum_chunks(part_ptr + CHUNKS * M * C, rows, mask, CHUNKS, M * C)
    # sums over the row's positions of dz and dz * z (every term is 0 where masked)
    sum_dz = alpha * row_dy + positions * (beta * (z_mean - ghost_mean) + gamma)
    sum_dz_z = alpha * (rho * row_dy_x + z_mean * row_dy) + positions * (
        beta * (z_var + z_mean * (z_mean - ghost_mean)) + gamma * z_mean
    )
    size = positions * (C // GC)
    mean_dz = (tl.sum(sum_dz, 2) / size)[:, :, None]
    mean_dz_z = (tl.sum(sum_dz_z, 2) / size)[:, :, None]
    # dx = rho (alpha dy + beta (z - ghost_mean) + gamma - mean_dz - mean_dz_z z) with
    # z = (x - row_mean) rho + z_mean, gathered by powers of dy and of (x - row_mean)
    tl.store(d_ptr + rows, rho * alpha, mask=mask)
    tl.store(a_ptr + rows, rho * rho * (beta - mean_dz_z), mask=mask)
    offset = (beta - mean_dz_z) * z_mean - beta * ghost_mean + gamma - mean_dz
    tl.store(b_ptr + rows, rho * offset, mask=mask)


# The kernels that triton_ops launches (the @triton.jit helpers above inline into them), by name: for
# the tools that stand in for launches or look them up in a profile.
LAUNCHED = tuple(name for name in list(globals()) if name.endswith("_kernel"))
