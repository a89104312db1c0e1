"""Assemble the Dagster Definitions: assets, checks, sensor, job, and the resources of the profile.

The profile (REVIEW_SLM_PROFILE, default `local`) is the one place that chooses implementations.
"""

from __future__ import annotations

import dagster as dg

from review_slm import settings
from review_slm.deploy.assets import deployed_endpoint
from review_slm.evaluate.assets import eval_report, no_regression_vs_champion
from review_slm.gold.assets import gold_set, gold_set_quarantine
from review_slm.gold.checks import GOLD_SET_CHECKS
from review_slm.ingest.assets import hf_supplement, mined_reviews
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.feedback_source import FileFeedbackSource, GitHubFeedbackSource
from review_slm.resources.launcher import LocalProcessLauncher
from review_slm.resources.manifest_io import ManifestIOManager
from review_slm.resources.openai_teacher import OpenAITeacher
from review_slm.resources.review_source import GitHubReviewSource, SnapshotReviewSource
from review_slm.resources.serving import LocalServing
from review_slm.resources.supplement import BUNDLED_SUPPLEMENT, HFSupplementSource
from review_slm.resources.teacher import OllamaTeacher
from review_slm.resources.tracking import MlflowTracking
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm.sensors import ITERATION_JOB, new_reviews_sensor
from review_slm.train.assets import dpo_model, parent_model, preference_pairs, sft_adapter

ASSETS = [
    mined_reviews,
    hf_supplement,
    gold_set,
    gold_set_quarantine,
    parent_model,
    sft_adapter,
    preference_pairs,
    dpo_model,
    eval_report,
    deployed_endpoint,
]


def teacher_resource() -> OllamaTeacher | OpenAITeacher:
    """An OpenAI-compatible fleet when REVIEW_SLM_TEACHER_URL names one, else Ollama (OLLAMA_HOST or the default).
    The teacher also judges the evaluation, as REVIEW_SLM_JUDGE_MODEL (at REVIEW_SLM_JUDGE_URL) when set."""
    urls = settings.teacher_urls()
    if urls:
        return OpenAITeacher(
            urls=urls,
            model=settings.teacher_model(required=True),
            required=settings.teacher_required(),
            concurrency=settings.teacher_concurrency(),
            per_replica_concurrency=settings.teacher_concurrency("REVIEW_SLM_TEACHER_CONCURRENCY_PER_URL", 32),
            judge_model=settings.judge_model(),
            judge_urls=settings.teacher_urls("REVIEW_SLM_JUDGE_URL"),
        )
    host, host_named = settings.ollama_host()
    return OllamaTeacher(
        judge_model=settings.judge_model(),
        host=host,
        model=settings.teacher_model(),
        required=settings.teacher_required(),
        configured=host_named,  # the user asked for this host: not answering is a WARNING
    )


def local_resources() -> dict:
    """The embedded default: bundled data, local folders, MLflow on SQLite, a local trainer process."""
    home = settings.home()
    repos = settings.repos()
    languages = list(settings.languages())  # read once and passed to every resource that makes or scores records
    live = settings.github_token() is not None
    review_source = (
        GitHubReviewSource(
            token=dg.EnvVar("GITHUB_TOKEN"), api_url=settings.github_api_url(), repos=repos, languages=languages
        )
        if live
        else SnapshotReviewSource(repos=repos, languages=languages)
    )
    dataset, revision = settings.hf_dataset(BUNDLED_SUPPLEMENT)
    # Feedback on the reviewer's own PR comments: live when the bot login is known and a token is set.
    bot_login, bot_named = settings.bot_login()
    feedback = (
        GitHubFeedbackSource(
            token=dg.EnvVar("GITHUB_TOKEN"), api_url=settings.github_api_url(), repos=repos, bot_login=bot_login
        )
        if live and bot_named
        else FileFeedbackSource(repos=repos, bot_login=bot_login, path=settings.feedback_file())
    )
    artifacts = LocalArtifactStore(root=str(home / "artifacts"))
    return {
        "review_source": review_source,
        "feedback": feedback,
        "supplement": HFSupplementSource(
            dataset=dataset, revision=revision, adapter=settings.hf_adapter(), languages=languages
        ),
        "teacher": teacher_resource(),
        "artifacts": artifacts,
        "io_manager": ManifestIOManager(artifacts=artifacts),  # every asset's manifest, beside its artifacts
        "tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri(),
            artifact_root=str(home / "mlflow-artifacts"),
            ui_url=settings.mlflow_ui_url(),
        ),
        "launcher": LocalProcessLauncher(),
        "recipe": TrainingRecipe(
            name=settings.checked_recipe_name(), cache_dir=str(home / "cache" / "models"), languages=languages
        ),
        "serving": LocalServing(
            root=str(home / "serving"),
            endpoint_url=settings.local_endpoint(),
        ),
    }


