"""The Triton kernels compile for a Hopper GPU (sm_90) with the block sizes a GPU run picks, no GPU needed.

The interpreter tests (`test_triton_cpu.py`) check the arithmetic but never compile: a kernel that the
interpreter runs and Triton's compiler rejects (a shape rule, a type mismatch, a layout it cannot lower)
would first fail on a GPU. Here the layers' eager forward and backward run on CPU tensors of real layer
shapes with every kernel launch recorded instead of run, under the sizes of a 132-SM GPU
(`triton_ops.cuda_sizes`); each distinct launch is then compiled ahead of time to a cubin for sm_90 by
Triton's own compiler and ptxas, specialised as Triton's launcher would on the GPU (16-byte aligned
pointers, integers divisible by 16, integers equal to 1 as constants), so that it is the same code: the
full-size passes of the layer shapes load and store 16 bytes at a time.
"""

import re

import pytest
import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import create_function_from_signature

from seqnorm_repro.norms import triton_kernels, triton_ops

H100 = GPUTarget("cuda", 90, 32)
# The full-size passes' accesses of x, dy and out: every load of the statistics passes (they store only
# small partials), every store of the apply pass.
FULL_SIZE_ACCESSES = {
    "moments_kernel": r"ld\.global[.\w]*", "grad_sums_kernel": r"ld\.global[.\w]*",
    "affine_kernel": r"st\.global[.\w]*",
}  # fmt: skip


class _Recorder:
    """Stands in for a @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the launch."""

    def __init__(self, kernel, launches: list) -> None:
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append((self.kernel, args, kwargs))


def _source(kernel, args, kwargs) -> tuple[ASTSource, dict]:
    """The source and options of one recorded launch as Triton's launcher specialises them for an sm_90 GPU:
    its own binder and argument packing (private to triton.runtime.jit; the version is pinned in
    requirements/constraints.txt), applied to the CPU tensors' dtypes, data pointers and the integers."""
    backend = make_backend(H100)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    return ASTSource(kernel, signature, constexprs, attrs), options.__dict__


def _layer_launches(monkeypatch, op, shape, dtype, channels_last, *hyper) -> list:
    """Every kernel launch of `op`'s eager forward and backward on an input of `shape`."""
    launches: list = []
    for name in triton_kernels.LAUNCHED:
        monkeypatch.setattr(triton_kernels, name, _Recorder(getattr(triton_kernels, name), launches))
    monkeypatch.setattr(triton_ops, "_sizes", lambda device: triton_ops.cuda_sizes(132))
    triton_ops._cached_plan.cache_clear()
    x = torch.empty(shape, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.ones(shape[1]), torch.zeros(shape[1])
    running = torch.zeros(shape[1]), torch.ones(shape[1]), 0.1  # with the running-statistics update
    if op == "ghost":
        y, mean, var = triton_ops._ghost_norm(x, weight, bias, *running, *hyper, 1e-5)
        triton_ops._ghost_norm_backward(torch.empty_like(y), x, weight, mean, var, *hyper, 1e-5)
    else:
        y, *stats = triton_ops._seq_norm(x, weight, bias, *running, *hyper, 1e-5)
        triton_ops._seq_norm_backward(torch.empty_like(y), x, weight, *stats[2:], *stats[:2], *hyper, 1e-5)
    triton_ops._cached_plan.cache_clear()
    return launches


@pytest.mark.parametrize(
    ("op", "shape", "dtype", "channels_last", "hyper", "vectorised"),
    [
        ("ghost", (512, 160, 32, 32), torch.float16, True, (8,), True),  # WRN-28-10's first stage
        ("ghost", (128, 16, 32, 32), torch.bfloat16, False, (1,), True),  # ResNet-56, NCHW
        ("ghost", (256, 1000), torch.float32, False, (128,), False),  # (M, C), gm = M / 2; C % 16 != 0
        ("seq", (512, 320, 16, 16), torch.bfloat16, True, (4, 8), True),
        ("seq", (64, 96), torch.float32, False, (16, 2), False),
    ],
)
def test_every_launch_compiles_for_sm90(monkeypatch, op, shape, dtype, channels_last, hyper, vectorised):
    """Every launch compiles; on the conv layers' shapes (channels or positions a multiple of 16) each
    global load and store of the full-size passes moves 16 bytes (ld/st.global.v4), as a memory-bound pass
    needs. (M, C) inputs whose C is not a multiple of 16 load element by element: Triton cannot prove the
    channel mask constant over a vector."""
    launches = _layer_launches(monkeypatch, op, shape, dtype, channels_last, *hyper)
    compiled = set()
    for kernel, args, kwargs in launches:
        source, options = _source(kernel, args, kwargs)
        key = (kernel.__name__, str(source.signature), str(source.constants), str(source.attrs))
        if key not in compiled:
            binary = triton.compile(source, target=H100, options=options)
            assert binary.asm["cubin"], kernel.__name__
            if vectorised and kernel.__name__ in FULL_SIZE_ACCESSES:
                accesses = re.findall(FULL_SIZE_ACCESSES[kernel.__name__], binary.asm["ptx"])
                assert accesses and all(".v4." in access for access in accesses), (kernel.__name__, accesses)
            compiled.add(key)
    assert len(launches) == (6 if op == "ghost" else 8)  # three or four kernels each way


def test_unspecialised_arguments_are_named_right():
    """Triton ignores a do_not_specialize name that is not an argument: a misspelt one would silently
    bring back a compilation per value class."""
    for name in triton_kernels.LAUNCHED:
        kernel = getattr(triton_kernels, name)
        assert kernel.do_not_specialize and set(kernel.do_not_specialize) <= set(kernel.arg_names), name
