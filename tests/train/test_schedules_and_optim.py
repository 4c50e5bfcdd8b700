"""Learning-rate schedules as the paper's recipes state them, and the weight-decay rule."""

import pytest
from hydra import compose, initialize_config_dir
from torch import nn

from seqnorm_repro.config import OptimConfig, ScheduleConfig, validate
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train.optim import base_lr, build_optimizer
from seqnorm_repro.train.runner import _warn_schedule_outlasts_run
from seqnorm_repro.train.schedules import lr_factor


def test_onecycle_follows_the_papers_cycle():
    onecycle = ScheduleConfig(
        "onecycle", warmup_epochs=15, cooldown_epochs=15, peak_factor=30, end_factor=0.03
    )
    lr = [0.1 * lr_factor(onecycle, epoch * 10, 10, 400) for epoch in (0, 15, 30, 40)]
    assert lr == pytest.approx([0.1, 3.0, 0.1, 0.003])
    assert 0.1 * lr_factor(onecycle, 75, 10, 400) == pytest.approx(1.55)  # halfway up
    assert 0.1 * lr_factor(onecycle, 325, 10, 400) == pytest.approx(0.07575)  # the last 10 anneal linearly


def test_warmup_cosine_rises_4x_then_decays_to_zero():
    schedule = ScheduleConfig("warmup_cosine", warmup_epochs=5, start_factor=1, peak_factor=4, end_factor=0)
    factors = [lr_factor(schedule, step, 100, 20_000) for step in (0, 250, 500, 10_250, 20_000)]
    assert factors == pytest.approx([1.0, 2.5, 4.0, 2.0, 0.0])


def test_constant_and_cosine():
    assert lr_factor(ScheduleConfig("constant"), 123, 10, 1000) == 1.0
    assert lr_factor(ScheduleConfig("cosine"), 500, 10, 1000) == pytest.approx(0.5)


def test_linear_scaling_per_reference_batch():
    assert base_lr(OptimConfig(lr=0.256, reference_batch=256), 2048) == pytest.approx(2.048)
    assert base_lr(OptimConfig(lr=0.1), 2048) == 0.1


@pytest.mark.parametrize(("norm_weight_decay", "expected"), [(False, 0.0), (True, 5e-4)])
def test_no_weight_decay_on_norm_weights_and_biases(norm_weight_decay, expected):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    optimizer = build_optimizer(
        model, OptimConfig(weight_decay=5e-4, norm_weight_decay=norm_weight_decay), 0.1
    )
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decay_of[id(model[0].weight)] == 5e-4
    assert decay_of[id(model[0].bias)] == decay_of[id(model[1].weight)] == expected


def test_sgd_takes_momentum_and_nesterov():
    optimizer = build_optimizer(nn.Linear(4, 4), OptimConfig(momentum=0.9, nesterov=True), 0.1)
    assert all(g["momentum"] == 0.9 and g["nesterov"] is True for g in optimizer.param_groups)


@pytest.mark.parametrize(
    ("experiment", "epochs", "warning"),
    [
        (
            "cifar10_resnet56_onecycle",
            10,
            "schedule=onecycle takes 30 epochs to warm up and cool down, more than",
        ),
        (
            "cifar100_wrn28_10",
            3,
            "schedule=warmup_cosine takes 5 epochs to warm up, more than trainer.epochs=3",
        ),
        ("cifar100_wrn28_10", 5, None),
    ],
)
def test_a_schedule_longer_than_the_run_warns(experiment, epochs, warning, caplog, tmp_path):
    overrides = [f"experiment={experiment}", f"trainer.epochs={epochs}", f"paths.output_dir={tmp_path}"]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = validate(compose("config", overrides=overrides))
    _warn_schedule_outlasts_run(cfg)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == (warning is not None) and all(m.startswith(warning) for m in messages)
