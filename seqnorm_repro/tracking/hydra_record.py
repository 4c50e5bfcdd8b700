"""Hydra rewrites the run directory's .hydra/ files before any of the run's code starts, also for a
command the run then refuses (its checkpoint is of another config). A copy of the files of the command
that trained the directory, in .hydra/trained_with/, puts them back."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

log = logging.getLogger(__name__)
KEPT = "trained_with"


def keep_hydra_record(run_dir: Path) -> None:
    """Copy .hydra/*.yaml, the record of the command now training in `run_dir`, to .hydra/trained_with/."""
    if (hydra_dir := _hydra_dir(run_dir)) is not None:
        _copy_yaml(hydra_dir, hydra_dir / KEPT)


def restore_hydra_record(run_dir: Path) -> None:
    """Put back the .hydra/*.yaml of the command that trained `run_dir`, where a copy was kept."""
    if (hydra_dir := _hydra_dir(run_dir)) is not None and (hydra_dir / KEPT).is_dir():
        _copy_yaml(hydra_dir / KEPT, hydra_dir)
        log.info("%s: put back the record of the command that trained this directory", hydra_dir)


def _hydra_dir(run_dir: Path) -> Path | None:
    """The .hydra/ folder Hydra wrote for this job, if it is `run_dir`'s (not under the Python API, not
    on ranks other than 0, not when paths.output_dir points elsewhere)."""
    if not HydraConfig.initialized() or HydraConfig.get().output_subdir is None:
        return None
    hydra = HydraConfig.get()
    if Path(hydra.runtime.output_dir).resolve() != run_dir.resolve():
        return None
    hydra_dir = run_dir / hydra.output_subdir
    return hydra_dir if hydra_dir.is_dir() else None


def _copy_yaml(source: Path, target: Path) -> None:
    target.mkdir(exist_ok=True)
    for path in source.glob("*.yaml"):
        temporary = target / f".{path.name}.tmp"
        shutil.copyfile(path, temporary)
        temporary.replace(target / path.name)  # a reader never sees a half-copied file
