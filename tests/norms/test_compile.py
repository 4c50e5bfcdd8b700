"""torch.compile traces a model using the layers without graph breaks, forward and backward."""

import pytest
import torch
from torch import nn

from seqnorm_repro.norms import make_norm


@pytest.mark.filterwarnings("ignore:.*normalises over 2 samples")  # eager warns; compiled cannot
@pytest.mark.parametrize("batch", [16, 8])  # 4 and 2 samples per group
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("name", "params"), [("ghostnorm", {"gm": 4}), ("seqnorm", {"gc": 2, "gm": 4})])
def test_compiled_model_matches_eager(name, params, layout, batch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), make_norm(name, 4, **params), nn.ReLU(inplace=True))
    model = model.to(memory_format=layout)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = torch.randn(batch, 3, 6, 6).contiguous(memory_format=layout)
    eager_out = model(x)
    eager_out.square().sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled_out = compiled(x)
    compiled_out.square().sum().backward()
    # channels_last compiles the Figure 4 ops, not the fused path: the same sums in another order
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-4, atol=1e-4)
    for param, expected in zip(model.parameters(), eager_grads, strict=True):
        torch.testing.assert_close(param.grad, expected, rtol=1e-4, atol=1e-4)


def test_inductor_compiles_ghostnorm():
    model = nn.Sequential(nn.Linear(8, 8), make_norm("ghostnorm", 8, gm=2))
    compiled = torch.compile(model)
    x = torch.randn(8, 8)
    compiled(x).sum().backward()
    torch.testing.assert_close(compiled(x), model(x))


def _stem_model(name, params):
    """A stride-1 stem, as CIFAR nets have: the layer sees the input's (symbolic) sizes unchanged."""
    torch.manual_seed(0)
    return nn.Sequential(
        make_norm(name, 3, **params), nn.ReLU(), nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


def _input_grad(model, x):
    leaf = x.clone().requires_grad_()
    model(leaf).square().sum().backward()
    return leaf.grad


@pytest.mark.slow  # Inductor's C++ compiles: about 2 minutes on 2 cores without a cache
@pytest.mark.filterwarnings("ignore:.*normalises over 4 samples")
@pytest.mark.parametrize(("name", "params"), [("ghostnorm", {"gm": 2}), ("seqnorm", {"gc": 1, "gm": 2})])
def test_inductor_with_symbolic_sizes_gets_the_input_gradient(name, params):
    """Inductor miscompiled SeqNorm's row-moments backward on symbolic sizes: dx 1e2 times its size off."""
    torch._dynamo.reset()  # what earlier tests compiled would otherwise be reused
    model = _stem_model(name, params)
    x = torch.randn(8, 3, 16, 16)
    expected = _input_grad(model, x)
    compiled = torch.compile(model, dynamic=True)
    torch.testing.assert_close(
        _input_grad(compiled, x), expected, rtol=1e-4, atol=1e-4 * expected.abs().max()
    )


@pytest.mark.filterwarnings("ignore:.*normalises over 4 samples")
@pytest.mark.parametrize(("name", "params"), [("ghostnorm", {"gm": 2}), ("seqnorm", {"gc": 1, "gm": 2})])
def test_a_model_exported_in_training_mode_trains(name, params):
    model = _stem_model(name, params)
    x = torch.randn(8, 3, 6, 6)
    exported = torch.export.export(model, (x,)).module()
    expected = _input_grad(model, x)
    torch.testing.assert_close(_input_grad(exported, x), expected)
