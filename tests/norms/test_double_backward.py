"""Double backward (gradient penalties, Hessian-vector products): the fast paths' hand-written backwards
take the batch statistics as constants, so under create_graph=True they hand over to autograd through the
reference, and second derivatives match nn.BatchNorm2d's and the reference's. torch.func takes the
reference impl."""

import pytest
import torch
from torch import nn

from seqnorm_repro.norms import GhostNorm, SeqNorm
from seqnorm_repro.norms.fused import _GhostNormFunction, ghost_norm_fused, seq_norm_fused
from seqnorm_repro.norms.seq_moments import SeqNormFunction
from seqnorm_repro.norms.triton_ops import GhostNormTriton, SeqNormTriton

SHAPES = [(8, 4), (8, 4, 3, 3), "channels_last"]


def _input(shape):
    if shape == "channels_last":
        return torch.randn(8, 4, 3, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    return torch.randn(shape, dtype=torch.float64)


def _penalty_grads(layer, x):
    """Gradients of a gradient penalty, |d sum(y^3) / dx|^2, w.r.t. x and the layer's parameters."""
    x = x.detach().clone().requires_grad_()
    (dx,) = torch.autograd.grad(layer(x).pow(3).sum(), x, create_graph=True)
    dx.square().sum().backward()
    return [x.grad, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("shape", SHAPES)
def test_ghostnorm_gm1_second_derivatives_are_batchnorms(shape):
    x = _input(shape)
    ours = _penalty_grads(GhostNorm(4, gm=1, impl="fused").double(), x)
    theirs = _penalty_grads(nn.BatchNorm2d(4).double() if x.dim() == 4 else nn.BatchNorm1d(4).double(), x)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "make", [lambda impl: GhostNorm(4, gm=2, impl=impl), lambda impl: SeqNorm(4, gc=2, gm=2, impl=impl)]
)
def test_fused_second_derivatives_are_the_references(make, shape):
    x = _input(shape)
    fused, reference = (_penalty_grads(make(impl).double(), x) for impl in ("fused", "reference"))
    for a, b in zip(fused, reference, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "norm",
    [
        lambda x, w, b: ghost_norm_fused(x, 2, w, b, 1e-5)[0],
        lambda x, w, b: seq_norm_fused(x, 2, 2, w, b, 1e-5)[0],
        lambda x, w, b: seq_norm_fused(x.flatten(2)[..., 0], 2, 2, w, b, 1e-5)[0],  # (M, C): ATen's GroupNorm
    ],
)
def test_gradgradcheck(norm):
    inputs = [
        torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in ((8, 4, 2, 2), (4,), (4,))
    ]
    assert torch.autograd.gradgradcheck(norm, inputs)


def test_torch_func_takes_the_reference_impl():
    """The documented way to torch.func; its gradients are the fused autograd path's."""
    layer, x = GhostNorm(4, gm=2, track_running_stats=False).double(), _input((8, 4, 3, 3))
    params = dict(layer.named_parameters())
    layer.impl = "reference"
    loss = lambda params: torch.func.functional_call(layer, params, (x,)).pow(3).sum()  # noqa: E731
    func_grads = torch.func.grad(loss)(params)
    layer.impl = "fused"
    layer(x).pow(3).sum().backward()
    for name, parameter in params.items():
        torch.testing.assert_close(func_grads[name], parameter.grad)


@pytest.mark.parametrize("function", [_GhostNormFunction, SeqNormFunction, GhostNormTriton, SeqNormTriton])
def test_the_fast_functions_set_up_their_context_in_forward(function):
    """A setup_context staticmethod (torch.func's requirement) makes torch bind every call's arguments by
    inspect.signature: about 45 us of host time per layer call (benchmarks/host_overhead.py)."""
    assert function.setup_context is torch.autograd.Function.setup_context
