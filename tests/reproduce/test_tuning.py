"""The paper's sequential tuning rule: the largest well-performing GM with the lowest variance, then GC."""

import pytest

from seqnorm_repro.reproduce import cli
from seqnorm_repro.reproduce.aggregate import RowResult
from seqnorm_repro.reproduce.targets import Row
from seqnorm_repro.reproduce.tuning import Scored, choose, score, sequential_gm


def _row(vals: tuple[float, ...], gm: int, gc: int | None = None) -> RowResult:
    """A tuning row whose seeds completed with these final validation accuracies."""
    norm = ("norm=ghostnorm",) if gc is None else ("norm=seqnorm", f"gc={gc}")
    result = RowResult(Row(f"gc={gc} gm={gm}", (*norm, f"gm={gm}")))
    result.completed = {seed: {"final_val_acc": v} for seed, v in enumerate(vals)}
    return result


def test_lowest_variance_among_similar_means_wins():
    ghost = [Scored(None, 2, 96.6, 0.20), Scored(None, 4, 96.7, 0.15), Scored(None, 8, 96.6, 0.05)]
    assert sequential_gm(ghost, tolerance=0.2).gm == 8  # the paper's CIFAR-10 choice for SeqNorm


def test_clearly_worse_configurations_are_not_similar():
    ghost = [Scored(None, 2, 96.6, 0.2), Scored(None, 16, 95.0, 0.01)]
    assert sequential_gm(ghost, tolerance=0.2).gm == 2


def test_ties_go_to_the_largest_gm():
    ghost = [Scored(None, 2, 96.6, 0.1), Scored(None, 4, 96.6, 0.1)]
    assert sequential_gm(ghost, tolerance=0.2).gm == 4


def test_a_configuration_missing_a_seed_is_not_chosen_on_its_single_run():
    ghost, _, incomplete = score([_row((0.96, 0.962), gm=4), _row((0.99,), gm=8)], seed_count=2)
    assert [s.gm for s in ghost] == [4] and sequential_gm(ghost, tolerance=0.2).gm == 4
    assert incomplete == ["gc=None gm=8 (1 of 2 seeds)"]


def test_sequential_tunes_gc_at_ghostnorms_gm_and_the_grid_takes_the_best_anywhere():
    rows = [
        _row((0.960, 0.966), gm=4),  # a shade better on average, but noisier
        _row((0.962, 0.963), gm=8),  # within tolerance, lowest variance: sequential's GM
        _row((0.950, 0.951), gm=8, gc=2),
        _row((0.970, 0.971), gm=8, gc=4),  # the best at GM = 8
        _row((0.990, 0.991), gm=4, gc=2),  # the best of the grid, at another GM
        _row((0.900, 0.901), gm=4, gc=4),
    ]
    chosen = choose(rows, seed_count=2, tolerance=0.2)
    assert (chosen.gm.gm, chosen.sequential.gm, chosen.sequential.gc) == (8, 8, 4)
    assert (chosen.grid.gm, chosen.grid.gc) == (4, 2)
    assert chosen.sequential.mean == pytest.approx(97.05) and chosen.costs == {"sequential": 8, "grid": 8}


def test_tune_seqnorm_without_completed_runs_says_so_in_one_line(tmp_path, capsys):
    args = ["tune-seqnorm", "--aggregate-only", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]
    assert cli.main(args) == 0  # the grid's table lists every run as missing
    assert "error: tune_seqnorm_choice.md not written: no GhostNorm or no SeqNorm" in capsys.readouterr().err
    assert (tmp_path / "tune_seqnorm.md").exists() and not (tmp_path / "tune_seqnorm_choice.md").exists()
