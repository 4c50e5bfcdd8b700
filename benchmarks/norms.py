"""Forward+backward time and saved memory of GhostNorm and SeqNorm against nn.BatchNorm2d.

Measured side by side in one run. CPU: on the activation shapes of WRN-28-10 and ResNet-18, scaled
down; baselines nn.BatchNorm2d (1.0), the paper's Figure 4 reshape code (our `impl="reference"`) and
a chunk loop over groups (composer's GhostBatchNorm). CUDA: on the shapes of WRN-28-10 (batch 512),
ResNet-56 (batch 128) and ResNet-18 at 224 px (batch 256), fp16 channels_last; baselines cuDNN
BatchNorm (fp16 input, fp32 parameters: 1.0), BatchNorm on bf16, the Figure 4 code under
torch.compile and the chunk loop; each time also as a fraction of a device copy's bandwidth. Writes a
markdown report with hardware, commit and date.

    python benchmarks/norms.py                    # CPU, or CUDA when present
    python benchmarks/norms.py --quick            # a few shapes and gm values
    python benchmarks/norms.py --channels-last    # CPU; CUDA is channels_last unless --nchw
    python benchmarks/norms.py --kernels          # CUDA: + GPU time of each kernel at gm=8 (gc=4)
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import statistics
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.utils.benchmark as benchmark
from torch import Tensor, nn

from seqnorm_repro.norms import GhostNorm, SeqNorm
from seqnorm_repro.tracking.kernel_times import gpu_time_by_kernel_or_empty, largest
from seqnorm_repro.tracking.provenance import provenance_lines

GM_VALUES = (1, 2, 4, 8, 16, 32, 64, 128)
SEQ_VALUES = [(gc, gm) for gc in (1, 4, 16) for gm in (4, 8)]
TARGETS = {"GhostNorm (ours)": 1.1, "SeqNorm (ours)": 1.6}

# (model, per-layer activation shape) at the paper's batch sizes; CPU runs scale them down.
CUDA_SHAPES = {
    "WRN-28-10": [(512, 160, 32, 32), (512, 320, 16, 16), (512, 640, 8, 8)],
    "ResNet-56": [(128, 16, 32, 32), (128, 32, 16, 16), (128, 64, 8, 8)],
    "ResNet-18": [(256, 64, 56, 56), (256, 128, 28, 28), (256, 256, 14, 14), (256, 512, 7, 7)],
}
CUDA_SEQ_GC = (1, 4, 16)  # SeqNorm on CUDA: every gm in GM_VALUES with each of these gc
CUDA_TARGETS = {"GhostNorm (ours)": 1.0, "SeqNorm (ours)": 1.2}
CUDA_BASELINE = "BatchNorm2d (cuDNN)"
PROFILED = {(CUDA_BASELINE, None, None), ("GhostNorm (ours)", 8, None), ("SeqNorm (ours)", 8, 4)}  # --kernels
PASSES = 8  # two-pass forward and backward: read x twice, write y; read x and dy twice, write dx
CPU_SHAPES = {  # batch 256 keeps gm=128 possible; channels / 10 (WRN) and / 4 (ResNet-18)
    "WRN-28-10 / 10": [(256, 16, 32, 32), (256, 32, 16, 16), (256, 64, 8, 8)],
    "ResNet-18 / 4": [(256, 16, 28, 28), (256, 32, 14, 14), (256, 64, 7, 7)],
}


class ChunkLoopGhostNorm(nn.Module):
    """Baseline: one BatchNorm applied to each chunk in a Python loop, as composer's GhostBatchNorm."""

    def __init__(self, num_features: int, gm: int) -> None:
        super().__init__()
        self.gm, self.bn = gm, nn.BatchNorm2d(num_features)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.bn(chunk) for chunk in x.chunk(self.gm)])


@dataclass
class Measurement:
    layer: str
    gm: int | None
    gc: int | None
    seconds: float
    saved_bytes: int


