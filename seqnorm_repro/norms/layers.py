"""The paper's normalisation layers as nn.Modules that swap in wherever nn.BatchNorm goes.

GhostNorm and SeqNorm follow Sections 2.1-2.3 of the paper; NoisyBatchNorm is the Table 1
ablation. These three share BatchNorm's parameter and buffer names (weight, bias, running_mean,
running_var, num_batches_tracked), so BatchNorm checkpoints load into them and back; every layer
here takes timm's `device`/`dtype` keywords. None of the three subclasses `_BatchNorm`:
`nn.SyncBatchNorm.convert_sync_batchnorm` replaces every `_BatchNorm`, which would silently turn them
back into global BatchNorm (BatchNorm below does subclass it, so trainer.sync_bn converts it).
"""

from __future__ import annotations

import importlib.util
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.fx import Proxy
from torch.nn.modules.batchnorm import _BatchNorm

from seqnorm_repro.norms.fused import ghost_norm_fused, seq_norm_fused
from seqnorm_repro.norms.reference import ghost_norm_reference, seq_norm_reference, unbiased_factor
from seqnorm_repro.norms.validation import (
    check_channel_groups,
    check_ghost_batch,
    check_input,
    check_positive_int,
)

Impl = Literal["auto", "triton", "fused", "reference"]
IMPLS = get_args(Impl)
HAS_TRITON = importlib.util.find_spec("triton") is not None  # CPU-only torch wheels come without it


_TORCH_IMPLS = {
    ("ghost", "fused"): ghost_norm_fused,
    ("ghost", "reference"): ghost_norm_reference,
    ("seq", "fused"): seq_norm_fused,
    ("seq", "reference"): seq_norm_reference,
}


def _implementation(layer: str, impl: str):
    """The function computing a `layer` ("ghost" or "seq") training forward with `impl`; the Triton
    module is imported on first use, so the layers import without triton (CPU-only torch)."""
    if impl != "triton":
        return _TORCH_IMPLS[layer, impl]
    _require_triton()
    from seqnorm_repro.norms.triton_ops import ghost_norm_triton, seq_norm_triton

    return {"ghost": ghost_norm_triton, "seq": seq_norm_triton}[layer]


def _require_triton() -> None:
    if not HAS_TRITON:
        raise RuntimeError("impl='triton' needs the triton package (pip install triton); or use impl='fused'")


def check_triton_runs_on(device: torch.device) -> None:
    """Raises the RuntimeError impl='triton' would raise at the first forward on `device`, so a training
    run can stop before it loads any data."""
    _require_triton()
    from seqnorm_repro.norms import triton_ops

    triton_ops.check_device(device)


def _fx_leaf(layer: nn.Module, x: Proxy) -> Proxy:
    """The layer as one call_module node under torch.fx symbolic tracing (torchvision's
    create_feature_extractor, timm's FX feature extraction), as torch.nn's own norms are: its checks read
    the input's shape, which a Proxy cannot give."""
    return x.tracer.create_proxy("call_module", x.tracer.path_of_module(layer), (x,), {})


