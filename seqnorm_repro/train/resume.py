"""What a run directory already holds decides how a run starts: a run completed with this config is not
trained again, and its last.pt is resumed from. Everything is read and checked before any file is
written or W&B starts, so a checkpoint of another config, a corrupt one, or one of another
normalisation group size stops the run with the directory as it was."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqnorm_repro.tracking.run_files import read_json, record_mismatch
from seqnorm_repro.train.checkpoint import CheckpointError, load_checkpoint
from seqnorm_repro.train.distributed import DistEnv

log = logging.getLogger(__name__)


def last_checkpoint(run_dir: Path) -> Path:
    """Where every epoch's checkpoint goes (best.pt lies beside it)."""
    return run_dir / "checkpoints" / "last.pt"


def completed_before(run_dir: Path, config: Mapping[str, Any], env: DistEnv) -> dict[str, Any] | None:
    """results.json of a run of `config` completed in `run_dir`, which is not trained again."""
    previous = read_json(run_dir / "results.json")
    if previous is None or previous.get("status") != "completed" or record_mismatch(previous, config):
        return None
    log.info("%s already completed with this config; not training again", run_dir)
    ran_on = (previous.get("norm_groups") or {}).get("world_size", env.world_size)
    if ran_on != env.world_size and env.is_main:  # the hash leaves the process count out: say so
        log.warning(
            "it ran on %d process(es) and this launch has %d (see norm_groups in its results.json); "
            "train in a new directory to repeat it here",
            ran_on, env.world_size,
        )  # fmt: skip
    return previous


def checkpoint_to_resume(run_dir: Path, config: Mapping[str, Any], env: DistEnv) -> dict[str, Any] | None:
    """last.pt, read to the CPU (the trainer's load_state_dict moves it, and it is freed once loaded)."""
    last = last_checkpoint(run_dir)
    if last.exists():
        return load_checkpoint(last, config, torch.device("cpu"))
    previous = read_json(run_dir / "results.json") or {}
    if env.is_main and previous.get("epochs_completed") and not record_mismatch(previous, config):
        log.warning(
            "%s is missing: training from epoch 1 again (results.json records %d finished epoch(s))",
            last, previous["epochs_completed"],
        )  # fmt: skip
    return None


def check_same_groups(run_dir: Path, checkpoint: dict[str, Any], now: dict[str, int], env: DistEnv) -> None:
    """The config hash leaves out the process count, which (without paper_device_batch) sets the samples
    per normalisation group: resuming on another count would train one run with two group sizes."""
    saved = checkpoint.get("samples_per_group")
    if saved is not None and sorted(saved.values()) != sorted(now.values()):
        raise CheckpointError(
            f"{last_checkpoint(run_dir)} was trained with {saved} samples per normalisation group and this "
            f"launch ({env.world_size} process(es)) makes {now}: launch it as before, or train in a new "
            "directory (hydra.run.dir=..., or hydra.sweep.dir=... under -m) or with trainer.resume=never"
        )
