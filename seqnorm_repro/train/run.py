"""One training run from a composed config: validate, build, train, write results."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from seqnorm_repro.config import Config, ConfigError, validate
from seqnorm_repro.data import build_data
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.tracking.run_files import config_hash, read_json, write_json
from seqnorm_repro.tracking.wandb_logger import make_logger
from seqnorm_repro.train.callbacks import Callback
from seqnorm_repro.train.trainer import Trainer

log = logging.getLogger(__name__)


def run(cfg: DictConfig, max_epochs: int | None = None) -> float:
    """Train and evaluate as `cfg` says in cfg.paths.output_dir; returns the metric a sweeper
    optimises (best validation accuracy, or test accuracy without a validation set).

    Bad config values raise ConfigError before any data loads. A run directory whose results.json
    says completed with the same config hash is not trained again. `max_epochs` stops this call
    after that many epochs (a preemptible job's slice); calling again resumes.
    """
    typed = validate(cfg)
    run_dir = Path(typed.paths.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    digest = config_hash(config)
    previous = read_json(run_dir / "results.json")
    completed = previous is not None and previous.get("status") == "completed"
    if typed.trainer.resume == "auto" and completed and previous.get("config_hash") == digest:
        log.info("%s already completed with this config; not training again", run_dir)
        return _objective(previous)
    _check_norm_fits_model(typed)
    device = _device(typed.trainer.device)
    _seed_everything(typed.seed, typed.trainer.deterministic)
    data = build_data(
        typed.dataset,
        typed.augment,
        typed.paths,
        batch_size=typed.trainer.batch_size // typed.trainer.accumulate_steps,
        eval_batch_size=typed.trainer.eval_batch_size,
        pin_memory=device.type == "cuda",
        seed=typed.seed,
    )
    model = build_model(typed.model, _norm_layer(typed), data.num_classes, data.input_shape)
    log.info("%s: %s with %s %s, %d parameters", typed.name, typed.model.name, typed.norm.name,
             typed.norm.params(), sum(p.numel() for p in model.parameters()))  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    if data.val_indices:
        write_json(run_dir / "val_indices.json", {"split_seed": typed.dataset.split_seed,
                                                  "indices": data.val_indices})  # fmt: skip
    logger = make_logger(typed.logger, run_dir, typed.name, config, typed.tags)
    failed = True
    try:
        trainer = Trainer(typed, model, data, device, run_dir, config, digest, logger, _callbacks(typed))
        results = trainer.fit(max_epochs)
        failed = False
    finally:
        logger.finish(failed=failed)
    log.info("results: %s", {k: results[k] for k in ("status", "best_val_acc", "test_acc") if k in results})
    return _objective(results)


def _callbacks(cfg: Config) -> list[Callback]:
    if not cfg.landscape.enabled:
        return []
    from seqnorm_repro.landscape import LossLandscapeProbe  # only runs that probe pay for it

    return [LossLandscapeProbe(cfg.landscape)]


def _objective(results: dict) -> float:
    if results.get("best_val_acc") is not None:
        return float(results["best_val_acc"])
    tests = results.get("test_acc") or {}
    return float(sum(tests.values()) / len(tests)) if tests else float("nan")


def _norm_layer(cfg: Config):
    return norm_layer(cfg.norm.name, **cfg.norm.params())


def _check_norm_fits_model(cfg: Config) -> None:
    """Build the model on the meta device (no memory, no data) so a gc that does not divide some
    layer's channels fails now, as a config error."""
    try:
        with torch.device("meta"):
            build_model(cfg.model, _norm_layer(cfg), num_classes=10, input_shape=(3, 32, 32))
    except ValueError as err:
        raise ConfigError(f"norm={cfg.norm.name} does not fit model={cfg.model.name}: {err}") from None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but CUDA is not available: use trainer.device=auto")
    return torch.device(name)


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