def candidates(channels: int, batch: int, gm_values, seq_values):
    """(label, gm, gc, module) for every layer measured on one shape."""
    yield "nn.BatchNorm2d", None, None, nn.BatchNorm2d(channels)
    for gm in gm_values:
        if batch // gm < 2:
            continue
        yield "GhostNorm (ours)", gm, None, GhostNorm(channels, gm=gm)
        yield "Figure 4 reshape", gm, None, GhostNorm(channels, gm=gm, impl="reference")
        yield "chunk loop", gm, None, ChunkLoopGhostNorm(channels, gm)
    for gc, gm in seq_values:
        if channels % gc == 0 and batch // gm >= 2:
            yield "SeqNorm (ours)", gm, gc, SeqNorm(channels, gc=gc, gm=gm)


def saved_for_backward(layer: nn.Module, x: Tensor) -> int:
    """Bytes the autograd graph keeps for backward, beyond the input and the parameters."""
    storages: dict[int, int] = {}
    owned = {x.untyped_storage().data_ptr()}
    owned |= {t.untyped_storage().data_ptr() for t in [*layer.parameters(), *layer.buffers()]}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in owned:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(storages.values())


def measure(layer: nn.Module, x: Tensor, min_run_time: float) -> float:
    """Median seconds of forward+backward (with the running-stats update) on CPU."""
    dy = torch.randn_like(x)
    inputs = [x, *layer.parameters()]

    def step() -> None:
        torch.autograd.grad(layer(x), inputs, dy)

    step()  # warm-up
    timer = benchmark.Timer(stmt="step()", globals={"step": step})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def run_shape(shape, device, channels_last, gm_values, seq_values, min_run_time, rounds):
    """All layers on one shape; each time is the best of `rounds` medians, taken in turn."""
    x = torch.randn(shape, device=device).requires_grad_()
    if channels_last:
        x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    layers = [(*c[:3], c[3].to(device)) for c in candidates(shape[1], shape[0], gm_values, seq_values)]
    best = [float("inf")] * len(layers)
    for _ in range(rounds):
        for i, (_, _, _, layer) in enumerate(layers):
            best[i] = min(best[i], measure(layer, x, min_run_time))
    return [
        Measurement(label, gm, gc, best[i], saved_for_backward(layer, x))
        for i, (label, gm, gc, layer) in enumerate(layers)
    ]


