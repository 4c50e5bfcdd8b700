"""to_torch_norms: a model trained with our layers, in eval, as torch.nn modules that fuse and export."""

import copy

import pytest
import timm
import torch
from torch import nn
from torch.ao.quantization import fuse_modules

from seqnorm_repro.norms import (
    BatchNorm,
    GhostNorm,
    GroupNorm,
    NoisyBatchNorm,
    NoNorm,
    SeqNorm,
    norm_layer,
    to_torch_norms,
)
from seqnorm_repro.norms.norm_act import NormAct, norm_act_class

OURS = (BatchNorm, GhostNorm, SeqNorm, NormAct)


def _trained(model: nn.Module, shape: tuple[int, ...]) -> nn.Module:
    """`model` after a few training steps (running statistics and affine parameters away from their init),
    in eval mode."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(shape) * 3 + 1).square().mean().backward()
        optimizer.step()
    return model.eval()


@pytest.mark.filterwarnings("ignore:.*normalises over")
def test_a_cnn_in_eval_computes_the_same_and_fuses():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), GhostNorm(8, gm=4), nn.ReLU(),
        nn.Conv2d(8, 8, 3), SeqNorm(8, gc=2, gm=2), nn.ReLU(),
        nn.Conv2d(8, 8, 1), NoisyBatchNorm(8, noise_std=0.1, bias=False), nn.ReLU(),
        nn.Conv2d(8, 8, 1), BatchNorm(8),
    )  # fmt: skip
    model = _trained(model, (16, 3, 9, 9))
    x = torch.randn(5, 3, 9, 9)  # eval: any batch size
    converted = to_torch_norms(copy.deepcopy(model))
    assert not any(isinstance(m, OURS) for m in converted.modules())
    assert [type(converted[i]) for i in (1, 7, 10)] == [nn.BatchNorm2d] * 3
    assert converted[7].bias is None and not converted.training
    assert [type(m) for m in converted[4]] == [nn.GroupNorm, nn.BatchNorm2d]
    torch.testing.assert_close(converted(x), model(x))
    torch.testing.assert_close(torch.export.export(converted, (x,)).module()(x), model(x))
    fused = fuse_modules(converted, [["0", "1", "2"], ["6", "7", "8"], ["9", "10"]])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules()) == 1  # SeqNorm's, after a GroupNorm
    torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*normalises over")
def test_an_mlp_takes_batchnorm1d_and_keeps_train_mode_and_frozen_parameters():
    model = _trained(nn.Sequential(nn.Linear(4, 6), SeqNorm(6, gc=3, gm=2), nn.Linear(6, 2)), (8, 4))
    model[1].weight.requires_grad_(False)
    converted = to_torch_norms(copy.deepcopy(model).train(), nn.BatchNorm1d)
    norm = converted[1]
    assert norm.training and norm[1].training and type(norm[1]) is nn.BatchNorm1d
    assert not norm[1].weight.requires_grad and norm[1].bias.requires_grad
    x = torch.randn(3, 4)
    torch.testing.assert_close(converted.eval()(x), model(x))


def test_groupnorm_and_no_norm_become_their_torch_modules_so_the_model_pickles_without_this_package():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), GroupNorm(8, gc=4, bias=False), nn.ReLU(),
        nn.Conv2d(8, 8, 1), NoNorm(8), GroupNorm(8, gc=2, affine=False),
        nn.Conv2d(8, 8, 1), norm_act_class(GroupNorm)(8, gc=2),
    )  # fmt: skip
    model = _trained(model, (4, 3, 9, 9))
    model[1].weight.requires_grad_(False)
    converted = to_torch_norms(copy.deepcopy(model))
    assert [type(converted[i]) for i in (1, 4, 5)] == [nn.GroupNorm, nn.Identity, nn.GroupNorm]
    assert [type(m) for m in converted[7]] == [nn.GroupNorm, nn.Identity, nn.ReLU]
    assert converted[1].bias is None and not converted[1].weight.requires_grad and converted[5].weight is None
    assert {type(m).__module__.split(".")[0] for m in converted.modules()} == {"torch"}
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(converted(x), model(x))


def test_timm_norm_act_layers_keep_their_activation():
    model = timm.create_model("efficientnet_b0", num_classes=4, norm_layer=norm_layer("ghostnorm", gm=2))
    with torch.no_grad():  # running statistics only: SGD on groups of 2 at 1x1 positions diverges
        model(torch.randn(8, 3, 32, 32) * 3 + 1)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    converted = to_torch_norms(copy.deepcopy(model))
    assert not any(isinstance(m, OURS) for m in converted.modules())
    assert type(converted.bn1) is nn.Sequential and isinstance(converted.bn1[2], nn.SiLU)
    torch.testing.assert_close(converted(x), model(x))


def test_ghost_groups_in_eval_have_no_torch_equivalent():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(GhostNorm(4, gm=2, track_running_stats=False)))
    with pytest.raises(ValueError, match=r"^to_torch_norms: 1\.0 \(GhostNorm\(4, gm=2\)\) has track_running"):
        to_torch_norms(model)
    assert type(to_torch_norms(GhostNorm(4, gm=1, track_running_stats=False))) is nn.BatchNorm2d
