"""The trainer: `run(cfg)` trains one configured model (train.py and seqnorm-train call it);
`load_model(run_dir)` gives a trained one back.

Both import torch, so they are imported on first use: `python train.py --help`, `--cfg job` and shell
completion, which start in `train.cli`, need neither and answer without torch's seconds of imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqnorm_repro.train.runner import run
    from seqnorm_repro.train.trained_model import load_model

__all__ = ["load_model", "run"]


def __getattr__(name: str):
    if name == "run":
        from seqnorm_repro.train.runner import run

        return run
    if name == "load_model":
        from seqnorm_repro.train.trained_model import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
