"""Memory layout and precision do not change what the convolutional networks compute."""

import pytest
import torch
import torch.nn.functional as F

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.models import CifarResNet, WideResNet, build_model
from seqnorm_repro.norms import norm_layer

NORMS = [("batchnorm", {}), ("ghostnorm", {"gm": 2}), ("seqnorm", {"gc": 4, "gm": 2})]
CONV_MODELS = ["resnet20", "wrn10_1", "resnet18"]  # ResNet-56's and WRN-28-10's blocks, fewer of them


def make_model(model_id: str, norm: str, params: dict):
    layer = norm_layer(norm, **params)
    if model_id == "resnet20":
        return CifarResNet(layer, 10, depth=20)
    if model_id == "wrn10_1":
        return WideResNet(layer, 10, depth=10, width=1)
    return build_model(ModelConfig(name=model_id), layer, 10, (3, 32, 32))


def step(model, x, target):
    """Logits and parameter gradients of one training step."""
    model.zero_grad()
    logits = model(x)
    F.cross_entropy(logits, target).backward()
    return logits, [param.grad.clone() for param in model.parameters()]


@pytest.mark.parametrize("model_id", CONV_MODELS)
@pytest.mark.parametrize(("norm", "params"), NORMS, ids=[name for name, _ in NORMS])
def test_channels_last_matches_contiguous(model_id, norm, params):
    model = make_model(model_id, norm, params).double().train()
    x, target = torch.randn(8, 3, 32, 32, dtype=torch.float64), torch.randint(10, (8,))
    logits, grads = step(model, x, target)
    model.to(memory_format=torch.channels_last)
    cl_logits, cl_grads = step(model, x.to(memory_format=torch.channels_last), target)
    torch.testing.assert_close(cl_logits, logits)
    for cl_grad, grad in zip(cl_grads, grads, strict=True):
        torch.testing.assert_close(cl_grad, grad)


@pytest.mark.parametrize("model_id", CONV_MODELS)
@pytest.mark.parametrize(("norm", "params"), NORMS, ids=[name for name, _ in NORMS])
def test_trains_under_bf16_autocast(model_id, norm, params):
    model = make_model(model_id, norm, params).train().to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        loss = F.cross_entropy(logits, torch.randint(10, (8,)))
    loss.backward()
    assert logits.dtype == torch.bfloat16
    assert torch.isfinite(logits).all()
    assert all(torch.isfinite(param.grad).all() for param in model.parameters())