def k8s_resources() -> dict:
    """The cluster: artifacts on S3/MinIO, trainers as Kubeflow jobs, the champion on KServe.

    Names and environment match deploy/ (Helm values and kustomize base). Nothing here talks to
    the cluster or S3 until an asset runs, so `dg check defs` works anywhere.
    """
    from dagster_aws.s3 import S3Resource

    from review_slm.resources.kserve import KServeServing
    from review_slm.resources.kubeflow import PyTorchJobLauncher, TrainJobLauncher
    from review_slm.resources.s3_artifacts import S3ArtifactStore

    resources = local_resources()  # review source, supplement, teacher, recipe: same code, cluster env
    home = settings.home()
    bucket, _, prefix = settings.artifact_uri().removeprefix("s3://").partition("/")
    # endpoint_url None -> boto3 reads AWS_ENDPOINT_URL (MinIO); credentials from the pod's environment.
    s3 = S3Resource(endpoint_url=settings.aws_endpoint_url())
    namespace = settings.namespace()
    trainer = {
        "namespace": namespace,
        "in_cluster": True,
        "image": settings.trainer_image(),
        "service_account_name": settings.trainer_service_account(),
        "secret_env": {
            "AWS_ACCESS_KEY_ID": "review-slm-s3/AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY": "review-slm-s3/AWS_SECRET_ACCESS_KEY",
        },
        "env": settings.trainer_env(),
    }
    launcher = (
        PyTorchJobLauncher(**trainer, queue=settings.volcano_queue())
        if settings.launcher_kind() == "pytorchjob"
        else TrainJobLauncher(**trainer)
    )
    artifacts = S3ArtifactStore(s3=s3, bucket=bucket, prefix=prefix, cache_dir=str(home / "cache" / "artifacts"))
    resources.update(
        artifacts=artifacts,
        io_manager=ManifestIOManager(artifacts=artifacts),
        tracking=MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri(),
            ui_url=settings.mlflow_ui_url(default=settings.mlflow_tracking_uri()),
        ),
        launcher=launcher,
        serving=KServeServing(
            namespace=namespace,
            in_cluster=True,
            service_account_name=settings.serving_service_account(),
            deployment_mode=settings.kserve_deployment_mode(),
            canary_traffic_percent=settings.canary_percent(),
            artifact_root_uri=settings.artifact_uri(),
        ),
    )
    return resources


def resources_for_profile(profile: str) -> dict:
    return k8s_resources() if profile == "k8s" else local_resources()


iteration_job = dg.define_asset_job(
    ITERATION_JOB,
    selection=dg.AssetSelection.assets(*ASSETS),  # partitioned by `iteration`, which the job infers from them
    description="One distillation iteration: mine, gold set, SFT, preference pairs, DPO, evaluate, deploy.",
)


def executor_for_profile(profile: str) -> dg.ExecutorDefinition | None:
    """Locally, every step runs in the run's own process: the heavy work already runs in trainer
    subprocesses, and a process per step (17 with the checks) cost ~25 s of a 3-minute iteration.
    On a cluster, Dagster's default (a process per step in the run pod)."""
    return dg.in_process_executor if profile == "local" else None


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=[*GOLD_SET_CHECKS, no_regression_vs_champion],
    jobs=[iteration_job],
    sensors=[new_reviews_sensor],
    resources=resources_for_profile(settings.profile()),
    executor=executor_for_profile(settings.profile()),
)
