"""The commit line of every report: read from git, or named by SEQNORM_COMMIT for a copied tree."""

import subprocess

from seqnorm_repro.tracking import provenance
from seqnorm_repro.tracking.provenance import _read_git_commit, git_commit


def test_git_commit_is_what_git_reads(monkeypatch):
    monkeypatch.delenv("SEQNORM_COMMIT", raising=False)
    assert git_commit() == _read_git_commit() != ""


def test_a_given_commit_names_what_this_copy_reads_beside_it(monkeypatch):
    read = _read_git_commit()
    monkeypatch.setenv("SEQNORM_COMMIT", "0123456789ab")
    assert git_commit() == f"0123456789ab (SEQNORM_COMMIT; this copy's git metadata reads {read})"
    monkeypatch.setenv("SEQNORM_COMMIT", read)
    assert git_commit() == read


def test_uncommitted_changes_to_tracked_files_mark_the_commit_dirty(tmp_path, monkeypatch):
    """A number measured on edited code names the commit with '+dirty', never as the clean commit."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bench.md").write_text("an earlier run\n")
    git("add", "code.py", "results/bench.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("SEQNORM_COMMIT", raising=False)
    clean = git("rev-parse", "--short=12", "HEAD").strip()
    assert git_commit() == clean
    (tmp_path / "results" / "bench.md").write_text("this run's report, rewritten as it goes\n")
    assert git_commit() == clean  # a run's own reports change nothing it runs
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit() == clean + "+dirty"
