"""The trainer end to end on mnist5k (no download): files, resume, failure modes, and accuracy."""

import json
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from seqnorm_repro.config import ScheduleConfig
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train import run
from seqnorm_repro.train.callbacks import Callback
from seqnorm_repro.train.checkpoint import CheckpointError
from seqnorm_repro.train.schedules import lr_factor
from seqnorm_repro.train.trainer import Trainer


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_run_writes_metrics_checkpoints_and_results(tmp_path, run_config):
    run(run_config(tmp_path, []))
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in metrics] == [1, 2]
    assert {"train_loss", "train_acc", "val_acc", "lr", "samples_per_s"} <= set(metrics[-1])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["epochs_completed"] == 2
    assert set(results["test_acc"]) == {"test"} and 0.5 < results["test_acc"]["test"] <= 1.0
    assert results["best_val_acc"] == max(row["val_acc"] for row in metrics)
    assert {"config_hash", "git_commit", "hardware", "wall_seconds"} <= set(results)
    indices = json.loads((tmp_path / "val_indices.json").read_text())["indices"]
    assert len(indices) == 500
    for name in ("last.pt", "best.pt"):
        state = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert state["config_hash"] == results["config_hash"]


def test_final_val_acc_lr_and_seed_of_each_epoch(tmp_path, run_config, monkeypatch):
    """The tables read final_val_acc (the paper reports the last epoch), even where an earlier epoch was
    better; each epoch logs the lr of its last step, lr_factor at that step's index; and each epoch draws
    its shuffle, augmentation and dropout from a seed of its own."""
    scripted = iter([0.9, 0.5])  # the validation accuracies of epochs 1 and 2, in place of the real ones
    real_evaluate, real_train_epoch, seeds = Trainer.evaluate, Trainer._train_epoch, []

    def evaluate(self, loader):
        metrics = real_evaluate(self, loader)
        return {**metrics, "acc": next(scripted)} if loader is self.data.val else metrics

    def train_epoch(self, epoch):
        seeds.append(torch.initial_seed())
        return real_train_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    run(run_config(tmp_path, ["schedule=cosine"]))
    assert len(set(seeds)) == 2
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["final_val_acc"], results["best_val_acc"], results["best_epoch"]) == (0.5, 0.9, 1)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    per_epoch = results["steps"] // 2
    for epoch, row in enumerate(metrics, start=1):
        factor = lr_factor(ScheduleConfig("cosine"), epoch * per_epoch - 1, per_epoch, results["steps"])
        assert row["lr"] == pytest.approx(0.4 * factor)


@pytest.mark.parametrize(
    "norm",
    [
        ["norm=ghostnorm", "gm=8"],
        ["norm=seqnorm", "gc=4", "gm=8"],
        # fp16 on CPU is slow; the scaler's checkpoint has its own test in `make test`
        pytest.param(["norm=ghostnorm", "gm=8", "trainer.amp=fp16"], marks=pytest.mark.slow),
    ],
)
def test_interrupt_and_resume_equals_uninterrupted(tmp_path, norm, run_config):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    overrides = [*norm, "trainer.epochs=3", "optim.momentum=0.9", "schedule=cosine"]
    run(run_config(whole, overrides))
    run(run_config(pieces, overrides), max_epochs=2)  # "interrupted" after epoch 2
    assert json.loads((pieces / "results.json").read_text())["status"] == "incomplete"
    run(run_config(pieces, overrides))
    for key, value in _weights(whole).items():
        torch.testing.assert_close(_weights(pieces)[key], value, rtol=0, atol=0)
    assert (whole / "metrics.jsonl").read_text().count("\n") == (pieces / "metrics.jsonl").read_text().count(
        "\n"
    )


def test_completed_run_is_not_trained_again(tmp_path, run_config):
    first = run(run_config(tmp_path, []))
    stamp = (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert run(run_config(tmp_path, [])) == first
    assert (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
    results = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**results, "best_val_acc": 0.99}))
    assert run(run_config(tmp_path, [])) == results["final_val_acc"]  # a sweeper optimises what tables read


def test_a_run_completed_on_another_process_count_is_kept_with_a_warning(tmp_path, run_config, caplog):
    first = run(run_config(tmp_path, []))
    results = json.loads((tmp_path / "results.json").read_text())
    results["norm_groups"]["world_size"] = 2  # as torchrun --nproc_per_node=2 would have written it
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert run(run_config(tmp_path, [])) == first
    assert "it ran on 2 process(es) and this launch has 1" in caplog.text


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, run_config, content):
    run(run_config(tmp_path, []), max_epochs=1)
    (tmp_path / "checkpoints" / "last.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"last.pt is corrupt or unreadable .*trainer.resume=never"):
        run(run_config(tmp_path, []))
    # Finished work is untouched: the record still says incomplete and best.pt still loads.
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "incomplete"
    torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)


