"""impl="triton": the Triton kernels against the paper's Figure 4 code (`reference.py`).

These run where the kernels can: on a GPU (compiled), or on CPU tensors under Triton's interpreter,
which `test_triton_cpu.py` arranges by running this file in a subprocess with TRITON_INTERPRET=1 when
there is no GPU. The interpreter is slow, so the inputs are small; its block sizes are small too
(`triton_ops._sizes`), so that they still go through several channel blocks, tiles per chunk, chunks
per group and masked edges.
"""

import copy
import re

import pytest
import torch
from functorch.compile import make_boxed_func
from torch import nn
from torch._dynamo.backends.common import aot_autograd
from torch._inductor.utils import run_and_get_code

from seqnorm_repro.norms import GhostNorm, SeqNorm, triton_ops
from seqnorm_repro.norms.reference import ghost_norm_reference, seq_norm_reference

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = [
    pytest.mark.skipif(
        DEVICE == "cpu" and not triton_ops.INTERPRETED,
        reason="no GPU: test_triton_cpu.py runs this file under Triton's interpreter in a subprocess",
    ),
    pytest.mark.filterwarnings("ignore:.*normalises over"),  # groups of 2 and 3 samples
]
LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
# Compiled Triton kernels take Python floats as fp32: 1e-5 rounded to fp32, so float64 results can agree to
# 1e-10 with the reference's (2 samples per group can have a variance near eps; the interpreter keeps fp64)
EPS = float(torch.tensor(1e-5, dtype=torch.float32))


def _inputs(shape, layout="NCHW", dtype=torch.float64, scale=4.0, shift=-3.0):
    """x (in the layout), dy, weight and bias on the test device; weight and bias in float64 or fp32."""
    x = (torch.randn(shape, dtype=torch.float64) * scale + shift).to(DEVICE, dtype)
    if len(shape) == 4:
        x = x.contiguous(memory_format=LAYOUTS[layout])
    dy = torch.randn(shape, dtype=torch.float64).to(DEVICE, dtype)
    params = torch.randn(2, shape[1], dtype=torch.float64).to(
        DEVICE, torch.promote_types(dtype, torch.float32)
    )
    return x, dy, params[0], params[1]


