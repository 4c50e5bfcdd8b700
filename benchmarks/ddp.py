"""Training throughput on 1 and N processes for the same global batch, through the real trainer.

On CPU: 1 and 2 gloo processes (samples/s and their ratio). On a CUDA machine: 1 GPU and N GPUs
(NCCL), scaling efficiency = samples/s on N / (N x samples/s on 1); target >= 90% on one node.
Writes results/bench_ddp[_cuda].md with hardware, commit and date.

    python benchmarks/ddp.py                          # CPU: default experiment, 1 vs 2 processes
    python benchmarks/ddp.py --processes 8 -- experiment=cifar100_wrn28_10 trainer.epochs=2 \\
        trainer.limit_train_batches=50 dataset.val_size=0      # CUDA node
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from seqnorm_repro.tracking.provenance import REPO_ROOT, provenance_lines


def samples_per_second(processes: int, overrides: list[str], run_dir: Path) -> float:
    """Median samples/s over the epochs after the first (warm-up) of one training run."""
    command = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "train.py",
        "logger=none", "trainer.progress=false", *overrides, f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = sorted(row["samples_per_s"] for row in rows[1:] or rows)
    return rates[len(rates) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=torch.cuda.device_count() or 2)
    parser.add_argument("overrides", nargs="*", default=["trainer.epochs=4"], help="train.py overrides")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        one = samples_per_second(1, args.overrides, Path(tmp) / "one")
        many = samples_per_second(args.processes, args.overrides, Path(tmp) / "many")
    efficiency = many / (args.processes * one)
    report = "\n".join([
        "# Data-parallel throughput: same global batch on 1 and N processes",
        "",
        f"- command: `python benchmarks/ddp.py --processes {args.processes} {' '.join(args.overrides)}`",
        *provenance_lines(),
        f"- backend: {'NCCL, one GPU per process' if cuda else 'gloo on CPU, processes sharing the cores'}",
        "",
        "| processes | samples/s (median over epochs after the first) |",
        "|---|---|",
        f"| 1 | {one:.0f} |",
        f"| {args.processes} | {many:.0f} |",
        "",
        f"Speed-up {many / one:.2f}x; scaling efficiency {efficiency:.0%}"
        + (" (target >= 90% on one node)" if cuda else " (CPU: shared cores, not a scaling target)"),
        "",
    ])  # fmt: skip
    out = REPO_ROOT / "results" / f"bench_ddp{'_cuda' if cuda else ''}.md"
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
