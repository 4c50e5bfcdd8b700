"""Swap norms in place: every BatchNorm of any model (timm, torchvision, ours) for another norm
(`convert_norm`), and our layers for the torch.nn modules their eval mode computes (`to_torch_norms`)."""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.norms.factory import norm_class, parameter_error
from seqnorm_repro.norms.layers import BatchNorm, GhostNorm, GroupNorm, NoNorm, SeqNorm
from seqnorm_repro.norms.norm_act import NormAct, norm_act_class

log = logging.getLogger(__name__)

# Exactly these types are replaced, and timm's BatchNorm + activation layers (by our norm followed by their
# activation). Other subclasses may carry more than a norm, so replacing them could change the model: they
# are reported.
BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, BatchNorm)
_INHERITED = ("eps", "momentum", "affine", "track_running_stats")


def convert_norm(model: nn.Module, norm: str | type[nn.Module] | functools.partial, **params) -> nn.Module:
    """Replace every BatchNorm in `model` by `make_norm(norm, C, **params)` (or `norm(C, **params)`
    for a layer class, or a partial of one as `norm_layer` returns), keeping its affine weights and
    running statistics (where the new layer has them); returns the model.

    eps, momentum, affine and track_running_stats come from each BatchNorm unless given in params.
    timm's BatchNormAct2d and SyncBatchNormAct become the new norm followed by their own dropout and
    activation modules (`norm_act.norm_act_class`). If `model` is itself a BatchNorm, the new layer is
    returned. Other subclasses are left as they are, with a warning; a ValueError if they are all the
    model has. A model without any BatchNorm is returned unchanged, with a warning.
    """
    if isinstance(norm, functools.partial) and isinstance(norm.func, type) and not norm.args:
        norm, params = norm.func, {**norm.keywords, **params}  # norm_layer(name, **params)'s
    replaced, skipped = 0, set()
    replaceable = (*BATCHNORM_TYPES, *_timm_norm_act_types())

    def replacement(module: nn.Module, _path: str) -> nn.Module | None:
        nonlocal replaced
        if type(module) in replaceable:
            replaced += 1
            return _replacement(module, norm, params)
        if isinstance(module, _BatchNorm):
            skipped.add(type(module).__name__)
        return None

    model = _swap_modules(model, replacement)
    if skipped and not replaced:  # the experiment would silently run on BatchNorm
        raise ValueError(
            f"convert_norm: every BatchNorm of the model is a subclass that may compute more than a norm "
            f"({', '.join(sorted(skipped))}), so nothing was replaced; use a model built from plain "
            "BatchNorm layers or timm's BatchNormAct2d"
        )
    if not (replaced or skipped):  # a LayerNorm model, FrozenBatchNorm2d, or one converted already
        ours = any(isinstance(m, (GhostNorm, SeqNorm)) for m in model.modules())
        hint = " (to_torch_norms turns GhostNorm and SeqNorm layers into BatchNorm)" if ours else ""
        log.warning("convert_norm: the model has no BatchNorm layer, so nothing was replaced%s", hint)
    else:
        log.info("convert_norm: replaced %d BatchNorm layers with %s %s", replaced, norm, params)
    if skipped:
        log.warning("convert_norm: left BatchNorm subclasses %s unchanged", sorted(skipped))
    return model


def to_torch_norms(model: nn.Module, batchnorm: type[_BatchNorm] = nn.BatchNorm2d) -> nn.Module:
    """Replace each of our norm layers in `model` by the torch.nn modules that compute its eval mode, so
    that the trained model deploys as a BatchNorm model: it fuses (`fuse_conv_bn_eval`,
    `torch.ao.quantization.fuse_modules`), exports and unpickles without this package. Returns the model.

    GhostNorm, NoisyBatchNorm and BatchNorm become `batchnorm` (nn.BatchNorm1d for (M, C) inputs) with
    their weights and running statistics; SeqNorm becomes nn.Sequential(nn.GroupNorm(gc, C, eps,
    affine=False), that BatchNorm), which computes its eval exactly. A `<norm>Act` (timm's norm+act
    interface) becomes an nn.Sequential of the same followed by its dropout and activation. Each new
    module keeps the layer's train/eval mode, as `convert_norm` does. GroupNorm becomes nn.GroupNorm and
    NoNorm nn.Identity (NoNorm's `<norm>Act` stays: it copies its input before an in-place activation,
    which an nn.Sequential would not). A layer with gm > 1 and track_running_stats=False normalises its
    eval batch in groups too, which no torch.nn layer does: a ValueError names it.
    """
    return _swap_modules(model, lambda module, path: _torch_modules(module, path, batchnorm))


