"""`load_model(run_dir)` gives back the network a run trained, and a notebook can train through `run`."""

import subprocess
import sys

import pytest
import torch

from seqnorm_repro.config import ConfigError, compose_config, validate
from seqnorm_repro.data import build_data
from seqnorm_repro.norms import SeqNorm
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import read_json
from seqnorm_repro.train import load_model, run
from seqnorm_repro.train.checkpoint import CheckpointError

NOTEBOOK_RUN = ["norm=seqnorm", "gc=2", "gm=4", "logger=none", "trainer.progress=false", "trainer.epochs=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SeqNorm run trained as a notebook would: compose_config, then run."""
    run_dir = tmp_path_factory.mktemp("notebook_run")
    run(compose_config([*NOTEBOOK_RUN, "trainer.limit_train_batches=3", f"paths.output_dir={run_dir}"]))
    return run_dir


def test_loaded_model_scores_the_recorded_test_accuracy(trained):
    model = load_model(trained)
    assert not model.training
    assert [m.gm for m in model.modules() if isinstance(m, SeqNorm)] == [4, 4]
    config = read_json(trained / "results.json")["config"]
    cfg = validate(compose_config([*NOTEBOOK_RUN, f"paths.output_dir={trained}"]))
    test = build_data(
        cfg.dataset, cfg.augment, cfg.paths, batch_size=64, eval_batch_size=500, seed=config["seed"]
    ).tests["test"]
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test)
    assert correct / len(test.dataset) == read_json(trained / "results.json")["test_acc"]["test"]


def test_best_checkpoint_loads_by_its_path(trained):
    best = load_model(trained / "checkpoints" / "best.pt")
    last = load_model(trained)
    for (name, a), b in zip(best.state_dict().items(), last.state_dict().values(), strict=True):
        assert a.shape == b.shape, name


def test_missing_corrupt_and_old_checkpoints_say_what_to_do(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoints/last.pt does not exist: pass a run directory"):
        load_model(tmp_path)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"broken.pt is corrupt or unreadable .*the other checkpoint"):
        load_model(tmp_path / "broken.pt")
    old = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
    del old["model_build"]
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"old.pt was written before checkpoints recorded"):
        load_model(tmp_path / "old.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_loading_onto_cuda_without_cuda_says_so(trained):
    with pytest.raises(ValueError, match=r"CUDA is not available here: use device='cpu'"):
        load_model(trained, device="cuda")


def test_composed_config_without_a_run_directory_says_which_override_to_add():
    with pytest.raises(ConfigError, match=r"add the override paths.output_dir=<run dir>"):
        validate(compose_config(["logger=none"]))


def test_a_notebook_run_shows_its_progress_unless_the_caller_configured_logging(tmp_path):
    """Nothing configures logging in a notebook: `run` shows its INFO lines, and only then."""
    run_twice = (
        "import logging, sys\n"
        "from seqnorm_repro.config import compose_config\n"
        "from seqnorm_repro.train import run\n"
        f"overrides = {[*NOTEBOOK_RUN, 'trainer.limit_train_batches=2']}\n"
        f"run(compose_config([*overrides, 'paths.output_dir={tmp_path / 'shown'}']))\n"
        "print('--- configured', file=sys.stderr)\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        f"run(compose_config([*overrides, 'paths.output_dir={tmp_path / 'configured'}']))\n"
    )
    done = subprocess.run([sys.executable, "-c", run_twice], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown, configured = done.stderr.split("--- configured")
    assert "[INFO] - epoch 1/1 step 2 train_loss" in shown and "test set test: accuracy" in shown
    assert "epoch 1/1" not in configured
