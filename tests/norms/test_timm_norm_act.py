"""timm's models built from BatchNormAct2d (EfficientNet here) take our norms through `norm_layer=` and
`convert_norm`, each followed by the activation the model puts there."""

import copy
import pickle

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d, SyncBatchNormAct
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.norms import NORM_LAYERS, GhostNorm, GroupNorm, NoNorm, convert_norm, norm_layer
from seqnorm_repro.norms.norm_act import GhostNormAct, NoisyBatchNormAct, NoNormAct, SeqNormAct
from seqnorm_repro.train.sync_batchnorm import synchronise_batchnorm

# By norm_layer: the norm+act class timm builds from each of our norms
BUILT = {
    "ghostnorm": ({"gm": 2}, GhostNormAct),
    "seqnorm": ({"gc": 4, "gm": 2}, SeqNormAct),
    "noisy_batchnorm": ({"noise_std": 0.01}, NoisyBatchNormAct),
    "none": ({}, NoNormAct),
    "batchnorm": ({}, BatchNormAct2d),  # timm's own, by our BatchNorm's name
}
NOT_BUILT = {"groupnorm": {"gc": 4}}  # timm's GroupNormAct, by the name: convert_norm instead


def test_every_norm_has_a_timm_norm_act_expectation():
    assert set(BUILT) | set(NOT_BUILT) == set(NORM_LAYERS)


def efficientnet(**kwargs) -> nn.Module:
    return timm.create_model("efficientnet_b0", num_classes=10, **kwargs)


def activations(model: nn.Module) -> list[tuple[str, type, type]]:
    """Where the model's norm+act layers sit, with the types of their dropout and activation."""
    return [
        (name, type(module.drop), type(module.act))
        for name, module in model.named_modules()
        if hasattr(module, "act") and hasattr(module, "drop")
    ]


@pytest.mark.parametrize("name", sorted(BUILT))
def test_norm_layer_builds_a_timm_norm_act_model_with_its_activations(name):
    params, expected = BUILT[name]
    reference, model = efficientnet(), efficientnet(norm_layer=norm_layer(name, **params))
    assert activations(model) == activations(reference)
    assert {type(m) for m in model.modules() if hasattr(m, "act")} == {expected}
    assert nn.SiLU in {act for _, _, act in activations(model)}  # EfficientNet's, not ReLU
    assert model.state_dict().keys() == reference.state_dict().keys() or name == "none"
    model(torch.randn(8, 3, 32, 32)).sum().backward()


def test_a_norm_added_after_the_first_norm_layer_call_reaches_timm_too(monkeypatch):
    """A researcher's norm registered from a module of their own, once other models were built."""
    efficientnet(norm_layer=norm_layer("ghostnorm", gm=2))

    class LateNorm(GhostNorm):
        pass

    monkeypatch.setitem(NORM_LAYERS, "latenorm", LateNorm)
    model = efficientnet(norm_layer=norm_layer("latenorm", gm=2))
    assert {type(m).__name__ for m in model.modules() if hasattr(m, "act")} == {"LateNormAct"}


def test_groupnorm_by_norm_layer_is_timms_group_norm_act_which_takes_no_gc():
    with pytest.raises(TypeError, match="gc"):
        efficientnet(norm_layer=norm_layer("groupnorm", **NOT_BUILT["groupnorm"]))


