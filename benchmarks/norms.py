"""Forward+backward time and saved memory of GhostNorm and SeqNorm against nn.BatchNorm2d.

Measured side by side in one run, on the activation shapes of WRN-28-10 (batch 512) and
ResNet-18 at 224 px (batch 256), scaled down on CPU. Baselines: nn.BatchNorm2d (1.0), the paper's
Figure 4 reshape code (our `impl="reference"`) and a chunk loop over groups (composer's
GhostBatchNorm). Writes a markdown report with hardware, commit and date.

    python benchmarks/norms.py                    # CPU, or CUDA when present
    python benchmarks/norms.py --quick            # a few shapes and gm values
    python benchmarks/norms.py --channels-last
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as benchmark
from torch import Tensor, nn

from seqnorm_repro.norms import GhostNorm, SeqNorm
from seqnorm_repro.tracking.provenance import git_commit, hardware, utc_now

GM_VALUES = (1, 2, 4, 8, 16, 32, 64, 128)
SEQ_VALUES = [(gc, gm) for gc in (1, 4, 16) for gm in (4, 8)]
TARGETS = {"GhostNorm (ours)": 1.1, "SeqNorm (ours)": 1.6}

# (model, per-layer activation shape) at the paper's batch sizes; CPU runs scale them down.
CUDA_SHAPES = {
    "WRN-28-10": [(512, 160, 32, 32), (512, 320, 16, 16), (512, 640, 8, 8)],
    "ResNet-18": [(256, 64, 56, 56), (256, 128, 28, 28), (256, 256, 14, 14), (256, 512, 7, 7)],
}
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
    peak_bytes: int | None


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


def measure(layer: nn.Module, x: Tensor, min_run_time: float) -> tuple[float, int | None]:
    """Median seconds of forward+backward (with the running-stats update), and CUDA peak bytes."""
    dy = torch.randn_like(x)
    inputs = [x, *layer.parameters()]

    def step() -> None:
        torch.autograd.grad(layer(x), inputs, dy)

    step()  # warm-up
    peak = None
    if x.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    timer = benchmark.Timer(stmt="step()", globals={"step": step})
    return timer.blocked_autorange(min_run_time=min_run_time).median, peak


def run_shape(shape, device, channels_last, gm_values, seq_values, min_run_time, rounds):
    """All layers on one shape; each time is the best of `rounds` medians, taken in turn."""
    x = torch.randn(shape, device=device).requires_grad_()
    if channels_last:
        x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    layers = [(*c[:3], c[3].to(device)) for c in candidates(shape[1], shape[0], gm_values, seq_values)]
    best = [float("inf")] * len(layers)
    peaks: list[int | None] = [None] * len(layers)
    for _ in range(rounds):
        for i, (_, _, _, layer) in enumerate(layers):
            seconds, peaks[i] = measure(layer, x, min_run_time)
            best[i] = min(best[i], seconds)
    return [
        Measurement(label, gm, gc, best[i], saved_for_backward(layer, x), peaks[i])
        for i, (label, gm, gc, layer) in enumerate(layers)
    ]


def render(results, device, channels_last, command) -> str:
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
        f"- hardware: {hardware(device)}",
        f"- commit: {git_commit()}, date: {utc_now()}",
        f"- layout: {'channels_last' if channels_last else 'NCHW (contiguous)'}, float32, "
        "forward + backward w.r.t. input and affine parameters, running statistics updated",
        "- time: best over rounds of the median of torch.utils.benchmark's blocked_autorange; "
        "ratio = time / nn.BatchNorm2d's time on the same shape in the same run",
        "- saved: bytes autograd keeps for backward besides the input and parameters",
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
        has_peak = rows[0].peak_bytes is not None
        lines += ["", f"## {model}, activation {tuple(shape)}", ""]
        header = "| layer | gm | gc | time (ms) | vs BatchNorm | saved (MiB) |"
        lines += [
            header + (" CUDA peak (MiB) |" if has_peak else ""),
            "|---" * (7 if has_peak else 6) + "|",
        ]
        for row in rows:
            cells = [
                row.layer, row.gm or "", row.gc or "", f"{row.seconds * 1e3:.3f}",
                f"{row.seconds / bn:.2f}", f"{row.saved_bytes / 2**20:.1f}",
            ]  # fmt: skip
            if has_peak:
                cells.append(f"{row.peak_bytes / 2**20:.1f}")
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--quick", action="store_true", help="first shape per model, gm in {1, 8, 128}")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default results/bench_norms[_cuda].md")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    shapes = CUDA_SHAPES if device.type == "cuda" else CPU_SHAPES
    gm_values, seq_values = GM_VALUES, SEQ_VALUES
    if args.quick:
        shapes = {model: s[:1] for model, s in shapes.items()}
        gm_values, seq_values = (1, 8, 128), [(4, 8)]
    torch.manual_seed(0)
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
    out = args.out or Path("results") / f"bench_norms{'_cuda' if device.type == 'cuda' else ''}.md"
    report = render(results, device, args.channels_last, "python " + " ".join(sys.argv))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
