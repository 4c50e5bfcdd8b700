"""The paper's Section 2.2 example: BatchNorm keeps the ranking order, GhostNorm(GM=2) breaks it."""

from pathlib import Path

import pytest
import torch
import yaml

from seqnorm_repro.norms import BatchNorm, GhostNorm

REPORTED = Path(__file__).resolve().parents[3] / "shared" / "paper" / "reported.yaml"
EXAMPLE = {
    # Copied from ../shared/paper/reported.yaml (section_2_2_example) so the test runs from any clone.
    "input": [35, 39, 30, 4, 38, 26, 27, 19],
    "batchnorm": [0.7, 1.1, 0.3, -2.2, 1.0, -0.1, -0.02, -0.8],
    "ghostnorm_gm2": [0.6, 0.9, 0.2, -1.7, 1.5, -0.2, -0.07, -1.2],
}


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


def _normalise(layer: torch.nn.Module) -> list[float]:
    x = torch.tensor(EXAMPLE["input"], dtype=torch.float64).view(8, 1, 1)
    return layer.double()(x).flatten().tolist()


@pytest.mark.parametrize(
    ("key", "layer"), [("batchnorm", BatchNorm(1)), ("ghostnorm_gm2", GhostNorm(1, gm=2))]
)
def test_outputs_match_the_paper_to_its_rounding(key, layer):
    for ours, paper in zip(_normalise(layer), EXAMPLE[key], strict=True):
        assert round(ours, _decimals(paper)) == pytest.approx(paper)


@pytest.mark.skipif(not REPORTED.exists(), reason="the shared paper folder is not beside this clone")
def test_example_is_the_papers():
    assert yaml.safe_load(REPORTED.read_text())["section_2_2_example"] == EXAMPLE


def test_batchnorm_preserves_ranking_and_ghostnorm_does_not():
    order = sorted(range(8), key=lambda i: EXAMPLE["input"][i])
    bn, ghost = _normalise(BatchNorm(1)), _normalise(GhostNorm(1, gm=2))
    assert sorted(range(8), key=lambda i: bn[i]) == order
    assert sorted(range(8), key=lambda i: ghost[i]) != order
    # The paper's case: 39 > 38 before normalising, 0.9 < 1.5 after GhostNorm.
    assert bn[1] > bn[4] and ghost[1] < ghost[4]
