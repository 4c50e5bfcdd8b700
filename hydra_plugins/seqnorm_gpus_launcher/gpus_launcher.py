"""`hydra/launcher=gpus`: a sweep's jobs side by side on this machine's GPUs, one GPU each.

    python train.py -m hydra/launcher=gpus norm=ghostnorm gm=2,4,8,16 seed=0,1
    python train.py -m hydra/launcher=gpus hydra.launcher.gpus=[0,1,2,3] norm=seqnorm gc=2,4,8

Each job runs as this command again for that job alone (`hydra.launcher.job_num` set), seeing only its
GPU (CUDA_VISIBLE_DEVICES), its output in its job directory's console.log; seqnorm_repro/job_pool.py
runs them. There the launcher runs the one job in its process as Hydra's basic launcher would, with the
sweep's job number, so the job's config, directory and records are the basic launcher's. Hydra imports
every plugin on every start, so this module imports the pool (and torch, to count GPUs) only to launch.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra._internal.utils import get_args_parser
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

if TYPE_CHECKING:
    from seqnorm_repro.job_pool import Job

log = logging.getLogger(__name__)

# The sweep's own Hydra overrides that a job's command sets itself.
REPLACED = ("hydra.launcher.job_num", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.sweeper.params")


@dataclass
class GpusLauncherConf:
    _target_: str = "hydra_plugins.seqnorm_gpus_launcher.gpus_launcher.GpusLauncher"
    gpus: Any = "all"  # or ids as this process numbers its GPUs: hydra.launcher.gpus=[0,1,2,3]
    job_num: int | None = None  # set by the launcher on the command of each job it starts


ConfigStore.instance().store(
    group="hydra/launcher", name="gpus", node=GpusLauncherConf, provider="seqnorm-repro"
)


class GpusLauncherError(CompactHydraException):
    """A job that failed, or a sweep this launcher cannot run: one line, no traceback through Hydra."""


class GpusLauncher(Launcher):
    def __init__(self, gpus: Any = "all", job_num: int | None = None) -> None:
        self.gpus, self.job_num = gpus, job_num
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if self.job_num is not None:
            if len(job_overrides) != 1:
                raise GpusLauncherError("hydra.launcher.job_num is the launcher's own: leave it unset")
            return [self._run_here(list(job_overrides[0]), self.job_num)]
        return self._launch_side_by_side([list(o) for o in job_overrides], initial_job_idx)

    def _launch_side_by_side(self, job_overrides: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
        from seqnorm_repro.job_pool import Job, gpu_groups, run_jobs
        from seqnorm_repro.train.interrupt import sigterm_raises

        assert self.config is not None
        if not str(self.config.hydra.sweeper._target_).endswith(".BasicSweeper"):
            raise GpusLauncherError(
                "hydra/launcher=gpus takes Hydra's basic sweeper only: its jobs run in processes of their "
                "own and return nothing to a sweeper that optimises"
            )
        try:
            if self.gpus != "all" and not isinstance(self.gpus, ListConfig | list):
                raise ValueError("give 'all' or a list of ids such as [0,1,2,3]")
            groups = gpu_groups(self.gpus if self.gpus == "all" else list(self.gpus), 1)
        except ValueError as err:
            raise GpusLauncherError(f"hydra.launcher.gpus={self.gpus}: {err}") from None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            subdir = str(self._sweep_config(overrides, idx).hydra.sweep.subdir)
            label = f"#{idx} {' '.join(filter_overrides(overrides))}"
            jobs.append(Job(label, self._command(overrides, idx, subdir), sweep_dir / subdir / "console.log"))
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
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # the sweep's; each job rewrote it
        return [
            self._job_return(job, overrides, code)
            for job, overrides, code in zip(jobs, job_overrides, codes, strict=True)
        ]

    def _run_here(self, overrides: list[str], idx: int) -> JobReturn:
        """The one job this process was started for, as Hydra's basic launcher runs a job."""
        assert self.hydra_context is not None and self.task_function is not None
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self._sweep_config(overrides, idx),
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )

    def _sweep_config(self, overrides: list[str], idx: int) -> DictConfig:
        """Job `idx`'s config, as Hydra's basic launcher composes it (its subdir resolves with it)."""
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        return sweep_config

    def _command(self, overrides: list[str], idx: int, subdir: str) -> list[str]:
        """This command again for job `idx` alone: the same interpreter, script and config flags, the
        job's overrides, the Hydra overrides given, and the sweep's directory and the job's `subdir` as
        this process named them (${now:...} would name others)."""
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
        given = OmegaConf.to_container(self.config.hydra.overrides.hydra, resolve=False)  # seed${seed} stays
        hydra_overrides = [o for o in given if not o.lstrip("+~").startswith(REPLACED)]
        return [
            sys.executable,
            *program[1:],
            "-m",
            *config_flags,
            *overrides,
            *hydra_overrides,
            f"hydra.sweep.dir={_quoted(str(self.config.hydra.sweep.dir))}",
            f"hydra.sweep.subdir={_quoted(subdir)}",
            "hydra.sweeper.params=null",  # the sweep's, already in `overrides`
            f"hydra.launcher.job_num={idx}",
        ]

    def _job_return(self, job: "Job", overrides: list[str], code: int) -> JobReturn:
        assert self.config is not None and job.log is not None
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
    """A Hydra override value taken literally: a path may hold '=' or ','."""
    return "'" + value.replace("'", "\\'") + "'"