def keep_freed_memory() -> bool:
    """Fixes glibc malloc's mmap and trim thresholds at 1 GiB, so freed buffers are reused, not returned
    to the OS and page-faulted back in. Left dynamic, glibc raises its mmap threshold as large blocks are
    freed, and whether a layer's fresh full-size buffers fault depends on the allocation history: on our
    2-core machine the same code made 0 or 2,000-6,000 page faults per step, run to run, and took up to
    3x the time. False where the C library is not glibc (the report says so)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return all(libc.mallopt(option, 1 << 30) == 1 for option in (m_trim_threshold, m_mmap_threshold))


def render(results, device, channels_last, command, freed_memory_kept: bool) -> str:
    """The markdown report: worst ratio per layer against its target, then one table per shape."""
    worst: dict[str, float] = {}
    for rows in results.values():
        bn = rows[0].seconds
        for row in rows[1:]:
            worst[row.layer] = max(worst.get(row.layer, 0.0), row.seconds / bn)
    lines = [
        "# Norm layers: forward+backward time against nn.BatchNorm2d",
        "",
        f"- command: `{command}`",
        *provenance_lines(device),
        f"- layout: {'channels_last' if channels_last else 'NCHW (contiguous)'}, float32, "
        "forward + backward w.r.t. input and affine parameters, running statistics updated",
        "- time: best over rounds of the median of torch.utils.benchmark's blocked_autorange; "
        "ratio = time / nn.BatchNorm2d's time on the same shape in the same run",
        "- saved: bytes autograd keeps for backward besides the input and parameters",
        "- allocator: "
        + (
            "glibc's mmap and trim thresholds fixed at 1 GiB (mallopt), so freed buffers are reused by every "
            "layer alike instead of page-faulted back in"
            if freed_memory_kept
            else "the C library's defaults (not glibc: thresholds not fixed)"
        ),
        "",
        "## Worst ratio over every shape and group setting",
        "",
        "| layer | worst time ratio | target |",
        "|---|---|---|",
    ]
    for layer, ratio in worst.items():
        target = TARGETS.get(layer)
        verdict = "" if target is None else f"<= {target} ({'met' if ratio <= target else 'NOT met'})"
        lines.append(f"| {layer} | {ratio:.2f} | {verdict} |")
    for (model, shape), rows in results.items():
        bn = rows[0].seconds
        lines += ["", f"## {model}, activation {tuple(shape)}", ""]
        lines += ["| layer | gm | gc | time (ms) | vs BatchNorm | saved (MiB) |", "|---" * 6 + "|"]
        for row in rows:
            cells = [
                row.layer, row.gm or "", row.gc or "", f"{row.seconds * 1e3:.3f}",
                f"{row.seconds / bn:.2f}", f"{row.saved_bytes / 2**20:.1f}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# CUDA: CUDA events, eager and CUDA-graphed, against cuDNN BatchNorm and a device copy


@dataclass
class CudaMeasurement:
    layer: str
    dtype: torch.dtype
    gm: int | None
    gc: int | None
    eager: float  # seconds per forward+backward
    graphed: float | None  # the same step replayed as one CUDA graph; None where capture failed
    saved_bytes: int
    error: float | None  # ours: relative error of y and dx against impl="reference" on the same input
    kernels: dict[str, float] | None  # --kernels, PROFILED rows: GPU seconds per step by kernel name


def cuda_candidates(channels, batch, gm_values, seq_values, dtype, compiled):
    """(label, input dtype, gm, gc, module) for every layer measured on one CUDA shape."""
    yield CUDA_BASELINE, torch.float16, None, None, nn.BatchNorm2d(channels)
    yield "BatchNorm2d", torch.bfloat16, None, None, nn.BatchNorm2d(channels)
    for gm in gm_values:
        if batch // gm < 2:
            continue
        yield "GhostNorm (ours)", dtype, gm, None, GhostNorm(channels, gm=gm)  # impl="auto": Triton
        if compiled:
            reference = torch.compile(GhostNorm(channels, gm=gm, impl="reference"))
            yield "Figure 4 reshape, torch.compile", dtype, gm, None, reference
        yield "chunk loop", dtype, gm, None, ChunkLoopGhostNorm(channels, gm)
    for gc, gm in seq_values:
        if channels % gc == 0 and batch // gm >= 2:
            yield "SeqNorm (ours)", dtype, gm, gc, SeqNorm(channels, gc=gc, gm=gm)


def cuda_seconds(step: Callable[[], object], iters: int, repeats: int) -> float:
    """Median over `repeats` of the time per call of `iters` back-to-back calls, by CUDA events."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / iters)
    return statistics.median(times)


def cuda_graph(step: Callable[[], object]) -> Callable[[], object] | None:
    """`step`, already warmed up on the current stream, captured on that stream as one CUDA graph; None
    where it cannot be. The whole benchmark runs on one side stream (see main_cuda): autograd ties each
    leaf to the stream of its first backward, and capture breaks when that is the default stream."""
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph, stream=torch.cuda.current_stream()):
            step()
    except RuntimeError as err:  # e.g. an op that synchronises; reported as n/a
        print(f"  CUDA graph capture failed: {str(err).splitlines()[0]}", file=sys.stderr)
        torch.cuda.synchronize()
        return None
    return graph.replay


def error_against_reference(layer: nn.Module, x: Tensor, dy: Tensor) -> float | None:
    """Our layer's largest relative error (norm of the difference over the norm) of y and dx against the
    paper's Figure 4 code on the same input, random affine parameters and upstream gradient; None for
    the baselines. Checked before timing: a fast wrong kernel must not pass as a result."""
    if not isinstance(layer, GhostNorm | SeqNorm) or layer.impl != "auto":
        return None
    with torch.no_grad():
        layer.weight.normal_(1.0, 0.5), layer.bias.normal_(0.0, 0.5)
    reference = copy.deepcopy(layer)
    reference.impl = "reference"
    outputs = []
    for module in (layer, reference):
        y = module(x)
        outputs.append((y.float(), torch.autograd.grad(y, x, dy)[0].float()))
    return max(((ours - theirs).norm() / theirs.norm()).item() for ours, theirs in zip(*outputs, strict=True))


