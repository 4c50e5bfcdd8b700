"""The README's Python examples run as written (a snippet that needs an import it does not show fails)."""

import re

import pytest

from seqnorm_repro.tracking.provenance import REPO_ROOT

SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_the_readme_has_python_examples():
    assert SNIPPETS


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_python_example_runs(snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what an example writes (a run directory) lands here
    exec(compile(snippet, "README.md", "exec"), {})
