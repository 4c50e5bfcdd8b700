"""Re-measure one of the paper's tables: run its rows through Hydra multirun, then write
results/<table>.md and .json beside the paper's numbers (`make reproduce-table1` etc. call this).

    python scripts/reproduce.py table1                       # SCALE=paper: GPU-days
    python scripts/reproduce.py table1 --scale smoke         # every row, tiny data, one step: minutes
    python scripts/reproduce.py table1 --launcher slurm hydra.launcher.partition=gpu
    python scripts/reproduce.py table1 --gpus all                        # one run per GPU, side by side
    python scripts/reproduce.py table1 --launcher torchrun --nproc 8     # each run on 8 GPUs
    python scripts/reproduce.py table1 --aggregate-only      # tables from the runs so far
    python scripts/reproduce.py tune-imagenet                # Section 3.2's ImageNet 50-epoch tuning
    python scripts/reproduce.py example                      # Section 2.2, no training

Running a target again trains only what is not completed (with the same config) and resumes what was
interrupted. Extra arguments are Hydra overrides for every run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import sys
from pathlib import Path

from hydra.errors import HydraException

from seqnorm_repro.config import ConfigError, compose_config, override_key, validate
from seqnorm_repro.data import DatasetNotFound
from seqnorm_repro.data.build import find_dataset
from seqnorm_repro.job_pool import gpu_groups
from seqnorm_repro.reproduce import aggregate, example, tuning
from seqnorm_repro.reproduce.scales import SCALES, scale_overrides, write_smoke_data
from seqnorm_repro.reproduce.sweep import row_overrides, run_target
from seqnorm_repro.reproduce.targets import (
    SEEDS,
    Target,
    ablations,
    imagenet_tuning,
    table1,
    table2,
    tuning_grid,
)
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import atomic_write_text, write_json
from seqnorm_repro.train.interrupt import exit_code, sigterm_raises
from seqnorm_repro.train.norm_groups import plan_norm

TARGETS = {
    "table1": lambda: (table1(),),
    "table2": table2,
    "ablations": lambda: (ablations(),),
    "tune-seqnorm": lambda: (tuning_grid(),),
    "tune-imagenet": lambda: (imagenet_tuning(),),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=[*TARGETS, "example"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    parser.add_argument("--scale", choices=SCALES, default="paper")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated, default 0,1")
    parser.add_argument("--launcher", help="a conf/hydra/launcher choice (e.g. slurm), or torchrun")
    parser.add_argument("--nproc", type=int, default=1, help="processes per run with --launcher torchrun")
    parser.add_argument(
        "--gpus",
        help="run the seeds side by side on this machine's GPUs ('all' or ids: 0,1,2,3), --nproc per run",
    )
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs", help="where run directories go")
    parser.add_argument("--results", type=Path, help="default results/ (paper) or results/smoke/ (smoke)")
    parser.add_argument(
        "--tolerance", type=float, default=0.2, help="tune-seqnorm: points of 'performs well'"
    )
    parser.add_argument("--aggregate-only", action="store_true")
    args = parser.parse_intermixed_args(argv)  # overrides may follow options, as in the docstring
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results_dir = args.results or REPO_ROOT / ("results" if args.scale == "paper" else "results/smoke")
    command = "python scripts/reproduce.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.target == "example":
        markdown, payload = example.render(command)
        _write(results_dir, "example_section_2_2", markdown, payload)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = TARGETS[args.target]()
    for target in targets:
        if clashes := _row_settings_replaced(target, args.overrides):
            print(
                f"error: {target.name}: {' '.join(clashes)} would replace a setting its rows make "
                "themselves, and the table would give the paper's label and numbers to runs of another "
                "config; sweep other settings with `python train.py -m`, or pass only settings the rows "
                "leave alone",
                file=sys.stderr,
            )
            return 2
    extras = [
        (*scale_overrides(args.scale, target.dataset, args.runs / "smoke-data"), *args.overrides)
        for target in targets
    ]
    if args.nproc != 1 and args.launcher != "torchrun":
        print(
            f"error: --nproc {args.nproc} needs --launcher torchrun: it is the processes of each run",
            file=sys.stderr,
        )
        return 2
    try:
        devices = [] if args.aggregate_only else _gpu_groups(args.gpus, args.launcher, args.nproc)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.aggregate_only:
        for target, extra in zip(targets, extras, strict=True):  # every target's, before any run starts
            if args.scale == "smoke":
                write_smoke_data(args.runs / "smoke-data", target.dataset)
            if error := _cannot_start(target, args.scale, extra, args.launcher != "slurm", args.nproc):
                print(f"error: {target.name}: {error}", file=sys.stderr)
                return 2
    unfinished = 0
    for target, extra in zip(targets, extras, strict=True):
        if not args.aggregate_only:
            try:
                with sigterm_raises():
                    run_target(
                        target, args.scale, seeds, args.runs, extra, args.launcher, args.nproc, devices
                    )
            except KeyboardInterrupt as err:
                print(
                    f"interrupted: completed runs under {args.runs} are kept and an interrupted one resumes "
                    "from its last.pt; run the same command again to go on",
                    file=sys.stderr,
                )
                return exit_code(err)
        unfinished += _aggregate(target, args, seeds, extra, results_dir, command)
    if unfinished and not args.aggregate_only:
        print(
            f"error: {unfinished} run(s) did not complete with this command's config; why is in the "
            "tables' 'Missing or failed runs' (and the runs' errors above); fix it and run the same "
            "command again",
            file=sys.stderr,
        )
        return 1
    return 0


def _gpu_groups(gpus: str | None, launcher: str | None, processes: int) -> list[str]:
    """--gpus as one CUDA_VISIBLE_DEVICES value per run at a time (none without it)."""
    if gpus is None:
        return []
    if launcher not in (None, "torchrun"):
        raise ValueError(
            f"--gpus runs each seed as its own train.py on this machine, not as a Hydra multirun under "
            f"--launcher {launcher}: drop one of the two"
        )
    try:
        return gpu_groups("all" if gpus == "all" else gpus.split(","), processes)
    except ValueError as err:
        raise ValueError(f"--gpus {gpus}{f' --nproc {processes}' if processes > 1 else ''}: {err}") from None


def _row_settings_replaced(target: Target, overrides: list[str]) -> list[str]:
    """The command-line overrides of a setting that some row of `target` (or the sweep: the seed) sets."""
    set_by_rows = {override_key(o) for row in target.rows for o in row.overrides} | {"seed"}
    as_rows_name = {"norm.name": "norm", "norm.gm": "gm", "norm.gc": "gc"}
    return [o for o in overrides if as_rows_name.get(override_key(o), override_key(o)) in set_by_rows]


def _cannot_start(
    target: Target, scale: str, extra: tuple[str, ...], check_data: bool, processes: int
) -> str | None:
    """Why no run of `target` could start, in one line: a bad override, a row whose normalisation groups
    the per-device batch of `processes` processes cannot hold, or a missing dataset (found, or downloaded,
    once here rather than failing in every run). The data check is left out under SLURM, where the data
    may live where the jobs run."""
    rows = target.rows if processes > 1 else target.rows[:1]  # group sizes vary with the row's norm
    try:
        for row in rows:
            cfg = validate(compose_config([*row_overrides(target, scale, row, extra), "paths.output_dir=."]))
            plan_norm(cfg, processes)
        if check_data:
            with contextlib.chdir(REPO_ROOT):  # where the runs resolve a relative paths.data_dir
                find_dataset(cfg.dataset, cfg.paths)
    except (ConfigError, HydraException) as err:
        return str(err).partition("\n")[0]
    except DatasetNotFound as err:
        if not err.missing:  # files that are there but unusable: the error says what to do
            return str(err)
        return f"{err.missing}: put the files there or set {err.setting} (SCALE=smoke runs offline)"
    return None


def _aggregate(
    target: Target,
    args: argparse.Namespace,
    seeds: list[int],
    extra: tuple[str, ...],
    results_dir: Path,
    command: str,
) -> int:
    """Write the target's table (and the tuning choice); returns how many of its runs did not complete."""
    rows = aggregate.collect(target, args.scale, seeds, args.runs, extra)
    markdown, payload = aggregate.render(
        target, args.scale, seeds, rows, command, ran=not args.aggregate_only
    )
    _write(results_dir, target.name, markdown, payload)
    if target.name == "tune_seqnorm":
        try:
            markdown, payload = tuning.render(rows, seeds, args.scale, args.tolerance, command)
            _write(results_dir, "tune_seqnorm_choice", markdown, payload)
        except tuning.NoChoice as err:
            print(f"error: tune_seqnorm_choice.md not written: {err}", file=sys.stderr)
    return sum(len(row.missing) + len(row.failed) for row in rows)


def _write(results_dir: Path, name: str, markdown: str, payload: dict) -> None:
    atomic_write_text(results_dir / f"{name}.md", markdown)
    write_json(results_dir / f"{name}.json", payload)
    print(markdown)


if __name__ == "__main__":
    sys.exit(main())
