"""Reproduce one of the paper's loss-landscape figures: train its runs, write <out>/<figure>.png + .json.

    python scripts/landscape_figure.py figure2                   # MNIST (mnist5k when MNIST is absent), CPU
    python scripts/landscape_figure.py figure6
    python scripts/landscape_figure.py figure7 trainer.device=cuda dataset.loader=gpu   # GPU scale
    python scripts/landscape_figure.py figure3 --scale smoke     # one update, synthetic CIFAR-10 files

Extra arguments are Hydra overrides applied to every run. `make reproduce-figureN` calls this.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from seqnorm_repro.config import ConfigError
from seqnorm_repro.data import DatasetNotFound
from seqnorm_repro.landscape.figures import FIGURES, SCALES, reproduce_figure
from seqnorm_repro.train.interrupt import exit_code, sigterm_raises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("figure", choices=FIGURES)
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.device=cuda"
    )
    parser.add_argument("--scale", choices=SCALES, default="paper", help="smoke: 1 batch of 16 per run")
    parser.add_argument(
        "--dataset",
        choices=("auto", "mnist", "mnist5k"),
        default="auto",
        help="MNIST figures: auto = mnist when its files are there, else mnist5k",
    )
    parser.add_argument("--data-dir", help="paths.data_dir (default: $SEQNORM_DATA_DIR or data/)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the PNG and JSON go (default: results/, or outputs/landscape/smoke/ at smoke scale)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="runs go to <runs-dir>/<dataset>_<scale>/<run>/ (default: outputs/landscape)",
    )
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = args.out or Path("results" if args.scale == "paper" else "outputs/landscape/smoke")
    runs = args.runs_dir or Path("outputs/landscape")
    command = shlex.join(
        ["python", "scripts/landscape_figure.py", *(argv if argv is not None else sys.argv[1:])]
    )
    try:
        with sigterm_raises():
            figure = reproduce_figure(
                args.figure, out, runs, args.scale, args.dataset, args.data_dir, args.overrides, command
            )
    except (ConfigError, DatasetNotFound) as err:  # one line saying what to change, as train.py
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # the interrupted run has said how far it got
        print(
            f"interrupted: run the same command again to resume; finished runs in {runs} are kept",
            file=sys.stderr,
        )
        return exit_code(err)
    print(f"\n{figure['title']} -> {out / args.figure}.png")
    for curve in figure["curves"]:
        error = curve["test_error"]
        print(
            f"  {curve['label']:<40} gap last 25% {_num(curve['landscape_gap_last25'])}  "
            f"gap all {_num(curve['landscape_gap_mean'])}  test error "
            f"{'-' if error is None else f'{100 * error:.2f}%'}  {curve['status']}"
        )
    return 0 if all(c["status"] == "completed" for c in figure["curves"]) else 1


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
