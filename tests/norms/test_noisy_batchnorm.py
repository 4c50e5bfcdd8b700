"""NoisyBatchNorm adds Gaussian noise before normalising, in training only (the paper's ablation)."""

import torch
from torch import nn

from seqnorm_repro.norms import GhostNorm, NoisyBatchNorm


def test_zero_noise_is_batchnorm():
    ours, theirs = NoisyBatchNorm(4, noise_std=0.0), nn.BatchNorm2d(4)
    for _ in range(3):
        x = torch.randn(8, 4, 3, 3)
        torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_noise_in_training_changes_the_output_by_about_its_scale():
    x = torch.randn(256, 4, 4, 4)
    clean = nn.BatchNorm2d(4)(x)
    noisy = NoisyBatchNorm(4, noise_std=0.1)(x)
    difference = (noisy - clean).std().item()
    assert 0.05 < difference < 0.2


def test_low_precision_inputs_get_their_noise_in_float32():
    """bf16's spacing near 1 is 8e-3: x + 3e-4 in bf16 would round back to x, and the ablation vanish."""
    x = torch.rand(64, 4, 3, 3).mul(2).add(0.5).bfloat16()
    torch.manual_seed(0)
    low = NoisyBatchNorm(4, noise_std=3e-4)(x)
    torch.manual_seed(0)
    full = NoisyBatchNorm(4, noise_std=3e-4)(x.float())
    assert low.dtype == torch.bfloat16 and torch.equal(low, full.bfloat16())
    assert not torch.equal(low, NoisyBatchNorm(4, noise_std=0.0)(x))


def test_eval_is_deterministic_and_noise_free():
    layer = NoisyBatchNorm(4, noise_std=1.0)
    layer(torch.randn(16, 4))
    layer.eval()
    x = torch.randn(3, 4)
    bn = nn.BatchNorm1d(4).eval()
    bn.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), layer(x))
    torch.testing.assert_close(layer(x), bn(x))


def test_ghost_groups_when_gm_is_given():
    """How a paper preset keeps the paper's 64-sample BatchNorm groups on fewer GPUs."""
    x = torch.randn(16, 4, 3, 3)
    torch.testing.assert_close(NoisyBatchNorm(4, noise_std=0.0, gm=4)(x), GhostNorm(4, gm=4)(x))
