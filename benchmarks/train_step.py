"""Training-step time of the real Trainer against a bare PyTorch loop, and of GhostNorm and SeqNorm
against BatchNorm, measured side by side in one run on the same model and the same data tensors.

The trainer is built from conf/ by the builders a run uses (validate, plan_norm, build_model, Trainer)
and timed through Trainer._train_epoch with trainer.limit_train_batches steps: schedule, grad scaler,
metrics and the epoch-end all-reduce included. The bare loop is the model, torch.optim.SGD with the
same hyperparameters, cross-entropy, backward and step. After a warm-up pass of each (compilation,
autotuning), every round times each norm's trainer and bare loop back to back; times per step are
medians over rounds, ratios medians of the ratios within a round, so drift in the machine's speed
(large on a shared CPU) cancels.

CUDA: WRN-28-10 (batch 512), ResNet-56 (batch 512) and ResNet-18 at 224 px (batch 256) with
torch.compile, bf16 autocast and channels_last, timed by CUDA events; then one real WRN-28-10
CIFAR-100 training epoch with dataset.loader=gpu (needs the CIFAR-100 files under paths.data_dir).
CPU: scaled-down models in float32, eager, timed by the wall clock. `--profile` (CUDA) adds each norm's
GPU time per step by kind of kernel (torch.profiler over one more pass of the trainer), to show where
a step's difference from BatchNorm's goes. Writes
results/bench_train_step[_cuda].md with hardware, commit and date.

    python benchmarks/train_step.py                          # CUDA when present, else CPU
    python benchmarks/train_step.py --quick                  # fewer steps and rounds
    python benchmarks/train_step.py --models WRN-28-10 --no-epoch
    python benchmarks/train_step.py --models WRN-28-10 --no-epoch --profile   # + GPU time per kernel kind
    python benchmarks/train_step.py --epoch-only --data-dir /data   # the CIFAR-100 epoch alone
    python benchmarks/train_step.py --epoch-only --synthetic-data   # no CIFAR-100 here: random pixels
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from seqnorm_repro.config import Config, register_configs, validate
from seqnorm_repro.data import DataBundle, DatasetNotFound, build_data
from seqnorm_repro.data.synthetic import write_cifar100
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.tracking.kernel_times import (
    KINDS,
    by_kind,
    gpu_time_by_kernel_or_empty,
    kinds_legend,
    largest,
)
from seqnorm_repro.tracking.provenance import REPO_ROOT, provenance_lines
from seqnorm_repro.tracking.wandb_logger import MetricsLogger
from seqnorm_repro.train.norm_groups import plan_norm
from seqnorm_repro.train.trainer import RunContext, Trainer


@dataclass(frozen=True)
class Setup:
    label: str
    overrides: tuple[str, ...]
    num_classes: int
    input_shape: tuple[int, int, int]
    batch: int


CUDA_SETUPS = (
    Setup("WRN-28-10", ("model=wrn28_10",), 100, (3, 32, 32), 512),
    Setup("ResNet-56", ("model=resnet56",), 10, (3, 32, 32), 512),
    Setup("ResNet-18 at 224 px", ("model=resnet18",), 1000, (3, 224, 224), 256),
)
CPU_SETUPS = (  # 2 CPU cores: the same families, scaled down
    Setup("WRN-16-2 (WRN-28-10 scaled down)", ("model=wrn28_10", "model.depth=16", "model.widen_factor=2"),
          100, (3, 32, 32), 32),
    Setup("ResNet-56 at batch 32", ("model=resnet56",), 10, (3, 32, 32), 32),
    Setup("ResNet-18 at 64 px, batch 32", ("model=resnet18",), 100, (3, 64, 64), 32),
)  # fmt: skip
NORMS = {
    "BatchNorm": ("norm=batchnorm",),
    "GhostNorm gm=8": ("norm=ghostnorm", "gm=8"),
    "SeqNorm gc=4 gm=8": ("norm=seqnorm", "gc=4", "gm=8"),
}
# WRN's recipe; a far-off epoch count keeps the schedule's total steps out of reach
COMMON = ("logger=none", "trainer.progress=false", "optim.momentum=0.9", "optim.nesterov=true",
          "optim.weight_decay=5e-4", "trainer.epochs=100000")  # fmt: skip
CUDA_SPEED = ("trainer.compile=true", "trainer.amp=bf16", "trainer.channels_last=true")
NORM_TARGET, TRAINER_TARGET, EPOCH_TARGET = 1.05, 1.03, 4.2


def compose_config(overrides: list[str], run_dir: Path) -> Config:
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return validate(compose("config", overrides=[*overrides, f"paths.output_dir={run_dir}"]))


def make_trainer(cfg: Config, data: DataBundle, device: torch.device, run_dir: Path) -> Trainer:
    """The trainer a run builds for `cfg`, on one process, without a logger or callbacks."""
    plan = plan_norm(cfg, world_size=1)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, norm_layer(plan.name, **plan.params), data.num_classes, data.input_shape)
    return Trainer(cfg, model, data, device, RunContext(run_dir, {}, ""), MetricsLogger())


def bare_loop(trainer: Trainer, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> Callable[[], None]:
    """One pass of the textbook loop over `batches` on a copy of the trainer's model and settings."""
    cfg, device = trainer.cfg, trainer.device
    model = copy.deepcopy(trainer.model)
    forward = torch.compile(model) if cfg.trainer.compile else model
    optim = cfg.optim
    optimizer = torch.optim.SGD(
        model.parameters(), lr=trainer.base_lr, momentum=optim.momentum, nesterov=optim.nesterov,
        weight_decay=optim.weight_decay,
    )  # fmt: skip
    use_amp = cfg.trainer.amp == "bf16"  # as the trainer; the benchmark sets no other AMP mode

    def epoch() -> None:
        model.train()
        for inputs, targets in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16) if use_amp else nullcontext():
                loss = F.cross_entropy(forward(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return epoch


def seconds(device: torch.device, run: Callable[[], object]) -> float:
    """Time of one call: CUDA events around it on a GPU, the wall clock on a CPU."""
    if device.type != "cuda":
        started = time.perf_counter()
        run()
        return time.perf_counter() - started
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


@dataclass
class Row:
    setup: str
    batch: int
    norm: str
    trainer: float  # seconds per step, median over rounds
    bare: float
    trainer_over_bare: float  # median over rounds of the ratio within a round
    trainer_over_bare_range: tuple[float, float]  # its smallest and largest value over the rounds
    over_batchnorm: float  # trainer's step over BatchNorm's trainer step, median of the ratio within a round
    kernels: dict[str, float]  # --profile: GPU seconds per step by kernel name; else empty


def measure(
    setup: Setup,
    device: torch.device,
    steps: int,
    rounds: int,
    run_dir: Path,
    timed: Callable[[list[Row]], None],
    profile: bool = False,
) -> list[Row]:
    """Trainer and bare loop for every norm on one model. All six are built and warmed up first; each
    round then times every norm's trainer and bare loop back to back (which goes first alternates, and
    the order of the norms rotates), so drift in the machine's speed falls on all alike, and each
    ratio is the median of the ratios within a round. `timed` gets the rows as soon as they are timed
    (to write them down before a time limit or the profiler can lose them); `profile`: then one more
    trainer pass per norm under torch.profiler."""
    speed = CUDA_SPEED if device.type == "cuda" else ()
    memory_format = torch.channels_last if speed else torch.contiguous_format
    generator = torch.Generator().manual_seed(0)
    distinct = [
        (
            torch.randn(setup.batch, *setup.input_shape, generator=generator)
            .to(device)
            .contiguous(memory_format=memory_format),
            torch.randint(setup.num_classes, (setup.batch,), generator=generator).to(device),
        )
        for _ in range(min(steps, 4))
    ]
    batches = [distinct[i % len(distinct)] for i in range(steps)]
    data = DataBundle(
        train=batches, val=None, tests={}, num_classes=setup.num_classes,  # type: ignore[arg-type]
        input_shape=setup.input_shape, val_indices=[],
    )  # fmt: skip
    variants: dict[tuple[str, str], Callable[[], object]] = {}
    for norm, norm_overrides in NORMS.items():
        print(f"{setup.label}, {norm}: building and warming up", file=sys.stderr, flush=True)
        overrides = [
            *COMMON, *speed, *setup.overrides, *norm_overrides, f"trainer.batch_size={setup.batch}",
            f"trainer.limit_train_batches={steps}", f"trainer.device={device}",
        ]  # fmt: skip
        trainer = make_trainer(compose_config(overrides, run_dir), data, device, run_dir)
        variants[norm, "trainer"] = lambda trainer=trainer: trainer._train_epoch(0)
        variants[norm, "bare"] = bare_loop(trainer, batches)
        for key in ((norm, "trainer"), (norm, "bare")):  # compilation, cuDNN autotuning, allocator
            variants[key]()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    norms = list(NORMS)
    for index in range(rounds):
        print(f"{setup.label}: round {index + 1}/{rounds}", file=sys.stderr, flush=True)
        shift = index % len(norms)
        for norm in norms[shift:] + norms[:shift]:
            for kind in ("trainer", "bare")[:: 1 if index % 2 == 0 else -1]:  # a pair back to back
                times[norm, kind].append(seconds(device, variants[norm, kind]) / steps)

    def ratios(a: list[float], b: list[float]) -> list[float]:
        return [x / y for x, y in zip(a, b, strict=True)]

    bn = times["BatchNorm", "trainer"]
    rows = []
    for norm in NORMS:
        ours, bare = times[norm, "trainer"], times[norm, "bare"]
        medians = statistics.median(ours), statistics.median(bare)
        over_bare = ratios(ours, bare)
        spread = (min(over_bare), max(over_bare))
        over_bn = statistics.median(ratios(ours, bn))
        rows.append(
            Row(setup.label, setup.batch, norm, *medians, statistics.median(over_bare), spread, over_bn, {})
        )
    timed(rows)
    if profile:
        rows = [
            replace(row, kernels=gpu_time_by_kernel_or_empty(variants[row.norm, "trainer"], steps))
            for row in rows
        ]
    del variants, trainer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def real_epoch(device: torch.device, data_dir: str | None, synthetic: bool, run_dir: Path) -> list[str]:
    """Report lines for one WRN-28-10 CIFAR-100 training epoch, as `experiment=cifar100_wrn28_10
    dataset.loader=gpu` runs it on this GPU (augmentation included), or a skip line. `synthetic`: on
    CIFAR-100 files of the real size and format holding random class-coloured pixels, written here (the
    time of an epoch does not depend on the pixel values)."""
    overrides = [
        "experiment=cifar100_wrn28_10", "dataset.loader=gpu", "dataset.download=false", *CUDA_SPEED,
        "logger=none", "trainer.progress=false", "trainer.device=cuda",
    ]  # fmt: skip
    if synthetic:
        data_dir = str(write_cifar100(run_dir / "synthetic", train_per_class=500, test_per_class=100))
        overrides.append("dataset.verify_checksums=false")
    if data_dir is not None:
        overrides.append(f"paths.data_dir={data_dir}")
    cfg = compose_config(overrides, run_dir)
    plan = plan_norm(cfg, world_size=1)
    try:
        data = build_data(
            cfg.dataset, cfg.augment, cfg.paths, batch_size=plan.per_device_batch,
            eval_batch_size=cfg.trainer.eval_batch_size, seed=cfg.seed, device=device,
        )  # fmt: skip
    except DatasetNotFound as err:
        line = f"skipped: the WRN-28-10 CIFAR-100 epoch needs the CIFAR-100 files ({err})"
        print(line, file=sys.stderr)
        return [line]
    trainer = make_trainer(cfg, data, device, run_dir)
    times = []
    for epoch in range(3):  # epoch 0 compiles: not counted
        data.set_epoch(epoch)
        torch.cuda.synchronize()
        started = time.perf_counter()
        trainer._train_epoch(epoch)  # ends with the epoch's all-reduce and host sync
        times.append(time.perf_counter() - started)
        print(f"epoch {epoch}: {times[-1]:.2f} s", file=sys.stderr, flush=True)  # in the log if time runs out
    images = trainer.steps_per_epoch * plan.per_device_batch
    epoch_seconds = statistics.median(times[1:])
    verdict = "met" if epoch_seconds <= EPOCH_TARGET else "NOT met"
    source = "synthetic CIFAR-100 files (real size and format, random pixels)" if synthetic else "CIFAR-100"
    return [
        f"`experiment=cifar100_wrn28_10 dataset.loader=gpu {' '.join(CUDA_SPEED)}` on {source} built "
        f"{plan.name} {plan.params} ({plan.note}); {trainer.steps_per_epoch} steps of "
        f"{plan.per_device_batch} = {images} images with flip, pad-crop and Cutout on the device.",
        "",
        f"Training epoch (wall clock, the two after a compiling first epoch): "
        f"{', '.join(f'{t:.2f} s' for t in times[1:])}; median {epoch_seconds:.2f} s, "
        f"{images / epoch_seconds:.0f} images/s (target <= {EPOCH_TARGET} s on one H100: {verdict}).",
    ]


def render(
    rows: list[Row], epoch_lines: list[str], cuda: bool, command: str, provenance: list[str], steps, rounds
) -> str:
    """The markdown report: provenance (`provenance_lines`, read before the first version is written), the
    step table with its targets (when steps were timed), the epoch."""
    lines = [
        "# Training step: the Trainer against a bare PyTorch loop, and GhostNorm / SeqNorm against BatchNorm",
        "",
        f"- command: `{command}`",
        *provenance,
    ]
    if rows:
        lines += step_section(rows, cuda, steps, rounds)
    if any(row.kernels for row in rows):
        lines += profile_section(rows)
    if epoch_lines:
        lines += ["", "## WRN-28-10 CIFAR-100 epoch", "", *epoch_lines]
    return "\n".join(lines) + "\n"


def step_section(rows: list[Row], cuda: bool, steps: int, rounds: int) -> list[str]:
    setting = (
        "torch.compile, bf16 autocast, channels_last, the paper's batch sizes; CUDA events"
        if cuda
        else "CPU, float32, eager, NCHW, models and batches scaled down (the CUDA targets do not apply); "
        "wall clock"
    )
    lines = [
        f"- setting: {setting}",
        f"- time per step: median over {rounds} rounds of {steps} steps, after a warm-up pass of each; "
        "ratios: median over rounds of the ratio within a round (a norm's trainer and bare loop run back "
        "to back); trainer = Trainer._train_epoch (schedule, grad scaler, metrics, epoch-end all-reduce); "
        "bare = model, torch.optim.SGD (same hyperparameters), cross_entropy, backward, step, on the same "
        "tensors",
        "- GhostNorm and SeqNorm group 8 per forward pass (gm=8) over the whole per-device batch",
        "",
        "| model | batch | norm | trainer (ms/step) | bare loop (ms/step) | trainer / bare (min-max) "
        "| vs BatchNorm |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        low, high = row.trainer_over_bare_range
        lines.append(
            f"| {row.setup} | {row.batch} | {row.norm} | {row.trainer * 1e3:.2f} | {row.bare * 1e3:.2f} | "
            f"{row.trainer_over_bare:.3f} ({low:.2f}-{high:.2f}) | {row.over_batchnorm:.3f} |"
        )
    worst_trainer = max(row.trainer_over_bare for row in rows)
    worst_norm = max(row.over_batchnorm for row in rows)
    norm_verdict = (
        f"target <= {NORM_TARGET}: {'met' if worst_norm <= NORM_TARGET else 'NOT met'}"
        if cuda
        else "no target on CPU"
    )
    return [
        *lines,
        "",
        f"- worst trainer / bare loop: {worst_trainer:.3f} (target <= {TRAINER_TARGET}: "
        f"{'met' if worst_trainer <= TRAINER_TARGET else 'NOT met'})",
        f"- worst GhostNorm / SeqNorm step vs BatchNorm (trainer): {worst_norm:.3f} ({norm_verdict})",
    ]


def profile_section(rows: list[Row]) -> list[str]:
    """GPU time per step by kernel kind, each norm beside BatchNorm's, then each norm's largest kernels."""
    lines = [
        "",
        "## GPU time per step by kernel kind (torch.profiler, one trainer pass after the timed rounds)",
        "",
        kinds_legend(),
        "",
        "| model | norm | " + " | ".join(f"{kind} (ms)" for kind in KINDS) + " | total (ms) | vs BatchNorm |",
        "|---" * (len(KINDS) + 4) + "|",
    ]
    totals = {(row.setup, row.norm): sum(row.kernels.values()) for row in rows}
    for row in rows:
        kinds = by_kind(row.kernels)
        total = totals[row.setup, row.norm]
        baseline = totals.get((row.setup, "BatchNorm")) or float("nan")
        cells = " | ".join(f"{kinds[kind] * 1e3:.2f}" for kind in KINDS)
        lines.append(f"| {row.setup} | {row.norm} | {cells} | {total * 1e3:.2f} | {total / baseline:.3f} |")
    for row in rows:
        lines += ["", f"- {row.setup}, {row.norm}, largest kernels: {largest(row.kernels)}"]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--steps", type=int, help="steps per timed pass (default 20 on CUDA, 2 on CPU)")
    parser.add_argument("--rounds", type=int, help="timed passes of each variant (default 7 CUDA, 15 CPU)")
    parser.add_argument("--models", nargs="*", help="labels of the setups to run (default: all)")
    parser.add_argument("--no-epoch", action="store_true", help="CUDA: skip the CIFAR-100 epoch")
    parser.add_argument("--profile", action="store_true", help="CUDA: GPU time per step by kernel kind")
    parser.add_argument("--epoch-only", action="store_true", help="CUDA: only the CIFAR-100 epoch")
    parser.add_argument("--data-dir", help="paths.data_dir for the CIFAR-100 epoch (default: the config's)")
    parser.add_argument(
        "--synthetic-data", action="store_true", help="time the epoch on CIFAR-100-format random pixels"
    )
    parser.add_argument(
        "--out", type=Path, help="default results/bench_train_step[_cuda].md; give another per partial run"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.profile and not cuda:
        parser.error("--profile times CUDA kernels: run it on a GPU")
    # (steps, rounds): CUDA steps are short, CPU ones ~0.5 s on 2 cores with a noisy clock
    defaults = {(True, False): (20, 7), (True, True): (10, 3), (False, False): (2, 15), (False, True): (2, 7)}
    steps, rounds = defaults[cuda, args.quick]
    steps, rounds = args.steps or steps, args.rounds or rounds
    register_configs()
    warnings.filterwarnings("ignore", message=".*normalises over")  # 4 samples per group on CPU
    if cuda:
        torch.backends.cudnn.benchmark = True  # as a run sets it
        torch._dynamo.config.recompile_limit = 64  # one compiled model per (setup, norm, trainer or bare)
    setups = CUDA_SETUPS if cuda else CPU_SETUPS
    if args.models:
        setups = tuple(s for s in setups if any(s.label.startswith(m) for m in args.models))
    out = args.out or REPO_ROOT / "results" / f"bench_train_step{'_cuda' if cuda else ''}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    command, provenance = "python " + " ".join(sys.argv), provenance_lines(device)
    rows: list[Row] = []
    epoch_lines: list[str] = []

    def write_report(new_rows: Sequence[Row] = ()) -> str:  # after each measurement: a cut run keeps them
        report = render([*rows, *new_rows], epoch_lines, cuda, command, provenance, steps, rounds)
        out.write_text(report)
        return report

    with tempfile.TemporaryDirectory() as tmp:
        for setup in () if args.epoch_only else setups:
            rows += measure(setup, device, steps, rounds, Path(tmp), write_report, profile=args.profile)
            write_report()
        if cuda and not args.no_epoch:
            epoch_lines = real_epoch(device, args.data_dir, args.synthetic_data, Path(tmp))
    print(write_report())


if __name__ == "__main__":
    main()
