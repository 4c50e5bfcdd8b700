"""seqnorm-repro: GhostNorm and SeqNorm layers, and the reproduction of 'Sequential Normalization'."""

__version__ = "0.1.0"
