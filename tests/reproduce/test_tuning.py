"""The paper's sequential tuning rule: the largest well-performing GM with the lowest variance, then GC."""

from seqnorm_repro.reproduce import cli
from seqnorm_repro.reproduce.aggregate import RowResult
from seqnorm_repro.reproduce.targets import Row
from seqnorm_repro.reproduce.tuning import Scored, score, sequential_gm


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
    def row(gm: int, *vals: float) -> RowResult:
        result = RowResult(Row(f"GhostNorm (GM = {gm})", ("norm=ghostnorm", f"gm={gm}")))
        result.completed = {seed: {"final_val_acc": v} for seed, v in enumerate(vals)}
        return result

    ghost, _, incomplete = score([row(4, 0.96, 0.962), row(8, 0.99)], seed_count=2)
    assert [s.gm for s in ghost] == [4] and sequential_gm(ghost, tolerance=0.2).gm == 4
    assert incomplete == ["GhostNorm (GM = 8) (1 of 2 seeds)"]


def test_tune_seqnorm_without_completed_runs_says_so_in_one_line(tmp_path, capsys):
    args = ["tune-seqnorm", "--aggregate-only", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]
    assert cli.main(args) == 0  # the grid's table lists every run as missing
    assert "error: tune_seqnorm_choice.md not written: no GhostNorm or no SeqNorm" in capsys.readouterr().err
    assert (tmp_path / "tune_seqnorm.md").exists() and not (tmp_path / "tune_seqnorm_choice.md").exists()
