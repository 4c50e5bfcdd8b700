"""The loss-landscape probe of Santurkar et al. (2018), as the paper uses it (Section 3.1, Appendix A.2):
at an update, walk along the gradient and compute the loss at several step sizes on the same batch.

The min-max band of those losses over training shows how predictive the gradient is: a narrow band
is a smooth landscape. The probe must not change what it measures, so it never touches the
optimizer, the running statistics or the random-number streams of the run it watches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from seqnorm_repro.config import LandscapeConfig
from seqnorm_repro.landscape.records import RECORDS_FILE, LandscapeRecords
from seqnorm_repro.train.callbacks import Callback
from seqnorm_repro.train.distributed import all_reduce_sum

if TYPE_CHECKING:
    from seqnorm_repro.train.trainer import Trainer


class LossLandscapeProbe(Callback):
    """Every `landscape.every`-th update, the loss at w - eta * g for each probe step size eta.

    g is the direction of the plain-SGD update the optimizer is about to take: the final gradient
    (accumulated, unscaled, clipped) plus weight_decay * w for the parameters their param group
    decays, i.e. `w - lr * g` is exactly torch.optim.SGD's step without momentum, as in the paper's
    landscape setups. With momentum the probe still walks along this g (Santurkar et al.'s gradient
    direction), not along the momentum buffer. Parameters without a gradient stay where they are.

    eta is `landscape.step_sizes` itself (mode=fixed: MNIST's 0.1 ... 0.8) or those numbers times
    each param group's current lr (mode=schedule: the CIFAR-10 one-cycle probes 0.5, 1, 1.5, 2 x
    the run's own schedule). The loss is the trainer's criterion on the update's last micro-batch
    (with accumulation the gradient comes from all micro-batches; with mixup the batch is the
    un-mixed one), the norm layers in training mode as the update sees them (batch statistics).

    Nothing of the run changes: the forward passes use torch.func.functional_call with perturbed
    copies of the parameters and clones of the buffers (so running means, variances and
    num_batches_tracked are untouched), under torch.no_grad(), and every step size starts from the
    same random-number state (noise and dropout draw the same numbers at each eta), which is
    restored afterwards. With `landscape.test_every_epoch` it also records the test error after each
    epoch (eval mode, the run's test loaders), for the figures' test-error panel.
    """

    def __init__(self, cfg: LandscapeConfig) -> None:
        self.cfg = cfg
        self.records = LandscapeRecords()

    # ------------------------------------------------------------ hooks
    def before_step(self, trainer: Trainer, inputs: Tensor, targets: Tensor) -> None:
        if trainer.state.step % self.cfg.every:
            return
        scales = [float(s) for s in self.cfg.step_sizes]
        losses = probe_losses(
            trainer.model,  # the module itself, not its DDP wrapper (whose forward would sync buffers)
            trainer.optimizer,
            trainer.criterion,
            inputs,
            targets,
            scales,
            relative_to_lr=self.cfg.mode == "schedule",
            autocast=trainer.autocast,
        )
        if trainer.env.distributed:  # each process probed its equal slice of the batch: the batch's loss
            losses = all_reduce_sum(losses) / trainer.env.world_size  # is the mean of theirs
        lr = float(trainer.optimizer.param_groups[0]["lr"])
        etas = [s * lr for s in scales] if self.cfg.mode == "schedule" else scales
        self.records.add(trainer.state.step, lr, etas, losses)

    def on_epoch_end(self, trainer: Trainer) -> None:
        """The test error of the weights and running statistics the epoch ended with (the next epoch's
        first forward pass would move the statistics)."""
        self._record_test_error_once_per_epoch(trainer)

    def on_fit_end(self, trainer: Trainer) -> dict[str, Any]:
        if trainer.env.is_main:  # several processes: rank 0 alone writes run files
            self.records.save(trainer.run_dir / RECORDS_FILE)
        return self.records.summary()

    def state_dict(self) -> dict[str, Any]:
        return self.records.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = LandscapeRecords.from_state_dict(state)

    # ------------------------------------------------------------ test error
    def _record_test_error_once_per_epoch(self, trainer: Trainer) -> None:
        """Mean top-1 error over the run's test sets after the epochs completed so far, unless recorded
        already, in eval mode; the model goes back to training mode and the random-number state is
        restored (a loader may draw a seed)."""
        epoch = trainer.state.epoch
        if (
            not self.cfg.test_every_epoch
            or epoch <= _last(self.records.test_epochs)
            or not trainer.data.tests
        ):
            return
        was_training = trainer.model.training
        with _SameRandomNumbers(trainer.device):
            errors = [1.0 - trainer.evaluate(loader)["acc"] for loader in trainer.data.tests.values()]
        trainer.model.train(was_training)
        self.records.add_test_error(epoch, sum(errors) / len(errors))


@torch.no_grad()
def probe_losses(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
    step_sizes: Sequence[float],
    relative_to_lr: bool = False,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
) -> Tensor:
    """The loss at w - eta * g for each step size, on this batch, as a device tensor (no sync).

    g = grad + weight_decay * w per `optimizer` param group (see LossLandscapeProbe); eta is the step
    size, or the step size times the group's lr when `relative_to_lr`. `model` keeps its mode (the
    trainer's: training) and is left exactly as it was, its buffers and the RNG state included.
    """
    names = {param: name for name, param in model.named_parameters()}
    groups: list[tuple[float, list[str], list[Tensor], list[Tensor]]] = []
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            continue
        grads = [p.grad for p in params]
        decay = group.get("weight_decay", 0.0)
        directions = torch._foreach_add(grads, params, alpha=decay) if decay else grads
        groups.append((float(group["lr"]), [names[p] for p in params], params, directions))
    buffers = dict(model.named_buffers())
    losses = []
    with _SameRandomNumbers(inputs.device) as reset:
        for size in step_sizes:
            reset()  # every eta sees the same noise / dropout draws
            perturbed: dict[str, Tensor] = {}
            for lr, group_names, params, directions in groups:
                eta = size * lr if relative_to_lr else size
                moved = torch._foreach_add(params, directions, alpha=-eta)
                perturbed.update(zip(group_names, moved, strict=True))
            state = {**{k: b.clone() for k, b in buffers.items()}, **perturbed}
            with autocast():
                logits = functional_call(model, state, (inputs,))
                losses.append(loss_fn(logits, targets).float())
    return torch.stack(losses)


class _SameRandomNumbers(AbstractContextManager):
    """Snapshot the CPU (and this CUDA device's) RNG state; `reset()` returns to it; exiting restores it."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device if device.type == "cuda" else None

    def __enter__(self) -> Callable[[], None]:
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None
        return self.reset

    def reset(self) -> None:
        torch.set_rng_state(self.cpu_state)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.cuda)

    def __exit__(self, *exc: object) -> None:
        self.reset()


def _last(values: list[int]) -> int:
    return values[-1] if values else 0
