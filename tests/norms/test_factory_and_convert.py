"""Every norm builds by name, and convert_norm swaps the BatchNorms of timm, torchvision and our models."""

import logging

import pytest
import timm
import torch
import torchvision
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.norms import (
    NORM_LAYERS,
    GhostNorm,
    GroupNorm,
    NoisyBatchNorm,
    NoNorm,
    SeqNorm,
    convert_norm,
    make_norm,
    norm_layer,
)

PARAMS = {
    "batchnorm": {},
    "ghostnorm": {"gm": 2},
    "seqnorm": {"gc": 2, "gm": 2},
    "groupnorm": {"gc": 2},
    "noisy_batchnorm": {"noise_std": 0.01},
    "none": {},
}


def test_every_registered_norm_has_test_parameters():
    assert set(PARAMS) == set(NORM_LAYERS)


@pytest.mark.parametrize("name", sorted(NORM_LAYERS))
@pytest.mark.parametrize("shape", [(8, 4), (8, 4, 3, 3)])
def test_make_norm_builds_every_norm_for_mlps_and_cnns(name, shape):
    layer = make_norm(name, 4, **PARAMS[name], device="cpu", dtype=torch.float64)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    assert y.shape == shape and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.dtype == torch.float64 for p in layer.parameters())


@pytest.mark.parametrize("name", sorted(NORM_LAYERS))
def test_norm_layer_builds_timm_resnet18(name):
    model = timm.create_model("resnet18", num_classes=10, norm_layer=norm_layer(name, **PARAMS[name]))
    expected = NORM_LAYERS[name]
    assert any(type(m) is expected for m in model.modules())
    model(torch.randn(8, 3, 32, 32)).sum().backward()


def _resnet18(library: str) -> nn.Module:
    if library == "timm":
        return timm.create_model("resnet18", num_classes=10)
    return torchvision.models.resnet18(num_classes=10)


@pytest.mark.parametrize("library", ["timm", "torchvision"])
@pytest.mark.parametrize("norm", ["ghostnorm", "seqnorm"])
def test_convert_resnet18_keeps_state_and_runs(library, norm, caplog):
    model = _resnet18(library)
    model(torch.randn(8, 3, 32, 32))  # give the running stats something to carry over
    bn_state = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="seqnorm_repro.norms.convert"):
        convert_norm(model, norm, **PARAMS[norm])
    assert "replaced 20 BatchNorm layers" in caplog.text
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    for key, value in model.state_dict().items():  # weights and running stats carried over
        torch.testing.assert_close(value, bn_state[key])
    model(torch.randn(8, 3, 32, 32)).sum().backward()
    fresh = _resnet18(library)
    fresh.load_state_dict(model.state_dict())  # and the converted state loads back into BatchNorm


def test_convert_an_mlp_and_a_bare_batchnorm():
    mlp = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8, momentum=0.3), nn.ReLU(), nn.Linear(8, 2))
    convert_norm(mlp, "noisy_batchnorm", noise_std=0.1)
    assert isinstance(mlp[1], NoisyBatchNorm) and mlp[1].momentum == 0.3
    assert isinstance(convert_norm(nn.BatchNorm2d(4), "ghostnorm", gm=2), GhostNorm)
    assert isinstance(convert_norm(nn.BatchNorm2d(4), "none"), NoNorm)
    partial = convert_norm(nn.BatchNorm2d(4), norm_layer("seqnorm", gc=2, gm=2), gm=4)  # as norm_layer gives
    assert type(partial) is SeqNorm and (partial.gc, partial.gm) == (2, 4)


class _BatchNormThenScale(nn.BatchNorm2d):
    """A BatchNorm subclass that computes more than a norm, as a researcher's own might."""

    def forward(self, x):
        return 2 * super().forward(x)


def test_batchnorm_subclasses_are_left_with_a_warning_and_an_error_when_they_are_all_there_is(caplog):
    """Replacing an unknown subclass could change the model (timm's norm+act layers are known:
    test_timm_norm_act.py)."""
    mixed = nn.Sequential(nn.BatchNorm2d(4), _BatchNormThenScale(4))
    convert_norm(mixed, "ghostnorm", gm=2)
    assert isinstance(mixed[0], GhostNorm) and type(mixed[1]) is _BatchNormThenScale
    assert "left BatchNorm subclasses ['_BatchNormThenScale'] unchanged" in caplog.text
    everything_subclassed = r"^convert_norm: every BatchNorm .*\(_BatchNormThenScale\), .*plain BatchNorm"
    with pytest.raises(ValueError, match=everything_subclassed):
        convert_norm(nn.Sequential(_BatchNormThenScale(4)), "ghostnorm", gm=2)


