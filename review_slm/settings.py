"""Every environment variable the platform reads, read here and nowhere else but the CLI's flags.

Each accessor is registered with its variable, default and meaning in `VARIABLES`, which the configuration
reference in the docs is generated from. The edges (`definitions.py`, `cli.py`, `sensors.py`, `serve.py`) call them
and pass the values down; nothing below them reads the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, cast


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # as the user would write it; "" when unset means something (see `meaning`)
    meaning: str
    profile: str = "all"  # "all", or "k8s" for the cluster profile's


VARIABLES: list[Variable] = []
_F = TypeVar("_F", bound=Callable)


def variable(name: str, default: str, meaning: str, profile: str = "all") -> Callable[[_F], _F]:
    """Register an accessor's variable for the configuration reference."""

    def register(accessor: _F) -> _F:
        VARIABLES.append(Variable(name, default, meaning, profile))
        return accessor

    return register


PROFILES = ("local", "k8s")  # k8s: S3/MinIO artifacts, PyTorchJob/TrainJob trainers, KServe serving


_Choice = TypeVar("_Choice", bound=str)


def _choice(variable: str, default: _Choice, allowed: tuple[_Choice, ...]) -> _Choice:
    value = os.environ.get(variable, default)
    for choice in allowed:
        if value == choice:
            return choice
    raise ValueError(f"{variable}={value!r}: expected one of {allowed}")


@variable(
    "REVIEW_SLM_PROFILE",
    "local",
    "`local` (the embedded default) or `k8s` (S3/MinIO artifacts, Kubeflow trainers, KServe)",
)
def profile() -> str:
    return _choice("REVIEW_SLM_PROFILE", "local", PROFILES)


@variable("REVIEW_SLM_HOME", "./.review_slm", "artifacts, the MLflow database, the model cache and the serving folder")
def home() -> Path:
    """REVIEW_SLM_HOME holds artifacts, the MLflow database, the model cache and the serving folder."""
    return Path(os.environ.get("REVIEW_SLM_HOME") or Path.cwd() / ".review_slm").resolve()


@variable("REVIEW_SLM_RECIPE", "tiny", "the training recipe (a name under review_slm/data/recipes/ or a YAML path)")
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


@variable("REVIEW_SLM_LANGUAGES", "go,python,yaml", "the languages reviewed (mined, kept, evaluated), comma-separated")
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


@variable(
    "REVIEW_SLM_HF_ADAPTER", "codereviewer", "the supplement dataset's shape: codereviewer, instruction or critique"
)
def hf_adapter() -> Literal["codereviewer", "instruction", "critique"]:
    from review_slm.core.supplement_adapters import ADAPTERS

    # ADAPTERS' keys, which HFSupplementSource.adapter lists as a Literal for the UI
    return cast(
        Literal["codereviewer", "instruction", "critique"],
        _choice("REVIEW_SLM_HF_ADAPTER", "codereviewer", tuple(ADAPTERS)),
    )


@variable(
    "REVIEW_SLM_TEACHER_REQUIRED", "0", "1: a teacher that does not answer fails gold_set instead of being replaced"
)
def teacher_required() -> bool:
    """REVIEW_SLM_TEACHER_REQUIRED=1: a teacher that does not answer fails gold_set instead of being replaced."""
    return _choice("REVIEW_SLM_TEACHER_REQUIRED", "0", ("0", "1")) == "1"


_TEACHER_URL = re.compile(r"^https?://[^/\s,]+(/[^\s,]*)?/v1$")


@variable(
    "REVIEW_SLM_TEACHER_URL",
    "",
    "the OpenAI-compatible teacher's replicas, comma-separated base URLs ending in /v1 (unset: Ollama); "
    "REVIEW_SLM_JUDGE_URL the same for the judge",
)
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


@variable(
    "REVIEW_SLM_TEACHER_CONCURRENCY",
    "64",
    "requests in flight over the whole fleet; REVIEW_SLM_TEACHER_CONCURRENCY_PER_URL (32) at one URL",
)
def teacher_concurrency(variable: str = "REVIEW_SLM_TEACHER_CONCURRENCY", default: int = 64) -> int:
    """REVIEW_SLM_TEACHER_CONCURRENCY: requests in flight over the whole OpenAI-compatible fleet (default 64);
    REVIEW_SLM_TEACHER_CONCURRENCY_PER_URL: at most this many at one URL (default 32; a KServe Service that
    balances several replicas behind one URL wants replicas x vLLM's --max-num-seqs)."""
    return _positive_int(variable, default)


