"""SeqNorm is GroupNorm(gc) without affine, then GhostNorm(gm) with the one affine."""

import pytest
import torch
import torch.nn.functional as F

from seqnorm_repro.norms import GhostNorm, SeqNorm
from seqnorm_repro.norms.fused import seq_norm_fused
from seqnorm_repro.norms.reference import seq_norm_reference


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_() for t in tensors]


@pytest.mark.filterwarnings("ignore:.*normalises over 2 samples")
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize(("gc", "gm"), [(1, 1), (2, 4), (4, 2), (8, 8)])
@pytest.mark.parametrize("shape", [(16, 8), (16, 8, 3, 3)])
@pytest.mark.parametrize("eps", [1e-5, 0.5])  # 0.5: eps must reach both stages to match
def test_equals_group_norm_then_ghostnorm(impl, gc, gm, shape, eps):
    x = torch.randn(shape, dtype=torch.float64) * 2 + 1
    dy = torch.randn(shape, dtype=torch.float64)
    seq = SeqNorm(8, gc=gc, gm=gm, eps=eps, impl=impl).double()
    ghost = GhostNorm(8, gm=gm, eps=eps, impl="reference").double()
    with torch.no_grad():
        for layer in (seq, ghost):
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-1, 1)
        ghost.load_state_dict(seq.state_dict())
    xs = _leaves(x, x)
    ours, theirs = seq(xs[0]), ghost(F.group_norm(xs[1], gc, eps=eps))
    torch.testing.assert_close(ours, theirs)
    ours.backward(dy)
    theirs.backward(dy)
    torch.testing.assert_close(xs[0].grad, xs[1].grad)
    torch.testing.assert_close(seq.weight.grad, ghost.weight.grad)
    torch.testing.assert_close(seq.bias.grad, ghost.bias.grad)
    torch.testing.assert_close(seq.running_var, ghost.running_var)
    seq.eval()
    ghost.eval()
    x_eval = torch.randn((5, *shape[1:]), dtype=torch.float64)  # any batch size
    torch.testing.assert_close(seq(x_eval), ghost(F.group_norm(x_eval, gc, eps=eps)))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("eps", [1e-5, 2.0])
def test_fused_matches_reference_float64(channels_last, eps):
    x = torch.randn(12, 6, 3, 5, dtype=torch.float64) * 4 - 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    dy = torch.randn_like(x)
    results = []
    for seq_norm in (seq_norm_fused, seq_norm_reference):
        leaves = _leaves(x, weight, bias)
        y, mean, var = seq_norm(leaves[0], 3, 4, leaves[1], leaves[2], eps)
        y.backward(dy)
        results.append([y, mean, var, *(t.grad for t in leaves)])
    for fused, reference in zip(*results, strict=True):
        torch.testing.assert_close(fused, reference, rtol=1e-10, atol=1e-10)


def test_channels_last_stays_channels_last():
    x = torch.randn(8, 4, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = SeqNorm(4, gc=2, gm=2)(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    y.backward(torch.randn_like(y))
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_gradcheck_float64():
    leaves = _leaves(
        torch.randn(8, 4, 2, 2, dtype=torch.float64), torch.randn(4, dtype=torch.float64),
        torch.randn(4, dtype=torch.float64),
    )  # fmt: skip
    assert torch.autograd.gradcheck(lambda *a: seq_norm_fused(a[0], 2, 2, a[1], a[2], 1e-5)[0], leaves)


def test_low_precision_output_dtype_and_finite_stats():
    layer = SeqNorm(8, gc=4, gm=2)
    y = layer(torch.randn(8, 8, 4, 4, dtype=torch.bfloat16) * 3 + 50)
    assert y.dtype == torch.bfloat16
    assert torch.isfinite(layer.running_var).all()


@pytest.mark.parametrize("layer", [GhostNorm, SeqNorm])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(16, 8), (16, 8, 3, 3)])
def test_a_model_cast_to_low_precision_trains_like_the_reference(layer, dtype, shape):
    """`model.half()` (or timm's dtype=) makes the parameters half too; the fused path takes them."""
    params = {"gm": 2} | ({"gc": 4} if layer is SeqNorm else {})
    x = torch.randn(shape, dtype=dtype) * 3 + 5
    outputs = []
    for impl in ("fused", "reference"):
        norm = layer(8, impl=impl, dtype=dtype, **params)
        leaf = x.clone().requires_grad_()
        y = norm(leaf)
        y.float().square().sum().backward()
        assert y.dtype == norm.weight.grad.dtype == dtype
        outputs.append([y, leaf.grad, norm.weight.grad, norm.running_var])
    for fused, reference in zip(*outputs, strict=True):
        torch.testing.assert_close(fused.float(), reference.float(), rtol=2e-2, atol=2e-1)
