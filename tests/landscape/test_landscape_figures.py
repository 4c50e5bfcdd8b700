"""The figure sweeps: which runs each figure trains, the MNIST fallback, and the smoke pipeline end to end."""

import importlib.util
import json

import pytest
import torch

from seqnorm_repro.config import ModelConfig
from seqnorm_repro.landscape.figures import figure_spec, mnist_available
from seqnorm_repro.models import build_model
from seqnorm_repro.norms import norm_layer
from seqnorm_repro.tracking.provenance import REPO_ROOT


def test_figures_run_the_papers_configurations():
    figure6 = figure_spec("figure6", dataset="mnist5k")
    assert [c.slug for c in figure6.curves] == [
        "none",
        "batchnorm",
        *(f"ghostnorm_gm{g}" for g in (4, 16, 64, 128)),
    ]
    assert {"experiment=landscape_mnist", "dataset=mnist5k", "dataset.val_size=0"} <= set(figure6.overrides)
    assert "mnist5k" in figure6.title
    assert [c.slug for c in figure_spec("figure2").curves] == ["none", "batchnorm", "ghostnorm_gm64"]
    figure3 = figure_spec("figure3")
    assert figure3.curves[0].overrides == ("norm=none", "schedule.peak_factor=10")  # the cycle (0.1, 1)
    assert [c.slug for c in figure3.curves] == ["none", "batchnorm", "ghostnorm_gm128"]
    figure7 = figure_spec("figure7")  # its caption: BatchNorm and GhostNorm, no baseline
    assert [c.label for c in figure7.curves] == [
        "BatchNorm (512/group)",
        *(f"GhostNorm GM={g} ({512 // g}/group)" for g in (16, 32, 64, 128)),
    ]
    # smoke runs keep the paper's samples per group at their smaller batch
    assert [c.label for c in figure_spec("figure7", "smoke").curves[1:]] == [
        f"GhostNorm GM={g} ({16 // g}/group)" for g in (2, 4)
    ]


def test_mnist_figures_fall_back_to_mnist5k_without_the_mnist_files(tmp_path, mnist_root):
    assert not mnist_available(tmp_path)
    assert mnist_available(mnist_root)


@pytest.mark.slow  # half a minute on 2 cores; `make test-slow` and CI run it
def test_smoke_figure_pipeline_writes_png_and_data(tmp_path, cifar10_root):
    """Figure 3 at smoke scale through the CLI's main(), as `make reproduce-figure3 SCALE=smoke` runs it."""
    spec = importlib.util.spec_from_file_location(
        "landscape_figure", REPO_ROOT / "scripts" / "landscape_figure.py"
    )
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    returncode = cli.main(
        [
            *("figure3", "--scale", "smoke", "--data-dir", str(cifar10_root)),
            *("--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")),
            "dataset.verify_checksums=false",
        ]
    )
    assert (tmp_path / "out" / "figure3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "out" / "figure3.json").read_text())
    curves = {curve["slug"]: curve for curve in data["curves"]}
    assert list(curves) == ["none", "batchnorm", "ghostnorm_gm4"]
    assert data["git_commit"] and data["hardware"] and data["date"] and data["command"]
    assert data["title"].startswith("Figure 3 smoke run, not a reproduction: ")
    assert data["run_commits"] == sorted({curve["git_commit"] for curve in data["curves"]})
    assert all(curve["status"] == "completed" for curve in curves.values()) and returncode == 0
    for slug, curve in curves.items():
        assert curve["step"] == [0] and len(curve["loss"][0]) == 4 and len(curve["min"]) == 1
        assert curve["test_epoch"] == [1] and 0 <= curve["test_error"] <= 1
        # a probe whose every step size diverged is counted, never a silent gap
        assert curve["landscape_gap_last25"] is not None or curve["landscape_nonfinite"] == 1
        run_dir = tmp_path / "runs" / "cifar10_smoke" / slug
        results = json.loads((run_dir / "results.json").read_text())
        assert results["landscape_probes"] == 1 and (run_dir / "landscape.npz").exists()
    assert (
        curves["batchnorm"]["landscape_gap_last25"] > 0
        and curves["ghostnorm_gm4"]["landscape_gap_last25"] > 0
    )


def test_resnet56_without_norm_survives_an_update_at_the_baseline_lr():
    """The no-normalisation baseline of Figures 3 and 7 trains (its residual branches start at zero)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="resnet56"), norm_layer("none"), 10, (3, 32, 32))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-4)
    inputs, targets = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    for _ in range(2):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss) and loss < 10


@pytest.mark.parametrize(
    ("name", "layout"),
    [("figure2", "overlay"), ("figure3", "overlay"), ("figure6", "grid"), ("figure7", "grid")],
)
def test_figures_2_and_3_overlay_one_panel_and_6_and_7_are_grids(name, layout):
    """The paper's Figures 2 and 3 compare three runs in one plot; 6 and 7 give a panel per GM value and
    the test error in the last (bottom right) panel."""
    assert figure_spec(name).layout == layout
