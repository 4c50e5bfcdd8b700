"""What each `make reproduce-*` target runs: rows of training runs, each a list of Hydra overrides.

Rows come from the paper's reported numbers (paper_reported.yaml), so a table and its paper column
cannot drift apart. Every row runs once per seed; the paper averages two runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from seqnorm_repro.data.imagenet import IMAGENET_V2
from seqnorm_repro.reproduce.paper import reported

SEEDS = (0, 1)


@dataclass(frozen=True)
class Row:
    label: str  # as the paper's table names it
    overrides: tuple[str, ...]
    paper: dict[str, Any] = field(default_factory=dict)  # e.g. {"val": [80.6, 0.2], "test": [82.1, 0.2]}

    @property
    def slug(self) -> str:
        """The row's run directory name: stable, readable, filesystem-safe."""
        return re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_")


@dataclass(frozen=True)
class Target:
    name: str  # results/<name>.md
    title: str
    rows: tuple[Row, ...]
    dataset: str  # which smoke data the rows read

    @property
    def test_sets(self) -> tuple[str, ...]:
        """The test sets each run reports: ImageNet's three ImageNetV2 sets, else the dataset's test split."""
        return tuple(IMAGENET_V2) if self.dataset == "imagenet" else ("test",)


def norm_overrides(entry: dict[str, Any]) -> tuple[str, ...]:
    """A reported.yaml row's norm, GM, GC, noise and RandAugment as train.py overrides."""
    overrides = [f"norm={entry['norm']}"]
    overrides += [f"{key}={entry[key]}" for key in ("gm", "gc") if entry.get(key) is not None]
    if entry.get("noise_std") is not None:
        overrides.append(f"norm.noise_std={entry['noise_std']}")
    if entry.get("randaugment"):
        n, m = entry["randaugment"]
        overrides += [f"augment.randaugment_n={n}", f"augment.randaugment_m={m}"]
    return tuple(overrides)


def _paper_rows(key: str, experiment: str) -> tuple[Row, ...]:
    return tuple(
        Row(
            entry["name"],
            (f"experiment={experiment}", *norm_overrides(entry)),
            {"val": entry["val"], "test": entry["test"]},
        )
        for entry in reported()[key]
    )


def table1() -> Target:
    return Target(
        "table1",
        "Table 1: CIFAR-100, WRN-28-10",
        _paper_rows("table1_cifar100", "cifar100_wrn28_10"),
        "cifar100",
    )


def table2() -> tuple[Target, Target]:
    return (
        Target(
            "table2_cifar10",
            "Table 2: CIFAR-10, WRN-28-10",
            _paper_rows("table2_cifar10", "cifar10_wrn28_10"),
            "cifar10",
        ),
        Target(
            "table2_imagenet",
            "Table 2: ImageNet, ResNet-18 (250 epochs); test = mean +- std over the three ImageNetV2 sets",
            _paper_rows("table2_imagenet", "imagenet_resnet18_250ep"),
            "imagenet",
        ),
    )


def ablations() -> Target:
    """Appendix A.3's grids on CIFAR-100: noisy BatchNorm std, dropout, RandAugment N x M."""
    grids = reported()["ablation_grids"]
    base = ("experiment=cifar100_wrn28_10",)
    norms = {
        "BatchNorm": ("norm=batchnorm",),
        "GhostNorm (GM = 8)": ("norm=ghostnorm", "gm=8"),
        "SeqNorm (GC = 4, GM = 8)": ("norm=seqnorm", "gc=4", "gm=8"),
    }
    rows = [
        Row(f"Noisy BatchNorm std {std}", (*base, "norm=noisy_batchnorm", f"norm.noise_std={std}"))
        for std in grids["noisy_batchnorm_std"]
    ]
    rows += [
        Row(f"{name} dropout {p}", (*base, *norm, f"model.dropout={p}"))
        for name, norm in norms.items()
        for p in grids["dropout"]
    ]
    rows += [
        Row(
            f"{name} RandAugment N={n} M={m}",
            (*base, *norm, f"augment.randaugment_n={n}", f"augment.randaugment_m={m}"),
        )
        for name, norm in norms.items()
        for n in grids["randaugment_n"]
        for m in grids["randaugment_m"]
    ]
    return Target(
        "ablations",
        "Appendix A.3 ablations: CIFAR-100, WRN-28-10 (validation accuracy)",
        tuple(rows),
        "cifar100",
    )


def imagenet_tuning() -> Target:
    """ImageNet's 50-epoch tuning runs (Section 3.2): BatchNorm, GhostNorm over its GM grid, then SeqNorm
    over its GC grid at the GM the paper kept from GhostNorm's runs (4); the paper reports the best of each.
    """
    spec = reported()["imagenet_tuning_50_epochs"]
    ghost, seq = spec["ghostnorm_best"], spec["seqnorm_best"]
    base = ("experiment=imagenet_resnet18_50ep",)

    def paper(best: dict[str, Any], **setting: int) -> dict[str, Any]:
        return {"val": [best["val"], None]} if all(best[k] == v for k, v in setting.items()) else {}

    rows = [Row("BatchNorm", (*base, "norm=batchnorm"), {"val": [spec["batchnorm"], None]})]
    rows += [
        Row(f"GhostNorm (GM = {gm})", (*base, "norm=ghostnorm", f"gm={gm}"), paper(ghost, gm=gm))
        for gm in ghost["grid"]
    ]
    rows += [
        Row(
            f"SeqNorm (GC = {gc}, GM = {seq['gm']})",
            (*base, "norm=seqnorm", f"gc={gc}", f"gm={seq['gm']}"),
            paper(seq, gc=gc),
        )
        for gc in seq["grid_gc"]
    ]
    return Target(
        "tune_imagenet",
        "Tuning on ImageNet, ResNet-18, 50 epochs (Section 3.2); the paper reports each norm's best only",
        tuple(rows),
        "imagenet",
    )


def tuning_grid() -> Target:
    """CIFAR-10 (Section 3.2): GhostNorm over the GM grid, and SeqNorm over the full GC x GM grid;
    the sequential strategy's runs are a subset of these (see tuning.py)."""
    spec = reported()["cifar10_tuning"]
    base = ("experiment=cifar10_wrn28_10",)
    rows = [
        Row(f"GhostNorm (GM = {gm})", (*base, "norm=ghostnorm", f"gm={gm}"))
        for gm in spec["ghostnorm_gm_grid"]
    ]
    rows += [
        Row(f"SeqNorm (GC = {gc}, GM = {gm})", (*base, "norm=seqnorm", f"gc={gc}", f"gm={gm}"))
        for gm in spec["ghostnorm_gm_grid"]
        for gc in spec["seqnorm_gc_grid"]
    ]
    return Target(
        "tune_seqnorm",
        "Tuning SeqNorm on CIFAR-10, WRN-28-10: sequential vs full grid",
        tuple(rows),
        "cifar10",
    )
