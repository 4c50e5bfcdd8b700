"""`seqnorm-train` and `python train.py`: compose conf/ with Hydra and train.

python train.py                                   # SimpleNet on mnist5k, CPU, under a minute
python train.py norm=seqnorm gc=4 gm=8
python train.py -m norm=ghostnorm gm=2,4,8,16 seed=0,1
torchrun --nproc_per_node=8 train.py experiment=cifar100_wrn28_10 norm=seqnorm gc=4 gm=8
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra._internal.utils import get_args_parser  # what @hydra.main parses argv with
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from seqnorm_repro import REPO_ROOT
from seqnorm_repro.config import ConfigError, override_key, register_configs
from seqnorm_repro.tracking.hydra_record import restore_hydra_record
from seqnorm_repro.train.interrupt import exit_code, sigterm_raises
from seqnorm_repro.train.processes import launch_env

log = logging.getLogger("seqnorm_repro")
register_configs()

# Ranks other than 0 compose the same config but must not create a run directory, write .hydra/
# or a log file: rank 0 owns the directory (run() broadcasts it) and they log warnings to stderr.
NON_MAIN_RANK_OVERRIDES = ["hydra.output_subdir=null", "hydra.run.dir=.", "hydra/job_logging=stdout"]


class JobFailed(RuntimeError):
    """A sweep job's config, checkpoint or data error, or its diverged training: an Exception, which Hydra
    records as the job's failure before going on to the next job (sys.exit would end the whole sweep)."""


def _quiet_other_ranks() -> None:
    """Ranks other than 0 log warnings, to stderr only. Under torchrun NON_MAIN_RANK_OVERRIDES gave them no
    log file; under the SLURM launcher, submitit runs Hydra's job in every task, and Hydra opened the run
    directory's log file for each of them before this code runs."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()


@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="config")
def _train(cfg: DictConfig) -> float:
    # torch's seconds of imports only now that something trains: --help and --cfg never get here
    from seqnorm_repro.data import DatasetNotFound
    from seqnorm_repro.train.checkpoint import CheckpointError
    from seqnorm_repro.train.runner import run
    from seqnorm_repro.train.trainer import TrainingDiverged

    is_main = launch_env().is_main
    if not is_main:
        _quiet_other_ranks()
    try:
        with sigterm_raises():
            return run(cfg)
    except (ConfigError, CheckpointError, DatasetNotFound, TrainingDiverged) as err:
        if is_main:  # every rank stops on it; one says so
            log.error("%s", err)  # one line that says what to change, not a traceback through Hydra
            restore_hydra_record()  # .hydra/ shows the command that trained here (maybe this one)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise JobFailed(str(err)) from None  # Hydra runs the sweep's other jobs, then fails
        sys.exit(1 if isinstance(err, TrainingDiverged) else 2)  # 2: nothing was trained
    except KeyboardInterrupt as err:  # the trainer has said how to resume; a -m sweep stops here too
        if is_main:
            restore_hydra_record()  # the record of the command that trained last (maybe this one)
        sys.exit(exit_code(err))


def _asks_for_a_sweep(args: list[str]) -> bool:
    """-m as Hydra's own parser reads it (--multi too), or any spelling of hydra.mode=MULTIRUN."""
    parsed = get_args_parser().parse_known_args(args)[0]
    modes = [o.partition("=")[2] for o in parsed.overrides if override_key(o) == "hydra.mode"]
    return parsed.multirun or any(mode.upper() == "MULTIRUN" for mode in modes)


def main() -> None:
    env = launch_env()
    if env.distributed and _asks_for_a_sweep(sys.argv[1:]):
        sys.exit(
            "error: -m under torchrun would run the whole sweep on every rank; sweep with a Hydra "
            "launcher instead (hydra/launcher=slurm, see README 'Multi-GPU and clusters')"
        )
    if not env.is_main:
        sys.argv += NON_MAIN_RANK_OVERRIDES
    try:
        _train()
    except KeyboardInterrupt as err:  # Ctrl-C while Hydra starts up, before _train's own handler
        sys.exit(exit_code(err))
