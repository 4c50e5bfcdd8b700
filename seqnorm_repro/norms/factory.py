"""Build norm layers by name: `make_norm` for one layer, `norm_layer` for timm-style model builders."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from torch import nn

from seqnorm_repro.norms.layers import (
    BatchNorm,
    GhostNorm,
    GroupNorm,
    NoisyBatchNorm,
    NoNorm,
    SeqNorm,
)

NORM_LAYERS: dict[str, type[nn.Module]] = {
    "batchnorm": BatchNorm,
    "ghostnorm": GhostNorm,
    "seqnorm": SeqNorm,
    "groupnorm": GroupNorm,
    "noisy_batchnorm": NoisyBatchNorm,
    "none": NoNorm,
}


def norm_class(name: str) -> type[nn.Module]:
    """The layer class for a norm name, or a ValueError listing the names."""
    try:
        return NORM_LAYERS[name]
    except KeyError:
        raise ValueError(f"unknown norm {name!r}; choose one of {sorted(NORM_LAYERS)}") from None


def make_norm(name: str, num_features: int, **params) -> nn.Module:
    """One norm layer: `make_norm("seqnorm", 64, gc=4, gm=8)`."""
    cls = norm_class(name)
    try:
        return cls(num_features, **params)
    except TypeError as err:  # a missing or unexpected parameter
        raise ValueError(parameter_error(name, params, err)) from None


def parameter_error(name: str, params: dict, err: TypeError) -> str:
    """A layer's TypeError for a parameter it lacks or does not take, said of the norm, not of the
    (often private) class whose __init__ raised it."""
    return f"norm {name!r} with parameters {params}: " + re.sub(r"^[\w.]+\.__init__\(\) ", "", str(err))


def norm_layer(name: str, **params) -> Callable[..., nn.Module]:
    """A timm-style `norm_layer(num_features, device=..., dtype=...)` for model builders.

    A partial of the class with keywords only: timm's `get_norm_layer` unbinds partials and
    rebinds their keywords, dropping positional arguments. timm's models built from BatchNormAct2d
    (EfficientNet, RegNet, ...) find our norm's norm+act class from it (`norm_act.register_with_timm`).
    """
    from seqnorm_repro.norms.norm_act import register_with_timm  # imports timm: only when asked for

    register_with_timm()
    return functools.partial(norm_class(name), **params)
