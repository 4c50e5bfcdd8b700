"""GhostNorm is BatchNorm on each contiguous chunk of the batch, and BatchNorm itself at gm=1."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqnorm_repro.norms import BatchNorm, GhostNorm
from seqnorm_repro.norms.fused import ghost_norm_fused
from seqnorm_repro.norms.reference import ghost_norm_reference

IMPLS = ["fused", "reference"]
SHAPES = [(16, 5), (16, 5, 7), (16, 3, 4, 5)]  # (M, C), (M, C, L), (M, C, H, W)


def _affine_grads(*tensors):
    return [t.detach().clone().requires_grad_() for t in tensors]


def _chunked_batchnorm(x, gm, weight, bias, eps=1e-5):
    """The definition: F.batch_norm on each chunk, concatenated (a Python loop, fine for a test)."""
    return torch.cat([F.batch_norm(c, None, None, weight, bias, True, 0.0, eps) for c in x.chunk(gm)])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gm", [1, 2, 4])
@pytest.mark.parametrize("eps", [1e-5, 0.5])  # 0.5: a few % of this input's variance, so eps must reach it
def test_equals_batchnorm_on_each_chunk(impl, shape, gm, eps):
    x = torch.randn(shape, dtype=torch.float64) * 3 + 1
    weight, bias = (
        torch.randn(shape[1], dtype=torch.float64),
        torch.randn(shape[1], dtype=torch.float64),
    )
    dy = torch.randn(shape, dtype=torch.float64)
    layer = GhostNorm(shape[1], gm=gm, eps=eps, impl=impl).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    xs = _affine_grads(x, x)
    w2, b2 = _affine_grads(weight, bias)
    ours, theirs = layer(xs[0]), _chunked_batchnorm(xs[1], gm, w2, b2, eps)
    torch.testing.assert_close(ours, theirs)
    ours.backward(dy)
    theirs.backward(dy)
    torch.testing.assert_close(xs[0].grad, xs[1].grad)
    torch.testing.assert_close(layer.weight.grad, w2.grad)
    torch.testing.assert_close(layer.bias.grad, b2.grad)


@pytest.mark.parametrize("ghost_norm", [ghost_norm_fused, ghost_norm_reference])
@pytest.mark.parametrize("shape", [(8, 3), (8, 3, 2, 3)])
def test_gradcheck_float64(ghost_norm, shape):
    x, weight, bias = _affine_grads(
        torch.randn(shape, dtype=torch.float64), torch.randn(3, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
    )  # fmt: skip
    assert torch.autograd.gradcheck(lambda *a: ghost_norm(a[0], 2, a[1], a[2], 1e-5)[0], (x, weight, bias))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize(("shape", "torch_bn"), [((32, 6), nn.BatchNorm1d), ((32, 6, 5, 5), nn.BatchNorm2d)])
def test_gm1_is_torch_batchnorm_in_train_and_eval(momentum, shape, torch_bn):
    ours, theirs = GhostNorm(6, gm=1, momentum=momentum), torch_bn(6, momentum=momentum)
    for _ in range(4):
        x = torch.randn(shape) * 2 + 0.5
        torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    assert ours.num_batches_tracked == theirs.num_batches_tracked == 4
    ours.eval()
    theirs.eval()
    x = torch.randn((3, *shape[1:]))  # eval takes any batch size
    torch.testing.assert_close(ours(x), theirs(x))


def test_running_stats_average_the_groups_unbiased_statistics():
    layer = GhostNorm(3, gm=4, momentum=1.0)
    x = torch.randn(16, 3, 2, 2) * 2 + 1
    layer(x)
    chunks = x.transpose(0, 1).reshape(3, 4, -1)  # (C, gm, samples of a group)
    torch.testing.assert_close(layer.running_mean, chunks.mean(-1).mean(-1))
    torch.testing.assert_close(layer.running_var, chunks.var(-1, correction=1).mean(-1))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(12, 7, 3, 5), (12, 7), (6, 1, 4, 4)])  # odd C, 1d, C = 1
@pytest.mark.parametrize("gm", [1, 3, 6])
@pytest.mark.parametrize("eps", [1e-5, 2.0])
def test_fused_matches_reference_float64(channels_last, shape, gm, eps):
    if channels_last and len(shape) != 4:
        pytest.skip("channels_last needs a 4-d input")
    x = torch.randn(shape, dtype=torch.float64) * 5 - 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = (
        torch.randn(shape[1], dtype=torch.float64),
        torch.randn(shape[1], dtype=torch.float64),
    )
    dy = torch.randn(shape, dtype=torch.float64)
    results = []
    for ghost_norm in (ghost_norm_fused, ghost_norm_reference):
        leaves = _affine_grads(x, weight, bias)
        y, mean, var = ghost_norm(leaves[0], gm, leaves[1], leaves[2], eps)
        y.backward(dy)
        results.append([y, mean, var, *(t.grad for t in leaves)])
    for fused, reference in zip(*results, strict=True):
        torch.testing.assert_close(fused, reference, rtol=1e-10, atol=1e-10)


def test_channels_last_stays_channels_last():
    x = torch.randn(8, 4, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = GhostNorm(4, gm=2)(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    y.backward(torch.randn_like(y))
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_use_fp32_statistics(dtype):
    x32 = torch.randn(16, 4, 6, 6) * 4 + 100  # a large mean: low-precision sums would lose it
    x = x32.to(dtype)
    layer = GhostNorm(4, gm=4, momentum=1.0)
    y = layer(x)
    assert y.dtype == dtype
    expected = GhostNorm(4, gm=4, momentum=1.0)(x.float())
    torch.testing.assert_close(y.float(), expected, rtol=0, atol=2e-2)
    torch.testing.assert_close(layer.running_mean, x.float().mean((0, 2, 3)))


def test_under_cpu_autocast_output_follows_input_and_params_stay_fp32():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), GhostNorm(4, gm=2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(torch.randn(8, 3, 8, 8))
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert model[1].weight.grad.dtype == torch.float32
    assert torch.isfinite(model[1].running_var).all()


def test_batchnorm_state_dict_loads_into_ghostnorm_and_back():
    bn = nn.BatchNorm2d(5)
    bn(torch.randn(8, 5, 3, 3) + 2)
    ghost = GhostNorm(5, gm=2)
    ghost.load_state_dict(bn.state_dict())
    back = nn.BatchNorm2d(5)
    back.load_state_dict(ghost.state_dict())
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value)


def test_without_running_stats_eval_normalises_ghost_groups():
    layer = GhostNorm(3, gm=2, track_running_stats=False).eval()
    x = torch.randn(8, 3)
    torch.testing.assert_close(layer(x), _chunked_batchnorm(x, 2, layer.weight, layer.bias))
    assert layer.running_mean is None


def test_no_affine_has_no_parameters():
    layer = GhostNorm(3, gm=2, affine=False)
    assert layer.weight is None and not list(layer.parameters())
    x = torch.randn(8, 3)
    torch.testing.assert_close(layer(x), _chunked_batchnorm(x, 2, None, None))


def test_device_and_dtype_are_honoured():
    layer = GhostNorm(3, gm=2, device="cpu", dtype=torch.float64)
    assert layer.weight.dtype == layer.running_mean.dtype == torch.float64
    assert layer.num_batches_tracked.dtype == torch.long


def test_batchnorm_takes_1d_and_2d_inputs():
    layer = BatchNorm(4)
    assert layer(torch.randn(8, 4)).shape == (8, 4)
    assert layer(torch.randn(8, 4, 3, 3)).shape == (8, 4, 3, 3)