def test_an_interrupt_before_the_first_checkpoint_still_says_how_to_train_it(
    tmp_path, run_config, caplog, monkeypatch
):
    """A sweep's job stopped in its first epoch: the hint names where to run again (under -m, the sweep)."""

    def interrupted(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(run_config(tmp_path, []))
    hint = f"run again with paths.output_dir={tmp_path.resolve()} to train it from the start"
    assert f"interrupted after 0 of 2 epochs: no checkpoint yet; {hint}" in caplog.text
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "interrupted"


def test_a_missing_last_checkpoint_trains_again_with_a_warning(tmp_path, run_config, caplog):
    run(run_config(tmp_path, []), max_epochs=1)
    (tmp_path / "checkpoints" / "last.pt").unlink()
    run(run_config(tmp_path, []))
    assert "last.pt is missing: training from epoch 1 again (results.json records 1 finished" in caplog.text
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2  # epoch 1 rewritten, then 2


def test_starting_over_replaces_the_earlier_runs_checkpoints_and_metrics_at_once(
    tmp_path, run_config, caplog
):
    """trainer.resume=never stopped before its first epoch ends leaves no file of the run it replaced, and
    says what it replaced."""
    run(run_config(tmp_path, []), max_epochs=1)
    run(run_config(tmp_path, ["trainer.resume=never"]), max_epochs=0)  # a stop before epoch 1 ends
    assert (
        f"trainer.resume=never: replacing the run recorded in {tmp_path} (incomplete, epochs completed: 1)"
        in caplog.text
    )
    assert json.loads((tmp_path / "results.json").read_text())["epochs_completed"] == 0
    assert (tmp_path / "metrics.jsonl").read_text() == ""
    assert list((tmp_path / "checkpoints").iterdir()) == []


@pytest.mark.parametrize("max_epochs", [1, None])  # an incomplete run, a completed one
def test_checkpoint_of_another_config_is_a_clear_error_and_changes_no_file(tmp_path, run_config, max_epochs):
    run(run_config(tmp_path, []), max_epochs=max_epochs)
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    changes = r"\(dataset.split_seed 0 -> 5\)"
    with pytest.raises(CheckpointError, match=rf"written by a different config {changes}"):
        run(run_config(tmp_path, ["dataset.split_seed=5"]))  # another validation split, too
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files


def test_a_checkpoint_of_the_same_settings_resumes_whatever_hash_it_records(tmp_path, run_config, caplog):
    """A hash computed another way (an earlier version's) does not stop a run of the same settings."""
    run(run_config(tmp_path, []), max_epochs=1)
    last = tmp_path / "checkpoints" / "last.pt"
    torch.save({**torch.load(last, weights_only=True), "config_hash": "0123456789abcdef"}, last)
    caplog.set_level("INFO")
    run(run_config(tmp_path, []))
    assert "resumed from" in caplog.text and "after epoch 1" in caplog.text
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"


def test_resuming_with_other_samples_per_group_is_a_clear_error(tmp_path, run_config):
    """As a checkpoint from 2 processes would be, when gm counts groups per device (no paper preset)."""
    run(run_config(tmp_path, ["norm=ghostnorm", "gm=8"]), max_epochs=1)
    last = tmp_path / "checkpoints" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["samples_per_group"] == {"GhostNorm": 32}  # batch 256 / gm 8
    torch.save({**checkpoint, "samples_per_group": {"GhostNorm": 16}}, last)
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    with pytest.raises(
        CheckpointError, match=r"trained with \{'GhostNorm': 16\} samples per normalisation group"
    ):
        run(run_config(tmp_path, ["norm=ghostnorm", "gm=8"], logger="wandb"))
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files  # no W&B run


def test_accumulation_mixup_smoothing_and_clipping_run(tmp_path, run_config):
    overrides = [
        "norm=ghostnorm", "gm=4", "trainer.accumulate_steps=2", "augment.mixup_alpha=0.2",
        "trainer.label_smoothing=0.1", "trainer.grad_clip=2.0", "trainer.epochs=1",
    ]  # fmt: skip
    run(run_config(tmp_path, overrides))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["steps"] == 3500 // 256


class _LinearOutputDtypes(Callback):
    """Hooks the model's Linear layers at the first step and records their output dtypes from then on."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()
        self.hooked = False

    def before_step(self, trainer, inputs, targets) -> None:
        if not self.hooked:
            self.hooked = True
            for module in trainer.model.modules():
                if isinstance(module, nn.Linear):
                    module.register_forward_hook(lambda module, args, output: self.dtypes.add(output.dtype))


@pytest.mark.parametrize(
    ("amp", "dtype"), [("none", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_amp_runs_the_model_in_its_dtype_on_cpu_too(tmp_path, run_config, monkeypatch, amp, dtype):
    recorder = _LinearOutputDtypes()
    monkeypatch.setattr(sys.modules["seqnorm_repro.train.runner"], "_callbacks", lambda cfg: [recorder])
    overrides = [
        "norm=ghostnorm",
        "gm=8",
        f"trainer.amp={amp}",
        "trainer.epochs=1",
        "trainer.limit_train_batches=3",
    ]
    run(run_config(tmp_path, overrides))
    assert recorder.dtypes == {dtype}  # the later training steps and the evaluations
    scaler = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["scaler"]
    assert bool(scaler) == (amp == "fp16")  # GradScaler's state_dict is empty when it is disabled


def test_fp16_loss_scale_is_checkpointed_and_restored(tmp_path, run_config):
    overrides = ["norm=ghostnorm", "gm=8", "trainer.amp=fp16", "trainer.grad_clip=2.0"]
    run(run_config(tmp_path, overrides), max_epochs=1)
    last = tmp_path / "checkpoints" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    steps = checkpoint["state"]["step"]
    checkpoint["scaler"] |= {"scale": 1024.0, "_growth_tracker": 7}  # as if epoch 1 had ended there
    torch.save(checkpoint, last)
    run(run_config(tmp_path, overrides))
    scaler = torch.load(last, weights_only=True)["scaler"]
    assert (scaler["scale"], scaler["_growth_tracker"]) == (1024.0, 7 + steps)  # no overflow at 1024


def test_default_run_reaches_85_percent_test_accuracy(tmp_path):
    """`python train.py` as a user runs it: the default config, nothing shrunk but the logger."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["logger=none", f"paths.output_dir={tmp_path}"])
    run(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["test_acc"]["test"] >= 0.85
