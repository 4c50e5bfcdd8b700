"""Host time of an eager GhostNorm / SeqNorm forward+backward on the Triton kernels, against BatchNorm's.

Eager use of our layers on a GPU is host-bound: on the H100 an eager forward+backward took 1-2 ms
where its kernels take 0.6 ms (`results/bench_norms_cuda.md`, eager vs graphed). This benchmark times
what the host does per step (Python, torch.library dispatch, autograd, allocations, launches) on a
tiny input, where every layer's arithmetic is negligible:

- on CUDA, the real kernels: wall time of back-to-back steps, synchronised once at the end;
- elsewhere, the Triton launches replaced by no-ops (the kernels run on a CPU only under Triton's
  interpreter, whose cost per launch is nothing like a GPU's): everything but Triton's own launcher.

nn.BatchNorm2d on the same tensor is 1.0, measured in the same run, round by round in turn. Each time
is the best round's (host overhead only adds up: the best round has the least interference from the
rest of the machine), with Python's garbage collector paused and, on CPU, one torch thread (ATen's
BatchNorm would otherwise split its tiny kernel over threads).

    python benchmarks/host_overhead.py          # CUDA when present, else CPU with the launches stubbed
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from seqnorm_repro.norms import GhostNorm, SeqNorm, triton_ops
from seqnorm_repro.tracking.provenance import provenance_lines

SHAPE = (8, 16, 2, 2)


def layers() -> dict[str, nn.Module]:
    channels = SHAPE[1]
    return {
        "nn.BatchNorm2d": nn.BatchNorm2d(channels),
        "GhostNorm gm=2": GhostNorm(channels, gm=2, impl="triton"),
        "SeqNorm gc=4 gm=2": SeqNorm(channels, gc=4, gm=2, impl="triton"),
    }


class _Launches:
    """Stands in for a @triton.jit kernel: counts `kernel[grid](...)` calls, and runs them if `run`."""

    def __init__(self, kernel, counter: list[int], run: bool) -> None:
        self.kernel, self.counter, self.run = kernel, counter, run

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.counter[0] += 1
            if self.run:
                self.kernel[grid](*args, **kwargs)

        return launch


def replaced_launches(counter: list[int], run: bool):
    """Every Triton launch counted (and run only if `run`); without running, CPU tensors are accepted."""
    return triton_ops.launches_replaced(lambda kernel: _Launches(kernel, counter, run), any_device=not run)


def seconds_per_step(layer: nn.Module, x: torch.Tensor, dy: torch.Tensor, steps: int) -> float:
    """Mean wall time of `steps` back-to-back forward+backward calls (the running statistics updated)."""
    synchronize = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        layer(x).backward(dy)
    synchronize()
    return (time.perf_counter() - start) / steps


class KernelOps(TorchDispatchMode):
    """Counts the ATen ops that run a kernel, not views or allocations: with the Triton launches, the
    kernels an eager step launches on a GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        returns = func._schema.returns
        tensor = bool(returns) and isinstance(returns[0].type, torch.TensorType)  # not promote_types, say
        view = tensor and returns[0].alias_info is not None and not returns[0].alias_info.is_write
        allocation = func._schema.name.split("::")[-1].startswith(("empty", "new_empty"))
        self.count += tensor and not (view or allocation)
        return func(*args, **(kwargs or {}))


def launches_per_step(layer: nn.Module, x: torch.Tensor, dy: torch.Tensor, run: bool) -> tuple[int, int]:
    """Triton launches and ATen kernel ops of one forward+backward, from no gradients (as after
    `zero_grad()`: nothing to accumulate into)."""
    layer.zero_grad()
    x = x.detach().requires_grad_()
    counter = [0]
    with replaced_launches(counter, run), KernelOps() as aten:
        layer(x).backward(dy)
    return counter[0], aten.count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300, help="forward+backward calls per timing")
    parser.add_argument("--rounds", type=int, default=15, help="timings per layer, in turn (the best)")
    parser.add_argument("--out", type=Path, help="default results/bench_host_overhead[_cuda].md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    real_kernels = device.type == "cuda"
    out = args.out or Path("results") / f"bench_host_overhead{'_cuda' if real_kernels else ''}.md"

    torch.manual_seed(0)
    x = torch.randn(SHAPE, device=device, requires_grad=True)
    dy = torch.randn(SHAPE, device=device)
    candidates = {name: layer.to(device) for name, layer in layers().items()}
    launches = {name: launches_per_step(layer, x, dy, real_kernels) for name, layer in candidates.items()}
    times: dict[str, list[float]] = {name: [] for name in candidates}
    with contextlib.ExitStack() as stack:
        if not real_kernels:
            stack.enter_context(replaced_launches([0], run=False))
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(1)
        for layer in candidates.values():
            seconds_per_step(layer, x, dy, args.steps // 10)  # warm-up: compile, caches
        gc.disable()
        stack.callback(gc.enable)
        for _ in range(args.rounds):
            for name, layer in candidates.items():
                times[name].append(seconds_per_step(layer, x, dy, args.steps))

    best = {name: min(values) for name, values in times.items()}
    baseline = best["nn.BatchNorm2d"]
    kernels = "real Triton kernels" if real_kernels else "Triton launches replaced by no-ops"
    lines = [
        "# Host time of an eager forward+backward: our Triton layers against nn.BatchNorm2d",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        *provenance_lines(device),
        f"- input: {SHAPE} float32 on {device.type} (arithmetic negligible), {kernels}; "
        "forward + backward w.r.t. input and parameters, running statistics updated",
        f"- time: the best of {args.rounds} rounds (layers in turn) of the mean of {args.steps} "
        "back-to-back steps, garbage collector paused"
        f"{'' if real_kernels else ', one torch thread'}; ratio = time / nn.BatchNorm2d's in the same run",
        "",
        "| layer | host time per step (us) | vs nn.BatchNorm2d | Triton launches per step "
        "| ATen kernel ops per step |",
        "|---|---|---|---|---|",
    ]
    for name, seconds in best.items():
        triton, aten = launches[name]
        lines.append(f"| {name} | {seconds * 1e6:.1f} | {seconds / baseline:.2f} | {triton} | {aten} |")
    report = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