def test_a_model_without_batchnorm_is_returned_with_a_warning(caplog):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.LayerNorm(4))
    assert convert_norm(model, "ghostnorm", gm=2) is model
    assert "convert_norm: the model has no BatchNorm layer, so nothing was replaced" in caplog.text
    assert "to_torch_norms" not in caplog.text
    convert_norm(nn.Sequential(GhostNorm(4, gm=2)), "batchnorm")  # what converting back looks like
    assert "replaced (to_torch_norms turns GhostNorm and SeqNorm layers into BatchNorm)" in caplog.text


def test_groupnorm_repr_follows_its_own_signature():
    assert repr(GroupNorm(8, gc=2, bias=False)) == "GroupNorm(8, gc=2, eps=1e-05, affine=True, bias=False)"


def test_convert_to_groupnorm_keeps_affine_weights():
    bn = nn.BatchNorm2d(4)
    nn.init.uniform_(bn.weight)
    gn = convert_norm(bn, "groupnorm", gc=2)
    torch.testing.assert_close(gn.weight, bn.weight)


def test_convert_keeps_device_and_dtype():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).double()
    convert_norm(model, "seqnorm", gc=2, gm=2)
    assert model[1].weight.dtype == model[1].running_mean.dtype == torch.float64


def test_convert_to_a_researchers_own_class_that_takes_only_its_channels():
    """No BatchNorm keywords, no device=/dtype=: it still gets the BatchNorm's weight, device and dtype."""

    class Scale(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return x * self.weight.view(1, -1, 1, 1)

    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).double()
    nn.init.uniform_(model[1].weight)
    weight = model[1].weight.detach().clone()
    convert_norm(model, Scale)
    assert isinstance(model[1], Scale) and model[1].weight.dtype == torch.float64
    torch.testing.assert_close(model[1].weight.detach(), weight)
    assert model(torch.ones(2, 3, 5, 5, dtype=torch.float64)).shape == (2, 4, 5, 5)


@pytest.mark.parametrize("norm", sorted(PARAMS))
def test_convert_keeps_eval_mode_and_frozen_parameters(norm):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.BatchNorm2d(4)).eval()
    model[2].train()
    model[1].weight.requires_grad_(False)
    convert_norm(model, norm, **PARAMS[norm])
    assert [m.training for m in model] == [False, False, True]
    if norm != "none":
        assert not model[1].weight.requires_grad and model[1].bias.requires_grad
        assert model[2].weight.requires_grad


@pytest.mark.parametrize("norm", sorted(set(PARAMS) - {"none"}))  # every norm with affine parameters
def test_convert_keeps_a_batchnorm_without_bias_without_bias(norm):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, bias=False))
    convert_norm(model, norm, **PARAMS[norm])
    assert [name for name, _ in model[1].named_parameters()] == ["weight"] and "bias=False" in repr(model[1])
    model(torch.randn(8, 3, 2, 2)).square().sum().backward()
    if norm != "groupnorm":  # GroupNorm keeps no running statistics
        nn.BatchNorm2d(4, bias=False).load_state_dict(model[1].state_dict())  # strict: the same keys


def test_sync_batchnorm_conversion_leaves_ghost_and_seq_norms_alone():
    model = nn.Sequential(nn.BatchNorm2d(4), GhostNorm(4, gm=2), SeqNorm(4, gc=2, gm=2))
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert [type(m) for m in model] == [nn.SyncBatchNorm, GhostNorm, SeqNorm]
    convert_norm(model, "ghostnorm", gm=4)  # and SyncBatchNorm converts like any BatchNorm
    assert isinstance(model[0], GhostNorm) and model[0].gm == 4


def test_batchnorm_arguments_follow_the_papers_own_positionally():
    """nn.BatchNorm2d's eps, momentum, affine, track_running_stats come after gm, (gc, gm) or noise_std."""
    layers = (
        GhostNorm(8, 2, 1e-3, 0.01, False, False),
        SeqNorm(8, 2, 4, 1e-3, 0.01, False, False),
        NoisyBatchNorm(8, 0.1, 1e-3, 0.01, False, False),
    )
    for layer in layers:
        settings = (layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
        assert settings == (1e-3, 0.01, False, False)
        assert layer.weight is None and layer.running_mean is None
    assert layers[1].gm == 4 and layers[2].gm == 1
