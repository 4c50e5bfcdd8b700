"""Multi-process training on CPU with gloo (2 processes under torchrun), and the paper's three
GhostNorm implementations: the layer, BatchNorm with accumulation, unsynchronised BatchNorm."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from timm.layers import BatchNormAct2d, SyncBatchNormAct
from torch import nn

from seqnorm_repro.landscape.records import RECORDS_FILE, load_records
from seqnorm_repro.norms import GhostNorm
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train import run
from seqnorm_repro.train.distributed import broadcast_buffers
from seqnorm_repro.train.sync_batchnorm import AllReduceBatchNorm, synchronise_batchnorm

ONE_STEP = [
    "trainer.epochs=1", "trainer.limit_train_batches=1", "trainer.batch_size=256", "optim.momentum=0.0",
    "trainer.progress=false", "logger=none",
]  # fmt: skip


def torchrun(run_dir: Path, *overrides: str, processes: int = 2, wait: bool = True):
    command = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "train.py",
        *overrides, f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _parameters(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    return {key: value for key, value in state.items() if "running" not in key and "num_batches" not in key}


def _train_loss(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]


def _assert_same_step(a: Path, b: Path) -> None:
    assert _train_loss(a) == pytest.approx(_train_loss(b), rel=1e-5)
    for key, value in _parameters(a).items():  # SGD: equal weights after one step = equal gradients
        torch.testing.assert_close(_parameters(b)[key], value, rtol=1e-5, atol=1e-6)


def test_the_landscape_probe_sees_the_whole_batch_of_every_process(tmp_path, run_config):
    """2 processes of BatchNorm are GhostNorm gm=2 on one: the same update, so the same probe losses."""
    probe = ["landscape=mnist", "landscape.test_every_epoch=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    run(run_config(one, [*ONE_STEP, *probe, "norm=ghostnorm", "gm=2"]))
    torchrun(two, *ONE_STEP, *probe, "norm=batchnorm")
    losses = [load_records(directory / RECORDS_FILE)["loss"] for directory in (one, two)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_three_ghostnorm_implementations_give_the_same_step(tmp_path, run_config):
    layer, accumulation, processes = tmp_path / "layer", tmp_path / "accumulation", tmp_path / "processes"
    run(run_config(layer, [*ONE_STEP, "norm=ghostnorm", "gm=2"]))
    run(run_config(accumulation, [*ONE_STEP, "norm=batchnorm", "trainer.accumulate_steps=2"]))
    torchrun(processes, *ONE_STEP, "norm=batchnorm")
    _assert_same_step(layer, accumulation)
    _assert_same_step(layer, processes)
    groups = [
        json.loads((d / "results.json").read_text())["norm_groups"] for d in (layer, accumulation, processes)
    ]
    assert [g["samples_per_group"] for g in groups] == [
        {"GhostNorm": 128},
        {"BatchNorm": 128},
        {"BatchNorm": 128},
    ]


def test_sync_bn_over_two_processes_is_batchnorm_over_the_full_batch(tmp_path, run_config):
    single, synced = tmp_path / "single", tmp_path / "synced"
    run(run_config(single, [*ONE_STEP, "norm=batchnorm"]))
    torchrun(synced, *ONE_STEP, "norm=batchnorm", "trainer.sync_bn=true")
    _assert_same_step(single, synced)
    state = torch.load(synced / "checkpoints" / "last.pt", weights_only=True)["model"]
    reference = torch.load(single / "checkpoints" / "last.pt", weights_only=True)["model"]
    torch.testing.assert_close(state["layers.2.running_var"], reference["layers.2.running_var"])
    results = json.loads((synced / "results.json").read_text())
    assert results["norm_groups"]["samples_per_group"] == {"AllReduceBatchNorm": 256}


def test_two_process_default_run_writes_one_run_directory(tmp_path):
    before = set(REPO_ROOT.iterdir())
    torchrun(tmp_path / "run", "logger=none", "trainer.epochs=2", "trainer.progress=false")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["norm_groups"]["world_size"] == 2
    assert results["test_acc"]["test"] > 0.85
    assert (tmp_path / "run" / ".hydra" / "config.yaml").exists()
    assert set(REPO_ROOT.iterdir()) == before  # rank 1 wrote nothing anywhere else


def test_a_dead_rank_ends_the_whole_job(tmp_path):
    job = torchrun(tmp_path / "run", "logger=none", "trainer.epochs=1000", "trainer.progress=false",
                   "trainer.dist_timeout_s=30", wait=False)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "metrics.jsonl").exists():  # training is under way
            assert time.monotonic() < deadline and job.poll() is None, "training did not start"
            time.sleep(0.5)
        workers = [
            p for p in psutil.Process(job.pid).children(recursive=True) if "train.py" in " ".join(p.cmdline())
        ]
        rank1 = next(p for p in workers if p.environ().get("RANK") == "1")
        rank1.send_signal(signal.SIGKILL)
        returncode = job.wait(timeout=90)  # no hang: torchrun stops the survivor and fails
    finally:
        if job.poll() is None:
            job.kill()
    assert returncode != 0
    # rank 0 fails on the broken collective, or is stopped first by torchrun's SIGTERM ("interrupted":
    # resumable); either way results.json never says completed
    status = json.loads((tmp_path / "run" / "results.json").read_text())["status"]
    assert status in ("running", "failed", "interrupted")


def test_every_rank_of_an_interrupted_run_tells_the_same_way_to_resume(tmp_path):
    job = torchrun(tmp_path / "run", "logger=none", "trainer.epochs=1000", "trainer.limit_train_batches=1",
                   "trainer.progress=false", wait=False)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "checkpoints" / "last.pt").exists():  # an epoch to resume from
            assert time.monotonic() < deadline and job.poll() is None, "training did not start"
            time.sleep(0.5)
        job.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
        output = job.communicate(timeout=90)[0].decode()
    finally:
        if job.poll() is None:
            job.kill()
    hints = re.findall(r"interrupted after \d+ of 1000 epochs: (.*) to resume", output)
    # a rank stopped inside a collective may fail on the other's exit instead, and then gives no hint
    assert hints and set(hints) == {f"run the same command with hydra.run.dir={tmp_path / 'run'}"}


def test_sync_bn_keeps_timm_norm_act_activations_and_our_layers():
    """torch's converter turns timm's BatchNormAct2d into a SyncBatchNorm that never calls its activation."""
    model = nn.Sequential(BatchNormAct2d(4, act_layer=nn.ReLU), GhostNorm(4, gm=2), nn.BatchNorm2d(4))
    model = synchronise_batchnorm(model, torch.device("cuda"))  # conversion only: runs on a CPU too
    assert [type(m) for m in model] == [SyncBatchNormAct, GhostNorm, nn.SyncBatchNorm]
    assert isinstance(model[0].act, nn.ReLU)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_all_reduce_batchnorm_takes_autocasts_low_precision_inputs(dtype, tmp_path):
    """trainer.sync_bn with trainer.amp on CPU: fp32 statistics and buffers, output in the input's dtype."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        x = (torch.randn(16, 4, 5, 5) * 2 + 3).to(dtype)
        synced, plain = AllReduceBatchNorm(4), nn.BatchNorm2d(4)
        with torch.autocast("cpu", dtype=dtype):
            y = synced(x)
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), plain(x.float()), atol=2e-2, rtol=0)
        torch.testing.assert_close(synced.running_var, plain.running_var)
    finally:
        dist.destroy_process_group()


