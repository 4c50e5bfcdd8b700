"""The training loop: epochs of SGD steps with accumulation, AMP, clipping and mixup; evaluation;
metrics, checkpoints and results written atomically into the run directory; resume from last.pt."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from seqnorm_repro.config import Config, ConfigError
from seqnorm_repro.data import DataBundle
from seqnorm_repro.tracking.provenance import git_commit, hardware
from seqnorm_repro.tracking.run_files import read_json, write_json, write_jsonl
from seqnorm_repro.tracking.wandb_logger import MetricsLogger
from seqnorm_repro.train.callbacks import Callback
from seqnorm_repro.train.checkpoint import save_checkpoint
from seqnorm_repro.train.distributed import DistEnv, all_reduce_sum, broadcast_buffers
from seqnorm_repro.train.optim import base_lr, build_optimizer
from seqnorm_repro.train.resume import last_checkpoint
from seqnorm_repro.train.schedules import lr_factor
from seqnorm_repro.train.trained_model import model_build

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Where this process runs and what identifies the run."""

    run_dir: Path
    config: dict[str, Any]  # the resolved config, saved in every checkpoint
    config_hash: str
    env: DistEnv = field(default_factory=DistEnv)
    norm_groups: dict[str, Any] = field(default_factory=dict)  # see norm_groups.norm_groups_record
    resume_hint: str = "run again in the same directory"  # what the interrupted message tells to do


class TrainingDiverged(FloatingPointError):
    """A non-finite training loss: results.json says failed, and the run stops with this one line."""