@variable("MLFLOW_TRACKING_URI", "sqlite:///$REVIEW_SLM_HOME/mlflow.db", "the MLflow tracking server")
def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")  # GitHub's owner/name rules


@variable("REVIEW_SLM_REPOS", "kubeflow/trainer", "the repositories mined, comma-separated owner/name")
def repos() -> list[str]:
    names = [r.strip() for r in os.environ.get("REVIEW_SLM_REPOS", "kubeflow/trainer").split(",") if r.strip()]
    bad = [n for n in names if not _REPO.match(n)]
    if bad or not names:
        raise ValueError(f"REVIEW_SLM_REPOS: {bad or 'empty'} is not a comma-separated list of GitHub owner/name")
    return names


# --- the k8s profile (names match deploy/helm/dagster-values.yaml) --------------------------------

LAUNCHERS = ("pytorchjob", "trainjob")


@variable("REVIEW_SLM_NAMESPACE", "review-slm", "the namespace of trainer jobs and the InferenceService", "k8s")
def namespace() -> str:
    return os.environ.get("REVIEW_SLM_NAMESPACE", "review-slm")


@variable("REVIEW_SLM_ARTIFACT_URI", "s3://review-slm/artifacts", "the artifact store", "k8s")
def artifact_uri() -> str:
    """`s3://bucket/prefix` of the artifact store in the k8s profile."""
    value = os.environ.get("REVIEW_SLM_ARTIFACT_URI", "s3://review-slm/artifacts")
    if not value.startswith("s3://") or len(value) <= len("s3://"):
        raise ValueError(f"REVIEW_SLM_ARTIFACT_URI={value!r}: expected s3://bucket[/prefix]")
    return value


@variable(
    "REVIEW_SLM_LAUNCHER",
    "pytorchjob",
    "how trainers run: pytorchjob (Kubeflow Training v1) or trainjob (Trainer v2)",
    "k8s",
)
def launcher_kind() -> str:
    return _choice("REVIEW_SLM_LAUNCHER", "pytorchjob", LAUNCHERS)


@variable("REVIEW_SLM_TRAINER_IMAGE", "review-slm-trainer:0.1.0", "the trainer pods' image", "k8s")
def trainer_image() -> str:
    return os.environ.get("REVIEW_SLM_TRAINER_IMAGE", "review-slm-trainer:0.1.0")


@variable("REVIEW_SLM_TRAINER_SERVICE_ACCOUNT", "review-slm-trainer", "the trainer pods' service account", "k8s")
def trainer_service_account() -> str:
    return os.environ.get("REVIEW_SLM_TRAINER_SERVICE_ACCOUNT", "review-slm-trainer")


@variable("REVIEW_SLM_SERVING_SERVICE_ACCOUNT", "review-slm-models", "the InferenceService's service account", "k8s")
def serving_service_account() -> str:
    return os.environ.get("REVIEW_SLM_SERVING_SERVICE_ACCOUNT", "review-slm-models")


@variable("REVIEW_SLM_KSERVE_MODE", "RawDeployment", "how KServe was installed: RawDeployment or Serverless", "k8s")
def kserve_deployment_mode() -> Literal["RawDeployment", "Serverless"]:
    """How KServe was installed (deploy/README.md installs RawDeployment); decides how a canary is rolled out."""
    return _choice("REVIEW_SLM_KSERVE_MODE", "RawDeployment", ("RawDeployment", "Serverless"))


# --- the teacher, the sources and the endpoints -------------------------------------------------------


@variable("REVIEW_SLM_TEACHER_MODEL", "qwen2.5-coder:7b-instruct", "the teacher model (the served model's name)")
def teacher_model(required: bool = False) -> str:
    """`required`: an OpenAI-compatible fleet has no default model, so the name must be given."""
    value = os.environ.get("REVIEW_SLM_TEACHER_MODEL", "")
    if required and not value:
        raise ValueError("REVIEW_SLM_TEACHER_URL is set: REVIEW_SLM_TEACHER_MODEL must name the served model")
    return value or "qwen2.5-coder:7b-instruct"


