"""`python train.py` and `seqnorm-train`: a module free of torch, so a Ctrl-C during the seconds that torch
and the trainer take to import exits quietly with 130, as one later in the run does."""

import sys


def main() -> None:
    try:
        import numpy  # noqa: F401  before torch, whose C init imports it and swallows a Ctrl-C arriving then

        from seqnorm_repro.train.cli import main as train
    except KeyboardInterrupt:  # nothing has started yet
        sys.exit(130)
    train()
