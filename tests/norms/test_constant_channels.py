"""A channel constant over its normalisation group at |x| ~ 1e3 normalises to the bias in fp32, as in
float64: sum / count rounds the mean, and the variance and x - mean that rounding left used to be scaled
up by 1 / sqrt(var + eps) (SeqNorm: by both stages, to outputs off by ~1; GhostNorm: by 0.1, where
F.batch_norm is 0.007 off NCHW and 0.95 channels_last)."""

import pytest
import torch

from seqnorm_repro.norms.fused import ghost_norm_fused, seq_norm_fused
from seqnorm_repro.norms.reference import ghost_norm_reference, seq_norm_reference

LAYERS = {  # fast path, reference, hyperparameters: gm=4 (SeqNorm: gc=2 groups of 3 channels first)
    "GhostNorm": (ghost_norm_fused, ghost_norm_reference, (4,)),
    "SeqNorm": (seq_norm_fused, seq_norm_reference, (2, 4)),
}


def _input(layout: str, per_group: bool) -> torch.Tensor:
    """Channels 0-2 constant over each ghost group of 8 samples (and each sample's GroupNorm group)."""
    x = torch.randn(32, 6, 8, 8, dtype=torch.float64)
    x[:, :3] = 1000.1 + (
        0.37 * torch.arange(32.0).div(8, rounding_mode="floor").view(32, 1, 1, 1) if per_group else 0
    )
    layouts = {
        "contiguous": x,
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "(M, C)": x[..., 0, 0],
    }
    return layouts[layout]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "(M, C)"])
@pytest.mark.parametrize("per_group", [False, True])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_constant_channel_in_fp32_normalises_to_the_bias(layer, layout, per_group):
    if layer == "SeqNorm" and layout == "(M, C)":
        pytest.skip("(M, C) SeqNorm runs ATen's GroupNorm first, whose fp32 dx is 3e-4 off here")
    x = _input(layout, per_group)
    weight, bias, dy = (
        torch.randn(6, dtype=torch.float64),
        torch.randn(6, dtype=torch.float64),
        torch.randn_like(x),
    )
    fast, reference, hyper = LAYERS[layer]
    results = []
    for norm, dtype in ((fast, torch.float32), (reference, torch.float64)):
        leaves = [t.to(dtype).requires_grad_() for t in (x, weight, bias)]
        y, _, var = norm(leaves[0], *hyper, leaves[1], leaves[2], 1e-5)
        y.backward(dy.to(dtype))
        results.append([t.double() for t in (y, var, leaves[0].grad, leaves[1].grad)])
    for name, ours, exact in zip(["y", "var", "dx", "dweight"], *results, strict=True):
        torch.testing.assert_close(ours, exact, rtol=1e-4, atol=1e-4 * exact.abs().max().item(), msg=name)
