"""trainer.sync_bn: BatchNorm with statistics over the global batch of every process.

On CUDA this is torch's nn.SyncBatchNorm, through timm's converter: torch's turns every `_BatchNorm` subclass
into a plain SyncBatchNorm, silently dropping the activation of timm's BatchNormAct2d, which timm's turns
into its SyncBatchNormAct. torch's SyncBatchNorm rejects CPU tensors, so on CPU (gloo)
AllReduceBatchNorm sums the statistics with torch.distributed.nn's differentiable all-reduce;
autograd then gives the synchronised backward. GhostNorm and SeqNorm are never converted: they are
not `_BatchNorm`s, and ghost groups are per device by definition.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from timm.layers import convert_sync_batchnorm
from torch import Tensor, nn

from seqnorm_repro.norms import BatchNorm, convert_norm


class AllReduceBatchNorm(BatchNorm):
    """BatchNorm over the union of every process's batch, for CPU process groups."""

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        # fp32 statistics and arithmetic for bf16/fp16 inputs (autocast): exact counts, sums that do not
        # round away, and the fp32 running buffers' dtype; the output in the input's dtype, as BatchNorm's
        return self._synchronised(x.to(torch.promote_types(x.dtype, torch.float32))).to(x.dtype)

    def _synchronised(self, x: Tensor) -> Tensor:
        dims = [0, *range(2, x.dim())]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        count = torch.full((1,), x.numel() // x.shape[1], dtype=x.dtype, device=x.device)
        totals = dist_fn.all_reduce(torch.cat([x.sum(dims), count]))
        n, mean = totals[-1], totals[:-1] / totals[-1]
        centred = x - mean.view(shape)
        var = dist_fn.all_reduce(centred.square().sum(dims)) / n  # centred: never E[x^2] - mean^2
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:  # BatchNorm(..., bias=False) has a weight alone
            y = y + self.bias.view(shape)
        if self.track_running_stats:
            self._update(mean.detach(), (var * n / (n - 1)).detach())
        return y

    @torch.no_grad()
    def _update(self, mean: Tensor, unbiased_var: Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor)


def synchronise_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every real BatchNorm of `model` made global across processes, keeping its state."""
    if device.type == "cuda":
        return convert_sync_batchnorm(model)
    return convert_norm(model, AllReduceBatchNorm)
