"""The Triton kernels' launches of a layer call, recorded on CPU tensors and compiled ahead of time for a
GPU target, no GPU needed: what CI checks of the compiled code, and what `benchmarks/kernel_resources.py`
reports (registers, spills, how many programs fit on a multiprocessor).

The layer's eager forward and backward run on CPU tensors of real layer shapes with every kernel launch
recorded instead of run, under the sizes of a 132-SM GPU (`triton_ops.cuda_sizes`); each launch is
specialised as Triton's launcher would on the GPU (16-byte aligned pointers, integers divisible by 16,
integers equal to 1 as constants), through Triton's own binder, so that it is the same code.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import create_function_from_signature

from seqnorm_repro.norms import triton_ops

SM90 = GPUTarget("cuda", 90, 32)  # Hopper: the H100 and H200
SMS = 132
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"  # ships with Triton


@dataclass(frozen=True)
class Launch:
    kernel: Any  # the @triton.jit function
    grid: tuple[int, ...]
    args: tuple
    kwargs: dict


class _Recorder:
    """Stands in for a @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the launch."""

    def __init__(self, kernel, launches: list[Launch]) -> None:
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append(Launch(self.kernel, tuple(grid), args, kwargs))


@contextlib.contextmanager
def _recorded(launches: list[Launch]) -> Iterator[None]:
    """Launches recorded, not run, with a 132-SM GPU's block sizes and CPU tensors accepted."""
    sizes = triton_ops._sizes
    triton_ops._sizes = lambda device: triton_ops.cuda_sizes(SMS)
    triton_ops._cached_plan.cache_clear()
    try:
        with triton_ops.launches_replaced(lambda kernel: _Recorder(kernel, launches), any_device=True):
            yield
    finally:
        triton_ops._sizes = sizes
        triton_ops._cached_plan.cache_clear()


def layer_launches(op: str, shape, dtype: torch.dtype, channels_last: bool, *hyper) -> list[Launch]:
    """Every kernel launch of `op`'s ("ghost": hyper = (gm,); "seq": (gc, gm)) eager forward, with the
    running-statistics update, and backward on an input of `shape`."""
    launches: list[Launch] = []
    x = torch.empty(shape, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.ones(shape[1]), torch.zeros(shape[1])
    running = torch.zeros(shape[1]), torch.ones(shape[1]), 0.1
    with _recorded(launches):
        if op == "ghost":
            y, mean, var = triton_ops._ghost_norm(x, weight, bias, *running, *hyper, 1e-5)
            triton_ops._ghost_norm_backward(torch.empty_like(y), x, weight, mean, var, *hyper, 1e-5)
        else:
            y, *stats = triton_ops._seq_norm(x, weight, bias, *running, *hyper, 1e-5)
            triton_ops._seq_norm_backward(
                torch.empty_like(y), x, weight, *stats[2:], *stats[:2], *hyper, 1e-5
            )
    return launches


def source(launch: Launch, target: GPUTarget = SM90) -> tuple[ASTSource, dict]:
    """The source and options of one launch as Triton's launcher specialises them for `target`: its own
    binder and argument packing (private to triton.runtime.jit; the version is pinned in
    requirements/constraints.txt), applied to the CPU tensors' dtypes, data pointers and the integers."""
    kernel = launch.kernel
    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*launch.args, **launch.kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(
        backend, launch.kwargs, bound, specialization, options
    )
    return ASTSource(kernel, signature, constexprs, attrs), options.__dict__


def compiled(launches: list[Launch], target: GPUTarget = SM90) -> Iterator[tuple[Launch, Any]]:
    """Each distinct specialisation among `launches` (its first launch) with its compiled kernel."""
    seen = set()
    for launch in launches:
        src, options = source(launch, target)
        key = (launch.kernel.__name__, str(src.signature), str(src.constants), str(src.attrs))
        if key not in seen:
            seen.add(key)
            yield launch, triton.compile(src, target=target, options=options)


def resource_usage(cubin: bytes) -> dict[str, int]:
    """Registers per thread (REG), shared memory per program (SHARED), local memory and stack per thread
    (LOCAL, STACK: spills) of a one-kernel cubin, as `cuobjdump --dump-resource-usage` prints them."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        usage = subprocess.run(
            [CUOBJDUMP, "--dump-resource-usage", file.name], capture_output=True, text=True, check=True
        ).stdout
    return {key: int(value) for key, value in re.findall(r"\b([A-Z]+):(\d+)", usage)}
