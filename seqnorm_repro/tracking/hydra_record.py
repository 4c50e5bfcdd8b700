"""Hydra rewrites the run directory's .hydra/ files before any of the run's code starts, also for a
command that then trains nothing there (refused, failed early, or already completed). A copy of the
files of the command that trained the directory, in .hydra/trained_with/, puts them back. Rank 0 only:
under the SLURM launcher every task sees the same .hydra/."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from seqnorm_repro.tracking.run_files import atomic_write_text

log = logging.getLogger(__name__)
KEPT = "trained_with"


def keep_hydra_record() -> None:
    """Copy .hydra/*.yaml, the record of the command that starts training now, to .hydra/trained_with/."""
    if (hydra_dir := _hydra_dir()) is not None:
        _copy_yaml(hydra_dir, hydra_dir / KEPT)


def restore_hydra_record() -> None:
    """Put back the .hydra/*.yaml of the command that trained this directory, where a copy was kept."""
    hydra_dir = _hydra_dir()
    if hydra_dir is not None and (hydra_dir / KEPT).is_dir() and _copy_yaml(hydra_dir / KEPT, hydra_dir):
        log.info("%s: put back the record of the command that trained this directory", hydra_dir)


def _hydra_dir() -> Path | None:
    """The .hydra/ folder Hydra wrote for this job; None under the Python API and where Hydra wrote none
    (ranks other than 0 under torchrun)."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.output_subdir is None:
        return None
    hydra_dir = Path(hydra.runtime.output_dir) / hydra.output_subdir
    return hydra_dir if hydra_dir.is_dir() else None


def _copy_yaml(source: Path, target: Path) -> bool:
    """Copy the yaml files that differ; True if there were any."""
    changed = False
    for path in source.glob("*.yaml"):
        text, copy = path.read_text(), target / path.name
        if not copy.exists() or copy.read_text() != text:
            atomic_write_text(copy, text)
            changed = True
    return changed
