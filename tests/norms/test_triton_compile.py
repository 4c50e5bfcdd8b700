"""The Triton kernels compile for a Hopper GPU (sm_90) with the block sizes a GPU run picks, no GPU needed.

The interpreter tests (`test_triton_cpu.py`) check the arithmetic but never compile: a kernel that the
interpreter runs and Triton's compiler rejects (a shape rule, a type mismatch, a layout it cannot lower)
would first fail on a GPU. Here each launch of a layer's forward and backward on a real layer shape is
compiled ahead of time to a cubin for sm_90 by Triton's own compiler and ptxas, specialised as on the GPU
(`norms/triton_aot.py`), so that it is the same code: the full-size passes of the layer shapes load and
store 16 bytes at a time and keep everything in registers.
"""

import re

import pytest
import torch

from seqnorm_repro.norms import triton_aot, triton_kernels

# The full-size passes' accesses of x, dy and out: every load of the statistics passes (they store only
# small partials), every store of the apply pass.
FULL_SIZE_ACCESSES = {
    "moments_kernel": r"ld\.global[.\w]*", "grad_sums_kernel": r"ld\.global[.\w]*",
    "affine_kernel": r"st\.global[.\w]*",
}  # fmt: skip


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
def test_every_launch_compiles_for_sm90(op, shape, dtype, channels_last, hyper, vectorised):
    """Every launch compiles and spills nothing to local memory; on the conv layers' shapes (channels or
    positions a multiple of 16) each global load and store of the full-size passes moves 16 bytes
    (ld/st.global.v4), as a memory-bound pass needs. (M, C) inputs whose C is not a multiple of 16 load
    element by element: Triton cannot prove the channel mask constant over a vector."""
    launches = triton_aot.layer_launches(op, shape, dtype, channels_last, *hyper)
    for launch, binary in triton_aot.compiled(launches):
        name = launch.kernel.__name__
        assert binary.asm["cubin"], name
        usage = triton_aot.resource_usage(binary.asm["cubin"])
        assert usage["LOCAL"] == usage["STACK"] == 0, (name, usage)
        if vectorised and name in FULL_SIZE_ACCESSES:
            accesses = re.findall(FULL_SIZE_ACCESSES[name], binary.asm["ptx"])
            assert accesses and all(".v4." in access for access in accesses), (name, accesses)
    assert len(launches) == (6 if op == "ghost" else 8)  # three or four kernels each way


def test_unspecialised_arguments_are_named_right():
    """Triton ignores a do_not_specialize name that is not an argument: a misspelt one would silently
    bring back a compilation per value class."""
    for name in triton_kernels.LAUNCHED:
        kernel = getattr(triton_kernels, name)
        assert kernel.do_not_specialize and set(kernel.do_not_specialize) <= set(kernel.arg_names), name
