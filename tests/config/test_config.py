"""Every preset composes and validates; bad values fail before any data loads, naming the key."""

import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqnorm_repro.config import ConfigError, register_configs, settings_the_run_reads, validate
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train import run

CONF = REPO_ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
NORMS = sorted(p.stem for p in (CONF / "norm").glob("*.yaml"))
register_configs()


def _compose(overrides: list[str], tmp_path: Path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*overrides, f"paths.output_dir={tmp_path}", "logger=none"])


def test_there_are_presets_for_every_paper_setup():
    assert set(EXPERIMENTS) >= {
        "mnist_simplenet", "cifar10_resnet56_onecycle", "cifar10_wrn28_10", "cifar100_wrn28_10",
        "imagenet_resnet18_50ep", "imagenet_resnet18_250ep",
    }  # fmt: skip


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_composes_and_validates_with_every_norm(experiment, norm, tmp_path):
    cfg = validate(_compose([f"experiment={experiment}", f"norm={norm}"], tmp_path))
    assert cfg.name == experiment and cfg.norm.name == norm


def test_top_level_gm_and_gc_feed_the_norm(tmp_path):
    cfg = validate(_compose(["norm=seqnorm", "gc=2", "gm=16"], tmp_path))
    bn_settings = {"eps": 1e-5, "momentum": 0.1}
    assert cfg.norm.params() == {"gc": 2, "gm": 16, "impl": "auto", **bn_settings}
    assert validate(_compose(["norm=batchnorm", "gm=16"], tmp_path)).norm.params() == bn_settings


def test_the_dashboard_gets_only_the_settings_the_run_reads(tmp_path):
    """W&B's config: no top-level gm/gc (norm.gm holds what the norm takes), no other model's settings."""
    resnet = OmegaConf.to_container(
        _compose(["model=resnet56", "norm=batchnorm", "gm=16"], tmp_path), resolve=True
    )
    wrn = OmegaConf.to_container(
        _compose(["model=wrn28_10", "norm=ghostnorm", "gm=16"], tmp_path), resolve=True
    )
    assert resnet["gm"] == 16 and resnet["model"]["depth"] == 28  # the resolved config holds them
    assert "gm" not in settings_the_run_reads(resnet) and settings_the_run_reads(resnet)["norm"]["gm"] is None
    assert settings_the_run_reads(resnet)["model"] == {"name": "resnet56"}
    read = settings_the_run_reads(wrn)
    assert read["norm"]["gm"] == 16 and "gc" not in read
    assert read["model"] == {"name": "wide_resnet", "dropout": 0.0, "depth": 28, "widen_factor": 10}
    assert resnet["gm"] == 16 and resnet["model"]["depth"] == 28  # and is left as it was


def test_trainer_fast_adds_compile_bf16_and_channels_last_under_any_preset(tmp_path):
    cifar = validate(_compose(["experiment=cifar100_wrn28_10", "trainer=fast"], tmp_path)).trainer
    assert (cifar.compile, cifar.amp, cifar.channels_last, cifar.epochs, cifar.batch_size) == (
        True, "bf16", True, 200, 512,
    )  # fmt: skip
    imagenet = validate(_compose(["experiment=imagenet_resnet18_50ep", "trainer=fast"], tmp_path)).trainer
    assert (imagenet.compile, imagenet.amp) == (True, "fp16")  # the preset's own precision stays


