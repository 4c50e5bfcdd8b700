"""Where this process stands in a launch (torchrun, SLURM, submitit's local launcher), read from the
launcher's environment variables. Free of torch, as `train.cli` reads it before Hydra parses the command
line (`--help` and `--cfg job` import no torch)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, checkpoints, W&B and results."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launch_env() -> DistEnv:
    """Rank and world size from torchrun's variables, else SLURM's, else those of submitit's local launcher
    (hydra/launcher=submitit_local, a SLURM setup tried on one machine), else a single process."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return DistEnv(
            int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"])
        )
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return DistEnv(
            int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_LOCALID"]), int(os.environ["SLURM_NTASKS"])
        )
    if int(os.environ.get("SUBMITIT_LOCAL_NTASKS", "1")) > 1:
        return DistEnv(
            int(os.environ["SUBMITIT_LOCAL_GLOBALID"]),
            int(os.environ["SUBMITIT_LOCAL_LOCALID"]),
            int(os.environ["SUBMITIT_LOCAL_NTASKS"]),
        )
    return DistEnv()
