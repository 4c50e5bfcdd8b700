"""What the layers' autograd Functions share: y is their one differentiable output, the statistics returned
beside it (for the running averages) are not; and their hand-written backwards hand double backward to
autograd through the reference."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from seqnorm_repro.norms.reference import ghost_norm_reference, seq_norm_reference


def mark_statistics(ctx, *statistics: Tensor) -> None:
    """The statistics outputs are not differentiable, and autograd fills no zero gradients for them (one
    kernel each per backward on a GPU): backward gets None for them, and for dy when nothing reached y."""
    ctx.mark_non_differentiable(*statistics)
    ctx.set_materialize_grads(False)


# A Function's forward in plain, differentiable torch ops, from its ctx (the hyperparameters) and (x, weight,
# bias): the tested reference of `reference.py`.
Reference = Callable[..., tuple[Tensor, Tensor, Tensor]]


def ghost_reference(ctx, x: Tensor, weight: Tensor, bias: Tensor):
    """GhostNorm's reference, for Functions that keep `ctx.gm` and `ctx.eps`."""
    return ghost_norm_reference(x, ctx.gm, weight, bias, ctx.eps)


def seq_reference(ctx, x: Tensor, weight: Tensor, bias: Tensor):
    """SeqNorm's reference, for Functions that keep `ctx.hyper = (gc, gm, eps)`."""
    gc, gm, eps = ctx.hyper
    return seq_norm_reference(x, gc, gm, weight, bias, eps)


def hand_written_backward(reference: Reference):
    """Decorates a backward (after `mark_statistics`, with x and weight first in `ctx.saved_tensors`): no
    gradients when none reached y; and under `create_graph=True` (gradient penalties, Hessian-vector
    products) the gradients of `reference` by autograd instead, as the hand-written formulas take the
    batch statistics as constants and so have wrong gradients of their own."""

    def decorate(backward):
        @functools.wraps(backward)
        def checked(ctx, dy, *statistics_grads):
            if dy is None:
                return (None,) * len(ctx.needs_input_grad)
            if torch.is_grad_enabled():  # the engine enables grad mode in backward for create_graph=True only
                return _differentiable_backward(ctx, dy, reference)
            return backward(ctx, dy, *statistics_grads)

        return checked

    return decorate


def _differentiable_backward(ctx, dy: Tensor, reference: Reference) -> tuple[Tensor | None, ...]:
    """The gradients of x, weight and bias as a graph of their own (in x, weight and dy), recomputing the
    forward with a zero bias, as no gradient depends on the bias's value."""
    x, weight = ctx.saved_tensors[:2]
    inputs = [t if t.requires_grad else t.detach().requires_grad_() for t in (x, weight)]
    inputs.append(torch.zeros_like(weight, requires_grad=True))
    y = reference(ctx, *inputs)[0]
    grads = torch.autograd.grad(y, inputs, dy, create_graph=True)
    return *grads, *(None,) * (len(ctx.needs_input_grad) - len(grads))
