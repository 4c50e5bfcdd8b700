"""Our norms with timm's norm+act interface, so that timm's models built from BatchNormAct2d (EfficientNet,
RegNet, DenseNet, CSPNet, ...) take them through `norm_layer=` and `convert_norm` alike.

timm's BatchNormAct2d is a BatchNorm2d followed by `self.drop` and `self.act`, with BatchNorm's state_dict
keys. `norm_act_class(GhostNorm)` is GhostNorm followed by the same two modules: the same keys, so a
BatchNormAct2d's weights, running statistics and activation carry over. timm's `get_norm_act_layer` finds a
model's norm+act class from the norm class's lowercased name in a table of its own; `register_with_timm`
adds ours to it. timm is imported only when a norm+act layer is built or registered.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqnorm_repro.norms.factory import NORM_LAYERS
from seqnorm_repro.norms.layers import BatchNorm


class NormAct:
    """Mixin, first among a norm class's bases: the norm, then a dropout layer and an activation, as
    timm's BatchNormAct2d, whose keywords it takes (and whose activation it builds as timm's does)."""

    def __init__(
        self, num_features: int, *args, apply_act: bool = True, act_layer: Any = nn.ReLU,
        act_kwargs: dict[str, Any] | None = None, inplace: bool = True, drop_layer: Any = None, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(num_features, *args, **kwargs)
        from timm.layers import create_act_layer

        act = create_act_layer(act_layer, **{"inplace": inplace, **(act_kwargs or {})}) if apply_act else None
        self.drop = drop_layer() if drop_layer is not None else nn.Identity()
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(x)
        if y is x:  # NoNorm: an in-place activation would overwrite the input, which the model may reuse
            y = x.clone()
        return self.act(self.drop(y))


_MADE: dict[type[nn.Module], type[nn.Module]] = {}  # norm class -> its one `<norm>Act` class


def norm_act_class(norm: type[nn.Module]) -> type[nn.Module]:
    """`norm` followed by timm's dropout and activation: a subclass named `<norm>Act`, made once; for
    BatchNorm and SyncBatchNorm, timm's own BatchNormAct2d and SyncBatchNormAct, which the SyncBatchNorm
    converters (trainer.sync_bn) turn into each other, where they would turn a `<norm>Act` into a plain
    SyncBatchNorm without its activation."""
    if norm in (BatchNorm, nn.BatchNorm2d, nn.SyncBatchNorm):
        from timm.layers import BatchNormAct2d, SyncBatchNormAct

        return SyncBatchNormAct if norm is nn.SyncBatchNorm else BatchNormAct2d
    if norm not in _MADE:
        doc = f"{norm.__name__}, then timm's dropout and activation (`NormAct`)."
        _MADE[norm] = type(f"{norm.__name__}Act", (NormAct, norm), {"__module__": __name__, "__doc__": doc})
    return _MADE[norm]


def __getattr__(name: str) -> type[nn.Module]:
    """`GhostNormAct`, `SeqNormAct`, `NoNormAct`, ...: the `<norm>Act` of each norm in NORM_LAYERS (and of
    any class made into one in this process), as imports and unpickled models name them."""
    for norm in (*NORM_LAYERS.values(), *_MADE):
        if name == f"{norm.__name__}Act" and norm is not BatchNorm:
            return norm_act_class(norm)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_with_timm() -> None:
    """Teaches timm's `get_norm_act_layer` the norm+act class of each norm in NORM_LAYERS whose name it
    does not know already, given the model's activation (`act_layer`) as timm's own are. It knows our
    BatchNorm's and GroupNorm's: "batchnorm" is BatchNormAct2d (the same maths), "groupnorm" its
    GroupNormAct (which takes num_groups, not gc). Each `norm_layer` call runs it, so a norm added to
    NORM_LAYERS later (from a module of the researcher's own) is taught too."""
    from timm.layers import create_norm_act

    tables = [
        getattr(create_norm_act, t, None)
        for t in ("_NORM_TO_NORM_ACT_MAP", "_NORM_ACT_TYPES", "_NORM_ACT_REQUIRES_ARG")
    ]
    if None in tables:  # another timm, without these private tables: its norm+act models refuse our norms
        return  # by name ("No equivalent norm_act layer"); convert_norm still replaces their BatchNorms
    by_name, types, given_act = tables
    for norm in NORM_LAYERS.values():
        name = norm.__name__.lower()
        if name not in by_name:
            cls = by_name[name] = norm_act_class(norm)
            types.add(cls)
            given_act.add(cls)
