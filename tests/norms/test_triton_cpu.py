"""impl="triton" on a machine without a GPU: the kernel tests under Triton's interpreter, and the dispatch.

Triton decides when a @triton.jit function is defined whether it is compiled or interpreted, for its own
`triton.language` helpers too, so TRITON_INTERPRET=1 must be set before anything imports triton. In this
process it may be too late (the root conftest imports torchvision, which imports torch._dynamo, which
imports triton), whatever a conftest here does; a fresh interpreter with the variable in its environment
from the start does not depend on what was imported before. Each test starts one such process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
KERNEL_TESTS = Path(__file__).with_name("test_triton_kernels.py")


def _python(args: list[str], interpret: bool) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow  # two minutes on 2 cores, a fifth of `make test`: `make test-slow` and CI run it
@pytest.mark.skipif(
    torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
    reason="test_triton_kernels.py runs in this process (compiled kernels, or the interpreter already on)",
)
def test_kernels_under_the_interpreter():
    args = ["-m", "pytest", str(KERNEL_TESTS), "-q", "-p", "no:cacheprovider", "-m", "not gpu and not slow"]
    result = _python(args, interpret=True)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout  # the interpreter was on


def test_cpu_tensors_fail_clearly_without_the_interpreter_and_auto_uses_fused():
    script = (
        "import torch\n"
        "from seqnorm_repro.norms import GhostNorm\n"
        "x = torch.randn(8, 4, 3, 3)\n"
        "GhostNorm(4, gm=2)(x)\n"  # auto: the fused torch ops on CPU
        "GhostNorm(4, gm=2, impl='triton')(x)\n"
    )
    result = _python(["-c", script], interpret=False)
    assert result.returncode != 0
    assert "impl='triton' runs on CUDA; got device cpu" in result.stderr
    assert "TRITON_INTERPRET=1" in result.stderr
