"""Run a target's rows through Hydra multirun, one `python train.py -m` per row over its seeds (under
torchrun, which Hydra cannot launch, one `torchrun ... train.py` per seed).

Run directories are deterministic (runs/<target>/<scale>/<row>/seed<N>), so running a target again
skips every run whose results.json says completed with the same config, and an interrupted
run resumes from its last.pt (the trainer's own resume). Any Hydra launcher works: the default runs
jobs one after another in this machine's process; `launcher="slurm"` submits them
(conf/hydra/launcher/slurm.yaml).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seqnorm_repro.config import compose_config
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import read_json, record_mismatch
from seqnorm_repro.train.interrupt import Terminated

log = logging.getLogger(__name__)
INTERRUPT_GRACE_S = 30


def run_dir(runs_root: Path, target: Target, scale: str, row: Row, seed: int) -> Path:
    return runs_root / target.name / scale / row.slug / f"seed{seed}"


def row_overrides(target: Target, scale: str, row: Row, extra: tuple[str, ...]) -> list[str]:
    """The overrides of every run of `row` but its seed: what the sweep trains and the table expects."""
    return [*row.overrides, *extra, f"logger.group={target.name}-{scale}"]


def expected_config(overrides: list[str], directory: Path) -> dict[str, Any]:
    """The resolved config a run trained with `overrides` records; `directory` only resolves the paths
    that interpolate it, which the config hash leaves out."""
    cfg = compose_config([*overrides, f"paths.output_dir={directory}"])
    return OmegaConf.to_container(cfg, resolve=True)


def is_done(overrides: list[str], directory: Path) -> bool:
    """results.json says completed, for exactly this config (the trainer's own test)."""
    results = read_json(directory / "results.json")
    if not results or results.get("status") != "completed":
        return False
    return not record_mismatch(results, expected_config(overrides, directory))


def run_target(
    target: Target,
    scale: str,
    seeds: list[int],
    runs_root: Path,
    extra: tuple[str, ...],
    launcher: str | None,
    processes: int = 1,
) -> dict[str, list[int]]:
    """Train every row's seeds that are not done yet; returns {row slug: seeds launched}.

    `launcher` is a conf/hydra/launcher choice for the row's multirun, or "torchrun": Hydra multirun
    cannot start torchrun's processes, so each seed then runs as its own `torchrun --nproc_per_node=
    <processes> train.py` in the same run directory.
    """
    launched: dict[str, list[int]] = {}
    for row in target.rows:
        overrides = row_overrides(target, scale, row, extra)
        todo = [
            s
            for s in seeds
            if not is_done([*overrides, f"seed={s}"], run_dir(runs_root, target, scale, row, s))
        ]
        if not todo:
            log.info("%s: %s done for seeds %s", target.name, row.label, seeds)
            continue
        launched[row.slug] = todo
        log.info("%s: %s, seeds %s", target.name, row.label, todo)
        commands = _row_commands(target, scale, row, todo, runs_root, overrides, launcher, processes)
        for command in commands:
            code = run_row_command(command)
            if code:  # the table lists the failed runs; the other rows still run
                log.error("%s: %s exited with %d", target.name, row.label, code)
    return launched


def _row_commands(
    target: Target,
    scale: str,
    row: Row,
    seeds: list[int],
    runs_root: Path,
    overrides: list[str],
    launcher: str | None,
    processes: int,
) -> list[list[str]]:
    """One `train.py -m` multirun over the row's seeds, or with torchrun one command per seed."""
    if launcher == "torchrun":
        torchrun = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "train.py",
        ]
        return [
            [
                *torchrun,
                *overrides,
                f"seed={s}",
                f"hydra.run.dir={run_dir(runs_root, target, scale, row, s)}",
            ]
            for s in seeds
        ]
    multirun = [sys.executable, "train.py", "-m", *overrides, f"seed={','.join(map(str, seeds))}"]
    sweep = [
        f"hydra.sweep.dir={runs_root / target.name / scale / row.slug}",
        "hydra.sweep.subdir=seed${seed}",
    ]
    return [[*multirun, *sweep, *([f"hydra/launcher={launcher}"] if launcher else [])]]


def run_row_command(command: list[str]) -> int:
    """Run a row's command; on Ctrl-C, which a terminal sends to it as well, give it time to mark its run
    interrupted (subprocess.run would kill it after a quarter of a second), then stop it with SIGTERM. A
    SIGTERM sent to this process alone (`kill`, a job's time limit; under `sigterm_raises`) is passed on
    at once, so that no run goes on training without it."""
    with subprocess.Popen(command, cwd=REPO_ROOT) as child:
        try:
            return child.wait()
        except KeyboardInterrupt as err:
            if isinstance(err, Terminated):
                child.terminate()
            try:
                child.wait(timeout=INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                child.terminate()  # the trainer takes SIGTERM as it takes Ctrl-C
            raise