def test_all_reduce_batchnorm_without_bias_equals_batchnorms(tmp_path):
    """convert_norm keeps bias=False, so trainer.sync_bn on CPU meets BatchNorms with a weight alone."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        x = torch.randn(16, 4, 5, 5) * 2 + 3
        synced, plain = AllReduceBatchNorm(4, bias=False), nn.BatchNorm2d(4, bias=False)
        with torch.no_grad():
            plain.weight.copy_(synced.weight.uniform_())
        torch.testing.assert_close(synced(x), plain(x))
        torch.testing.assert_close(synced.running_var, plain.running_var)
    finally:
        dist.destroy_process_group()


def _evaluate_state_of(rank: int, init_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        layer = nn.BatchNorm1d(3)
        layer.running_mean.fill_(rank)
        broadcast_buffers(layer)
        assert torch.equal(layer.running_mean, torch.zeros(3)), f"rank {rank}: {layer.running_mean}"
    finally:
        dist.destroy_process_group()


def test_every_rank_evaluates_with_rank_0s_running_statistics(tmp_path):
    """Unsynchronised norm layers drift apart per rank; evaluation and the checkpoint use rank 0's."""
    mp.spawn(_evaluate_state_of, args=(str(tmp_path / "rendezvous"),), nprocs=2)
