"""The trainer: `run(cfg)` trains one configured model (train.py and seqnorm-train call it);
`load_model(run_dir)` gives a trained one back."""

from seqnorm_repro.train.run import run
from seqnorm_repro.train.trained_model import load_model

__all__ = ["load_model", "run"]
