# seqnorm-repro: every command a researcher needs. `make test` on a fresh clone sets up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt

.PHONY: help setup train summarise test test-slow lint format bench-norms bench-host-overhead clean
.PHONY: reproduce-figure2 reproduce-figure3 reproduce-figure6 reproduce-figure7 bench-landscape
.PHONY: reproduce-table1 reproduce-table2 reproduce-ablations tune-seqnorm tune-imagenet reproduce-example
.PHONY: bench-ddp bench-train-step
.PHONY: gpu-checks

.DEFAULT_GOAL := help
help:  ## list the targets (this)
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | expand -t 22

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

summarise: $(STAMP)  ## your runs as a table, mean ± std over seeds: DIR=multirun/<time> [OUT=my_study.md]
	$(if $(DIR),,$(error give the runs' folder: make summarise DIR=multirun/<time>))
	$(BIN)/python scripts/summarise.py $(DIR) $(if $(OUT),--out $(OUT))

test: $(STAMP)  ## the fast test suite (CI runs this)
	$(BIN)/pytest

test-slow: $(STAMP)  ## the long end-to-end tests
	$(BIN)/pytest -m slow

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## ruff: fix what it can, then format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-norms: $(STAMP)  ## layer speed vs nn.BatchNorm2d -> results/bench_norms[_cuda].md
	$(BIN)/python benchmarks/norms.py

bench-host-overhead: $(STAMP)  ## eager host time, Triton layers vs BatchNorm -> results/bench_host_overhead[_cuda].md
	$(BIN)/python benchmarks/host_overhead.py

# The paper's loss-landscape figures (scripts/landscape_figure.py): train the runs (kept in
# outputs/landscape/, reused and resumed), write results/figureN.png and .json. MNIST (2, 6) runs on
# a CPU in minutes, on mnist5k when data/MNIST/raw/ is absent. CIFAR-10 (3, 7) is GPU scale (six
# 40-epoch ResNet-56 runs); SCALE=smoke trains 1 batch of 16 on synthetic CIFAR files and writes
# to outputs/landscape/smoke/. ARGS: Hydra overrides and script options, e.g. ARGS="--data-dir DIR".
SCALE ?= paper
reproduce-figure2: $(STAMP)  ## MNIST: baseline vs BatchNorm vs GhostNorm GM=64 -> results/figure2.png
	$(BIN)/python scripts/landscape_figure.py figure2 --scale $(SCALE) $(ARGS)

reproduce-figure6: $(STAMP)  ## MNIST: baseline, BatchNorm, GhostNorm GM=4..128 -> results/figure6.png
	$(BIN)/python scripts/landscape_figure.py figure6 --scale $(SCALE) $(ARGS)

reproduce-figure3: $(STAMP)  ## CIFAR-10 ResNet-56 one cycle: baseline, BatchNorm, GhostNorm GM=128 (GPU)
	$(BIN)/python scripts/landscape_figure.py figure3 --scale $(SCALE) $(ARGS)

reproduce-figure7: $(STAMP)  ## CIFAR-10 ResNet-56 one cycle: BatchNorm, GhostNorm GM=16..128 (GPU)
	$(BIN)/python scripts/landscape_figure.py figure7 --scale $(SCALE) $(ARGS)

bench-landscape: $(STAMP)  ## probe cost per step size vs a plain forward -> results/bench_landscape.md
	$(BIN)/python benchmarks/landscape.py

# The paper's tables (seqnorm_repro/reproduce): Hydra multirun per row over seeds 0,1, then
# results/<table>.md + .json beside the paper's numbers. Re-running trains only what is not done.
# SCALE=smoke: every row on tiny synthetic data for one step (results/smoke/, "not a reproduction").
# LAUNCHER=slurm submits the runs (conf/hydra/launcher/slurm.yaml); LAUNCHER=torchrun NPROC=8 runs
# each on this node's GPUs; GPUS=all (or 0,1,2,3) runs them side by side, NPROC GPUs each; ARGS: extra
# Hydra overrides.
NPROC ?= 1
REPRODUCE = $(BIN)/python scripts/reproduce.py --scale $(SCALE) $(if $(LAUNCHER),--launcher $(LAUNCHER) --nproc $(NPROC)) $(if $(GPUS),--gpus $(GPUS))
reproduce-table1: $(STAMP)  ## Table 1: CIFAR-100 WRN-28-10, 14 rows x 2 seeds
	$(REPRODUCE) table1 $(ARGS)

reproduce-table2: $(STAMP)  ## Table 2: CIFAR-10 and ImageNet ResNet-18 (+ ImageNetV2)
	$(REPRODUCE) table2 $(ARGS)

reproduce-ablations: $(STAMP)  ## Appendix A.3: noisy BatchNorm std, dropout, RandAugment N x M
	$(REPRODUCE) ablations $(ARGS)

tune-seqnorm: $(STAMP)  ## Section 3.2: sequential GM-then-GC tuning vs the full grid, CIFAR-10
	$(REPRODUCE) tune-seqnorm $(ARGS)

tune-imagenet: $(STAMP)  ## Section 3.2: ImageNet 50-epoch runs, GhostNorm GM grid then SeqNorm GC grid at GM=4
	$(REPRODUCE) tune-imagenet $(ARGS)

reproduce-example: $(STAMP)  ## Section 2.2's ranking example -> results/example_section_2_2.md
	$(BIN)/python scripts/reproduce.py example

bench-train-step: $(STAMP)  ## trainer step vs a bare loop, norms vs BN -> results/bench_train_step[_cuda].md
	$(BIN)/python benchmarks/train_step.py

gpu-checks: $(STAMP)  ## on a CUDA machine: GPU tests, norm and step benchmarks, the CIFAR-100 epoch -> results/
	PYTHON=$(BIN)/python bash benchmarks/cuda_checks.sh results

bench-ddp: $(STAMP)  ## samples/s on 1 and N processes, same global batch -> results/bench_ddp[_cuda].md
	$(BIN)/python benchmarks/ddp.py

clean:  ## remove .venv and the caches
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