@variable("REVIEW_SLM_JUDGE_MODEL", "", "the judge of review quality in evaluation (unset: the teacher)")
def judge_model() -> str:
    return os.environ.get("REVIEW_SLM_JUDGE_MODEL", "")


@variable(
    "OLLAMA_HOST", "http://127.0.0.1:11434", "the Ollama teacher; when set, a host that does not answer is a WARNING"
)
def ollama_host() -> tuple[str, bool]:
    """(host, whether the user named it)."""
    value = os.environ.get("OLLAMA_HOST", "")
    return value or "http://127.0.0.1:11434", bool(value)


@variable("GITHUB_TOKEN", "", "mine GitHub and read feedback live (unset: the bundled snapshot); `review --pr`")
def github_token() -> str | None:
    return os.environ.get("GITHUB_TOKEN") or None


@variable("GITHUB_API_URL", "https://api.github.com", "GitHub's API (GitHub Enterprise: https://HOST/api/v3)")
def github_api_url() -> str:
    return os.environ.get("GITHUB_API_URL", "https://api.github.com")


@variable("REVIEW_SLM_HF_DATASET", "the bundled supplement", "the public review dataset: hub id[@revision] or a file")
def hf_dataset(bundled: str) -> tuple[str, str | None]:
    """(dataset, revision or None)."""
    dataset, _, revision = os.environ.get("REVIEW_SLM_HF_DATASET", bundled).partition("@")
    return dataset, revision or None


@variable("REVIEW_SLM_BOT_LOGIN", "review-slm[bot]", "the reviewer's GitHub login, whose comments' feedback is read")
def bot_login() -> tuple[str, bool]:
    """(login, whether the user named it: live feedback needs both it and a token)."""
    value = os.environ.get("REVIEW_SLM_BOT_LOGIN", "")
    return value or "review-slm[bot]", bool(value)


@variable("REVIEW_SLM_FEEDBACK_FILE", "", "feedback on the reviewer's comments from a JSONL file (offline)")
def feedback_file() -> str | None:
    return os.environ.get("REVIEW_SLM_FEEDBACK_FILE") or None


@variable("MLFLOW_UI_URL", "http://127.0.0.1:5000", "where links to MLflow runs point (k8s: the tracking URI)")
def mlflow_ui_url(default: str = "http://127.0.0.1:5000") -> str:
    return os.environ.get("MLFLOW_UI_URL", default)


@variable("REVIEW_SLM_LOCAL_ENDPOINT", "http://127.0.0.1:8000", "where `make serve` serves the champion locally")
def local_endpoint() -> str:
    return os.environ.get("REVIEW_SLM_LOCAL_ENDPOINT", "http://127.0.0.1:8000")


@variable("REVIEW_SLM_MIN_NEW_COMMENTS", "20", "new review comments that make the sensor start an iteration")
def min_new_comments(default: int) -> int:
    return _positive_int("REVIEW_SLM_MIN_NEW_COMMENTS", default)


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


# --- the k8s profile, continued ------------------------------------------------------------------------


@variable("AWS_ENDPOINT_URL", "", "S3-compatible endpoint (MinIO); unset: AWS. Passed to trainer pods", "k8s")
def aws_endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


def trainer_env() -> dict[str, str]:
    """What the trainer pods inherit from this process: the S3 endpoint and region (credentials come from a Secret)."""
    return {k: v for k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION") if (v := os.environ.get(k))}


@variable("REVIEW_SLM_VOLCANO_QUEUE", "", "a Volcano queue for gang-scheduled PyTorchJobs", "k8s")
def volcano_queue() -> str | None:
    return os.environ.get("REVIEW_SLM_VOLCANO_QUEUE") or None


@variable("REVIEW_SLM_CANARY_PERCENT", "10", "traffic share of a new InferenceService revision before promotion", "k8s")
def canary_percent() -> int:
    value = os.environ.get("REVIEW_SLM_CANARY_PERCENT", "10")
    if not value.isdigit() or not 0 <= int(value) <= 100:
        raise ValueError(f"REVIEW_SLM_CANARY_PERCENT={value!r}: expected a percentage from 0 to 100")
    return int(value)
