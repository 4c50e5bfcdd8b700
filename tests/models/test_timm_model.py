"""model=timm: any timm model with BatchNorm layers, each replaced by the run's norm, activation kept."""

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.norms.norm_act import SeqNormAct


def test_efficientnet_gets_seqnorm_before_each_of_its_activations():
    model = build_model(
        ModelConfig(name="timm", arch="efficientnet_b0"), norm_layer("seqnorm", gc=4, gm=2), 10, (1, 28, 28)
    )
    plain = timm.create_model("efficientnet_b0", num_classes=10, in_chans=1)
    norm_acts = [name for name, m in plain.named_modules() if isinstance(m, BatchNormAct2d)]
    assert [name for name, m in model.named_modules() if type(m) is SeqNormAct] == norm_acts
    assert {type(model.get_submodule(name).act) for name in norm_acts} == {nn.SiLU, nn.Identity}
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    model(torch.randn(4, 1, 28, 28)).sum().backward()


def test_timm_model_keeps_timms_initialisation():
    """timm's ResNets start the last norm of each residual branch at weight 0; the conversion keeps it."""
    model = build_model(
        ModelConfig(name="timm", arch="resnet10t"), norm_layer("ghostnorm", gm=2), 10, (3, 32, 32)
    )
    assert sum(not m.weight.any() for m in model.modules() if type(m).__name__ == "GhostNorm") == 4


@pytest.mark.parametrize(
    ("arch", "error"),
    [
        ("resnet5O", r"model.arch='resnet5O' is not a timm model; timm.list_models\('\*resnet5O\*'\)"),
        ("convnext_atto", r"timm's convnext_atto has no BatchNorm layer for the norm to replace"),
    ],
)
def test_timm_model_refuses_what_it_cannot_convert(arch, error):
    with pytest.raises(ValueError, match=error):
        build_model(ModelConfig(name="timm", arch=arch), norm_layer("ghostnorm", gm=2), 10, (3, 32, 32))


def test_timm_model_needs_an_arch_and_other_models_refuse_one():
    with pytest.raises(ValueError, match=r"model=timm needs model.arch=<a timm model name>"):
        ModelConfig(name="timm")
    with pytest.raises(ValueError, match=r"model.arch=resnet50 applies to model.name=timm only"):
        ModelConfig(name="resnet56", arch="resnet50")


def test_a_hybrid_that_keeps_layernorms_is_built_with_a_warning(caplog):
    build_model(
        ModelConfig(name="timm", arch="mobilevit_xxs"), norm_layer("ghostnorm", gm=2), 10, (3, 64, 64)
    )
    assert (
        "timm's mobilevit_xxs keeps its ['LayerNorm'] layers beside the converted BatchNorms" in caplog.text
    )