def test_paper_presets_hold_the_papers_hyperparameters(tmp_path):
    cifar = validate(_compose(["experiment=cifar100_wrn28_10"], tmp_path))
    assert (cifar.trainer.batch_size, cifar.trainer.epochs, cifar.dataset.val_size) == (512, 200, 5000)
    assert (cifar.optim.lr * cifar.schedule.peak_factor, cifar.schedule.warmup_epochs) == (0.4, 5)
    assert (cifar.augment.pad_crop, cifar.augment.cutout, cifar.optim.nesterov) == (4, 16, True)
    assert cifar.optim.norm_weight_decay  # the recipe's code decays every parameter
    onecycle = validate(_compose(["experiment=cifar10_resnet56_onecycle"], tmp_path))
    peak = onecycle.optim.lr * onecycle.schedule.peak_factor
    assert peak == pytest.approx(3.0) and onecycle.optim.momentum == 0.0 and onecycle.trainer.epochs == 40
    assert onecycle.optim.norm_weight_decay  # Smith & Topin's Caffe Scale layers decay too
    imagenet = validate(_compose(["experiment=imagenet_resnet18_250ep"], tmp_path))
    assert (imagenet.trainer.grad_clip, imagenet.augment.mixup_alpha, imagenet.trainer.epochs) == (
        2.0,
        0.2,
        250,
    )
    assert not imagenet.optim.norm_weight_decay  # NVIDIA's: none on norm parameters


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lr=-0.1"], r"optim.lr=-0.1 must be > 0"),
        (["norm=ghostnorm", "gm=7"], r"gm=7 does not divide the per-device batch of 128"),
        (["norm=ghostnorm", "gm=128"], r"gm=128 leaves 1 sample per group; use gm <= 64"),
        (["norm.name=ghost"], r"norm.name='ghost' is not one of"),
        (["trainer.amp=fp8"], r"trainer.amp='fp8' is not one of"),
        (
            ["trainer.batch_size=100", "trainer.accumulate_steps=3"],
            r"not divisible by trainer.accumulate_steps",
        ),
        (
            ["model=resnet56", "norm=seqnorm", "gc=32"],
            r"model=resnet56 with norm=seqnorm on dataset=cifar10 cannot be built: .*gc=32",
        ),
        (
            ["norm=batchnorm", "norm.gm=4"],
            r"batchnorm' with parameters \{'gm': 4, .*\}: got an unexpected .*'gm'; set only the norm",
        ),
        (
            ["norm=ghostnorm", "norm.gm=null"],
            r"norm 'ghostnorm' with .*\}: missing .*'gm'; set only the norm\.\* keys",
        ),
        (["dataset.test_size=-5"], r"dataset.test_size=-5 must be >= 0"),
        (["dataset.split_seed=-1"], r"dataset.split_seed=-1 must be >= 0"),
        (["schedule=cosine", "schedule.end_factor=-1"], r"schedule.end_factor=-1.0 must be >= 0"),
        (["trainer.limit_train_batches=0"], r"trainer.limit_train_batches=0 must be >= 1 \(or null"),
        (["trainer.limit_eval_batches=0"], r"trainer.limit_eval_batches=0 must be >= 1 \(or null"),
        (["trainer.device=tpu"], r"trainer.device='tpu' is not one of auto, cpu, cuda, cuda:N, mps"),
        (["optim.reference_batch=0"], r"optim.reference_batch=0 must be >= 1"),
        (["model.hidden=[512,-1]"], r"model.hidden=\[512, -1\]: widths must be >= 1"),
        (["model=wrn28_10", "model.widen_factor=0"], r"model.widen_factor=0 must be >= 1"),
        (
            ["model=wrn28_10", "model.depth=27"],
            r"model=wide_resnet with norm=batchnorm on dataset=cifar10 cannot be built: .*depth",
        ),
        (["model=resnet56", "model.depth=20"], r"model.depth=20 applies to model.name=wide_resnet only"),
        (
            ["model.dropout=0.3"],
            r"model.dropout=0.3 applies to model.name=wide_resnet only: drop the override, or set "
            r"model.dropout=0.0 if a preset sets it \(simplenet",
        ),
        (["model=timm", "model.arch=null"], r"^model=timm needs model.arch=<a timm model name>"),
        (["model=timm", "model.arch=vit_tiny_patch16_224"], r"vit_tiny_patch16_224 has no BatchNorm layer"),
        (["model.arch=resnet50"], r"model.arch=resnet50 applies to model.name=timm only"),
        (
            ["dataset=mnist5k", "model=timm", "model.arch=inception_v3"],  # a stem too big for 28x28
            r"cannot be built: it cannot read \(1, 28, 28\) images: RuntimeError: Calculated padded input",
        ),
        (
            ["experiment=imagenet_resnet18_50ep", "model=timm"],  # the preset's model.init, for resnet18
            r"model.init=nvidia_fanin applies to model.name=resnet18 only: .*model.init=library if a preset",
        ),
        (["+norm.epsilon=1e-3"], r"^norm.epsilon: no such setting, so nothing would read it"),
        (["norm.eps=0"], r"norm.eps=0.0 must be > 0"),
        (["norm.momentum=1.5"], r"norm.momentum=1.5 must be in \(0, 1\]"),
        (["norm=seqnorm", "norm.momentum=null"], r"momentum=null: norm=seqnorm keeps running statistics"),
        (
            ["norm=none", "norm.eps=1e-3"],
            r"norm 'none' with parameters \{'eps': 0.001\}: got .*set only the norm",
        ),
        (["+trainer.foo=1", "+bar=2"], r"^bar, trainer.foo: no such setting"),
        (
            ["norm=ghostnorm", "gm=4", "norm.impl=triton", "trainer.device=cpu"],
            r"^norm.impl=triton on trainer.device=cpu: ",  # without triton: its own message, same start
        ),
    ],
)
def test_bad_values_fail_before_any_data_loads(overrides, message, tmp_path):
    # cifar10 is not on disk and download is off: loading data first would raise DatasetNotFound.
    offline = ["dataset=cifar10", "dataset.download=false", f"paths.data_dir={tmp_path / 'nowhere'}"]
    with pytest.raises(ConfigError, match=message):
        run(_compose([*offline, *overrides], tmp_path))
    assert not (tmp_path / "results.json").exists()


def test_a_model_that_cannot_read_the_datasets_images_fails_before_any_data_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["seqnorm_repro.train.runner"], "build_data", _no_data_loads)
    message = r"on dataset=mnist5k cannot be built: .*3-channel images, got input shape \(1, 28, 28\)"
    with pytest.raises(ConfigError, match=message):
        run(_compose(["dataset=mnist5k", "model=resnet18", "model.library=torchvision"], tmp_path))


def _no_data_loads(*args, **kwargs):
    raise AssertionError("data loaded before the config was checked")


def test_slurm_launcher_config_composes(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.max_num_timeout) == (8, 8, 3)
