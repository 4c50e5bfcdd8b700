"""Run a target's rows through Hydra multirun, one `python train.py -m` per row over its seeds (under
torchrun, which Hydra cannot launch, one `torchrun ... train.py` per seed), or side by side on this
machine's GPUs: one `train.py` per seed, as many at once as there are GPUs for them.

Run directories are deterministic (runs/<target>/<scale>/<row>/seed<N>), so running a target again
skips every run whose results.json says completed with the same config, and an interrupted
run resumes from its last.pt (the trainer's own resume). Any Hydra launcher works: the default runs
jobs one after another in this machine's process; `launcher="slurm"` submits them
(conf/hydra/launcher/slurm.yaml).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seqnorm_repro.config import compose_config
from seqnorm_repro.job_pool import Job, run_jobs
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import read_json, record_mismatch

log = logging.getLogger(__name__)


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
    gpu_groups: Sequence[str] = (),
) -> dict[str, list[int]]:
    """Train every row's seeds that are not done yet; returns {row slug: seeds launched}.

    `launcher` is a conf/hydra/launcher choice for the row's multirun, or "torchrun": Hydra multirun
    cannot start torchrun's processes, so each seed then runs as its own `torchrun --nproc_per_node=
    <processes> train.py` in the same run directory. With `gpu_groups` (CUDA_VISIBLE_DEVICES values, one
    per run at a time: `job_pool.gpu_groups`), each seed also runs on its own, as many at once as there are
    groups, its output in its run directory's console.log.
    """
    launched: dict[str, list[int]] = {}
    jobs: list[Job] = []
    one_per_seed = launcher == "torchrun" or bool(gpu_groups)
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
        jobs += _row_jobs(target, scale, row, todo, runs_root, overrides, launcher, processes, one_per_seed)
    run_jobs(jobs, gpu_groups or [None])
    return launched


def _row_jobs(
    target: Target,
    scale: str,
    row: Row,
    seeds: list[int],
    runs_root: Path,
    overrides: list[str],
    launcher: str | None,
    processes: int,
    one_per_seed: bool,
) -> list[Job]:
    """One `train.py -m` multirun over the row's seeds, or one `train.py` (under torchrun) per seed."""
    label = f"{target.name}: {row.label}"
    if one_per_seed:
        trainer = [sys.executable, "train.py"]
        if launcher == "torchrun":  # --standalone: a free port each, as runs side by side need
            trainer = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc_per_node={processes}", "train.py"]  # fmt: skip
        jobs = []
        for s in seeds:
            directory = run_dir(runs_root, target, scale, row, s)
            command = [*trainer, *overrides, f"seed={s}", f"hydra.run.dir={directory}"]
            jobs.append(Job(f"{label}, seed {s}", command, directory / "console.log", REPO_ROOT))
        return jobs
    multirun = [sys.executable, "train.py", "-m", *overrides, f"seed={','.join(map(str, seeds))}"]
    sweep = [
        f"hydra.sweep.dir={runs_root / target.name / scale / row.slug}",
        "hydra.sweep.subdir=seed${seed}",
        *([f"hydra/launcher={launcher}"] if launcher else []),
    ]
    return [Job(f"{label}, seeds {seeds}", [*multirun, *sweep], cwd=REPO_ROOT)]
