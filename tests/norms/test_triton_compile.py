"""The Triton kernels compile for a Hopper GPU (sm_90) with the block sizes a GPU run picks, no GPU needed.

The interpreter tests (`test_triton_cpu.py`) check the arithmetic but never compile: a kernel that the
interpreter runs and Triton's compiler rejects (a shape rule, a type mismatch, a layout it cannot lower)
would first fail on a GPU. Here the layers' eager forward and backward run on CPU tensors of real layer
shapes with every kernel launch recorded instead of run, under the sizes of a 132-SM GPU
(`triton_ops.cuda_sizes`); each distinct launch is then compiled ahead of time to a cubin for sm_90 by
Triton's own compiler and ptxas.
"""

import pytest
import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from seqnorm_repro.norms import triton_kernels, triton_ops

TYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}
H100 = GPUTarget("cuda", 90, 32)


class _Recorder:
    """Stands in for a @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the launch."""

    def __init__(self, kernel, launches: list) -> None:
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append((self.kernel, args, kwargs))


def _source(kernel, args, kwargs) -> tuple[ASTSource, dict]:
    """The ahead-of-time source of one recorded launch: pointers typed by their tensors' dtypes, ints as
    i32, floats as fp32 (what Triton's launcher specialises them to), constexprs and None as constants."""
    kwargs = dict(kwargs)
    options = {key: kwargs.pop(key) for key in ("num_warps", "num_stages") if key in kwargs}
    values = dict(zip(kernel.arg_names, args, strict=False)) | kwargs
    signature, constants = {}, {}
    for param in kernel.params:
        value = values[param.name]
        if param.is_constexpr or value is None:
            signature[param.name], constants[param.name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[param.name] = "*" + TYPES[value.dtype]
        elif isinstance(value, float):
            signature[param.name] = "fp32"
        else:
            signature[param.name] = "i32" if -(2**31) <= value < 2**31 else "i64"
    return ASTSource(kernel, signature, constants), options


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
    ("op", "shape", "dtype", "channels_last", "hyper"),
    [
        ("ghost", (512, 160, 32, 32), torch.float16, True, (8,)),  # WRN-28-10's first stage
        ("ghost", (128, 16, 32, 32), torch.bfloat16, False, (1,)),  # ResNet-56, NCHW
        ("ghost", (256, 1000), torch.float32, False, (128,)),  # (M, C), gm = M / 2
        ("seq", (512, 320, 16, 16), torch.bfloat16, True, (4, 8)),
        ("seq", (64, 96), torch.float32, False, (16, 2)),
    ],
)
def test_every_launch_compiles_for_sm90(monkeypatch, op, shape, dtype, channels_last, hyper):
    launches = _layer_launches(monkeypatch, op, shape, dtype, channels_last, *hyper)
    compiled = set()
    for kernel, args, kwargs in launches:
        source, options = _source(kernel, args, kwargs)
        key = (kernel.__name__, tuple(source.signature.items()), tuple(sorted(source.constants.items())))
        if key not in compiled:
            binary = triton.compile(source, target=H100, options=options)
            assert binary.asm["cubin"], kernel.__name__
            compiled.add(key)
    assert len(launches) == (6 if op == "ghost" else 8)  # three or four kernels each way