def cuda_inputs(shape, channels_last: bool, dtype) -> tuple[dict, dict]:
    """Random inputs (requiring grad) and upstream gradients of `shape` in fp16, bf16 and `dtype`."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    inputs = {
        t: torch.randn(shape, device="cuda", dtype=t).contiguous(memory_format=memory_format).requires_grad_()
        for t in {torch.float16, torch.bfloat16, dtype}
    }
    return inputs, {t: torch.randn_like(x) for t, x in inputs.items()}  # drawn before any capture


def training_step(layer: nn.Module, x: Tensor, dy: Tensor) -> Callable[[], object]:
    """Forward and backward w.r.t. the input and the affine parameters, running statistics updated."""
    params = [x, *layer.parameters()]
    return lambda: torch.autograd.grad(layer(x), params, dy)


def run_cuda_shape(shape, channels_last, gm_values, seq_values, dtype, compiled, iters, repeats):
    """All layers on one shape, and the copy time of the input that measures the bandwidth."""
    inputs, grads = cuda_inputs(shape, channels_last, dtype)
    out = torch.empty_like(inputs[dtype])
    copy_time = cuda_seconds(lambda: out.copy_(inputs[dtype]), iters, repeats)
    rows = []
    for label, x_dtype, gm, gc, layer in cuda_candidates(
        shape[1], shape[0], gm_values, seq_values, dtype, compiled
    ):
        layer = layer.cuda()
        x, dy = inputs[x_dtype], grads[x_dtype]
        step = training_step(layer, x, dy)
        error = error_against_reference(layer, x, dy)
        for _ in range(3):  # warm-up: Triton and torch.compile compile here
            step()
        torch.cuda.synchronize()
        eager = cuda_seconds(step, iters, repeats)
        replay = cuda_graph(step)
        graphed = None if replay is None else cuda_seconds(replay, iters, repeats)
        saved = saved_for_backward(layer, x)
        rows.append(CudaMeasurement(label, x_dtype, gm, gc, eager, graphed, saved, error, None))
    return copy_time, rows


def profile_cuda_shape(shape, channels_last, dtype, iters) -> dict[tuple, dict[str, float]]:
    """GPU time by kernel of the PROFILED layers on one shape, keyed (label, gm, gc). Run after every
    timing: the profiler can leave CUPTI's hooks behind, slowing whatever is timed after it."""
    inputs, grads = cuda_inputs(shape, channels_last, dtype)
    seq_values = [(gc, gm) for label, gm, gc in PROFILED if gc is not None]
    gm_values = sorted({gm for label, gm, gc in PROFILED if gm is not None})
    kernels = {}
    for label, x_dtype, gm, gc, layer in cuda_candidates(
        shape[1], shape[0], gm_values, seq_values, dtype, False
    ):
        if (label, gm, gc) in PROFILED:
            step = training_step(layer.cuda(), inputs[x_dtype], grads[x_dtype])
            step()  # the kernels are compiled by the timing already; this first call allocates
            kernels[label, gm, gc] = gpu_time_by_kernel_or_empty(
                lambda step=step: [step() for _ in range(iters)], iters
            )
    return kernels


