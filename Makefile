# Quickstart: `make run` (one full iteration on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export REVIEW_SLM_HOME ?= $(CURDIR)/.review_slm

.PHONY: run test lint docs typecheck lock install install-dev install-serve reviewer serve dev mlflow-ui bench bench-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, so the project's `torch>=2.4` is already met and pip resolves no other build: the CUDA
# build (the default index) where nvidia-smi sees a GPU, else the CPU build from PyTorch's CPU wheel
# index. Where that index cannot be reached, pip gives up on it at once (one try, 10 s timeout) and
# torch comes from the default index instead (a CUDA build on Linux: it still runs on the CPU).
TORCH_VERSION := $(shell sed -n 's/^torch==\([^ ;]*\).*/\1/p' requirements.lock)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
define install_torch
	if nvidia-smi -L >/dev/null 2>&1; then $(1) install --quiet torch==$(TORCH_VERSION); \
	elif ! $(1) install --quiet --index-url $(TORCH_CPU_INDEX) --timeout 10 --retries 0 torch==$(TORCH_VERSION); then \
	  echo "PyTorch's CPU index cannot be reached: installing torch from the default index"; \
	  $(1) install --quiet torch==$(TORCH_VERSION); fi
endef

# Every install takes its versions from the lock (pip constraints: a pin applies when the package is
# installed at all). `make lock` refreshes it after a change to pyproject.toml, keeping the pins it can;
# `make lock UPGRADE=1` moves every pin to the newest release the ranges allow.
LOCK := requirements.lock
PIP_INSTALL := $(BIN)/pip install --quiet -c $(LOCK)

# The platform: the reviewer plus the `platform` extra (Dagster, training, MLflow; pyproject.toml).
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(call install_torch,$(BIN)/pip)
	$(PIP_INSTALL) -e '.[platform]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[platform,dev]'
	touch $@

$(VENV)/.installed-serve: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[platform,serve]'
	touch $@

# One resolution for Linux, macOS and Windows on Python 3.11 (uv's --universal: pins carry markers), of
# the base dependencies and every extra; torch as on PyPI (the CPU build installed first is the same
# version: a pin without a local label accepts 2.13.0+cpu). uv is installed into the venv for it alone, at
# one release (another uv may resolve or write the lock differently; test_lock checks the venv's uv is this one).
UV_VERSION := 0.13.9
lock: $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	  --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade) -o $(LOCK)

# The reviewer alone (`review-slm review ... --endpoint URL`, `--pr ... --post`): what a CI runner calling a
# served champion installs. No torch, transformers, trl, peft, dagster or mlflow (test_light_install.py).
REVIEWER_VENV := .venv-reviewer
$(REVIEWER_VENV)/.installed: pyproject.toml $(LOCK) $(shell find review_slm -name "*.py" -o -name "*.yaml" -o -name "*.json*")
	rm -rf $(REVIEWER_VENV)
	$(PYTHON) -m venv $(REVIEWER_VENV)
	$(REVIEWER_VENV)/bin/pip install --quiet -c $(LOCK) .
	touch $@

reviewer: $(REVIEWER_VENV)/.installed
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

# dg check defs: the definitions load (every asset, check, job, sensor and resource builds) without
# running anything ([tool.dg] in pyproject.toml names the project); VIRTUAL_ENV tells dg the venv it runs
# in is the project's (else it warns that they differ).
lint: install-dev docs $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs
	$(MAKE) typecheck

# pyright, standard mode, over review_slm/ ([tool.pyright] in pyproject.toml), resolving imports in the venv
typecheck: install-dev
	$(BIN)/pyright --pythonpath $(BIN)/python

# The docs site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or a generated section that fails.
docs: install-dev
	$(BIN)/mkdocs build --strict --quiet

test: install-dev reviewer
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
	rm -rf .dagster_home .review_slm site
