"""Checkpoints as plain dicts, written atomically and read with torch.load(weights_only=True)."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqnorm_repro.errors import one_line
from seqnorm_repro.tracking.run_files import atomic_replace, record_mismatch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says what to do."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file beside `path`, then os.replace: never a half-written checkpoint."""
    with atomic_replace(path) as handle:
        torch.save(state, handle)


def read_checkpoint(path: Path, device: torch.device, what_to_do: str) -> dict[str, Any]:
    """Any seqnorm-repro checkpoint, or CheckpointError ending with `what_to_do` when it is corrupt."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        # torch's first sentence (the rest advises weights_only=False); an empty file's EOFError has none
        raise CheckpointError(
            f"{path} is corrupt or unreadable ({one_line(err).partition('. ')[0]}); {what_to_do}"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config_hash" not in state:
        raise CheckpointError(
            f"{path} is not a seqnorm-repro checkpoint; move it away or use another run dir"
        )
    return state


def load_checkpoint(path: Path, config: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Read a checkpoint a run of `config` (resolved) wrote, or raise CheckpointError saying how to go on."""
    state = read_checkpoint(
        path,
        device,
        "delete it or set trainer.resume=never to train again from epoch 1 (best.pt is not resumed from)",
    )
    if mismatch := record_mismatch(state, config):
        raise CheckpointError(
            f"{path} was written by a different config ({mismatch}); run in a new directory "
            "(hydra.run.dir=...; under -m a new hydra.sweep.dir: Hydra numbers a sweep's job folders in the "
            "order of its values, so only the first swept setting can take new ones, at the end of its list) "
            "or set trainer.resume=never to overwrite that run (under -m, every job's)"
        )
    return state
