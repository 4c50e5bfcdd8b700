"""GPU time per kernel of a piece of work, by torch.profiler: where a benchmark's time difference goes."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from seqnorm_repro.errors import one_line
from seqnorm_repro.norms.layers import HAS_TRITON


def _our_kernels() -> tuple[str, ...]:
    """The names of our Triton kernels (none without triton: CPU-only torch)."""
    if not HAS_TRITON:
        return ()
    from seqnorm_repro.norms import triton_kernels

    return triton_kernels.LAUNCHED


OUR_KERNELS = _our_kernels()
KERNEL_KINDS = (  # (kind, substrings of a CUDA kernel's name): the first kind matching names it
    # Inductor names a fused kernel after its ops; cuDNN's are bn_fw/bn_bw (NCHW), batchnorm_fwtr/bwtr (NHWC)
    ("normalisation", (*OUR_KERNELS, "batch_norm", "batchnorm", "bn_fw", "bn_bw")),
    ("convolution", ("conv", "gemm", "xmma", "wgrad", "dgrad", "cutlass")),
    ("optimizer", ("foreach", "multi_tensor")),
)
OTHER_KIND = "other"
KINDS = (*(kind for kind, _ in KERNEL_KINDS), OTHER_KIND)


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, keys in KERNEL_KINDS if any(key in lowered for key in keys)), OTHER_KIND)


def kinds_legend() -> str:
    """One sentence saying which names make which kind, for a report."""
    rules = "; ".join(
        f"{kind} = a name with {' or '.join(key for key in keys if key not in OUR_KERNELS)}"
        for kind, keys in KERNEL_KINDS
    )
    return (
        f"Kernel kinds by name (our Triton kernels are normalisation): {rules}; other = the rest "
        "(pointwise, reductions, copies). Inductor names a fused kernel after the ops it fused, so a "
        "compiled BatchNorm's kernels carry the ReLU, add and the like fused into them. Under "
        "torch.compile our layers' apply passes (y and dx) are Inductor pointwise kernels named after "
        "their ops (sub, mul, add), counted as other: our normalisation column holds the statistics "
        "kernels only, so compare the totals."
    )


def gpu_time_by_kernel(run: Callable[[], object], calls: int) -> dict[str, float]:
    """GPU seconds per call of each kernel that `run` launches, `run` doing `calls` calls of the work."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    return {
        event.key: event.self_device_time_total / 1e6 / calls
        for event in prof.key_averages()
        if event.device_type == torch.autograd.DeviceType.CUDA and event.self_device_time_total > 0
    }


def gpu_time_by_kernel_or_empty(run: Callable[[], object], calls: int) -> dict[str, float]:
    """`gpu_time_by_kernel`, or {} and a line on stderr where the profiled run fails, so that a benchmark
    keeps the timings it already has."""
    try:
        return gpu_time_by_kernel(run, calls)
    except Exception as err:  # the profiler (CUPTI missing or busy) or the work itself under it
        print(f"  profiled run failed, no kernel times: {one_line(err)}", file=sys.stderr)
        return {}


def by_kind(kernels: dict[str, float]) -> dict[str, float]:
    """The kernels' times summed per kind, every kind present."""
    totals = dict.fromkeys(KINDS, 0.0)
    for name, seconds in kernels.items():
        totals[kernel_kind(name)] += seconds
    return totals


def largest(kernels: dict[str, float], top: int = 6) -> str:
    """The `top` longest kernels, for a report line: `name` time (kind)."""
    ranked = sorted(kernels.items(), key=lambda item: -item[1])[:top]
    return "; ".join(
        f"`{name[:80]}` {seconds * 1e6:.1f} us ({kernel_kind(name)})" for name, seconds in ranked
    )