def _run(norm, x, dy, weight, bias, *hyper, eps=EPS):
    """[y, mean, var, dx, dweight, dbias] of norm(x, *hyper, weight, bias, eps) with upstream gradient dy."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    y, mean, var = norm(leaves[0], *hyper, leaves[1], leaves[2], eps)
    y.backward(dy)
    return [y, mean, var, *(t.grad for t in leaves)]


def _assert_all_close(ours, theirs, **tolerances):
    names = ["y", "mean", "var", "dx", "dweight", "dbias"]
    for name, a, b in zip(names, ours, theirs, strict=True):
        assert a.dtype == b.dtype, name
        torch.testing.assert_close(a, b, **tolerances, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize(
    ("shape", "layout", "gm"),
    [
        ((12, 7, 3, 5), "NCHW", 1),
        ((12, 7, 3, 5), "NCHW", 4),  # 3 samples per group: a partial tile of samples
        ((12, 7, 3, 5), "NCHW", 6),  # gm = M / 2
        ((12, 7, 3, 5), "NCHW", 12),  # gm = M: one sample of 15 values per group, as BatchNorm allows
        ((12, 7, 3, 5), "channels_last", 1),
        ((12, 7, 3, 5), "channels_last", 6),
        ((12, 7, 3, 5), "channels_last", 12),
        ((12, 9), "NCHW", 1),  # (M, C): HW = 1
        ((12, 9), "NCHW", 6),
        ((8, 5, 9), "NCHW", 4),  # (M, C, L)
        ((6, 1, 4, 4), "channels_last", 3),  # C = 1
    ],
)
def test_ghostnorm_matches_reference_float64(shape, layout, gm):
    x, dy, weight, bias = _inputs(shape, layout)
    ours = _run(triton_ops.ghost_norm_triton, x, dy, weight, bias, gm)
    _assert_all_close(ours, _run(ghost_norm_reference, x, dy, weight, bias, gm), rtol=1e-10, atol=1e-10)
    assert ours[0].stride() == x.stride() and ours[3].stride() == x.stride()  # layout kept


@pytest.mark.parametrize(
    ("shape", "layout", "gc", "gm"),
    [
        ((8, 6, 3, 5), "NCHW", 1, 1),
        ((8, 6, 3, 5), "NCHW", 3, 4),  # gm = M / 2
        ((8, 6, 3, 5), "channels_last", 3, 8),  # gm = M
        ((8, 6, 3, 5), "channels_last", 2, 2),
        ((8, 6, 3, 5), "channels_last", 6, 4),  # gc = C: one channel per GroupNorm group
        ((2, 3, 10, 10), "channels_last", 3, 1),  # few rows: each row split over chunks
        ((8, 9), "NCHW", 3, 2),  # (M, C), odd C
        ((6, 5, 2, 3), "NCHW", 5, 3),
    ],
)
def test_seqnorm_matches_reference_float64(shape, layout, gc, gm):
    x, dy, weight, bias = _inputs(shape, layout)
    ours = _run(triton_ops.seq_norm_triton, x, dy, weight, bias, gc, gm)
    _assert_all_close(ours, _run(seq_norm_reference, x, dy, weight, bias, gc, gm), rtol=1e-10, atol=1e-10)
    assert ours[0].stride() == x.stride() and ours[3].stride() == x.stride()


@pytest.mark.parametrize("layout", ["NCHW", "channels_last"])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize(
    ("triton_norm", "reference_norm", "hyper"),
    [
        (triton_ops.ghost_norm_triton, ghost_norm_reference, (2,)),
        (triton_ops.seq_norm_triton, seq_norm_reference, (2, 4)),
    ],
)
def test_constant_channels_in_fp32(layout, per_sample, triton_norm, reference_norm, hyper):
    """|x| ~ 1e3, constant over 3 channels (SeqNorm: a GroupNorm group): the rounded tile and group means
    left a variance that 1 / sqrt(var + eps) (SeqNorm: both stages') scaled up to O(1) outputs."""
    x, dy, weight, bias = _inputs((8, 6, 3, 5), layout)
    x[:, :3] = 1000.1 + (
        0.37 * torch.arange(8.0, dtype=x.dtype, device=DEVICE).view(8, 1, 1, 1) if per_sample else 0
    )
    ours = _run(triton_norm, *(t.float() for t in (x, dy, weight, bias)), *hyper)
    exact = _run(reference_norm, x, dy, weight, bias, *hyper)
    for name, a, b in zip(["y", "mean", "var", "dx", "dweight", "dbias"], ours, exact, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4 * b.abs().max().item(), msg=name)


@pytest.mark.parametrize(
    ("triton_norm", "reference_norm", "hyper"),
    [
        (triton_ops.ghost_norm_triton, ghost_norm_reference, (4,)),
        (triton_ops.seq_norm_triton, seq_norm_reference, (3, 4)),
    ],
)
def test_eps_reaches_every_stage(triton_norm, reference_norm, hyper):
    """eps = 2 (exact in fp32) beside a variance near 1: a stage that used another eps would be far off."""
    x, dy, weight, bias = _inputs((8, 6, 3, 5), "channels_last", scale=1.0, shift=0.5)
    ours = _run(triton_norm, x, dy, weight, bias, *hyper, eps=2.0)
    theirs = _run(reference_norm, x, dy, weight, bias, *hyper, eps=2.0)
    _assert_all_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    ("triton_norm", "reference_norm", "hyper"),
    [
        (triton_ops.ghost_norm_triton, ghost_norm_reference, (2,)),
        (triton_ops.seq_norm_triton, seq_norm_reference, (2, 2)),
    ],
)
def test_low_precision_inputs_match_the_fp32_reference(dtype, triton_norm, reference_norm, hyper):
    """fp16/bf16 in and out, fp32 statistics and parameter gradients; a mean of 50 with std 3 would lose
    the variance to cancellation in E[x^2] - mean^2."""
    x, dy, weight, bias = _inputs((8, 6, 4, 4), "channels_last", dtype, scale=3.0, shift=50.0)
    ours = _run(triton_norm, x, dy, weight, bias, *hyper)
    theirs = _run(reference_norm, x, dy, weight, bias, *hyper)  # fp32 inside, same rounded x and dy
    assert ours[0].dtype == ours[3].dtype == dtype and ours[1].dtype == ours[4].dtype == torch.float32
    low = 1e-2 if dtype == torch.float16 else 4e-2  # one or two units in the last place of y and dx
    for ours_t, theirs_t, tolerance in zip(ours, theirs, [low, 1e-5, 1e-4, low, 1e-4, 1e-4], strict=True):
        torch.testing.assert_close(ours_t, theirs_t, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda impl: GhostNorm(7, gm=3, impl=impl), (12, 7, 2, 3)),
        (lambda impl: SeqNorm(6, gc=2, gm=2, impl=impl), (8, 6, 2, 3)),
    ],
)
def test_module_running_statistics_and_eval(make, shape):
    """The returned statistics feed the running averages exactly as the reference's do."""
    ours, theirs = make("triton").double().to(DEVICE), make("reference").double().to(DEVICE)
    x, dy, _, _ = _inputs(shape)
    ours(x).backward(dy)
    theirs(x).backward(dy)
    for name, buffer in theirs.named_buffers():
        torch.testing.assert_close(dict(ours.named_buffers())[name], buffer, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-10, atol=1e-10)
    x, _, _, _ = _inputs((5, *shape[1:]))
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize(
    "make", [lambda impl: GhostNorm(6, gm=2, impl=impl), lambda impl: SeqNorm(6, gc=3, gm=2, impl=impl)]
)
def test_double_backward_is_the_references(make):
    """A gradient penalty's gradients: under create_graph=True the backward is autograd's through the
    reference (the kernels' is exact only to first order)."""
    grads, x0 = [], _inputs((8, 6, 2, 3), "channels_last")[0]
    for impl in ("triton", "reference"):
        layer = make(impl).double().to(DEVICE)
        x = x0.clone().requires_grad_()
        (dx,) = torch.autograd.grad(layer(x).pow(3).sum(), x, create_graph=True)
        dx.square().sum().backward()
        grads.append([x.grad, layer.weight.grad, layer.bias.grad])
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("momentum", [0.1, None])  # None: the cumulative average, factor 1 / steps
@pytest.mark.parametrize(
    ("make", "dtype", "layout"),
    [
        (lambda **kw: GhostNorm(6, gm=2, **kw), torch.float32, "channels_last"),
        (lambda **kw: SeqNorm(6, gc=3, gm=2, **kw), torch.bfloat16, "NCHW"),
    ],
)
def test_running_statistics_over_steps(make, dtype, layout, momentum):
    """The statistics kernel's in-place update of the running buffers (fp32, whatever the input's dtype)
    agrees with the reference layer's torch ops over several steps."""
    ours, theirs = (make(impl=impl, momentum=momentum).to(DEVICE) for impl in ("triton", "reference"))
    for _ in range(3):
        x, _, _, _ = _inputs((8, 6, 3, 3), layout, dtype)
        ours(x), theirs(x)
    for name, buffer in theirs.named_buffers():
        torch.testing.assert_close(dict(ours.named_buffers())[name], buffer, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dynamic", [False, True])
def test_compiled_model_fullgraph_forward_and_backward(dynamic):
    """Both layers inside a torch.compile'd model (inductor, fullgraph: no graph break) match eager, input
    gradients and running statistics included (updated in place by the statistics operators). dynamic:
    symbolic sizes, two batch sizes through one graph (where Inductor miscompiled the fused SeqNorm)."""
    torch._dynamo.reset()  # a fresh compile, not one of an earlier test's Sequential graphs
    model = nn.Sequential(
        GhostNorm(3, gm=2, impl="triton"), nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
        SeqNorm(6, gc=3, gm=2, impl="triton"),
    ).double().to(DEVICE)  # fmt: skip
    twin = copy.deepcopy(model)
    batches = (8, 12) if dynamic else (8, 8)  # the second step starts from updated buffers
    results = []
    for net, run in ((model, torch.compile(model, fullgraph=True, dynamic=dynamic)), (twin, twin)):
        torch.manual_seed(0)
        for batch in batches:
            x = torch.randn(batch, 3, 5, 5, dtype=torch.float64, device=DEVICE, requires_grad=True)
            y = run(x)
            y.square().sum().backward()
        results.append([y, x.grad, *(p.grad for p in net.parameters()), *net.buffers()])
    for compiled_t, eager_t in zip(*results, strict=True):
        torch.testing.assert_close(compiled_t, eager_t)


@pytest.mark.parametrize("view", ["crop", "spatial transpose"])
@pytest.mark.parametrize(
    ("triton_norm", "reference_norm", "hyper"),
    [
        (triton_ops.ghost_norm_triton, ghost_norm_reference, (2,)),
        (triton_ops.seq_norm_triton, seq_norm_reference, (2, 2)),
    ],
)
def test_strided_views_match_the_reference(view, triton_norm, reference_norm, hyper):
    x, _, weight, bias = _inputs((4, 4, 5, 6))
    x = x[:, :, 1:-1, 1:-1] if view == "crop" else x.transpose(2, 3)
    dy = torch.randn(x.shape, dtype=x.dtype, device=DEVICE)
    ours = _run(triton_norm, x, dy, weight, bias, *hyper)
    _assert_all_close(ours, _run(reference_norm, x, dy, weight, bias, *hyper), rtol=1e-9, atol=1e-9)


def test_compiled_apply_pass_keeps_dtype_and_channels_last():
    """Under torch.compile the apply pass is torch ops: bf16 in, bf16 out, channels_last kept, as eager."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), GhostNorm(8, gm=2, impl="triton"), nn.ReLU(),
        SeqNorm(8, gc=2, gm=2, impl="triton"),
    ).to(DEVICE, torch.bfloat16, memory_format=torch.channels_last)  # fmt: skip
    x = torch.randn(8, 3, 5, 5, device=DEVICE, dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last
    )
    eager, compiled = model(x), torch.compile(model, fullgraph=True)(x)
    assert compiled.dtype == torch.bfloat16 and compiled.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(compiled, eager, rtol=2e-2, atol=2e-2)


def test_inductor_fuses_the_apply_pass_with_the_next_relu():
    """The compiled forward of conv, norm, ReLU computes relu((x - mean) * scale + bias) in one generated
    kernel after the statistics operator, not as our apply pass followed by a ReLU pass."""
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), GhostNorm(6, gm=2, impl="triton"), nn.ReLU())
    x = torch.randn(8, 3, 5, 5, device=DEVICE)
    _, (forward_code, *_) = run_and_get_code(torch.compile(model.to(DEVICE), fullgraph=True), x)
    kernels = re.findall(r"(?:cpp|triton)_\w*fused\w*", forward_code)
    assert any("relu" in name and "sub" in name and "mul" in name for name in kernels), kernels


def test_compiled_graphs_call_the_operators():
    """Under torch.compile the layers trace as our four operators (eager mode calls their bodies directly)
    and the apply passes (y, dx) as torch ops, so Inductor keeps each statistics pipeline whole rather than
    tracing into the Triton launches, and fuses the apply passes with their neighbours; the statistics
    operators update the running buffers, so no torch op of the graph does."""
    targets = set()

    def record(graph_module, _inputs):
        for node in graph_module.graph.nodes:
            if node.op == "call_function":  # the statistics operators mutate, so they come functionalized
                functionalized = "auto_functionalized" in str(node.target)
                targets.add(str(node.args[0] if functionalized else node.target))
        return make_boxed_func(graph_module.forward)

    model = nn.Sequential(GhostNorm(6, gm=2, impl="triton"), SeqNorm(6, gc=3, gm=2, impl="triton"))
    compiled = torch.compile(model.to(DEVICE), backend=aot_autograd(fw_compiler=record), fullgraph=True)
    compiled(torch.randn(8, 6, 3, 3, device=DEVICE, requires_grad=True)).sum().backward()
    ours = {target for target in targets if target.startswith("seqnorm.")}
    names = [
        f"{layer}_norm_{part}"
        for layer in ("ghost", "seq")
        for part in ("statistics", "backward_coefficients")
    ]
    assert ours == {f"seqnorm.{name}.default" for name in names}
    assert not any("lerp" in target for target in targets), targets


@pytest.mark.parametrize("layer", ["ghost", "seq"])
def test_operator_registration(layer):
    """Schema and fake (meta) implementation of each layer's two operators, as torch.compile relies on
    them. The operators have no autograd of their own (the layers' autograd.Functions join them; the
    gradient tests above check those), so the inputs here do not require grad."""
    x, dy, weight, bias = _inputs((4, 4, 2, 2), "channels_last")
    dy = dy.contiguous(memory_format=torch.channels_last)  # the operators take dy in x's layout
    running = (torch.randn(4, dtype=x.dtype, device=DEVICE), torch.rand(4, dtype=x.dtype, device=DEVICE), 0.1)
    ops = torch.ops.seqnorm
    if layer == "ghost":
        statistics, first, hyper = ops.ghost_norm_statistics.default, (x, weight), (2, EPS)
    else:
        statistics, first, hyper = ops.seq_norm_statistics.default, (x, weight, bias), (2, 2, EPS)
    for buffers in (running, (None, None, 0.0)):  # with and without the running-statistics update
        torch.library.opcheck(statistics, (*first, *buffers, *hyper))  # checks the declared mutation too
    outputs = statistics(*first, *running, *hyper)
    if layer == "ghost":
        backward = ops.ghost_norm_backward_coefficients.default, (dy, x, weight, *outputs[:2], *hyper)
    else:
        backward_args = (dy, x, weight, *outputs[2:6], *outputs[:2], *hyper)
        backward = ops.seq_norm_backward_coefficients.default, backward_args
    torch.library.opcheck(*backward)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("layer", "gm"), [("ghostnorm", 1), ("ghostnorm", 32), ("seqnorm", 1), ("seqnorm", 32)]
)
def test_gpu_layer_shapes(dtype, layer, gm):
    """Compiled kernels at a real layer's size (many chunks, full tiles), channels_last."""
    x, dy, weight, bias = _inputs((128, 64, 16, 16), "channels_last", dtype, scale=2.0, shift=5.0)
    if layer == "ghostnorm":
        norms, hyper = (triton_ops.ghost_norm_triton, ghost_norm_reference), (gm,)
    else:
        norms, hyper = (triton_ops.seq_norm_triton, seq_norm_reference), (4, gm)
    ours, theirs = (_run(norm, x, dy, weight, bias, *hyper) for norm in norms)
    tolerance = 1e-4 if dtype == torch.float32 else 4e-2
    for ours_t, theirs_t in zip(ours, theirs, strict=True):
        torch.testing.assert_close(ours_t, theirs_t, rtol=tolerance, atol=tolerance)


@pytest.mark.gpu
@needs_cuda
def test_gpu_auto_is_triton_and_compiles_under_bf16_autocast():
    """impl="auto" picks the kernels on CUDA; a channels_last model under bf16 autocast compiles whole."""
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), GhostNorm(64, gm=8), nn.ReLU(), nn.Conv2d(64, 64, 1),
        SeqNorm(64, gc=4, gm=8),
    ).cuda().to(memory_format=torch.channels_last)  # fmt: skip
    x = torch.randn(128, 3, 16, 16, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert model(x).grad_fn.name() == "SeqNormTritonBackward"
        y = torch.compile(model, fullgraph=True)(x)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    y.float().square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