def _swap_modules(
    module: nn.Module, replacement: Callable[[nn.Module, str], nn.Module | None], path: str = ""
) -> nn.Module:
    """`module`, or `replacement(module, path)` where that is not None, else its children swapped in place
    the same way; `path` is the module's dotted name in the model (as named_modules gives it)."""
    if (new := replacement(module, path)) is not None:
        return new
    for name, child in module.named_children():
        setattr(module, name, _swap_modules(child, replacement, f"{path}.{name}" if path else name))
    return module


def _torch_modules(layer: nn.Module, path: str, batchnorm: type[_BatchNorm]) -> nn.Module | None:
    """`layer`'s eval mode as torch.nn modules (`to_torch_norms`); None for any other module."""
    if type(layer) is NoNorm:
        return nn.Identity()
    if isinstance(layer, GroupNorm):
        modules = [_torch_group_norm(layer)]
    elif type(layer) is BatchNorm or isinstance(layer, (GhostNorm, SeqNorm)):
        if getattr(layer, "gm", 1) > 1 and not layer.track_running_stats:
            raise ValueError(
                f"to_torch_norms: {path or 'the model'} ({layer._describe()}) has track_running_stats=False, "
                "so its eval normalises each batch in ghost groups, which no torch.nn layer computes; keep "
                "the layer"
            )
        modules = [_replacement(layer, batchnorm, {})]
        if isinstance(layer, SeqNorm):
            modules.insert(0, nn.GroupNorm(layer.gc, layer.num_features, layer.eps, affine=False))
    else:
        return None
    if isinstance(layer, NormAct):
        modules += [layer.drop, layer.act]
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules).train(layer.training)


def _torch_group_norm(layer: GroupNorm) -> nn.GroupNorm:
    """nn.GroupNorm holding the layer's state, as `_replacement` builds a norm from a BatchNorm."""
    placement = {} if layer.weight is None else {"device": layer.weight.device, "dtype": layer.weight.dtype}
    bias = layer.bias is not None or not layer.affine  # affine with bias=False: a weight alone
    new = nn.GroupNorm(layer.num_groups, layer.num_channels, layer.eps, layer.affine, bias=bias, **placement)
    return _take_state(new, layer)


def _timm_norm_act_types() -> tuple[type[nn.Module], ...]:
    """timm's BatchNorm + activation layers, where timm is loaded (as it is when a model holds them)."""
    layers = sys.modules.get("timm.layers")
    return (layers.BatchNormAct2d, layers.SyncBatchNormAct) if layers else ()


def _replacement(bn: nn.Module, norm: str | type[nn.Module], params: dict) -> nn.Module:
    """The new layer on the BatchNorm's device and dtype, holding the state they share, in its mode (train or
    eval) and with its parameters' requires_grad, as torch's convert_sync_batchnorm keeps them; after a timm
    norm+act layer, followed by its dropout and activation. `bn` may be one of our layers too: they have
    BatchNorm's attributes."""
    cls = norm if isinstance(norm, type) else norm_class(norm)
    accepted = inspect.signature(cls).parameters.values()
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted)
    names = {p.name for p in accepted}
    inherited = {k: getattr(bn, k) for k in _INHERITED if takes_any or k in names}
    if bn.affine and bn.bias is None and (takes_any or "bias" in names):  # nn.BatchNorm2d(..., bias=False)
        inherited["bias"] = False
    tensor = bn.weight if bn.weight is not None else bn.running_mean
    placement = {} if tensor is None else {"device": tensor.device, "dtype": tensor.dtype}
    kwargs = {**inherited, **{k: v for k, v in placement.items() if takes_any or k in names}, **params}
    norm_act = type(bn) in _timm_norm_act_types()  # its own activation goes after the new norm, below
    build = norm_act_class(cls) if norm_act else cls
    try:  # .to: a class without device=/dtype= too
        new = build(bn.num_features, **kwargs).to(**placement)
    except TypeError as err:  # a parameter the norm lacks or does not take
        if isinstance(norm, type):
            raise
        raise ValueError(parameter_error(norm, params, err)) from None
    if norm_act:
        new.drop, new.act = bn.drop, bn.act
    return _take_state(new, bn)


def _take_state(new: nn.Module, old: nn.Module) -> nn.Module:
    """`new` holding the parameters and buffers it shares with `old`, in `old`'s mode (train or eval: a model
    converted in eval mode keeps using its running statistics) and with its parameters' requires_grad."""
    shared = new.state_dict().keys()
    new.load_state_dict({k: v for k, v in old.state_dict().items() if k in shared}, strict=False)
    new.train(old.training)
    for name, parameter in new.named_parameters(recurse=False):
        if isinstance(getattr(old, name, None), nn.Parameter):  # frozen affine parameters stay frozen
            parameter.requires_grad_(getattr(old, name).requires_grad)
    return new
