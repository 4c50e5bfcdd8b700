"""The paper's reported numbers (a copy of ../shared/paper/reported.yaml inside the package)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml


@cache
def reported() -> dict[str, Any]:
    return yaml.safe_load(files("seqnorm_repro.reproduce").joinpath("paper_reported.yaml").read_text())
