"""`seqnorm-train` and `python train.py`: compose conf/ with Hydra and train.

python train.py                                   # SimpleNet on mnist5k, CPU, about a minute
python train.py norm=seqnorm gc=4 gm=8
python train.py -m norm=ghostnorm gm=2,4,8,16 seed=0,1
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from seqnorm_repro.config import ConfigError, register_configs
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train.checkpoint import CheckpointError
from seqnorm_repro.train.run import run

log = logging.getLogger("seqnorm_repro")
register_configs()


@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    try:
        return run(cfg)
    except (ConfigError, CheckpointError, FileNotFoundError) as err:
        # One line that says what to change, not a traceback through Hydra.
        log.error("%s", err)
        sys.exit(2)
