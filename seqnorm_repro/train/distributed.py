"""Process-group setup for torchrun and SLURM, and the few collectives the trainer needs.

One process per device. torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
under SLURM without torchrun (e.g. hydra-submitit-launcher, one task per GPU) they come from
SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS and the job's first node. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from seqnorm_repro.train.processes import DistEnv, launch_env


def init_distributed(device: torch.device, timeout_s: float) -> DistEnv:
    """Join the process group when launched with several processes; returns this process's place.

    `timeout_s` bounds every collective: a rank that dies or hangs ends the job with an error
    instead of a hang (torchrun also stops the other workers when one exits with an error).
    """
    env = launch_env()
    if not env.distributed or dist.is_initialized():
        return env
    if "MASTER_ADDR" not in os.environ:  # SLURM or submitit's local launcher, without torchrun
        local = "SUBMITIT_LOCAL_NTASKS" in os.environ
        os.environ["MASTER_ADDR"] = "127.0.0.1" if local else _slurm_first_node()
        job_id = os.environ.get("SUBMITIT_LOCAL_JOB_ID" if local else "SLURM_JOB_ID", "0")
        os.environ.setdefault("MASTER_PORT", str(20_000 + int(job_id) % 20_000))
    if device.type == "cuda":
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        rank=env.rank,
        world_size=env.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    return env


def _slurm_first_node() -> str:
    nodes = subprocess.run(
        ["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return nodes[0]


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any) -> Any:
    """Rank 0's value on every rank (e.g. its run directory: each rank composed its own config)."""
    if not dist.is_initialized():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (metrics: loss sums, correct counts, sample counts)."""
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


def broadcast_buffers(module: nn.Module) -> None:
    """Rank 0's running statistics on every rank before evaluation: unsynchronised norm layers
    drift apart by the last training step, and rank 0's state is what the checkpoint keeps."""
    if dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