class BatchNorm(_BatchNorm):
    """nn.BatchNorm for (M, C) and (M, C, *) inputs alike, so one name serves MLPs and CNNs."""

    def forward(self, input: Tensor) -> Tensor:
        if isinstance(input, Proxy):
            return _fx_leaf(self, input)
        return super().forward(input)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"{self}: expected (M, C) or (M, C, *) input, got {tuple(input.shape)}")


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm with channels first in the signature, like every other norm here."""

    def __init__(
        self, num_features: int, gc: int, eps: float = 1e-5, affine: bool = True,
        device=None, dtype=None, *, bias: bool = True,
    ) -> None:  # fmt: skip
        check_positive_int(f"GroupNorm({num_features})", "gc", gc)
        check_channel_groups(f"GroupNorm({num_features}, gc={gc})", num_features, gc)
        super().__init__(gc, num_features, eps, affine, device=device, dtype=dtype, bias=bias)
        self.gc = gc

    def extra_repr(self) -> str:
        """In this class's argument order (nn.GroupNorm's shows the group count first)."""
        bias = ", bias=False" if self.affine and self.bias is None else ""
        return f"{self.num_channels}, gc={self.gc}, eps={self.eps}, affine={self.affine}{bias}"


class NoNorm(nn.Identity):
    """The paper's no-normalisation baseline, with a norm layer's signature."""

    def __init__(self, num_features: int, device=None, dtype=None) -> None:
        super().__init__()


class _RunningStatsNorm(nn.Module):
    """BatchNorm's affine parameters, running statistics and state_dict layout, without `_BatchNorm`.

    A subclass's forward (`_GhostBase._train_norm` is one): without `_uses_batch_stats()`, return
    `_eval_norm(x)`; else take `factor = _momentum_factor()` first (momentum=None counts this batch),
    then `_update_running_stats(mean, var, unbias, factor)`, then `num_batches_tracked.add_(1)`.
    """

    _version = 2  # as _BatchNorm: num_batches_tracked exists from version 2 on

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
        affine: bool = True, track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        # as nn.BatchNorm: affine=True, bias=False learns a weight alone
        self.weight = nn.Parameter(torch.empty(num_features, **factory)) if affine else None
        self.bias = nn.Parameter(torch.empty(num_features, **factory)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return f"{self.num_features}, {self._hyper_repr()}{self._stats_repr()}"

    def _hyper_repr(self) -> str:
        """The subclass's own hyperparameters, shown after num_features."""
        return ""

    def _stats_repr(self) -> str:
        return (
            f"eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            + ("bias=False, " if self.affine and self.bias is None else "")
            + f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        # Checkpoints from before num_batches_tracked existed, exactly as _BatchNorm handles them.
        key = prefix + "num_batches_tracked"
        version = local_metadata.get("version")
        if self.track_running_stats and (version is None or version < 2) and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def _uses_batch_stats(self) -> bool:
        return self.training or not self.track_running_stats

    def _momentum_factor(self) -> float:
        """This batch's weight in the running averages, as _BatchNorm's (this batch counted)."""
        if self.momentum is None:  # cumulative moving average
            return 1.0 / (float(self.num_batches_tracked) + 1)
        return self.momentum

    @torch.no_grad()
    def _update_running_stats(
        self, group_mean: Tensor, group_var: Tensor, unbias: float, factor: float
    ) -> None:
        """Momentum update with the mean over groups of the group means and unbiased variances."""
        unbiased = group_var * unbias
        self.running_mean.lerp_(group_mean.mean(0).to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.mean(0).to(self.running_var.dtype), factor)

    def _describe(self) -> str:
        """How error messages name the layer."""
        return f"{type(self).__name__}({self.num_features})"

    def _eval_norm(self, x: Tensor) -> Tensor:
        """Eval with running statistics: any batch size, ATen's (cuDNN's) BatchNorm kernel."""
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class _GhostBase(_RunningStatsNorm):
    """Shared by GhostNorm and SeqNorm: gm contiguous ghost groups and the choice of implementation."""

    def __init__(self, num_features: int, gm: int, *args, impl: Impl = "auto", **kwargs) -> None:
        """`args`: BatchNorm's positional arguments after num_features (eps, momentum, affine, ...)."""
        check_positive_int(f"{type(self).__name__}({num_features})", "gm", gm)
        if impl not in IMPLS:
            raise ValueError(f"{type(self).__name__}: impl={impl!r} is not one of {IMPLS}")
        super().__init__(num_features, *args, **kwargs)
        self.gm, self.impl = gm, impl

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Proxy):
            return _fx_leaf(self, x)
        check_input(self._describe(), x, self.num_features)
        if not self._uses_batch_stats():
            return self._eval_norm(self._eval_input(x))
        return self._train_norm(x)

    def _eval_input(self, x: Tensor) -> Tensor:
        """What the running statistics normalise: the input (SeqNorm: its GroupNorm's output)."""
        return x

    def _train_norm(self, x: Tensor) -> Tensor:
        check_ghost_batch(self._describe(), x.shape, self.gm)
        impl = self._impl_for(x)
        if not (self.training and self.track_running_stats):
            return self._normalise(x, impl)[0]
        factor = self._momentum_factor()
        if impl == "triton":  # the statistics kernel updates the buffers: no separate small kernels
            y = self._normalise(x, impl, self.running_mean, self.running_var, factor)[0]
        else:
            y, group_mean, group_var = self._normalise(x, impl)
            self._update_running_stats(group_mean, group_var, unbiased_factor(x, self.gm), factor)
        self.num_batches_tracked.add_(1)  # once the batch went through: a failed call leaves no trace
        return y

    def _impl_for(self, x: Tensor) -> str:
        """`auto` is the Triton kernels on CUDA tensors (where triton is installed), the fused torch ops
        elsewhere; under torch.compile, a non-contiguous input (channels_last) takes the Figure 4 ops, which
        Inductor fuses (the fused path writes into strided views through out=, which dynamo cannot trace)."""
        if self.impl != "auto":
            return self.impl
        if torch.compiler.is_exporting():  # export traces into the Functions, whose out= ops autograd refuses
            return "reference"
        if x.is_cuda and HAS_TRITON:
            return "triton"
        return "reference" if torch.compiler.is_compiling() and not x.is_contiguous() else "fused"

    def _normalise(self, x: Tensor, impl: str, *running) -> tuple[Tensor, Tensor, Tensor]:
        """y and the groups' mean and variance; `running` (running_mean, running_var, factor) only for
        impl="triton", which updates them itself."""
        raise NotImplementedError

    def _describe(self) -> str:
        return f"{type(self).__name__}({self.num_features}, gm={self.gm})"


