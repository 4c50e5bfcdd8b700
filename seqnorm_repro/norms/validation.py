"""Shape checks shared by the layers: fail before any arithmetic, with the fix in the message."""

from __future__ import annotations

import math
import os
import sys
import sysconfig
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

# The paper never normalises over fewer than 4 samples (Section 3): "a ratio of 2 results in
# large information corruption, i.e. all activations are reduced to either 1 or -1 values".
SMALLEST_PAPER_GROUP = 4

# Frames in these folders are the layer's, nn.Module's and the installed model libraries' (timm's,
# torchvision's), not the line that ran the model.
_LAYER_DIRS = tuple(
    os.path.join(path, "") for path in {os.path.dirname(__file__), os.path.dirname(torch.__file__),
                                        sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
)  # fmt: skip


def _caller_stacklevel() -> int:
    """warnings.warn's stacklevel for the first frame outside the norms package, torch and site-packages, so
    that a warning names the user's line that ran the model (Python 3.11 has no skip_file_prefixes)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LAYER_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def check_input(layer: str, x: Tensor, num_features: int) -> None:
    """The input is a floating-point (M, C) or (M, C, *) tensor with C equal to the layer's num_features."""
    shape = x.shape
    if len(shape) < 2 or shape[1] != num_features:
        raise ValueError(
            f"{layer}: expected input of shape (M, {num_features}) or (M, {num_features}, *), "
            f"got {tuple(shape)}; build the layer with num_features={shape[1] if len(shape) > 1 else '?'}"
            " or feed it the right activations"
        )
    if not x.is_floating_point():  # the training path's arithmetic would round an integer input silently
        raise TypeError(f"{layer}: expected a floating-point input, got {x.dtype}; convert it with x.float()")


def check_ghost_batch(layer: str, shape: Sequence[int], gm: int) -> None:
    """The batch splits into gm groups with 2 or more values per channel, as BatchNorm needs (warn under
    the paper's 4 samples)."""
    batch = shape[0]
    if batch % gm:
        raise ValueError(
            f"{layer}: batch of {batch} samples (input shape {tuple(shape)}) is not divisible by "
            f"gm={gm}; use a per-device batch that is a multiple of {gm} or a gm that divides {batch}"
        )
    per_group, positions = batch // gm, math.prod(shape[2:])
    if batch and not positions:
        raise ValueError(
            f"{layer}: input shape {tuple(shape)} has an empty dimension, so no values per channel to "
            "normalise; check the layer before this one"
        )
    if per_group * positions < 2:
        fix = f"use gm <= {batch // 2} or a larger batch" if batch > 1 else "use a batch of 2 or more"
        raise ValueError(
            f"{layer}: gm={gm} leaves {per_group} sample per group for input shape {tuple(shape)}, "
            f"so 1 value or none per channel, which cannot be normalised; {fix}"
        )
    # dynamo cannot trace warn; and asked first, so that no guard on per_group is installed
    if not torch.compiler.is_compiling() and per_group < SMALLEST_PAPER_GROUP:
        warnings.warn(  # the same words for every layer of a model, so that Python shows them once
            f"{layer.partition('(')[0]}: gm={gm} normalises over {per_group} sample{'s' * (per_group > 1)} "
            f"per group; the paper never goes below {SMALLEST_PAPER_GROUP}",
            stacklevel=_caller_stacklevel(),
        )


def check_channel_groups(layer: str, num_features: int, gc: int) -> None:
    """gc channel groups must tile the channels exactly."""
    if gc < 1 or num_features % gc:
        raise ValueError(
            f"{layer}: gc={gc} does not divide num_features={num_features}; "
            f"use a gc that divides {num_features}"
        )


def check_positive_int(layer: str, name: str, value: int) -> None:
    """gm and gc are counts of groups."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
