"""Like BatchNorm, the fused layers keep only their input and small statistics for backward."""

import pytest
import torch

from seqnorm_repro.norms import GhostNorm, SeqNorm


def _saved_numel(layer: torch.nn.Module, x: torch.Tensor) -> int:
    """Elements autograd keeps for backward besides the input itself."""
    saved = []

    def pack(t):
        if t.untyped_storage().data_ptr() != x.untyped_storage().data_ptr():
            saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(saved)


@pytest.mark.parametrize(
    ("layer", "memory_format"),
    [
        (GhostNorm(8, gm=4), torch.contiguous_format),
        (GhostNorm(8, gm=4), torch.channels_last),
        (SeqNorm(8, gc=4, gm=4), torch.contiguous_format),
        (SeqNorm(8, gc=4, gm=4), torch.channels_last),
    ],
)
def test_no_full_size_intermediate_is_saved(layer, memory_format):
    x = torch.randn(16, 8, 6, 6).contiguous(memory_format=memory_format).requires_grad_()
    assert _saved_numel(layer, x) < x.numel() // 10
    reference = GhostNorm(8, gm=4, impl="reference")
    assert _saved_numel(reference, x) >= x.numel()  # the Figure 4 code, for contrast
