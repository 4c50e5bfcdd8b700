# seqnorm-repro: every command a researcher needs. `make test` on a fresh clone sets up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt

.PHONY: setup train test test-slow lint format bench-norms clean

# The venv is rebuilt when the dependencies change. torch and torchvision are installed first, at
# the exact tested versions (pip takes them from the local wheel cache where there is one).
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with the package (editable) and the dev tools

train: $(STAMP)  ## the default experiment (SimpleNet on mnist5k, no download); ARGS="norm=seqnorm gm=8"
	$(BIN)/python train.py $(ARGS)

test: $(STAMP)  ## the fast test suite (CI runs this)
	$(BIN)/pytest

test-slow: $(STAMP)  ## the long end-to-end tests
	$(BIN)/pytest -m slow

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-norms: $(STAMP)  ## layer speed vs nn.BatchNorm2d -> results/bench_norms[_cuda].md
	$(BIN)/python benchmarks/norms.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
