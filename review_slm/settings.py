"""Where things live and which profile runs, read from the environment in one place."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, TypeVar, cast

PROFILES = ("local", "k8s")  # k8s: S3/MinIO artifacts, PyTorchJob/TrainJob trainers, KServe serving


_Choice = TypeVar("_Choice", bound=str)


def _choice(variable: str, default: _Choice, allowed: tuple[_Choice, ...]) -> _Choice:
    value = os.environ.get(variable, default)
    for choice in allowed:
        if value == choice:
            return choice
    raise ValueError(f"{variable}={value!r}: expected one of {allowed}")


def profile() -> str:
    return _choice("REVIEW_SLM_PROFILE", "local", PROFILES)


def home() -> Path:
    """REVIEW_SLM_HOME holds artifacts, the MLflow database, the model cache and the serving folder."""
    return Path(os.environ.get("REVIEW_SLM_HOME") or Path.cwd() / ".review_slm").resolve()


def recipe_name() -> str:
    return os.environ.get("REVIEW_SLM_RECIPE", "tiny")


def checked_recipe_name() -> str:
    """The recipe name, loaded once so a typo fails when the definitions load, naming the variable."""
    from review_slm.core.recipe import load_recipe

    name = recipe_name()
    try:
        load_recipe(name)
    except Exception as err:
        raise ValueError(f"REVIEW_SLM_RECIPE={name!r}: {err}") from err
    return name


def languages() -> tuple[str, ...]:
    """REVIEW_SLM_LANGUAGES: the languages reviewed (mined, kept, evaluated), e.g.
    `go,python,yaml,rust,java,typescript`."""
    from review_slm.core.languages import DEFAULT_LANGUAGES, parse_languages

    value = os.environ.get("REVIEW_SLM_LANGUAGES")
    if value is None:
        return DEFAULT_LANGUAGES
    try:
        return parse_languages(value)
    except ValueError as err:
        raise ValueError(f"REVIEW_SLM_LANGUAGES={value!r}: {err}") from None


def hf_adapter() -> Literal["codereviewer", "instruction", "critique"]:
    from review_slm.core.supplement_adapters import ADAPTERS

    # ADAPTERS' keys, which HFSupplementSource.adapter lists as a Literal for the UI
    return cast(
        Literal["codereviewer", "instruction", "critique"],
        _choice("REVIEW_SLM_HF_ADAPTER", "codereviewer", tuple(ADAPTERS)),
    )


def teacher_required() -> bool:
    """REVIEW_SLM_TEACHER_REQUIRED=1: a teacher that does not answer fails gold_set instead of being replaced."""
    return _choice("REVIEW_SLM_TEACHER_REQUIRED", "0", ("0", "1")) == "1"


_TEACHER_URL = re.compile(r"^https?://[^/\s,]+(/[^\s,]*)?/v1$")


def teacher_urls(variable: str = "REVIEW_SLM_TEACHER_URL") -> list[str]:
    """REVIEW_SLM_TEACHER_URL: the OpenAI-compatible teacher's replicas, comma-separated base URLs ending in `/v1`
    (vLLM, SGLang, TGI, NIM, KServe, a hosted API). Unset: the Ollama teacher at OLLAMA_HOST.
    REVIEW_SLM_JUDGE_URL, the same for the judge (unset: the teacher's replicas)."""
    value = os.environ.get(variable, "")
    urls = [u.strip().rstrip("/") for u in value.split(",") if u.strip()]
    bad = [u for u in urls if not _TEACHER_URL.match(u)]
    if bad:
        raise ValueError(f"{variable}: {bad} are not base URLs ending in /v1 (e.g. http://vllm:8000/v1)")
    return urls


def teacher_concurrency(variable: str = "REVIEW_SLM_TEACHER_CONCURRENCY", default: int = 64) -> int:
    """REVIEW_SLM_TEACHER_CONCURRENCY: requests in flight over the whole OpenAI-compatible fleet (default 64);
    REVIEW_SLM_TEACHER_CONCURRENCY_PER_URL: at most this many at one URL (default 32; a KServe Service that
    balances several replicas behind one URL wants replicas x vLLM's --max-num-seqs)."""
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{variable}={value!r}: expected a positive integer")
    return int(value)


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")  # GitHub's owner/name rules


def repos() -> list[str]:
    names = [r.strip() for r in os.environ.get("REVIEW_SLM_REPOS", "kubeflow/trainer").split(",") if r.strip()]
    bad = [n for n in names if not _REPO.match(n)]
    if bad or not names:
        raise ValueError(f"REVIEW_SLM_REPOS: {bad or 'empty'} is not a comma-separated list of GitHub owner/name")
    return names


# --- the k8s profile (names match deploy/helm/dagster-values.yaml) --------------------------------

LAUNCHERS = ("pytorchjob", "trainjob")


def namespace() -> str:
    return os.environ.get("REVIEW_SLM_NAMESPACE", "review-slm")


def artifact_uri() -> str:
    """`s3://bucket/prefix` of the artifact store in the k8s profile."""
    value = os.environ.get("REVIEW_SLM_ARTIFACT_URI", "s3://review-slm/artifacts")
    if not value.startswith("s3://") or len(value) <= len("s3://"):
        raise ValueError(f"REVIEW_SLM_ARTIFACT_URI={value!r}: expected s3://bucket[/prefix]")
    return value


def launcher_kind() -> str:
    return _choice("REVIEW_SLM_LAUNCHER", "pytorchjob", LAUNCHERS)


def trainer_image() -> str:
    return os.environ.get("REVIEW_SLM_TRAINER_IMAGE", "review-slm-trainer:0.1.0")


def trainer_service_account() -> str:
    return os.environ.get("REVIEW_SLM_TRAINER_SERVICE_ACCOUNT", "review-slm-trainer")


def serving_service_account() -> str:
    return os.environ.get("REVIEW_SLM_SERVING_SERVICE_ACCOUNT", "review-slm-models")


def kserve_deployment_mode() -> Literal["RawDeployment", "Serverless"]:
    """How KServe was installed (deploy/README.md installs RawDeployment); decides how a canary is rolled out."""
    return _choice("REVIEW_SLM_KSERVE_MODE", "RawDeployment", ("RawDeployment", "Serverless"))
