"""The probe measures the loss along the update direction and changes nothing of the run it watches."""

import copy

import numpy as np
import pytest
import torch

from seqnorm_repro.config import ModelConfig, OptimConfig
from seqnorm_repro.landscape import load_records, probe_losses
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.train import run
from seqnorm_repro.train.optim import build_optimizer

NORMS = {
    "batchnorm": {},
    "ghostnorm": {"gm": 4},
    "noisy_batchnorm": {"noise_std": 0.3},  # large noise: a probe that drew other numbers would show
}


def _model_with_gradient(norm: str, weight_decay: float = 1e-2):
    """SimpleNet with `norm`, its optimizer (decay on weights, none on norm parameters and biases) and
    the gradient of one batch, as the trainer has them just before the optimizer step."""
    model = build_model(ModelConfig(), norm_layer(norm, **NORMS[norm]), 10, (1, 28, 28)).train()
    optimizer = build_optimizer(model, OptimConfig(lr=0.3, weight_decay=weight_decay), 0.3)
    inputs, targets = torch.randn(32, 1, 28, 28), torch.arange(32) % 10
    criterion = torch.nn.CrossEntropyLoss()
    criterion(model(inputs), targets).backward()
    return model, optimizer, criterion, inputs, targets


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


@pytest.mark.parametrize("norm", list(NORMS))
def test_probing_leaves_the_training_trajectory_bitwise_unchanged(norm, tmp_path, probe_config):
    overrides = [f"norm={norm}", "optim.momentum=0.9", "optim.weight_decay=1e-3", "norm.noise_std=0.3"]
    if norm != "noisy_batchnorm":
        overrides.pop()
    run(probe_config(tmp_path / "plain", overrides, landscape="disabled"))
    run(probe_config(tmp_path / "probed", overrides))
    plain, probed = _weights(tmp_path / "plain"), _weights(tmp_path / "probed")
    assert plain["model"].keys() == probed["model"].keys()
    for key, value in plain["model"].items():  # parameters, running stats and num_batches_tracked
        assert torch.equal(probed["model"][key], value), key
    for key, value in plain["optimizer"]["state"].items():  # the momentum buffers
        assert torch.equal(probed["optimizer"]["state"][key]["momentum_buffer"], value["momentum_buffer"])
    assert len(load_records(tmp_path / "probed" / "landscape.npz")["step"]) == 6


@pytest.mark.parametrize("norm", ["batchnorm", "ghostnorm"])
def test_probe_losses_equal_the_loss_at_w_minus_eta_g(norm):
    model, optimizer, criterion, inputs, targets = _model_with_gradient(norm)
    etas = [0.1, 0.4, 0.8]
    probed = probe_losses(model, optimizer, criterion, inputs, targets, etas)
    for eta, loss in zip(etas, probed, strict=True):
        moved = copy.deepcopy(model)  # an independent computation: move a copy's weights by hand
        with torch.no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    name = next(n for n, p in model.named_parameters() if p is param)
                    target = moved.get_parameter(name)
                    target -= eta * (param.grad + group["weight_decay"] * param)
            expected = criterion(moved(inputs), targets)
        torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    # at eta = lr the probe sees the loss the optimizer's own update reaches on this batch
    at_lr = probe_losses(model, optimizer, criterion, inputs, targets, [0.3])[0]
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    optimizer.step()
    with torch.no_grad():
        after = torch.func.functional_call(model, buffers, (inputs,))
    torch.testing.assert_close(at_lr, criterion(after, targets), rtol=1e-6, atol=1e-6)


def test_probe_changes_no_weight_gradient_running_statistic_or_random_state():
    model, optimizer, criterion, inputs, targets = _model_with_gradient("noisy_batchnorm")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    first = probe_losses(model, optimizer, criterion, inputs, targets, [0.1, 0.2, 0.1])
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():  # running_mean, running_var, num_batches_tracked too
        assert torch.equal(value, state[key]), key
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
    assert optimizer.state_dict()["state"] == {}
    # every step size draws the same noise, so equal step sizes give equal losses, and so does a rerun
    assert first[0] == first[2]
    assert torch.equal(probe_losses(model, optimizer, criterion, inputs, targets, [0.1, 0.2, 0.1]), first)


def test_schedule_mode_takes_multiples_of_the_current_lr(tmp_path, probe_config):
    model, optimizer, criterion, inputs, targets = _model_with_gradient("ghostnorm")
    relative = probe_losses(model, optimizer, criterion, inputs, targets, [0.5, 2.0], relative_to_lr=True)
    fixed = probe_losses(model, optimizer, criterion, inputs, targets, [0.15, 0.6])  # lr is 0.3
    torch.testing.assert_close(relative, fixed, rtol=0, atol=0)

    run(probe_config(tmp_path, ["norm=ghostnorm", "schedule=cosine"], landscape="cifar10_onecycle"))
    records = load_records(tmp_path / "landscape.npz")
    assert len(np.unique(records["lr"])) == 6  # the cosine schedule changes lr at every update
    np.testing.assert_allclose(records["eta"], records["lr"][:, None] * [0.5, 1.0, 1.5, 2.0])
