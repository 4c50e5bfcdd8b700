"""One training run from a composed config: validate, build, train, write results.

Under torchrun (or a SLURM launcher) every process runs this; rank 0 owns the run directory.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from torch import nn

from seqnorm_repro.config import (
    Config,
    ConfigError,
    LoggerConfig,
    NormConfig,
    override_key,
    settings_the_run_reads,
    validate,
)
from seqnorm_repro.data import DataBundle, build_data
from seqnorm_repro.data.stats import IMAGE_SHAPES
from seqnorm_repro.errors import one_line
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.norms.factory import parameter_error
from seqnorm_repro.norms.layers import check_triton_runs_on
from seqnorm_repro.tracking.hydra_record import keep_hydra_record, restore_hydra_record
from seqnorm_repro.tracking.run_files import config_hash
from seqnorm_repro.tracking.wandb_logger import MetricsLogger, make_logger
from seqnorm_repro.train.callbacks import Callback
from seqnorm_repro.train.distributed import DistEnv, broadcast_object, init_distributed, launch_env, shutdown
from seqnorm_repro.train.norm_groups import NormPlan, norm_groups_record, plan_norm, samples_per_group
from seqnorm_repro.train.resume import check_same_groups, checkpoint_to_resume, completed_before
from seqnorm_repro.train.schedules import phase_epochs
from seqnorm_repro.train.sync_batchnorm import synchronise_batchnorm
from seqnorm_repro.train.trainer import RunContext, Trainer

log = logging.getLogger(__name__)


def run(cfg: DictConfig, max_epochs: int | None = None) -> float:
    """Train and evaluate as `cfg` says in cfg.paths.output_dir; returns the metric a sweeper
    optimises: the final validation accuracy, which the tables and tune-seqnorm also read (test
    accuracy without a validation set).

    Bad config values raise ConfigError before any data loads. A run directory whose results.json
    says completed with the same config (`run_files.record_mismatch`) is not trained again.
    `max_epochs` stops this call after that many more epochs (a notebook's slice of a run), leaving
    results.json's status `incomplete`; calling again resumes.
    """
    with _progress_logged():
        typed = validate(cfg)
        if launch_env().is_main:
            _warn_unread_gm_gc(typed)
            _warn_schedule_outlasts_run(typed)
        plan = plan_norm(typed, launch_env().world_size)
        _check_model_builds(typed, plan)
        device = _device(typed.trainer.device, launch_env())
        _check_impl_runs_on(device, plan)
        env = init_distributed(device, typed.trainer.dist_timeout_s)
        try:
            return _run(cfg, typed, plan, device, env, max_epochs)
        finally:
            shutdown()


@contextmanager
def _progress_logged():
    """Called from Python (a notebook, a script), where nothing has configured logging, the run's INFO lines
    (the model, each epoch's metrics, the test accuracies) would go nowhere: this call shows them on
    stderr, as Lightning does, unless the caller configured logging (Hydra does) or this is not rank 0."""
    package = logging.getLogger("seqnorm_repro")
    if logging.getLogger().handlers or package.handlers or not launch_env().is_main:
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    level = package.level
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(level)


def _warn_unread_gm_gc(cfg: Config) -> None:
    """A command-line gm or gc that the chosen norm does not read (`norm=batchnorm gm=8`), or that a
    norm.gm or norm.gc beside it overrides, would be dropped silently (and still show in the logged
    config); a sweep over norms hands them to every job, so this warns rather than fails."""
    if not HydraConfig.initialized():
        return
    given = {override_key(override) for override in HydraConfig.get().overrides.task}
    for key in ("gm", "gc"):
        if key in given and getattr(cfg.norm, key) is None:
            log.warning("%s=%d is ignored: norm=%s takes no %s", key, getattr(cfg, key), cfg.norm.name, key)
        elif key in given and getattr(cfg.norm, key) != getattr(cfg, key):
            log.warning(
                "%s=%d is ignored: norm.%s=%d is given too, and the layers take it", key, getattr(cfg, key),
                key, getattr(cfg.norm, key),
            )  # fmt: skip


def _warn_schedule_outlasts_run(cfg: Config) -> None:
    """A schedule whose warmup (and one cycle's cooldown) take more epochs than the run has, as a paper
    preset shortened with trainer.epochs, ends before its learning rate comes back down."""
    schedule = cfg.schedule
    if (phases := phase_epochs(schedule)) > cfg.trainer.epochs:
        log.warning(
            "schedule=%s takes %g epochs to warm up%s, more than trainer.epochs=%d: the run ends before its "
            "learning rate comes back down; set trainer.epochs >= %g or shorten the schedule's phases",
            schedule.name, phases, " and cool down" if schedule.name == "onecycle" else "",
            cfg.trainer.epochs, phases,
        )  # fmt: skip


def _run(
    cfg: DictConfig, typed: Config, plan: NormPlan, device, env: DistEnv, max_epochs: int | None
) -> float:
    run_dir = Path(broadcast_object(str(Path(typed.paths.output_dir).resolve())))
    resume_hint = broadcast_object(_resume_hint(run_dir))  # other ranks' Hydra has no run directory
    config = OmegaConf.to_container(cfg, resolve=True)
    config["paths"]["output_dir"] = str(run_dir)
    digest = config_hash(config)
    checkpoint = None
    if typed.trainer.resume == "auto":
        if previous := completed_before(run_dir, config, env):
            if env.is_main:
                restore_hydra_record()  # Hydra rewrote it for this command, which trains nothing
            return _objective(previous)
        checkpoint = checkpoint_to_resume(run_dir, config, env)
    _set_determinism(typed.trainer.deterministic)
    data = build_data(
        typed.dataset,
        typed.augment,
        typed.paths,
        batch_size=plan.per_device_batch,
        eval_batch_size=typed.trainer.eval_batch_size,
        pin_memory=device.type == "cuda",
        seed=typed.seed,
        rank=env.rank,
        world_size=env.world_size,
        device=device,  # dataset.loader=gpu keeps the training set here
    )
    model, groups = _build_network(typed, plan, data, device, env)
    if checkpoint is not None:
        check_same_groups(run_dir, checkpoint, groups["samples_per_group"], env)
    log.info(
        "%s: %s with %s %s, %d parameters; %d process(es); samples per normalisation group: %s%s",
        typed.name, typed.model.name, plan.name, plan.params, sum(p.numel() for p in model.parameters()),
        env.world_size, groups["samples_per_group"], f" {plan.note}" if plan.note else "",
    )  # fmt: skip
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    resuming = checkpoint is not None
    # before the record is kept: a logger that cannot start leaves the run's record as it was
    logger = _start_logger(typed, run_dir, config, resuming) if env.is_main else MetricsLogger()
    if env.is_main:
        keep_hydra_record()
    context = RunContext(run_dir, config, digest, env, groups, resume_hint)
    failed = True
    try:
        trainer = Trainer(typed, model, data, device, context, logger, _callbacks(typed))
        if resuming:
            trainer.resume_from(checkpoint)
            logger.replay(trainer.state.history)
            del checkpoint  # its tensors are in the model and optimizer now
        results = trainer.fit(max_epochs)
        failed = False
    finally:
        logger.finish(failed=failed)
    log.info("results: %s", {k: results[k] for k in ("status", "best_val_acc", "test_acc") if k in results})
    return _objective(results)


def _build_network(
    typed: Config, plan: NormPlan, data: DataBundle, device: torch.device, env: DistEnv
) -> tuple[nn.Module, dict]:
    """The model with the planned norm layer (synchronised BatchNorm under trainer.sync_bn), and the
    normalisation-group record results.json and the checkpoints keep."""
    torch.manual_seed(typed.seed)  # every rank builds the same initial weights
    model = build_model(typed.model, norm_layer(plan.name, **plan.params), data.num_classes, data.input_shape)
    if typed.trainer.sync_bn and env.distributed:
        model = synchronise_batchnorm(model, device)
    groups = norm_groups_record(
        plan, samples_per_group(model, plan), typed.trainer.sync_bn, typed.trainer.accumulate_steps
    )
    return model, groups


def _start_logger(typed: Config, run_dir: Path, config: dict, resuming: bool) -> MetricsLogger:
    """Rank 0's W&B run (or none), named and grouped for its sweep: the run's earlier W&B run where it
    resumes, or where that one logged no epoch (a job stopped in its first epoch and started again, as
    a preempted cluster job is), so the dashboard holds one W&B run per run."""
    name, settings = _run_name(typed.name, typed.norm), settings_the_run_reads(config)
    metrics = run_dir / "metrics.jsonl"
    same_run = resuming or not (metrics.exists() and metrics.read_text().strip())
    return make_logger(_grouped(typed.logger), run_dir, name, settings, typed.tags, same_run)


def _run_name(name: str, norm: NormConfig) -> str:
    """The W&B run's name: the experiment's, then this job's command-line overrides (Hydra's
    override_dirname, without the keys conf/config.yaml excludes), so a sweep's runs tell apart; less a
    gm or gc the norm does not take, so a norms x gm grid's copies of one BatchNorm config share a name."""
    overrides = HydraConfig.get().job.override_dirname if HydraConfig.initialized() else ""
    unread = {key for key in ("gm", "gc") if getattr(norm, key) is None}
    overrides = ",".join(item for item in overrides.split(",") if override_key(item) not in unread)
    return f"{name}: {overrides}" if overrides else name


def _grouped(logger: LoggerConfig) -> LoggerConfig:
    """logger.group, or under -m the sweep's directory, so that every sweep's W&B runs are one group:
    relative to where the command ran when inside it, however hydra.sweep.dir was spelled (the resume
    hint's absolute path joins the group the sweep started), and its name when it is that directory."""
    if logger.group is None and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir, cwd = _sweep_dir(), Path(HydraConfig.get().runtime.cwd).resolve()
        group = sweep_dir.relative_to(cwd) if sweep_dir.is_relative_to(cwd) else sweep_dir
        return dataclasses.replace(logger, group=str(group) if group.parts else sweep_dir.name)
    return logger


def _sweep_dir() -> Path:
    """hydra.sweep.dir, absolute: a relative one is relative to where the command ran, which is not the
    working directory under hydra.job.chdir=true."""
    hydra = HydraConfig.get()
    return (Path(hydra.runtime.cwd) / hydra.sweep.dir).resolve()


def _resume_hint(run_dir: Path) -> str:
    """What resumes this run: Hydra's default directories hold the start time, so the same command
    alone would start a new run in a new directory."""
    if not HydraConfig.initialized():
        return f"run again with paths.output_dir={run_dir}"
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        return f"run the same command with hydra.sweep.dir={_sweep_dir()}"
    return f"run the same command with hydra.run.dir={run_dir}"


def _callbacks(cfg: Config) -> list[Callback]:
    if not cfg.landscape.enabled:
        return []
    from seqnorm_repro.landscape import LossLandscapeProbe  # only runs that probe pay for it

    return [LossLandscapeProbe(cfg.landscape)]


def _objective(results: dict) -> float:
    if results.get("final_val_acc") is not None:
        return float(results["final_val_acc"])
    tests = results.get("test_acc") or {}
    return float(sum(tests.values()) / len(tests)) if tests else float("nan")


def _check_model_builds(cfg: Config, plan: NormPlan) -> None:
    """Build the model on the meta device (no memory, no data) and run two of the dataset's images
    through it in eval mode, so a gc that does not divide some layer's channels, a depth the
    architecture cannot take, or a model that cannot read the dataset's images (too small for a timm
    model's stem) fails now, as a config error."""
    shape = IMAGE_SHAPES[cfg.dataset.name]
    try:
        with torch.device("meta"), _logging_disabled_below(logging.ERROR):  # the real build logs them
            model = build_model(
                cfg.model, norm_layer(plan.name, **plan.params), num_classes=10, input_shape=shape
            )
            try:
                with torch.no_grad():
                    model.eval()(torch.empty(2, *shape))
            except RuntimeError as err:
                raise ValueError(f"it cannot read {shape} images: {one_line(err, limit=200)}") from None
    except ValueError as err:
        raise ConfigError(
            f"model={cfg.model.name} with norm={cfg.norm.name} on dataset={cfg.dataset.name} "
            f"cannot be built: {err}"
        ) from None
    except TypeError as err:  # a norm.* key this layer does not take, or one it needs left unset
        raise ConfigError(
            f"{parameter_error(plan.name, plan.params, err)}; set only the norm.* keys this norm takes"
        ) from None


@contextmanager
def _logging_disabled_below(level: int):
    """Drop log records under `level` inside the block (a dry run that would repeat them)."""
    previous = logging.root.manager.disable
    logging.disable(level - 1)
    try:
        yield
    finally:
        logging.disable(previous)


def _check_impl_runs_on(device: torch.device, plan: NormPlan) -> None:
    """norm.impl=triton off CUDA would fail at the first forward, after the data loaded: fail now."""
    if plan.params.get("impl") != "triton":
        return
    try:
        check_triton_runs_on(device)
    except RuntimeError as err:
        raise ConfigError(f"norm.impl=triton on trainer.device={device}: {err}") from None


def _device(name: str, env: DistEnv) -> torch.device:
    """trainer.device; with several processes on CUDA, each process's own GPU (its local rank)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but CUDA is not available: use trainer.device=auto")
    if name == "cuda":
        return torch.device("cuda", env.local_rank)
    return torch.device(name)


def _set_determinism(deterministic: bool) -> None:
    """cuDNN's autotuner picks kernels by timing, so it is off for deterministic runs. The seeds are set
    where they are drawn from: the initial weights below, each epoch's shuffle and augmentation in
    Trainer._run_epoch (per rank)."""
    torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
