# Quickstart: `make run` (one full iteration on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export REVIEW_SLM_HOME ?= $(CURDIR)/.review_slm

.PHONY: run test lint install install-dev install-serve serve dev mlflow-ui bench bench-gpu clean

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

$(VENV)/.installed-serve: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[serve]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-serve: $(VENV)/.installed-serve

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME) $(REVIEW_SLM_HOME)
	cp instance/dagster.yaml $@

# One iteration: add the next `iteration` key, then materialize the whole graph for it.
run: install $(DAGSTER_HOME)/dagster.yaml
	@key=$$($(BIN)/review-slm iteration next) && echo "materializing iteration $$key" && \
	  $(BIN)/dagster asset materialize -m review_slm.definitions --select '*' --partition $$key

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install-dev
	$(BIN)/python -m pytest -q

# The champion over the OpenAI-compatible API (transformers serve; vLLM when installed with a CUDA GPU):
# `review-slm review --endpoint http://127.0.0.1:8000 FILE.diff`. SERVE_PORT / SERVE_HOST to move it.
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000
serve: install-serve
	$(BIN)/python -m review_slm.serve --host $(SERVE_HOST) --port $(SERVE_PORT)

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev

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
