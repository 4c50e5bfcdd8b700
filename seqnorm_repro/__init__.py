"""seqnorm-repro: GhostNorm and SeqNorm layers, and the reproduction of 'Sequential Normalization'."""

from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: conf/, results/, train.py
