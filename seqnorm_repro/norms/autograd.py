"""What the layers' autograd Functions share: y is their one differentiable output, the statistics returned
beside it (for the running averages) are not."""

from __future__ import annotations

import functools

from torch import Tensor


def mark_statistics(ctx, *statistics: Tensor) -> None:
    """The statistics outputs are not differentiable, and autograd fills no zero gradients for them (one
    kernel each per backward on a GPU): backward gets None for them, and for dy when nothing reached y."""
    ctx.mark_non_differentiable(*statistics)
    ctx.set_materialize_grads(False)


def needs_dy(backward):
    """A backward (after `mark_statistics`) that gives no gradients when none reached y."""

    @functools.wraps(backward)
    def checked(ctx, dy, *statistics_grads):
        if dy is None:
            return (None,) * len(ctx.needs_input_grad)
        return backward(ctx, dy, *statistics_grads)

    return checked
