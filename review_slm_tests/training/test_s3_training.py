"""The training assets, unchanged, on the S3 artifact store: the trainer process gets only s3:// URIs."""

from dagster_aws.s3 import S3Resource

from review_slm.resources.artifact_layout import iteration
from review_slm.resources.s3_artifacts import S3ArtifactStore
from review_slm.training.object_store import MANIFEST
from review_slm_tests.training.conftest import dpo_model, sft_adapter, tiny_recipe


def test_sft_resumes_from_s3_checkpoints_and_dpo_promotes_its_model_to_s3(harness, s3_bucket, tmp_path, monkeypatch):
    harness.artifacts = art = S3ArtifactStore(
        s3=S3Resource(region_name="us-east-1"),
        bucket=s3_bucket,
        prefix="review-slm",
        cache_dir=str(tmp_path / "dagster-cache"),
    )
    key = "iter-0001"
    harness.write_upstream(key)
    recipe = tiny_recipe(tmp_path, **{"sft.max_steps": 4, "sft.save_steps": 2, "sft.per_device_batch_size": 2})
    monkeypatch.setenv(
        "REVIEW_SLM_FAULT", "sft:kill@3"
    )  # SIGKILL after step 3: only the S3 checkpoint of step 2 survives
    result = harness.materialize(sft_adapter, key, recipe)
    assert result.success
    sft = harness.metadata("sft_adapter", key)
    assert (
        sft["resumed_from_step"] == 2
        and sft["uri"] == f"s3://{s3_bucket}/review-slm/iterations/{key}/sft_adapter/adapter"
    )
    assert art.exists(sft["uri"]) and art.list_prefix(iteration(art, key).checkpoints("sft_adapter")) == []  # cleared
    monkeypatch.delenv("REVIEW_SLM_FAULT")

    harness.write_pairs(key)  # preference_pairs' generate run is covered by test_io; its trainer start costs ~10 s here
    assert harness.materialize(dpo_model, key, recipe).success
    model_uri = harness.metadata("dpo_model", key)["model_uri"]
    assert model_uri == iteration(art, key).candidate_model
    assert {"config.json", "model.safetensors"} <= set(art.objects.read_manifest(model_uri)["files"])
    assert art.list_prefix(art.scratch_uri(key, "dpo_model")) == []  # promotion consumed the scratch
    assert (art.local_path(model_uri) / "config.json").is_file() and not (art.local_path(model_uri) / MANIFEST).exists()
