"""Matplotlib rendering of a landscape figure from the JSON figures.py writes, in the paper's layout:
the min-max band of the probe losses over the updates of each run, and the test error per epoch.

overlay (Figures 2, 3): every run's band in one panel, test error beside it. grid (Figures 6, 7):
a panel per run on shared axes, the test error in the last panel (bottom right).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt
import numpy as np


def render_figure(figure: dict[str, Any], path: Path) -> None:
    """Draw `figure` (figures.py's JSON) to `path` (PNG)."""
    curves = [c for c in figure["curves"] if c.get("step")]
    colours = _colours(curves)
    top = _band_top(curves)
    if figure["layout"] == "overlay":
        fig, (band_ax, test_ax) = plt.subplots(
            1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.6, 1]}
        )
        for curve in curves:
            _band(band_ax, curve, colours[curve["slug"]], label=_band_label(curve))
        band_ax.set_title("loss along the gradient: min-max over the probe step sizes")
        band_ax.legend(fontsize=8, loc="upper right")
        _axes(band_ax, top)
    else:
        ncols = 4
        nrows = math.ceil((len(curves) + 1) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6), squeeze=False)
        slots = list(axes.flat)
        test_ax = slots[-1]
        for ax, curve in zip(slots, curves, strict=False):
            _band(ax, curve, colours[curve["slug"]])
            ax.set_title(_band_label(curve), fontsize=9)
            _axes(ax, top)
        for ax in slots[len(curves) : -1]:
            ax.axis("off")
    for curve in curves:
        epochs, errors = curve.get("test_epoch") or [], curve.get("test_error_per_epoch") or []
        final = curve.get("test_error")
        label = curve["label"] + (f": {100 * final:.2f}%" if final is not None else "")
        test_ax.plot(
            epochs,
            [100 * e if e is not None else np.nan for e in errors],
            marker="o",
            markersize=3,
            color=colours[curve["slug"]],
            label=label,
        )
    test_ax.set_xlabel("epoch")
    test_ax.set_ylabel("test error (%)")
    test_ax.set_title("test misclassification error (final in legend)", fontsize=9)
    test_ax.legend(fontsize=7)
    test_ax.grid(alpha=0.3)
    failed = [c["label"] for c in figure["curves"] if not c.get("step")]
    footer = [
        f"{figure['caption']}; epochs: {figure.get('epochs')}."
        + (f"  Not drawn (failed or missing): {', '.join(failed)}." if failed else ""),
        f"gap = mean (max - min) of the probe losses over the last 25% of updates (all updates).  "
        f"runs: commit {', '.join(figure['run_commits']) or '-'}, {figure['hardware']}; "
        f"drawn: commit {figure['git_commit']}, {figure['date']}",
    ]
    width, height = fig.get_size_inches()
    characters = int(width * 16)  # 7-pt characters an inch, digits and capitals included
    lines = [part for line in footer for part in textwrap.wrap(line, characters)]
    fig.suptitle(figure["title"], fontsize=12)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, (len(lines) * 10 + 6) / (72 * height), 1, 0.96))  # 10 pt a footer line
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _band(ax, curve: dict[str, Any], colour, label: str | None = None) -> None:
    steps = np.asarray(curve["step"])
    low, high = _floats(curve["min"]), _floats(curve["max"])
    high = np.where(np.isnan(high), np.inf, high)  # null = a diverged probe: the band goes off the top
    ax.fill_between(steps, low, np.minimum(high, 1e30), color=colour, alpha=0.35, linewidth=0, label=label)
    ax.plot(steps, low, color=colour, linewidth=0.6)
    if len(steps) < 3:  # a band needs a few updates to show; a smoke run's one or two get bars
        ax.vlines(steps, low, np.minimum(high, 1e30), color=colour, alpha=0.5, linewidth=8)


def _axes(ax, top: float) -> None:
    ax.set_ylim(0, top)
    ax.set_xlabel("update")
    ax.set_ylabel("training loss on the update's batch")
    ax.grid(alpha=0.3)


def _band_label(curve: dict[str, Any]) -> str:
    last, mean = curve.get("landscape_gap_last25"), curve.get("landscape_gap_mean")
    if last is None:
        diverged = curve.get("landscape_nonfinite")
        return curve["label"] + (f": {diverged} probed updates diverged, no finite band" if diverged else "")
    return f"{curve['label']}: gap {last:.3f} ({mean:.3f})"


def _band_top(curves: list[dict[str, Any]]) -> float:
    """The y-limit: the 99th percentile of every band top, so one early spike does not flatten the rest."""
    tops = np.concatenate([_floats(c["max"]) for c in curves]) if curves else np.array([])
    tops = tops[np.isfinite(tops)]
    return float(np.percentile(tops, 99) * 1.05) if tops.size else 1.0


def _colours(curves: list[dict[str, Any]]) -> dict[str, Any]:
    """Baseline grey, BatchNorm blue, GhostNorm from orange to dark red as GM grows."""
    ghost = [c["slug"] for c in curves if c["slug"].startswith("ghostnorm")]
    shades = plt.get_cmap("YlOrRd")(np.linspace(0.45, 1.0, max(len(ghost), 1)))
    colours: dict[str, Any] = {"none": "0.45", "batchnorm": "tab:blue"}
    colours.update({slug: shades[i] for i, slug in enumerate(ghost)})
    return {c["slug"]: colours.get(c["slug"], "tab:green") for c in curves}


def _floats(values: list[float | None]) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