class GhostNorm(_GhostBase):
    """BatchNorm over each of gm contiguous chunks of the batch (Figure 4); gm=1 is BatchNorm.

    GhostNorm(num_features, gm, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    device=None, dtype=None, *, impl="auto", bias=True): nn.BatchNorm2d's arguments after gm, and
    impl = "auto" | "triton" | "fused" | "reference" (README, "Implementations").
    """

    def _normalise(self, x: Tensor, impl: str, *running) -> tuple[Tensor, Tensor, Tensor]:
        return _implementation("ghost", impl)(x, self.gm, self.weight, self.bias, self.eps, *running)

    def _hyper_repr(self) -> str:
        return f"gm={self.gm}, impl={self.impl!r}, "


class SeqNorm(_GhostBase):
    """GroupNorm with gc groups and no affine, then GhostNorm with gm groups and the one affine.

    SeqNorm(num_features, gc, gm, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    device=None, dtype=None, *, impl="auto", bias=True), as GhostNorm with gc first.
    """

    def __init__(self, num_features: int, gc: int, gm: int, *args, **kwargs) -> None:
        check_positive_int(f"SeqNorm({num_features})", "gc", gc)
        check_channel_groups(f"SeqNorm({num_features}, gc={gc}, gm={gm})", num_features, gc)
        super().__init__(num_features, gm, *args, **kwargs)
        self.gc = gc

    def _eval_input(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.gc, eps=self.eps)

    def _normalise(self, x: Tensor, impl: str, *running) -> tuple[Tensor, Tensor, Tensor]:
        return _implementation("seq", impl)(x, self.gc, self.gm, self.weight, self.bias, self.eps, *running)

    def _hyper_repr(self) -> str:
        return f"gc={self.gc}, gm={self.gm}, impl={self.impl!r}, "

    def _describe(self) -> str:
        return f"SeqNorm({self.num_features}, gc={self.gc}, gm={self.gm})"


class NoisyBatchNorm(GhostNorm):
    """BatchNorm whose training input gets N(0, noise_std^2) noise just before normalising (Table 1).

    gm > 1 normalises ghost groups instead, which is how a paper preset keeps the paper's 64-sample
    BatchNorm groups on fewer GPUs; gm=1 (the default) is BatchNorm exactly.
    """

    def __init__(self, num_features: int, noise_std: float, *args, gm: int = 1, **kwargs) -> None:
        if noise_std < 0:
            raise ValueError(f"NoisyBatchNorm({num_features}): noise_std must be >= 0, got {noise_std}")
        super().__init__(num_features, gm, *args, **kwargs)
        self.noise_std = noise_std

    def _train_norm(self, x: Tensor) -> Tensor:
        if not (self.training and self.noise_std > 0):
            return super()._train_norm(x)
        # In fp32 at least: bf16 and fp16 cannot hold x + 3e-4 (the paper's best noise_std) for |x| ~ 1.
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        return super()._train_norm(wide + self.noise_std * torch.randn_like(wide)).to(x.dtype)

    def _hyper_repr(self) -> str:
        return f"noise_std={self.noise_std}, {super()._hyper_repr()}"
