"""Normalisation-group accounting: which layer each run builds and how many samples it normalises over.

What matters for the paper's results is the number of samples per normalisation group. The paper
ran 8 GPUs with 64 samples each, so its "GhostNorm (GM = 8)" normalised over 8 samples and its
unsynchronised "BatchNorm" over 64. With `paper_device_batch` set (the paper presets), `gm` is the
paper's GM per that many samples, and BatchNorm-type layers keep the paper's group size on any
device count: one GPU running batch 512 builds GhostNorm(gm=64) for "GM = 8" and GhostNorm(gm=8)
for "BatchNorm", as the paper's 8 GPUs did. Without it, gm counts groups per forward pass.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from seqnorm_repro.config import Config, ConfigError
from seqnorm_repro.norms import NORM_LAYERS
from seqnorm_repro.train.sync_batchnorm import AllReduceBatchNorm

log = logging.getLogger(__name__)


def _takes_gm(name: str) -> bool:
    """Whether the norm's layer takes a number of ghost groups (GhostNorm, SeqNorm, NoisyBatchNorm, or a
    layer added to NORM_LAYERS later), read from its signature so a new layer needs no list here."""
    return "gm" in inspect.signature(NORM_LAYERS[name]).parameters


@dataclass(frozen=True)
class NormPlan:
    """The norm layer to build on each device, with the numbers that decided it."""

    name: str
    params: dict[str, Any]
    per_device_batch: int  # samples per forward pass on one device
    world_size: int
    note: str = ""


def plan_norm(cfg: Config, world_size: int) -> NormPlan:
    """The layer and parameters each device builds; ConfigError if the groups cannot be formed."""
    trainer = cfg.trainer
    micro = trainer.batch_size // (world_size * trainer.accumulate_steps)
    split = (
        f"trainer.batch_size={trainer.batch_size} / {world_size} processes / trainer.accumulate_steps="
        f"{trainer.accumulate_steps}"
    )
    if micro * world_size * trainer.accumulate_steps != trainer.batch_size:
        raise ConfigError(f"{split} is not a whole per-device batch")
    name, params, note = cfg.norm.name, cfg.norm.params(), ""
    if trainer.sync_bn and name != "batchnorm":
        raise ConfigError(
            f"trainer.sync_bn=true synchronises norm=batchnorm only; norm={name} normalises per device (or "
            "per sample): drop trainer.sync_bn"
        )
    keeps_paper_groups = _takes_gm(name) or (name == "batchnorm" and not trainer.sync_bn)
    if cfg.paper_device_batch is not None and keeps_paper_groups:
        paper_gm, paper_batch = params.get("gm", 1), cfg.paper_device_batch
        if paper_batch % paper_gm or paper_batch // paper_gm < 2:
            raise ConfigError(
                f"gm={paper_gm} counts groups per paper_device_batch={paper_batch} samples (the paper's "
                f"per-GPU batch, kept by this preset): choose a gm that divides {paper_batch}, at most "
                f"{paper_batch // 2}"
            )
        per_group = paper_batch // paper_gm
        if micro % per_group:
            other_gm = ", or a gm that divides it" if _takes_gm(name) else ""  # batchnorm: the paper's batch
            raise ConfigError(
                f"the per-device batch of {micro} ({split}) cannot be split into groups of the paper's "
                f"{per_group} samples: make it a multiple of {per_group} (by trainer.batch_size, the "
                f"process count or trainer.accumulate_steps){other_gm}"
            )
        gm = micro // per_group
        paper_groups = f"gm={paper_gm} per {cfg.paper_device_batch} samples"
        note = f"the paper's {per_group} samples per group ({paper_groups})"
        if name == "batchnorm" and gm > 1:
            name, params = "ghostnorm", {**params, "gm": gm}
            note += ": unsynchronised BatchNorm as on the paper's GPUs"
        elif _takes_gm(name):
            params = {**params, "gm": gm}
    if "gm" in params:
        gm = params["gm"]
        if micro % gm:
            raise ConfigError(
                f"gm={gm} does not divide the per-device batch of {micro} ({split}); choose a gm that "
                f"divides {micro}"
            )
        if micro // gm < 2:
            raise ConfigError(f"gm={gm} leaves {micro // gm} sample per group; use gm <= {micro // 2}")
    return NormPlan(name, params, micro, world_size, note)


def samples_per_group(model: nn.Module, plan: NormPlan) -> dict[str, int]:
    """For each norm layer kind in `model`, the samples one normalisation group spans."""
    sizes: dict[str, int] = {}
    for module in model.modules():
        kind = type(module).__name__
        if isinstance(getattr(module, "gm", None), int):  # GhostNorm, SeqNorm, NoisyBatchNorm, new ones
            sizes[kind] = plan.per_device_batch // module.gm
        elif isinstance(module, nn.SyncBatchNorm | AllReduceBatchNorm):
            sizes[kind] = plan.per_device_batch * plan.world_size
        elif isinstance(module, _BatchNorm):
            sizes[kind] = plan.per_device_batch
        elif isinstance(module, nn.GroupNorm | nn.LayerNorm | _InstanceNorm):
            sizes[kind] = 1  # each sample on its own: our GroupNorm and torch's per-sample norms
    return sizes


def norm_groups_record(
    plan: NormPlan, sizes: dict[str, int], sync_bn: bool, accumulate_steps: int
) -> dict[str, Any]:
    """What results.json stores and the run prints about normalisation groups."""
    return {
        "built": plan.name,
        "params": plan.params,
        "samples_per_group": sizes,
        "world_size": plan.world_size,
        "per_device_batch": plan.per_device_batch,
        "accumulate_steps": accumulate_steps,
        "sync_bn": sync_bn,
        "note": plan.note,
    }
