"""The trainer: `run(cfg)` trains one configured model (train.py and seqnorm-train call it)."""

from seqnorm_repro.train.run import run

__all__ = ["run"]
