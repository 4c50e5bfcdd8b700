"""A trained run's network back in Python (a notebook, an evaluation script): rebuilt as its checkpoint
records, with the checkpoint's weights, without composing a config or reading any data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.train.checkpoint import CheckpointError, read_checkpoint
from seqnorm_repro.train.resume import last_checkpoint


def model_build(norm_groups: Mapping[str, Any], num_classes: int, input_shape: tuple[int, ...]) -> dict:
    """What a checkpoint keeps, besides its config, to rebuild its network: the norm layer each device
    built (which the process count can change: `norm_groups.norm_groups_record`), and the data's classes
    and image shape (ImageNet's classes are its folders)."""
    return {
        "norm": norm_groups.get("built"),
        "norm_params": norm_groups.get("params"),
        "num_classes": num_classes,
        "input_shape": list(input_shape),
    }


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The network of a run directory's checkpoints/last.pt (the weights its results.json tests), or of
    the checkpoint file `path` names (checkpoints/best.pt), in eval mode on `device`."""
    path, device = Path(path), torch.device(device)
    checkpoint = last_checkpoint(path) if path.is_dir() else path
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"{checkpoint} does not exist: pass a run directory that holds checkpoints/last.pt, or a .pt file"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"load_model(device='{device}') but CUDA is not available here: use device='cpu'")
    state = read_checkpoint(checkpoint, device, "it cannot be loaded; use the other checkpoint")
    build = state.get("model_build") or {}
    if build.get("norm") is None:
        raise CheckpointError(
            f"{checkpoint} was written before checkpoints recorded how to rebuild their network (e081169): "
            "build it with seqnorm_repro.models.build_model and load its 'model' entry"
        )
    model = build_model(
        ModelConfig(**state["config"]["model"]),
        norm_layer(build["norm"], **build["norm_params"]),
        build["num_classes"],
        tuple(build["input_shape"]),
    )
    model.load_state_dict(state["model"])
    return model.to(device).eval()
