"""The paper presets keep the paper's samples per normalisation group on any device count."""

import pytest
from hydra import compose, initialize_config_dir
from torch import nn

from seqnorm_repro.config import ConfigError, validate
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import NORM_LAYERS, GhostNorm, norm_layer
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train.norm_groups import plan_norm, samples_per_group


def _plan(overrides: list[str], world_size: int):
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = validate(compose("config", overrides=[*overrides, "paths.output_dir=/tmp/unused"]))
    return cfg, plan_norm(cfg, world_size)


def _group_size(overrides: list[str], world_size: int) -> dict[str, int]:
    cfg, plan = _plan(overrides, world_size)
    model = build_model(cfg.model, norm_layer(plan.name, **plan.params), 100, (3, 32, 32))
    return samples_per_group(model, plan)


CIFAR = ["experiment=cifar100_wrn28_10", "model=resnet56"]  # ResNet-56 keeps the test fast


@pytest.mark.parametrize("world_size", [1, 2, 8])
@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        (["norm=batchnorm"], 64),  # the paper's 8-GPU BatchNorm: 64 samples per group
        (["norm=noisy_batchnorm"], 64),
        (["norm=ghostnorm", "gm=8"], 8),  # "GhostNorm (GM = 8)": 64 / 8
        (["norm=ghostnorm", "gm=16"], 4),
        (["norm=seqnorm", "gc=4", "gm=8"], 8),
    ],
)
def test_paper_presets_keep_the_papers_group_size(norm, expected, world_size):
    sizes = _group_size([*CIFAR, *norm], world_size)
    assert list(sizes.values()) == [expected]


def test_one_gpu_batchnorm_preset_is_ghostnorm_over_64_samples():
    bn_settings = {"eps": 1e-3, "momentum": 0.01}
    overrides = [*CIFAR, "norm=batchnorm", "norm.eps=1e-3", "norm.momentum=0.01"]
    _, plan = _plan(overrides, world_size=1)
    assert (plan.name, plan.params) == ("ghostnorm", {**bn_settings, "gm": 8})  # the norm's settings kept
    _, plan = _plan(overrides, world_size=8)
    assert (plan.name, plan.params) == ("batchnorm", bn_settings)


def test_norm_eps_and_momentum_reach_every_layer():
    cfg, plan = _plan([*CIFAR, "norm=seqnorm", "norm.eps=1e-3", "norm.momentum=0.01"], world_size=1)
    model = build_model(cfg.model, norm_layer(plan.name, **plan.params), 100, (3, 32, 32))
    norms = [m for m in model.modules() if isinstance(m, NORM_LAYERS["seqnorm"])]
    assert norms and {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.01)}


def test_sync_bn_with_a_norm_it_cannot_synchronise_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"synchronises norm=batchnorm only; norm=noisy_batchnorm normalises"
    ):
        _plan([*CIFAR, "norm=noisy_batchnorm", "trainer.sync_bn=true"], world_size=2)


@pytest.mark.parametrize("world_size", [1, 2, 8])
def test_sync_bn_is_global_batchnorm_not_the_papers_groups(world_size):
    _, plan = _plan([*CIFAR, "norm=batchnorm", "trainer.sync_bn=true"], world_size=world_size)
    assert (plan.name, plan.per_device_batch) == ("batchnorm", 512 // world_size)
    assert "gm" not in plan.params


def test_accumulation_counts_toward_the_per_device_batch():
    sizes = _group_size([*CIFAR, "norm=ghostnorm", "gm=8", "trainer.accumulate_steps=2"], world_size=1)
    assert sizes == {"GhostNorm": 8}  # 256 samples per forward, 32 groups


def test_without_the_preset_gm_counts_groups_per_forward_pass():
    assert _group_size(["norm=ghostnorm", "gm=8"], world_size=2) == {"GhostNorm": 8}  # 128 / 2 / 8


def test_a_device_batch_smaller_than_the_papers_group_is_a_config_error():
    with pytest.raises(
        ConfigError,
        match=r"per-device batch of 32 \(trainer.batch_size=256 / 8 processes / trainer.accumulate_steps=1\) "
        r"cannot be split into groups of the paper's 64 samples: make it a multiple of 64 \(by "
        r"trainer.batch_size, the process count or trainer.accumulate_steps\)$",  # gm: not batchnorm's
    ):
        _plan([*CIFAR, "norm=batchnorm", "trainer.batch_size=256"], world_size=8)
    with pytest.raises(ConfigError, match=r"cannot be split .*accumulate_steps\), or a gm that divides it$"):
        _plan([*CIFAR, "norm=ghostnorm", "gm=1", "trainer.batch_size=256"], world_size=8)


@pytest.mark.parametrize("gm", [64, 3])
def test_a_paper_gm_that_leaves_no_group_names_the_paper_batch_not_the_translated_gm(gm):
    with pytest.raises(
        ConfigError,
        match=rf"^gm={gm} counts groups per paper_device_batch=64 samples .*divides 64, at most 32$",
    ):
        _plan([*CIFAR, "norm=ghostnorm", f"gm={gm}"], world_size=1)


def test_a_new_ghost_group_layer_keeps_the_papers_group_size_without_further_registration(monkeypatch):
    class ChannelGhostNorm(GhostNorm):  # a researcher's layer: registered in NORM_LAYERS only
        def __init__(self, num_features: int, gm: int, **kwargs) -> None:
            super().__init__(num_features, gm=gm, **kwargs)

    monkeypatch.setitem(NORM_LAYERS, "channel_ghostnorm", ChannelGhostNorm)
    assert _group_size([*CIFAR, "norm.name=channel_ghostnorm", "norm.gm=8"], 2) == {"ChannelGhostNorm": 8}


@pytest.mark.parametrize("layer", [nn.LayerNorm, nn.InstanceNorm2d])
def test_a_new_per_sample_layer_built_on_torchs_counts_one_sample_per_group(monkeypatch, layer):
    class PerSampleNorm(layer):  # a researcher's layer: registered in NORM_LAYERS only
        def __init__(self, num_features: int, **kwargs) -> None:
            super().__init__(num_features)

    monkeypatch.setitem(NORM_LAYERS, "per_sample", PerSampleNorm)
    # InstanceNorm has reset_running_stats, so the config asks it for a momentum like any such layer
    sizes = _group_size([*CIFAR, "norm=groupnorm", "norm.name=per_sample", "norm.momentum=0.1"], 1)
    assert sizes == {"PerSampleNorm": 1}
