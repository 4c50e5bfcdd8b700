"""Every model trains one step with every norm, and holds that norm and no other."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.models import MODEL_BUILDERS, build_model
from seqnorm_repro.norms import NORM_LAYERS, norm_layer

BATCH, NUM_CLASSES = 8, 10
NORM_PARAMS = {  # batch 8 and gm=2: four samples per ghost group, the paper's smallest
    "batchnorm": {},
    "ghostnorm": {"gm": 2},
    "seqnorm": {"gc": 4, "gm": 2},
    "groupnorm": {"gc": 4},
    "noisy_batchnorm": {"noise_std": 0.01},
    "none": {},
}
MODEL_INPUTS = {  # model id -> its config and input shape; small models and images keep the sweep fast
    "simplenet": (ModelConfig(name="simplenet"), (1, 28, 28)),
    "resnet56": (ModelConfig(name="resnet56"), (3, 32, 32)),
    "wrn10_1": (ModelConfig(name="wide_resnet", depth=10, widen_factor=1, dropout=0.3), (3, 32, 32)),
    "resnet18_timm": (ModelConfig(name="resnet18", library="timm"), (3, 64, 64)),
    "resnet18_torchvision": (ModelConfig(name="resnet18", library="torchvision"), (3, 64, 64)),
    "timm_resnet10t": (ModelConfig(name="timm", arch="resnet10t"), (3, 32, 32)),  # plain BatchNorm2d
}


def make_model(model_id: str, layer) -> nn.Module:
    config, shape = MODEL_INPUTS[model_id]
    return build_model(config, layer, NUM_CLASSES, shape)


def test_sweep_covers_every_norm():
    assert set(NORM_PARAMS) == set(NORM_LAYERS)


def test_sweep_covers_every_model():
    assert {config.name for config, _ in MODEL_INPUTS.values()} == set(MODEL_BUILDERS)


@pytest.fixture(scope="module", params=sorted(NORM_PARAMS))
def norm_name(request):
    return request.param


@pytest.fixture(scope="module", params=list(MODEL_INPUTS))
def trained_step(request, norm_name):
    """(model, logits) after one training step's forward and backward on random data; shared by the
    tests of one (model, norm) pair, so each pair runs once."""
    torch.manual_seed(0)  # module scope: set up before the autouse per-test seed
    model = make_model(request.param, norm_layer(norm_name, **NORM_PARAMS[norm_name])).train()
    logits = model(torch.randn(BATCH, *MODEL_INPUTS[request.param][1]))
    F.cross_entropy(logits, torch.randint(NUM_CLASSES, (BATCH,))).backward()
    return model, logits


def test_output_is_finite_logits_per_sample(trained_step):
    _, logits = trained_step
    assert logits.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(logits).all()


def test_backward_reaches_every_parameter(trained_step):
    model, _ = trained_step
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_model_holds_only_the_chosen_norm(trained_step, norm_name):
    model, _ = trained_step
    expected = NORM_LAYERS[norm_name]
    assert any(type(module) is expected for module in model.modules())
    norm_types = (_BatchNorm, nn.GroupNorm, nn.LayerNorm, *NORM_LAYERS.values())
    others = {
        type(m).__name__ for m in model.modules() if isinstance(m, norm_types) and type(m) is not expected
    }
    assert not others
    if norm_name != "batchnorm":
        assert not any(isinstance(module, _BatchNorm) for module in model.modules())
