"""Inputs that are views with any strides (a crop, a spatial transpose, a strided slice) give the Figure 4
code's outputs and gradients: the fast path must not write its results into a temporary copy."""

import pytest
import torch

from seqnorm_repro.norms import GhostNorm, SeqNorm

VIEWS = {
    "crop": lambda t: t[:, :, 1:-1, 1:-1],
    "spatial transpose": lambda t: t.transpose(2, 3),
    "every other row": lambda t: t[:, :, ::2],
    "channels first in memory": lambda t: t.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3),
}
LAYERS = {
    "GhostNorm": lambda impl: GhostNorm(4, gm=2, impl=impl),
    "SeqNorm": lambda impl: SeqNorm(4, gc=2, gm=2, impl=impl),
}


def _forward_backward(layer, x, dy):
    x = x.detach().requires_grad_()
    y = layer(x)
    return [y, *torch.autograd.grad(y, [x, *layer.parameters()], dy)]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("view", VIEWS)
def test_views_match_the_reference(layer, view):
    x = VIEWS[view](torch.randn(8, 4, 6, 7, dtype=torch.float64) * 3 + 2)
    assert not x.is_contiguous()
    dy = torch.randn(x.shape, dtype=torch.float64)
    ours, reference = (LAYERS[layer](impl).double() for impl in ("fused", "reference"))
    for a, b in zip(_forward_backward(ours, x, dy), _forward_backward(reference, x, dy), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours.running_var, reference.running_var, rtol=1e-12, atol=1e-12)