@pytest.mark.parametrize("route", ["norm_layer", "convert_norm"])
def test_ghostnorm_gm1_in_efficientnet_is_its_batchnorm(route):
    """GhostNorm(gm=1) is BatchNorm: loaded with a BatchNormAct2d model's weights, or converted from it,
    the model computes the same outputs and running statistics in training."""
    torch.manual_seed(0)
    reference = efficientnet().double()
    for module in reference.modules():  # weights away from 1 and 0, so that a misplaced one shows
        if isinstance(module, BatchNormAct2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    if route == "norm_layer":
        model = efficientnet(norm_layer=norm_layer("ghostnorm", gm=1)).double()
        model.load_state_dict(reference.state_dict())
    else:
        model = convert_norm(copy.deepcopy(reference), "ghostnorm", gm=1)
    assert not any(isinstance(m, BatchNormAct2d) for m in model.modules())
    x = torch.randn(8, 3, 32, 32, dtype=torch.float64)
    assert model.training and reference.training
    torch.testing.assert_close(model(x), reference(x))
    torch.testing.assert_close(model.bn2.running_var, reference.bn2.running_var)


def test_convert_norm_moves_the_activation_and_keeps_weights():
    layer = BatchNormAct2d(8, act_layer=nn.GELU, drop_layer=nn.Dropout)
    nn.init.uniform_(layer.weight)
    act, drop, weight = layer.act, layer.drop, layer.weight.detach().clone()
    seq = convert_norm(layer, "seqnorm", gc=2, gm=2)
    assert type(seq) is SeqNormAct and (seq.gc, seq.gm) == (2, 2)
    assert seq.act is act and seq.drop is drop and torch.equal(seq.weight, weight)


@pytest.mark.parametrize(
    ("norm", "params", "inner"), [("groupnorm", {"gc": 4}, GroupNorm), ("none", {}, NoNorm)]
)
def test_convert_norm_to_groupnorm_or_none_keeps_the_activation(norm, params, inner):
    """timm builds these two by name only through its own tables; convert_norm reaches them too."""
    model = convert_norm(efficientnet(), norm, **params)
    assert activations(model) == activations(efficientnet())
    assert all(isinstance(m, inner) for m in model.modules() if hasattr(m, "act"))
    model(torch.randn(4, 3, 32, 32)).sum().backward()


def test_sync_batchnorm_act_is_replaced_too():
    """trainer.sync_bn's timm conversion makes them; a researcher's own class gets the activation too."""
    layer = timm.layers.convert_sync_batchnorm(nn.Sequential(BatchNormAct2d(4, act_layer=nn.GELU)))[0]
    assert type(layer) is SyncBatchNormAct
    new = convert_norm(layer, GhostNorm, gm=2)
    assert isinstance(new, GhostNorm) and new.act is layer.act


def test_norm_act_layers_pickle_and_keep_the_norms_checks():
    layer = pickle.loads(pickle.dumps(GhostNormAct(4, gm=2, act_layer=nn.ReLU)))
    assert type(layer) is GhostNormAct and isinstance(layer, GhostNorm)
    model = pickle.loads(pickle.dumps(convert_norm(nn.Sequential(BatchNormAct2d(8)), "groupnorm", gc=2)))
    assert type(model[0]).__name__ == "GroupNormAct" and isinstance(model[0], GroupNorm)
    with pytest.raises(ValueError, match=r"GhostNormAct\(4, gm=2\): batch of 3 samples"):
        layer(torch.randn(3, 4, 2, 2))
    assert isinstance(SeqNormAct(8, gc=2, gm=2, apply_act=False).act, nn.Identity)


# timm CNNs with BatchNorm layers (the README's survey): plain BatchNorm2d, BatchNormAct2d or both
SURVEYED = [
    "efficientnet_b0", "mobilenetv3_small_100", "mobilenetv2_050", "mixnet_s", "regnetx_002", "densenet121",
    "cspresnet50", "dla34", "resnet18", "rexnet_100", "ghostnet_100", "repvgg_a0", "dpn68", "xception41",
    "hrnet_w18_small",
]  # fmt: skip


@pytest.mark.parametrize("name", SURVEYED)
def test_convert_norm_leaves_no_batchnorm_in_timm_cnns(name):
    model = convert_norm(timm.create_model(name, num_classes=10), "ghostnorm", gm=2)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert activations(model) == activations(timm.create_model(name, num_classes=10))
    model(torch.randn(4, 3, 64, 64)).sum().backward()


@pytest.mark.parametrize("device", ["cuda", "cpu"])  # torch's SyncBatchNorm, or the CPU all-reduce one
def test_batchnorm_in_a_timm_model_stays_timms_so_sync_bn_keeps_its_activations(device):
    """norm=batchnorm on a timm model rebuilds timm's own BatchNormAct2d: trainer.sync_bn's converters know
    it, and would turn a BatchNorm subclass of ours into a plain SyncBatchNorm without its activation."""
    model = convert_norm(efficientnet(), "batchnorm", momentum=0.2)
    assert {type(m) for m in model.modules() if hasattr(m, "act")} == {BatchNormAct2d}
    assert model.bn1.momentum == 0.2
    synced = synchronise_batchnorm(model, torch.device(device))  # conversion only: runs on a CPU too
    assert activations(synced) == activations(efficientnet())
    assert not any(isinstance(m, BatchNormAct2d) for m in synced.modules())


def test_no_norm_leaves_the_input_to_the_models_other_uses():
    """NoNorm returns its input: the (in-place) activation after it must not overwrite it. ResNetV2's
    pre-activation blocks feed a block's input to the shortcut too."""
    x = torch.randn(2, 4, 3, 3)
    x_before = x.clone()
    NoNormAct(4, act_layer=nn.ReLU, inplace=True)(x)
    assert torch.equal(x, x_before)
    model = convert_norm(timm.create_model("resnetv2_50", num_classes=10), "none").eval()
    out_of_place = copy.deepcopy(model)
    for module in out_of_place.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(model(x), out_of_place(x))
