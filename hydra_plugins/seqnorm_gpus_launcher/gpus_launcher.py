"""`hydra/launcher=gpus`: a sweep's jobs side by side on this machine's GPUs, one GPU each.

    python train.py -m hydra/launcher=gpus norm=ghostnorm gm=2,4,8,16 seed=0,1
    python train.py -m hydra/launcher=gpus hydra.launcher.gpus=[0,1,2,3] norm=seqnorm gc=2,4,8

Each job is its own `train.py -m` of one job (Hydra's basic launcher, in the job directory the basic
launcher would have given it), seeing only its GPU (CUDA_VISIBLE_DEVICES), its output in the job
directory's console.log; seqnorm_repro/job_pool.py runs them. Hydra imports every plugin on every start,
so this module imports the pool (and torch, for 'all') only when a sweep launches.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra._internal.utils import get_args_parser
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

if TYPE_CHECKING:
    from seqnorm_repro.job_pool import Job

log = logging.getLogger(__name__)

# The parent's own Hydra overrides that each job's command replaces.
REPLACED = ("hydra/launcher", "hydra.launcher", "hydra.sweep.", "hydra.sweeper.params", "hydra.mode")


@dataclass
class GpusLauncherConf:
    _target_: str = "hydra_plugins.seqnorm_gpus_launcher.gpus_launcher.GpusLauncher"
    gpus: Any = "all"  # or ids: hydra.launcher.gpus=[0,1,2,3]


ConfigStore.instance().store(
    group="hydra/launcher", name="gpus", node=GpusLauncherConf, provider="seqnorm-repro"
)


class GpusLauncherError(CompactHydraException):
    """A job that failed, or GPUs that cannot be used: one line, no traceback through Hydra."""


class GpusLauncher(Launcher):
    def __init__(self, gpus: Any = "all") -> None:
        self.gpus = gpus
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        from seqnorm_repro.job_pool import Job, run_jobs
        from seqnorm_repro.train.interrupt import sigterm_raises

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        groups = self._gpu_groups()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = []
        for idx, overrides in enumerate(map(list, job_overrides), start=initial_job_idx):
            subdir = self._subdir(overrides, idx)
            command = self._command(overrides, sweep_dir, subdir)
            label = f"#{idx} {' '.join(filter_overrides(overrides))}"
            jobs.append(Job(label, command, sweep_dir / subdir / "console.log"))
        log.info("Launching %d jobs, one at a time on each of GPUs %s", len(jobs), " ".join(groups))
        try:
            with sigterm_raises():  # a `kill` of this process reaches its jobs rather than orphaning them
                codes = run_jobs(jobs, groups)
        except KeyboardInterrupt:
            log.error(
                "interrupted: run the same command with hydra.sweep.dir=%s to resume", sweep_dir.resolve()
            )
            raise
        finally:
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # the sweep's, which each job rewrote
        return [
            self._job_return(job, list(overrides), code)
            for job, overrides, code in zip(jobs, job_overrides, codes, strict=True)
        ]

    def _gpu_groups(self) -> list[str]:
        from seqnorm_repro.job_pool import gpu_groups_of, visible_gpus

        try:
            if self.gpus == "all":
                return gpu_groups_of(visible_gpus(), 1)
            if isinstance(self.gpus, ListConfig | list | tuple):
                return gpu_groups_of(list(self.gpus), 1)
            raise ValueError("give 'all' or a list of ids such as [0,1,2,3]")
        except ValueError as err:
            raise GpusLauncherError(f"hydra.launcher.gpus={self.gpus}: {err}") from None

    def _subdir(self, overrides: list[str], idx: int) -> str:
        """The job's hydra.sweep.subdir, resolved as Hydra's basic launcher resolves it."""
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        return str(sweep_config.hydra.sweep.subdir)

    def _command(self, overrides: list[str], sweep_dir: Path, subdir: str) -> list[str]:
        """This command again for one job: the same interpreter, script and config flags, the job's
        overrides, and the Hydra overrides given, but the launcher and where the job goes. (The job
        records hydra.job.num 0: Hydra's basic launcher numbers the one job it runs.)"""
        assert self.config is not None
        program = sys.orig_argv[: len(sys.orig_argv) - len(sys.argv) + 1]  # e.g. python train.py
        flags = get_args_parser().parse_known_args(sys.argv[1:])[0]
        config_flags = [
            f"{flag}={value}"
            for flag, value in [
                ("--config-path", flags.config_path),
                ("--config-name", flags.config_name),
                ("--config-dir", flags.config_dir),
            ]
            if value is not None
        ]
        hydra_overrides = [
            o for o in self.config.hydra.overrides.hydra if not o.lstrip("+~").startswith(REPLACED)
        ]
        return [
            sys.executable,
            *program[1:],
            "-m",
            *config_flags,
            *overrides,
            *hydra_overrides,
            f"hydra.sweep.dir={_quoted(str(sweep_dir))}",
            f"hydra.sweep.subdir={_quoted(subdir)}",
            "hydra.sweeper.params=null",
            "hydra/launcher=basic",
        ]

    def _job_return(self, job: "Job", overrides: list[str], code: int) -> JobReturn:
        assert self.config is not None
        done = JobReturn(
            overrides=overrides,
            working_dir=str(job.log.parent),
            task_name=self.config.hydra.job.name,
            status=JobStatus.COMPLETED if code == 0 else JobStatus.FAILED,
        )
        if code:
            done._return_value = GpusLauncherError(f"exited with {code}; its output is in {job.log}")
        return done


def _quoted(value: str) -> str:
    """A Hydra override value taken literally: a path or subdir may hold '=' or ','."""
    return "'" + value.replace("'", "\\'") + "'"
