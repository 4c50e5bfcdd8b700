"""Hooks into the training loop for measurements that must see every update (the loss-landscape probe)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from seqnorm_repro.train.trainer import Trainer


class Callback:
    """No-op base. The trainer calls `before_step` once per optimizer step, after the gradients are
    final (accumulated, unscaled, clipped) and before the optimizer uses them, with the step's last
    micro-batch; `on_epoch_end` after each epoch's training and validation, on every process, before
    the checkpoint; `on_fit_end` may add keys to results.json. The state travels in checkpoints."""

    def before_step(self, trainer: Trainer, inputs: Tensor, targets: Tensor) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer) -> None:
        pass

    def on_fit_end(self, trainer: Trainer) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
