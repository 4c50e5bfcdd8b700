"""What the loss-landscape probe measured: one row per probed update (step, lr, the step sizes and the
loss at each), the test error after each epoch, the smoothness summary, and the landscape.npz file."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqnorm_repro.tracking.run_files import atomic_replace

RECORDS_FILE = "landscape.npz"
# the summary's "late training": the last quarter of the probed steps (the key landscape_gap_last25 and
# the figures' captions name it)
LAST_FRACTION = 0.25


@dataclass
class LandscapeRecords:
    """Rows of probed updates; `losses[i][k]` is the loss at step size `etas[i][k]` on update `steps[i]`.

    Probe losses arrive as device tensors and are kept there until read (`flush`), so probing adds no
    CPU-GPU synchronisation to the training loop.
    """

    steps: list[int] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    etas: list[list[float]] = field(default_factory=list)
    losses: list[list[float]] = field(default_factory=list)
    test_epochs: list[int] = field(default_factory=list)
    test_errors: list[float] = field(default_factory=list)  # mean over the run's test sets
    _pending: list[Tensor] = field(default_factory=list, repr=False)

    def add(self, step: int, lr: float, etas: list[float], losses: Tensor) -> None:
        self.steps.append(step)
        self.lrs.append(lr)
        self.etas.append(etas)
        self._pending.append(losses.detach())

    def add_test_error(self, epoch: int, error: float) -> None:
        self.test_epochs.append(epoch)
        self.test_errors.append(error)

    def flush(self) -> None:
        """Move the pending device losses into `losses` as floats (one sync for all of them)."""
        if self._pending:
            self.losses.extend(torch.stack(self._pending).float().cpu().tolist())
            self._pending.clear()

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Plain lists and numbers: torch.load(weights_only=True) reads them back."""
        self.flush()
        return {
            "steps": list(self.steps),
            "lrs": list(self.lrs),
            "etas": [list(row) for row in self.etas],
            "losses": [list(row) for row in self.losses],
            "test_epochs": list(self.test_epochs),
            "test_errors": list(self.test_errors),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LandscapeRecords:
        return cls(**{key: list(state.get(key, [])) for key in cls.__dataclass_fields__ if key != "_pending"})

    # ------------------------------------------------------------ numbers
    def arrays(self) -> dict[str, np.ndarray]:
        """The records as arrays: step, lr, eta and loss (probes x step sizes), min, max, test error."""
        self.flush()
        loss = np.asarray(self.losses, dtype=np.float64).reshape(len(self.steps), -1)
        low, high = _band(loss)
        return {
            "step": np.asarray(self.steps, dtype=np.int64),
            "lr": np.asarray(self.lrs, dtype=np.float64),
            "eta": np.asarray(self.etas, dtype=np.float64).reshape(loss.shape),
            "loss": loss,
            "min": low,
            "max": high,
            "test_epoch": np.asarray(self.test_epochs, dtype=np.int64),
            "test_error": np.asarray(self.test_errors, dtype=np.float64),
        }

    def summary(self) -> dict[str, Any]:
        """results.json keys: the mean max-min gap of the loss band over all probed updates and over
        the last 25% of them (larger = a less smooth, less predictive landscape), the probe count,
        and how many probed updates had a non-finite loss at some step size (left out of the means)."""
        data = self.arrays()
        gap = data["max"] - data["min"]
        finite = np.isfinite(gap)
        last = np.arange(len(gap)) >= math.floor(len(gap) * (1 - LAST_FRACTION))
        return {
            "landscape_probes": len(gap),
            "landscape_gap_mean": _mean(gap[finite]),
            "landscape_gap_last25": _mean(gap[finite & last]),
            "landscape_nonfinite": int((~finite).sum()),
            "landscape_file": RECORDS_FILE,
        }

    def save(self, path: Path) -> None:
        """landscape.npz, written atomically (temp file + rename) like every run file."""
        with atomic_replace(path) as handle:
            np.savez(handle, **self.arrays())


def load_records(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a run's landscape.npz."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _band(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the smallest finite loss and the largest loss; a diverged probe (inf or nan) makes
    the top of the band +inf, never a silently narrower band."""
    finite = np.isfinite(loss)
    low = np.where(finite, loss, np.inf).min(1, initial=np.inf)
    high = np.where(finite, loss, np.inf).max(1, initial=-np.inf)
    return np.where(finite.any(1), low, np.nan), high


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None