def render_cuda(results, channels_last, dtype, command, provenance: list[str]) -> str:
    """The CUDA report: worst ratios against the targets, then one table per shape; `provenance`:
    `provenance_lines`, read before the first version is written."""
    dtype_name = str(dtype).removeprefix("torch.")
    worst: dict[tuple[str, str], list[list[float]]] = {}  # (layer, dtype) -> eager ratios, graphed ratios
    for _, rows in results.values():
        base = rows[0]
        for row in rows[1:]:
            ratios = worst.setdefault((row.layer, str(row.dtype).removeprefix("torch.")), [[], []])
            ratios[0].append(row.eager / base.eager)
            if row.graphed is not None and base.graphed is not None:
                ratios[1].append(row.graphed / base.graphed)
    lines = [
        "# Norm layers on CUDA: forward+backward time against cuDNN BatchNorm",
        "",
        f"- command: `{command}`",
        *provenance,
        f"- input: {dtype_name} (BatchNorm rows: their own dtype), "
        f"{'channels_last' if channels_last else 'NCHW (contiguous)'}, parameters fp32; forward + backward "
        "w.r.t. input and affine parameters, running statistics updated",
        f"- 1.0 = {CUDA_BASELINE}: nn.BatchNorm2d on float16 input, the same shape, in the same run",
        "- eager: CUDA events around back-to-back steps after warm-up, median over repeats; graphed: the "
        "same step captured as one CUDA graph and replayed (no Python or launch overhead; n/a where "
        "capture failed), compared with the baseline's graphed time",
        f"- bandwidth: {PASSES} passes over the input's bytes (forward reads x twice and writes y; "
        "backward reads x and dy twice and writes dx) per graphed step, as a fraction of the bandwidth "
        "of `y.copy_(x)` on the same tensor in the same run (2 passes)",
        "- saved: bytes autograd keeps for backward besides the input and parameters",
        "- error (ours): ||ours - reference|| / ||reference|| of y and dx, the larger, against the Figure 4 "
        'code (`impl="reference"`) on the same input, with random affine parameters, before timing',
        "",
        "## Worst ratio over every shape and group setting",
        "",
        "| layer | dtype | worst eager ratio | worst graphed ratio | target |",
        "|---|---|---|---|---|",
    ]
    for (layer, layer_dtype), (eager, graphed) in worst.items():
        target = CUDA_TARGETS.get(layer)
        cells = [layer, layer_dtype]
        for ratios in (eager, graphed):
            worst_ratio = max(ratios, default=None)
            cell = "n/a" if worst_ratio is None else f"{worst_ratio:.2f}"
            if target is not None and worst_ratio is not None:
                cell += " (met)" if worst_ratio <= target else " (NOT met)"
            cells.append(cell)
        cells.append("" if target is None else f"<= {target}")
        lines.append("| " + " | ".join(cells) + " |")
    errors = [row.error for _, rows in results.values() for row in rows if row.error is not None]
    if errors:
        lines += ["", f"Largest error of ours against the reference, over every row: {max(errors):.1e}."]
    for (model, shape), (copy_time, rows) in results.items():
        base = rows[0]
        nbytes = torch.Size(shape).numel() * torch.finfo(dtype).bits // 8
        copy_bandwidth = 2 * nbytes / copy_time
        lines += [
            "",
            f"## {model}, activation {tuple(shape)}",
            "",
            f"copy: {copy_time * 1e6:.1f} us, {copy_bandwidth / 1e9:.0f} GB/s",
            "",
            "| layer | dtype | gm | gc | eager (us) | vs BN | graphed (us) | vs BN | of copy bandwidth "
            "| saved (MiB) | error |",
            "|---" * 11 + "|",
        ]
        for row in rows:
            graphed = ratio = fraction = "n/a"
            if row.graphed is not None:
                graphed = f"{row.graphed * 1e6:.1f}"
                fraction = f"{PASSES * nbytes / row.graphed / copy_bandwidth:.2f}"
                if base.graphed is not None:
                    ratio = f"{row.graphed / base.graphed:.2f}"
            cells = [
                row.layer, str(row.dtype).removeprefix("torch."), row.gm or "", row.gc or "",
                f"{row.eager * 1e6:.1f}", f"{row.eager / base.eager:.2f}", graphed, ratio, fraction,
                f"{row.saved_bytes / 2**20:.1f}", "" if row.error is None else f"{row.error:.1e}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        for row in rows:
            if row.kernels is not None:
                total = sum(row.kernels.values())
                setting = "".join(
                    f", {name}={value}" for name, value in (("gm", row.gm), ("gc", row.gc)) if value
                )
                lines += [
                    "",
                    f"- kernels of {row.layer}{setting} (torch.profiler, eager steps): {len(row.kernels)} "
                    f"distinct, {total * 1e6:.1f} us of GPU time per step; {largest(row.kernels, top=12)}",
                ]
    return "\n".join(lines) + "\n"


def cuda_shapes(models: list[str] | None, quick: bool) -> dict[str, list[tuple[int, ...]]]:
    """The shapes of `models` (default: all) in the order given, so that a run cut short has measured the
    first ones; `quick`: each model's first shape."""
    shapes = {model: CUDA_SHAPES[model] for model in models or CUDA_SHAPES}
    return {model: model_shapes[:1] for model, model_shapes in shapes.items()} if quick else shapes


def main_cuda(args, command: str, out: Path) -> None:
    """Every CUDA shape; the report is rewritten after each, so a run cut short keeps what it measured."""
    dtype = getattr(torch, args.dtype)
    shapes = cuda_shapes(args.models, args.quick)
    gm_values, seq_values = GM_VALUES, [(gc, gm) for gc in CUDA_SEQ_GC for gm in GM_VALUES]
    if args.quick:
        gm_values, seq_values = (1, 8, 128), [(4, 1), (4, 8), (4, 128)]
    torch._dynamo.config.recompile_limit = 4096  # one compile per (shape, gm) of the compiled baseline
    torch._dynamo.config.accumulated_recompile_limit = 4096
    warnings.filterwarnings("ignore", message=".*normalises over")  # gm = M / 2 and M / 4
    provenance = provenance_lines("cuda")
    results = {}
    side_stream = torch.cuda.Stream()  # every step, eager and captured, on this stream (see cuda_graph)
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):
        for model, model_shapes in shapes.items():
            for shape in model_shapes:
                print(f"{model} {shape} ...", file=sys.stderr, flush=True)
                results[(model, shape)] = run_cuda_shape(
                    shape, not args.nchw, gm_values, seq_values, dtype, not args.no_compile, args.iters,
                    args.repeats,
                )  # fmt: skip
                write(render_cuda(results, not args.nchw, dtype, command, provenance), out, echo=False)
        if args.kernels:
            for (model, shape), (_, rows) in results.items():
                print(f"{model} {shape}: kernels ...", file=sys.stderr, flush=True)
                kernels = profile_cuda_shape(shape, not args.nchw, dtype, args.iters)
                rows[:] = [
                    replace(row, kernels=kernels.get((row.layer, row.gm, row.gc)) or None) for row in rows
                ]
                write(render_cuda(results, not args.nchw, dtype, command, provenance), out, echo=False)
    print(render_cuda(results, not args.nchw, dtype, command, provenance))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--quick", action="store_true", help="first shape per model, gm in {1, 8, 128}")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default results/bench_norms[_channels_last|_cuda].md")
    cuda = parser.add_argument_group("CUDA")
    cuda.add_argument(
        "--dtype", default="float16", choices=["float16", "bfloat16"], help="input of our layers"
    )
    cuda.add_argument("--models", nargs="*", choices=list(CUDA_SHAPES), help="default: all")
    cuda.add_argument("--nchw", action="store_true", help="contiguous inputs instead of channels_last")
    cuda.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd Figure 4 baseline")
    cuda.add_argument(
        "--kernels", action="store_true", help="GPU time per kernel of BatchNorm and ours at gm=8 (gc=4)"
    )
    cuda.add_argument("--iters", type=int, default=20, help="back-to-back steps per timing")
    cuda.add_argument("--repeats", type=int, default=5, help="timings per layer (median)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    command = "python " + " ".join(sys.argv)
    torch.manual_seed(0)
    if device.type == "cuda":
        main_cuda(args, command, args.out or Path("results") / "bench_norms_cuda.md")
        return
    freed_memory_kept = keep_freed_memory()
    shapes, gm_values, seq_values = CPU_SHAPES, GM_VALUES, SEQ_VALUES
    if args.quick:
        shapes = {model: s[:1] for model, s in shapes.items()}
        gm_values, seq_values = (1, 8, 128), [(4, 8)]
    results = {}
    for model, model_shapes in shapes.items():
        for shape in model_shapes:
            print(f"{model} {shape} ...", file=sys.stderr, flush=True)
            results[(model, shape)] = run_shape(
                shape,
                device,
                args.channels_last,
                gm_values,
                seq_values,
                args.min_run_time,
                args.rounds,
            )
    default_name = "bench_norms_channels_last.md" if args.channels_last else "bench_norms.md"
    default_out = Path("results") / default_name
    write(render(results, device, args.channels_last, command, freed_memory_kept), args.out or default_out)


def write(report: str, out: Path, echo: bool = True) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    if echo:
        print(report)


if __name__ == "__main__":
    main()
