#!/usr/bin/env bash
# Run here, where pip reaches PyPI: the wheels of the pure-Python packages this project needs that the GPU
# machine's image lacks (Hydra and OmegaConf; it has torch, triton, timm, PyYAML and the rest), at the
# versions of requirements/constraints.txt, into .whl/ (git-ignored). The device tool carries that folder
# (carry: [".whl"]) and benchmarks/cuda_checks.sh installs it there before anything else.
#
#     bash benchmarks/gpu_wheels.sh          # PYTHON=.venv/bin/python to pick the pip
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
pins=$(grep -E '^(hydra-core|omegaconf|antlr4-python3-runtime)==' requirements/constraints.txt)
rm -rf .whl && mkdir .whl
# `pip wheel`, not `pip download`: antlr4-python3-runtime 4.9.3 is published as a source archive only
"$py" -m pip wheel --quiet --no-deps --wheel-dir .whl $pins
ls .whl
