"""SGD with the recipes' weight-decay rule and linear learning-rate scaling."""

from __future__ import annotations

import logging

import torch
from torch import nn

from seqnorm_repro.config import OptimConfig

log = logging.getLogger(__name__)


def base_lr(optim: OptimConfig, global_batch: int) -> float:
    """optim.lr, scaled linearly to the global batch when the recipe gives it per reference_batch."""
    if optim.reference_batch is None:
        return optim.lr
    return optim.lr * global_batch / optim.reference_batch


def build_optimizer(model: nn.Module, optim: OptimConfig, lr: float) -> torch.optim.SGD:
    """SGD; parameters with ndim <= 1 (norm weights, biases) get no weight decay unless
    optim.norm_weight_decay, as timm's rule (NVIDIA's recipe exempts the parameters named `bn`)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 or optim.norm_weight_decay else no_decay).append(param)
    log.info(
        "optimizer: %d decayed tensors (%d values), %d without decay (%d values)",
        len(decay), sum(p.numel() for p in decay), len(no_decay), sum(p.numel() for p in no_decay),
    )  # fmt: skip
    groups = [
        {"params": decay, "weight_decay": optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]], lr=lr, momentum=optim.momentum, nesterov=optim.nesterov
    )
