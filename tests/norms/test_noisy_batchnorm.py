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
