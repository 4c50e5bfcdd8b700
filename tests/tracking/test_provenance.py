"""The commit line of every report: read from git, or named by SEQNORM_COMMIT for a copied tree."""

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
