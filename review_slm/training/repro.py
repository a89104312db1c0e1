"""Reproducibility lock: what exactly trained this model, recorded on its MLflow run.

Written by the trainer process itself (rank 0), so it records the versions installed where the
training ran (a pod image may differ from the orchestrator's environment).
"""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from review_slm.core.recipe import Recipe

TRAINING_STACK = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "datasets",
    "accelerate",
    "bitsandbytes",
    "tokenizers",
    "safetensors",
    "dagster-pipes",
    "mlflow",
    "review-slm",
)
GIT_COMMIT_ENV = "REVIEW_SLM_GIT_COMMIT"  # baked into images, where there is no .git


def training_stack_versions() -> dict[str, str]:
    versions = {}
    for name in TRAINING_STACK:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """HEAD of the checkout the code runs from, `+dirty` when it has uncommitted changes."""
    if os.environ.get(GIT_COMMIT_ENV):
        return os.environ[GIT_COMMIT_ENV]
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def reproducibility_lock(recipe: Recipe, task: str) -> dict:
    return {"task": task, "recipe": recipe.label, "git_commit": git_commit(), "versions": training_stack_versions()}


def record_lock(client, run_id: str | None, recipe: Recipe, lock: dict) -> None:
    """Tags for searching (`stack.torch`, MLflow's own `mlflow.source.git.commit`), artifacts for reading."""
    if client is None or not run_id:
        return
    from mlflow.entities import RunTag

    tags = [RunTag("mlflow.source.git.commit", lock["git_commit"]), RunTag("review_slm.recipe", lock["recipe"])]
    tags += [RunTag(f"stack.{name}", version) for name, version in lock["versions"].items()]
    client.log_batch(run_id, tags=tags)
    client.log_dict(run_id, lock, f"repro/{lock['task']}_lock.json")
    client.log_text(
        run_id,
        yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False),
        f"repro/{lock['task']}_recipe.resolved.yaml",
    )
