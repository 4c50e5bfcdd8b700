"""The package's copy of the paper's numbers is ../shared/paper/reported.yaml, quoting aside."""

from pathlib import Path

import pytest
import yaml

from seqnorm_repro.config import compose_config, validate
from seqnorm_repro.reproduce import aggregate
from seqnorm_repro.reproduce.paper import reported
from seqnorm_repro.reproduce.targets import imagenet_tuning, table1, table2

SHARED = Path(__file__).resolve().parents[3] / "shared" / "paper" / "reported.yaml"


def _without_names(node):
    if isinstance(node, dict):
        return {k: _without_names(v) for k, v in node.items() if k != "name" and v is not None}
    if isinstance(node, list):
        return [_without_names(v) for v in node]
    return node


@pytest.mark.skipif(not SHARED.exists(), reason="the shared paper folder is not beside this clone")
def test_copy_holds_the_shared_numbers():
    # The shared file's unquoted "SeqNorm (GC = 1, GM = 4)" splits into a name and a stray null key.
    assert _without_names(reported()) == _without_names(yaml.safe_load(SHARED.read_text()))


def test_table1_has_the_papers_fourteen_rows_with_full_names():
    labels = [row.label for row in table1().rows]
    assert len(labels) == 14 and "SeqNorm (GC = 4, GM = 8)" in labels
    assert len({row.slug for row in table1().rows}) == 14


@pytest.mark.parametrize(
    ("target", "key", "dataset"),
    [(table1(), "table1_cifar100", "cifar100"), (*table2()[:1], "table2_cifar10", "cifar10"),
     (table2()[1], "table2_imagenet", "imagenet")],
    ids=["table1", "table2_cifar10", "table2_imagenet"],
)  # fmt: skip
def test_each_table_row_trains_the_papers_configuration(target, key, dataset, tmp_path):
    """Every row's overrides, composed as train.py composes them, give the paper's dataset, norm, GM, GC,
    noise and RandAugment for that row."""
    for row, entry in zip(target.rows, reported()[key], strict=True):
        cfg = validate(compose_config([*row.overrides, f"paths.output_dir={tmp_path}", "logger=none"]))
        augment, paper = cfg.augment, (entry.get(key) for key in ("gm", "gc", "noise_std", "randaugment"))
        randaugment = [augment.randaugment_n, augment.randaugment_m] if augment.randaugment_n else None
        ours = (cfg.dataset.name, cfg.norm.name, cfg.norm.gm, cfg.norm.gc, cfg.norm.noise_std, randaugment)
        assert ours == (dataset, entry["norm"], *paper), row.label


def test_imagenet_tuning_runs_the_papers_grids_beside_its_three_best(tmp_path):
    target = imagenet_tuning()
    labels = [row.label for row in target.rows]
    assert labels[:2] == ["BatchNorm", "GhostNorm (GM = 2)"] and len(labels) == 1 + 5 + 6
    assert labels[-1] == "SeqNorm (GC = 64, GM = 4)"
    assert all("experiment=imagenet_resnet18_50ep" in row.overrides for row in target.rows)
    papers = {row.label: row.paper["val"] for row in target.rows if row.paper}
    assert papers == {
        "BatchNorm": [68.3, None],
        "GhostNorm (GM = 4)": [69.2, None],
        "SeqNorm (GC = 4, GM = 4)": [69.8, None],
    }
    markdown, _ = aggregate.render(
        target, "paper", [0, 1], aggregate.collect(target, "paper", [0, 1], tmp_path), ""
    )
    assert "| BatchNorm | - | 68.3 | - |" in markdown and "| GhostNorm (GM = 2) | - | - | - |" in markdown