@dataclass
class RunState:
    """What a checkpoint restores besides the weights and optimizer."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best_val_acc: float | None = None
    best_epoch: int | None = None
    wall_seconds: float = 0.0  # training time over every invocation
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Trains `model` on `data` as `cfg` says, writing into `run_dir`; `fit()` returns results.json."""

    def __init__(
        self,
        cfg: Config,
        model: nn.Module,
        data: DataBundle,
        device: torch.device,
        context: RunContext,
        logger: MetricsLogger,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.cfg, self.data, self.device, self.context = cfg, data, device, context
        self.run_dir, self.env, self.logger = context.run_dir, context.env, logger
        self.callbacks = list(callbacks)
        trainer = cfg.trainer
        self.memory_format = torch.channels_last if trainer.channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format)
        wrapped = self.model
        if self.env.distributed:  # gradients averaged over processes; the model itself is saved
            wrapped = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.ddp = wrapped if self.env.distributed else None
        self.forward = torch.compile(wrapped) if trainer.compile else wrapped
        self.eval_forward = torch.compile(self.model) if trainer.compile else self.model
        self.base_lr = base_lr(cfg.optim, trainer.batch_size)  # before the schedule
        self.optimizer = build_optimizer(self.model, cfg.optim, self.base_lr)
        # torch.autocast and GradScaler run on CPU too, so CI covers the fp16 path (scaler, resume)
        amp_dtype = torch.bfloat16 if trainer.amp == "bf16" else torch.float16
        use_amp = trainer.amp != "none"
        self.autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if use_amp else nullcontext
        self.scaler = torch.amp.GradScaler(device.type, enabled=trainer.amp == "fp16")
        self.criterion = nn.CrossEntropyLoss(label_smoothing=trainer.label_smoothing)
        full_steps = len(data.train) // trainer.accumulate_steps  # optimizer steps the split gives
        self.steps_per_epoch = min(full_steps, trainer.limit_train_batches or full_steps)
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"the training split gives {len(data.train)} batches, fewer than trainer.accumulate_steps="
                f"{trainer.accumulate_steps}: lower trainer.batch_size or dataset.val_size"
            )
        self.total_steps = self.steps_per_epoch * trainer.epochs
        self.state = RunState()
        # read once: the code this invocation runs, even if the checkout changes while it trains
        self.provenance = {"git_commit": git_commit(), "hardware": hardware(device)}

    # ---------------------------------------------------------------- files
    @property
    def checkpoint_dir(self) -> Path:
        return last_checkpoint(self.run_dir).parent

    def _checkpoint(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": vars(self.state),
            "callbacks": [callback.state_dict() for callback in self.callbacks],
            "config": self.context.config,
            "config_hash": self.context.config_hash,
            "samples_per_group": self.context.norm_groups.get("samples_per_group"),
            "model_build": model_build(
                self.context.norm_groups, self.data.num_classes, self.data.input_shape
            ),
        }

    def resume_from(self, checkpoint: dict[str, Any]) -> None:
        """Continue from `checkpoint` (train.resume reads and checks it): weights, optimizer, loss scale,
        epoch and step counters, and the callbacks' state."""
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = RunState(**checkpoint["state"])
        for callback, state in zip(self.callbacks, checkpoint["callbacks"], strict=True):
            callback.load_state_dict(state)
        log.info(
            "resumed from %s after epoch %d (step %d)", last_checkpoint(self.run_dir), self.state.epoch,
            self.state.step,
        )  # fmt: skip

    def _results(self, status: str, **extra: Any) -> dict[str, Any]:
        state = self.state
        return {
            "status": status,
            "name": self.cfg.name,
            "config_hash": self.context.config_hash,
            **self.provenance,
            "epochs_completed": state.epoch,
            "epochs": self.cfg.trainer.epochs,
            "steps": state.step,
            "best_val_acc": state.best_val_acc,
            "best_epoch": state.best_epoch,
            "final_val_acc": state.history[-1].get("val_acc") if state.history else None,
            "wall_seconds": round(state.wall_seconds, 1),
            "val_indices_file": "val_indices.json" if self.data.val_indices else None,
            "norm_groups": self.context.norm_groups,
            **extra,
            "config": self.context.config,  # what it trained, for telling another config's run apart
        }

    # ---------------------------------------------------------------- loop
    def fit(self, max_epochs: int | None = None) -> dict[str, Any]:
        """Train from where resume_from left the state (or the start) to cfg.trainer.epochs, or for at most
        `max_epochs` epochs in this call; returns what results.json says."""
        if self.state.epoch == 0 and self.env.is_main:
            self._clear_earlier_run()
        self._write_results(self._results("running"))
        if self.env.is_main and self.data.val_indices:
            write_json(
                self.run_dir / "val_indices.json",
                {"split_seed": self.cfg.dataset.split_seed, "indices": self.data.val_indices},
            )
        cfg = self.cfg.trainer
        stop = cfg.epochs if max_epochs is None else min(cfg.epochs, self.state.epoch + max_epochs)
        try:
            for epoch in range(self.state.epoch, stop):
                self._run_epoch(epoch)
            if self.state.epoch < cfg.epochs:
                results = self._results("incomplete")
            else:
                extra = self._test()
                for callback in self.callbacks:
                    extra.update(callback.on_fit_end(self))
                results = self._results("completed", **extra)
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM under train.interrupt.sigterm_raises
            self._write_results(self._results("interrupted", error=repr(err)[:500]))
            last = last_checkpoint(self.run_dir)
            then = (
                f"{self.context.resume_hint} to resume from {last}"
                if self.state.epoch
                else f"no checkpoint yet; {self.context.resume_hint} to train it from the start"
            )  # a sweep's hint names its directory, which resumes the jobs that did not finish
            log.warning("interrupted after %d of %d epochs: %s", self.state.epoch, cfg.epochs, then)
            raise
        except BaseException as err:
            self._write_results(self._results("failed", error=repr(err)[:500]))
            raise
        self._write_results(results)
        self.logger.summarise(results)
        return results

    def _clear_earlier_run(self) -> None:
        """A run starting from epoch 1 where another trained (trainer.resume=never, or a lost last.pt)
        replaces its files now, as results.json is: its checkpoints and metrics must not outlive it beside
        this run's record (a stop before epoch 1 ends would leave them; best.pt, with no validation set,
        would never be overwritten)."""
        earlier = read_json(self.run_dir / "results.json")
        if earlier and self.cfg.trainer.resume == "never":
            log.warning(
                "trainer.resume=never: replacing the run recorded in %s (%s, epochs completed: %s)",
                self.run_dir, earlier.get("status"), earlier.get("epochs_completed"),
            )  # fmt: skip
        for checkpoint in (last_checkpoint(self.run_dir), self.checkpoint_dir / "best.pt"):
            checkpoint.unlink(missing_ok=True)
        write_jsonl(self.run_dir / "metrics.jsonl", [])

    def _write_results(self, results: dict[str, Any]) -> None:
        if self.env.is_main:
            write_json(self.run_dir / "results.json", results)

    def _run_epoch(self, epoch: int) -> None:
        # Every random draw of an epoch (shuffle, augmentation, dropout, noise, mixup) is a function
        # of (seed, epoch, rank): a resumed run replays exactly what an uninterrupted one would.
        self.data.set_epoch(epoch)
        torch.manual_seed(self.cfg.seed * 100_003 + epoch * 1_009 + self.env.rank)
        started = time.perf_counter()
        train = self._train_epoch(epoch)
        seconds = time.perf_counter() - started
        samples = train.pop("samples")
        row: dict[str, Any] = {"epoch": epoch + 1, "step": self.state.step, **train}
        row["samples_per_s"] = round(samples / seconds, 1)
        row["epoch_seconds"] = round(seconds, 2)
        if self.data.val is not None:
            row.update({f"val_{k}": v for k, v in self.evaluate(self.data.val).items()})
        state = self.state
        state.epoch, state.wall_seconds = epoch + 1, state.wall_seconds + seconds
        state.history.append(row)
        for callback in self.callbacks:  # before the checkpoint, which holds their state
            callback.on_epoch_end(self)
        improved = "val_acc" in row and (state.best_val_acc is None or row["val_acc"] > state.best_val_acc)
        if improved:
            state.best_val_acc, state.best_epoch = row["val_acc"], epoch + 1
        if self.env.is_main:
            checkpoint = self._checkpoint()
            save_checkpoint(last_checkpoint(self.run_dir), checkpoint)
            if improved:
                save_checkpoint(self.checkpoint_dir / "best.pt", checkpoint)
            write_jsonl(self.run_dir / "metrics.jsonl", state.history)
            self._write_results(self._results("running"))  # right even if the process is killed next
        self.logger.log(row, step=state.step)
        log.info("epoch %d/%d %s", epoch + 1, self.cfg.trainer.epochs, _format(row))

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg.trainer
        self.model.train()
        totals = torch.zeros(3, device=self.device, dtype=torch.float64)  # loss sum, correct, samples
        micro_batches = self.steps_per_epoch * cfg.accumulate_steps
        batches = tqdm(
            self.data.train,
            total=micro_batches,
            desc=f"epoch {epoch + 1}",
            leave=False,
            disable=not (cfg.progress and sys.stderr.isatty()),
        )
        for index, (inputs, targets) in enumerate(batches):
            if index == micro_batches:
                break
            inputs, targets = self._to_device(inputs, targets)
            stepping = (index + 1) % cfg.accumulate_steps == 0
            # DDP all-reduces gradients on the backward of a step's last micro-batch only
            with self._sync_gradients(stepping):
                with self.autocast():
                    logits, loss = self._forward_loss(inputs, targets)
                self.scaler.scale(loss / cfg.accumulate_steps).backward()
            if stepping:
                self._optimizer_step(inputs, targets)
            _tally(totals, loss.detach() * targets.shape[0], logits, targets)
        loss_sum, correct, seen = all_reduce_sum(totals).tolist()  # one sync (fp16's scaler adds one a step)
        loss = loss_sum / seen
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training loss is {loss} in epoch {epoch + 1}: lower optim.lr")
        return {
            "train_loss": loss,
            "train_acc": correct / seen,
            "lr": self._current_lr(),
            "samples": int(seen),
        }

    def _sync_gradients(self, stepping: bool):
        return nullcontext() if self.ddp is None or stepping else self.ddp.no_sync()

    def _forward_loss(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-entropy, on a mixup of the batch with a shuffled copy when augment.mixup_alpha > 0."""
        alpha = self.cfg.augment.mixup_alpha
        if alpha <= 0:
            logits = self.forward(inputs)
            return logits, self.criterion(logits, targets)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        perm = torch.randperm(inputs.shape[0], device=inputs.device)
        logits = self.forward(lam * inputs + (1 - lam) * inputs[perm])
        loss = lam * self.criterion(logits, targets) + (1 - lam) * self.criterion(logits, targets[perm])
        return logits, loss

    def _optimizer_step(self, inputs: Tensor, targets: Tensor) -> None:
        factor = lr_factor(self.cfg.schedule, self.state.step, self.steps_per_epoch, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.base_lr * factor
        self.scaler.unscale_(self.optimizer)  # a no-op without fp16 AMP
        if self.cfg.trainer.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.trainer.grad_clip)
        for callback in self.callbacks:
            callback.before_step(self, inputs, targets)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1

    def _current_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _to_device(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        inputs = inputs.to(self.device, non_blocking=True)
        if inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=self.memory_format)
        return inputs, targets.to(self.device, non_blocking=True)

    @torch.no_grad()
    def evaluate(self, loader: DataLoader) -> dict[str, float]:
        """Top-1 accuracy and loss with rank 0's running statistics, over every process's shard."""
        self.model.eval()
        broadcast_buffers(self.model)
        totals = torch.zeros(3, device=self.device, dtype=torch.float64)  # loss sum, correct, samples
        limit = self.cfg.trainer.limit_eval_batches
        for index, (inputs, targets) in enumerate(loader):
            if limit is not None and index == limit:
                break
            inputs, targets = self._to_device(inputs, targets)
            with self.autocast():
                logits = self.eval_forward(inputs)
            _tally(totals, F.cross_entropy(logits.float(), targets, reduction="sum"), logits, targets)
        loss_sum, correct, seen = all_reduce_sum(totals).tolist()
        return {"acc": correct / seen, "loss": loss_sum / seen}

    def _test(self) -> dict[str, Any]:
        """Every test set with the final weights; several (ImageNetV2) also as mean and std."""
        tests = {name: self.evaluate(loader)["acc"] for name, loader in self.data.tests.items()}
        for name, acc in tests.items():
            log.info("test set %s: accuracy %.4f", name, acc)
        extra: dict[str, Any] = {"test_acc": tests}
        if len(tests) > 1:
            values = torch.tensor(list(tests.values()), dtype=torch.float64)
            extra["test_acc_mean"], extra["test_acc_std"] = values.mean().item(), values.std().item()
        self.logger.log({f"test_acc/{name}": acc for name, acc in tests.items()}, step=self.state.step)
        return extra


def _tally(totals: Tensor, loss_sum: Tensor, logits: Tensor, targets: Tensor) -> None:
    """Adds a batch's (loss sum, correct predictions, samples) to `totals` on the device: no sync."""
    totals[0] += loss_sum
    totals[1] += (logits.argmax(1) == targets).sum()
    totals[2] += targets.shape[0]


def _format(row: dict[str, Any]) -> str:
    return " ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k != "epoch"
    )
