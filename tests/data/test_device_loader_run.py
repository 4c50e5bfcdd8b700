"""dataset.loader=gpu in a run: config errors before any data loads, and training end to end on CPU."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqnorm_repro.config import ConfigError, register_configs, validate
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train import run
from seqnorm_repro.train.trainer import Trainer

register_configs()
CIFAR_PRESETS = ["cifar10_wrn28_10", "cifar100_wrn28_10", "cifar10_resnet56_onecycle"]


def _compose(overrides: list[str], run_dir: Path):
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*overrides, "logger=none", f"paths.output_dir={run_dir}"])


@pytest.mark.parametrize("preset", CIFAR_PRESETS)
def test_cifar_presets_take_the_gpu_loader_but_not_with_randaugment(preset, tmp_path):
    assert (
        validate(_compose([f"experiment={preset}", "dataset.loader=gpu"], tmp_path)).dataset.loader == "gpu"
    )
    with pytest.raises(ConfigError, match=r"augment.randaugment_n=1 .*use dataset.loader=cpu"):
        validate(
            _compose([f"experiment={preset}", "dataset.loader=gpu", "augment.randaugment_n=1"], tmp_path)
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["dataset=mnist"],
            r"dataset.loader=gpu holds CIFAR-10/100 only, not dataset=mnist: use dataset.loader=cpu",
        ),
        (
            ["dataset=cifar10", "augment.random_resized_crop=24"],
            r"augment.random_resized_crop=24 is not implemented",
        ),
    ],
)
def test_gpu_loader_errors_come_before_any_data_loads(overrides, message, tmp_path):
    offline = ["dataset.download=false", f"paths.data_dir={tmp_path / 'nowhere'}"]  # loading would fail
    with pytest.raises(ConfigError, match=message):
        run(_compose([*overrides, *offline, "dataset.loader=gpu"], tmp_path))


def _train(run_dir: Path, root: Path, max_epochs: int | None = None) -> dict:
    overrides = [
        "dataset=cifar10", "dataset.loader=gpu", "trainer.device=cpu", f"paths.data_dir={root}",
        "dataset.verify_checksums=false", "dataset.download=false", "dataset.val_size=20",
        "dataset.num_workers=0", "augment=cifar", "norm=ghostnorm", "gm=2", "optim.momentum=0.9",
        "trainer.batch_size=30", "trainer.epochs=2", "trainer.progress=false",
    ]  # fmt: skip
    run(_compose(overrides, run_dir), max_epochs=max_epochs)
    return json.loads((run_dir / "results.json").read_text())


def test_training_with_the_gpu_loader_runs_and_resumes_exactly(tmp_path, cifar10_root):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    results = _train(whole, cifar10_root)
    assert results["status"] == "completed" and results["steps"] == 12  # 2 epochs x 180 // 30
    assert results["best_val_acc"] > 0.3  # a colour per class: learnable in two epochs
    assert _train(pieces, cifar10_root, max_epochs=1)["status"] == "incomplete"
    _train(pieces, cifar10_root)
    for name in ("whole", "pieces"):
        assert (tmp_path / name / "metrics.jsonl").read_text().count("\n") == 2
    weights = [torch.load(d / "checkpoints" / "last.pt", weights_only=True)["model"] for d in (whole, pieces)]
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=0)  # epoch 2 repeated bitwise


def test_the_trainer_takes_device_batches_without_a_copy(make_bundle):
    images, labels = next(iter(make_bundle("cifar10", loader="gpu").train))
    trainer = SimpleNamespace(device=torch.device("cpu"), memory_format=torch.contiguous_format)
    moved_images, moved_labels = Trainer._to_device(trainer, images, labels)
    assert moved_images is images and moved_labels is labels
