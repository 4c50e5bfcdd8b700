"""One short real training run per paper preset, on small data the fixtures write in the real
on-disk format (IDX, CIFAR pickle batches, ImageFolder and ImageNetV2 JPEG trees), through the
same code path as the full run: only sizes are shrunk."""

import json
import logging

import pytest

from seqnorm_repro.train import run

# Presets count gm per the paper's device batch (paper_device_batch): these keep 4-16 samples per group.
SHRINK = ["trainer.epochs=1", "trainer.batch_size=32", "trainer.eval_batch_size=50", "gc=4"]


@pytest.mark.parametrize(
    ("experiment", "root", "norm", "extra"),
    [
        ("mnist_simplenet", "mnist_root", "ghostnorm", ["gm=64"]),
        (
            "cifar10_resnet56_onecycle",
            "cifar10_root",
            "seqnorm",
            ["dataset.verify_checksums=false", "gm=128"],
        ),
        (
            "cifar100_wrn28_10",
            "cifar100_root",
            "ghostnorm",
            [
                "dataset.verify_checksums=false",
                "dataset.val_size=100",
                "trainer.batch_size=16",  # WRN-28-10 on a CPU: one step, 16 images each way
                "trainer.eval_batch_size=16",
                "trainer.limit_train_batches=1",
                "trainer.limit_eval_batches=1",
                "dataset.num_workers=0",
                "augment.randaugment_n=1",
                "augment.randaugment_m=14",
                "model.dropout=0.3",
                "gm=8",
            ],
        ),
        (
            "imagenet_resnet18_250ep",
            "imagenet_root",
            "seqnorm",
            [
                "augment.random_resized_crop=32",
                "augment.eval_resize=36",
                "augment.eval_crop=32",
                "trainer.batch_size=16",
                "dataset.num_workers=0",
                "gm=64",
            ],
        ),
    ],
)
def test_preset_trains_on_files_in_the_real_format(
    experiment, root, norm, extra, request, tmp_path, run_config
):
    data_root = request.getfixturevalue(root)
    paths = f"paths.imagenet_dir={data_root}" if root == "imagenet_root" else f"paths.data_dir={data_root}"
    cfg = run_config(tmp_path, [f"experiment={experiment}", f"norm={norm}", paths, *SHRINK, *extra])
    run(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "completed" and results["steps"] >= 1
    if root == "imagenet_root":
        assert set(results["test_acc"]) == {
            "imagenetv2-matched-frequency",
            "imagenetv2-threshold-0.7",
            "imagenetv2-top-images",
        }
        assert "test_acc_std" in results and results["best_val_acc"] is not None
    else:
        assert set(results["test_acc"]) == {"test"}


def test_a_timm_model_trains_and_its_conversion_is_logged_once(tmp_path, run_config, caplog):
    """The build check runs on the meta device first; only the real build speaks."""
    overrides = ["model=timm", "model.arch=resnet10t", "norm=seqnorm", "gc=4", "gm=4"]
    cfg = run_config(tmp_path, [*overrides, "trainer.epochs=1", "trainer.limit_train_batches=2"])
    with caplog.at_level(logging.INFO, logger="seqnorm_repro.norms.convert"):
        run(cfg)
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    assert caplog.text.count("convert_norm: replaced") == 1
