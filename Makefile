# Quickstart: `make run` (one full iteration on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export REVIEW_SLM_HOME ?= $(CURDIR)/.review_slm

.PHONY: run test install install-dev dev mlflow-ui bench bench-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CPU torch first, from the local wheel, so no multi-GB CUDA build is pulled in by the project's deps.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME) $(REVIEW_SLM_HOME)
	cp dagster.yaml $@

# One iteration: add the next `iteration` key, then materialize the whole graph for it.
run: install $(DAGSTER_HOME)/dagster.yaml
	@key=$$($(BIN)/review-slm iteration next) && echo "materializing iteration $$key" && \
	  $(BIN)/dagster asset materialize -m review_slm.definitions --select '*' --partition $$key

test: install-dev
	$(BIN)/python -m pytest -q

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -m review_slm.definitions

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(REVIEW_SLM_HOME)/mlflow.db

bench: install
	$(BIN)/python bench/iteration_time.py
	$(BIN)/python bench/data_throughput.py
	$(BIN)/python bench/data_throughput.py --mode teacher
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/collapse_cure.py --chart $(REVIEW_SLM_HOME)/collapse_cure.png
	$(BIN)/python bench/grpo_reward.py

# QLoRA SFT of a random-weight Qwen2.5-Coder-1.5B: tokens/s, peak memory, MFU. Needs a CUDA GPU and a
# CUDA build of torch in the venv (on a CPU it stops and points at --config tiny).
bench-gpu: install
	$(BIN)/python bench/gpu_train.py --config qwen2.5-coder-1.5b

clean:
	rm -rf .dagster_home .review_slm
