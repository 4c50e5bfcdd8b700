"""Run a target's rows through Hydra multirun, one `python train.py -m` per row over its seeds.

Run directories are deterministic (runs/<target>/<scale>/<row>/seed<N>), so running a target again
skips every run whose results.json says completed with the same config hash, and an interrupted
run resumes from its last.pt (the trainer's own resume). Any Hydra launcher works: the default runs
jobs one after another in this machine's process; `launcher="slurm"` submits them
(conf/hydra/launcher/slurm.yaml).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqnorm_repro.config import register_configs
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import config_hash, read_json

log = logging.getLogger(__name__)


def run_dir(runs_root: Path, target: Target, scale: str, row: Row, seed: int) -> Path:
    return runs_root / target.name / scale / row.slug / f"seed{seed}"


def is_done(row_overrides: list[str], directory: Path) -> bool:
    """results.json says completed, for exactly this config (the trainer's own test)."""
    results = read_json(directory / "results.json")
    if not results or results.get("status") != "completed":
        return False
    register_configs()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*row_overrides, f"paths.output_dir={directory}"])
    return results.get("config_hash") == config_hash(OmegaConf.to_container(cfg, resolve=True))


def run_target(
    target: Target,
    scale: str,
    seeds: list[int],
    runs_root: Path,
    extra: tuple[str, ...],
    launcher: str | None,
) -> dict[str, list[int]]:
    """Train every row's seeds that are not done yet; returns {row slug: seeds launched}."""
    launched: dict[str, list[int]] = {}
    for row in target.rows:
        overrides = [*row.overrides, *extra]
        todo = [
            s
            for s in seeds
            if not is_done([*overrides, f"seed={s}"], run_dir(runs_root, target, scale, row, s))
        ]
        if not todo:
            log.info("%s: %s done for seeds %s", target.name, row.label, seeds)
            continue
        launched[row.slug] = todo
        command = [
            sys.executable,
            "train.py",
            "-m",
            *overrides,
            f"seed={','.join(map(str, todo))}",
            f"hydra.sweep.dir={runs_root / target.name / scale / row.slug}",
            "hydra.sweep.subdir=seed${seed}",
            f"logger.group={target.name}-{scale}",
            *([f"hydra/launcher={launcher}"] if launcher else []),
        ]
        log.info("%s: %s, seeds %s", target.name, row.label, todo)
        done = subprocess.run(command, cwd=REPO_ROOT)
        if done.returncode:  # the table lists the failed runs; the other rows still run
            log.error("%s: %s exited with %d", target.name, row.label, done.returncode)
    return launched
