"""Cost of the loss-landscape probe: time per probe step size against a plain forward pass.

The probe evaluates the loss at w - eta * g for each step size with torch.func.functional_call on
perturbed copies of the parameters and cloned buffers, under no_grad; it should cost about one
forward pass per step size. Measured side by side in one run, on the paper's landscape models:
SimpleNet at batch 512 (MNIST, 8 step sizes) and ResNet-56 (CIFAR-10, 4 step sizes; batch 512 on
CUDA, 64 on CPU), each with BatchNorm, GhostNorm and no norm. Writes a markdown report with the
hardware, the commit and the date.

    python benchmarks/landscape.py               # CPU, or CUDA when present
    python benchmarks/landscape.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.utils.benchmark as benchmark

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.landscape import probe_losses
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.tracking.provenance import provenance_lines

MNIST_ETAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
CIFAR_MULTIPLES = [0.5, 1.0, 1.5, 2.0]


def setups(device: torch.device) -> list[tuple[str, str, dict, int, tuple[int, ...], list[float]]]:
    """(model, norm, params, batch, input shape, step sizes) at the paper's batches (CPU: ResNet-56 64)."""
    resnet_batch = 512 if device.type == "cuda" else 64
    rows = []
    for norm, params in (("batchnorm", {}), ("ghostnorm", {"gm": 64}), ("none", {})):
        rows.append(("simplenet", norm, params, 512, (1, 28, 28), MNIST_ETAS))
    for norm, params in (("batchnorm", {}), ("ghostnorm", {"gm": resnet_batch // 4}), ("none", {})):
        rows.append(("resnet56", norm, params, resnet_batch, (3, 32, 32), CIFAR_MULTIPLES))
    return rows


def measure(model_name, norm, params, batch, shape, etas, device, min_run_time, rounds) -> dict:
    torch.manual_seed(0)
    model = (
        build_model(ModelConfig(name=model_name), norm_layer(norm, **params), 10, shape).to(device).train()
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-4)
    criterion = torch.nn.CrossEntropyLoss()
    inputs = torch.randn(batch, *shape, device=device)
    targets = torch.randint(0, 10, (batch,), device=device)
    criterion(model(inputs), targets).backward()

    @torch.no_grad()
    def forward() -> None:
        criterion(model(inputs), targets)

    def probe() -> None:
        probe_losses(
            model, optimizer, criterion, inputs, targets, etas, relative_to_lr=model_name == "resnet56"
        )

    def train_step() -> None:
        criterion(model(inputs), targets).backward()

    timers = {
        name: benchmark.Timer("f()", globals={"f": f})
        for name, f in (("forward", forward), ("probe", probe), ("train_step", train_step))
    }
    best: dict[str, float] = {}
    for _ in range(rounds):  # interleaved rounds: drift and other load hit all three alike
        for name, timer in timers.items():
            median = timer.blocked_autorange(min_run_time=min_run_time).median
            best[name] = min(best.get(name, float("inf")), median)
    per_eta = best["probe"] / len(etas)
    return {
        "model": model_name,
        "norm": norm + (f" gm={params['gm']}" if params else ""),
        "batch": batch,
        "etas": len(etas),
        "forward_ms": 1e3 * best["forward"],
        "probe_per_eta_ms": 1e3 * per_eta,
        "ratio": per_eta / best["forward"],
        "train_step_ms": 1e3 * best["train_step"],
        "probe_over_step": best["probe"] / best["train_step"],
    }


def render(rows: list[dict], device: torch.device, command: str) -> str:
    lines = [
        "# Loss-landscape probe: time per step size vs a plain forward pass",
        "",
        f"- command: `{command}`",
        *provenance_lines(device),
        "- forward: the model's training-mode forward and loss on the batch under no_grad (what one probe",
        "  step size computes); probe: `probe_losses` over all step sizes (perturbed parameters, cloned",
        "  buffers, functional_call, RNG reset), divided by their number; train step: forward + backward",
        "- time: best over interleaved rounds of torch.utils.benchmark's blocked_autorange median",
        "",
        f"Worst ratio (probe per step size / forward): **{max(r['ratio'] for r in rows):.2f}**",
        "",
        "| model | norm | batch | step sizes | forward (ms) | probe per step size (ms) | ratio | "
        "train step (ms) | whole probe / train step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['norm']} | {r['batch']} | {r['etas']} | {r['forward_ms']:.2f} | "
            f"{r['probe_per_eta_ms']:.2f} | {r['ratio']:.2f} | {r['train_step_ms']:.2f} | "
            f"{r['probe_over_step']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="shorter timing, for a first look")
    parser.add_argument("--out", type=Path, help="default: results/bench_landscape[_cuda].md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    min_run_time, rounds = (0.2, 1) if args.quick else (1.0, 3)
    rows = []
    for setup in setups(device):
        row = measure(*setup, device, min_run_time, rounds)
        print(
            f"{row['model']:<10} {row['norm']:<14} forward {row['forward_ms']:8.2f} ms   probe per step size "
            f"{row['probe_per_eta_ms']:8.2f} ms   ratio {row['ratio']:.2f}",
            flush=True,
        )
        rows.append(row)
    command = " ".join(["python benchmarks/landscape.py", *(sys.argv[1:] if argv is None else argv)])
    out = args.out or Path("results") / (
        "bench_landscape_cuda.md" if device.type == "cuda" else "bench_landscape.md"
    )
    out.write_text(render(rows, device, command))
    print(f"median ratio {statistics.median(r['ratio'] for r in rows):.2f}; wrote {out}")


if __name__ == "__main__":
    main()
