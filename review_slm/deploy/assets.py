"""Deployment: register the candidate as the new champion and serve it."""

import dagster as dg

from review_slm.deploy.manifest import ReleaseManifest
from review_slm.evaluate.manifest import EvaluationManifest
from review_slm.partitions import iteration_asset
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.serving import Release, ServingTarget
from review_slm.resources.tracking import MlflowTracking
from review_slm.train.manifest import CandidateModel


@iteration_asset(
    group="deployment",
    kinds={"mlflow"},
    code_version="1",
    description="Promotion behind the blocking `no_regression_vs_champion` check: registers the candidate in the "
    "MLflow "
    "model registry with alias `champion` and serves it (a local serving folder, or KServe on a cluster).",
)
def deployed_endpoint(
    context: dg.AssetExecutionContext,
    eval_report: EvaluationManifest,
    dpo_model: CandidateModel,
    tracking: MlflowTracking,
    serving: ServingTarget,
    artifacts: ArtifactStore,
) -> dg.Output[ReleaseManifest]:
    key = context.partition_key
    if not eval_report.gate.passed:  # the blocking check already stops this; never promote past a failed gate
        raise dg.Failure(f"gate failed for {key}: {eval_report.gate.reason}")
    model_uri = dpo_model.model_uri
    # MLflow logs the model from a local folder: the local store's own folder, or a fetched copy of an s3:// one.
    champion = tracking.promote(model_uri, key, eval_report.mlflow_run_id, artifacts.local_path(model_uri))
    version = champion.version
    release = Release(
        model_uri=model_uri,
        iteration=key,
        version=str(version),
        base_model_uri=dpo_model.parent_model_uri,
        adapter_uri=dpo_model.adapter_uri,
    )
    endpoint = serving.deploy(release, artifacts, context.log)
    context.log.info(
        f"{key} promoted: {tracking.registered_model_name} v{version} @champion, served at {endpoint.location}"
    )
    shown = endpoint.model_dump()
    return dg.Output(
        ReleaseManifest(
            registered_model=tracking.registered_model_name,
            model_version=str(version),
            model_uri=model_uri,
            mlflow_model_uri=champion.registry_uri,
            endpoint=endpoint,
        ),
        metadata={
            "registered_model": tracking.registered_model_name,
            "model_version": version,
            "alias": "champion",
            "model_uri": model_uri,
            # models:/<model id>; load the champion with tracking.registry_uri()
            "mlflow_model_uri": champion.registry_uri,
            "endpoint_kind": endpoint.kind,
            "endpoint": endpoint.location,
            **{
                k: shown[k]
                for k in (
                    "rollout",
                    "inference_service",
                    "openai_base_url",
                    "served_model",
                    "serve_command",
                    "smoke_review",
                )
                if shown[k]
            },
            "candidate_score": eval_report.candidate_score,
        },
    )
