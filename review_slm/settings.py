"""Where things live and which profile runs, read from the environment in one place."""

from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("local",)  # "k8s" (S3, PyTorchJob, KServe) arrives with the cluster work


def profile() -> str:
    value = os.environ.get("REVIEW_SLM_PROFILE", "local")
    if value not in PROFILES:
        raise ValueError(f"REVIEW_SLM_PROFILE={value!r}: expected one of {PROFILES}")
    return value


def home() -> Path:
    """REVIEW_SLM_HOME holds artifacts, the MLflow database, the model cache and the serving folder."""
    return Path(os.environ.get("REVIEW_SLM_HOME") or Path.cwd() / ".review_slm").resolve()


def recipe_name() -> str:
    return os.environ.get("REVIEW_SLM_RECIPE", "tiny")


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


def repos() -> list[str]:
    return [r.strip() for r in os.environ.get("REVIEW_SLM_REPOS", "kubeflow/trainer").split(",") if r.strip()]
