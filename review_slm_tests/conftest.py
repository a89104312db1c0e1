"""Shared fixtures: an isolated home (artifacts, MLflow, model cache) and a faster tiny recipe."""

from pathlib import Path

import pytest
import yaml

from review_slm.core.recipe import load_recipe


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One tiny model build per test session, shared by every test that trains or generates."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def fast_recipe_path(tmp_path_factory) -> Path:
    """The tiny recipe with fewer steps and shorter generations, so an iteration takes seconds."""
    data = load_recipe("tiny").model_dump(mode="json")
    data["name"] = "tiny-test"
    data["sft"].update(max_steps=4, per_device_batch_size=4, logging_steps=1, save_steps=2)
    data["dpo"].update(max_steps=2, per_device_batch_size=2, max_pairs=8, logging_steps=1, save_steps=1)
    data["line_offset_copies"] = 0
    data["generation"].update(max_new_tokens=24, batch_size=16, max_prompts=8)
    path = tmp_path_factory.mktemp("recipes") / "tiny-test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch, fast_recipe_path) -> Path:
    monkeypatch.setenv("REVIEW_SLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REVIEW_SLM_RECIPE", str(fast_recipe_path))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("REVIEW_SLM_HF_DATASET", raising=False)
    monkeypatch.delenv("REVIEW_SLM_FEEDBACK_FILE", raising=False)
    # Port 9 (discard): nothing answers, so a test never smoke-reviews through (or resets) a developer's `make serve`.
    monkeypatch.setenv("REVIEW_SLM_LOCAL_ENDPOINT", "http://127.0.0.1:9")
    return tmp_path / "home"


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto's S3 server in a thread on 127.0.0.1 (a free port), for every test that needs S3 / MinIO.

    The URL names `localhost`, not the IP: boto3 would address a bucket on a host name as
    `bucket.localhost` unless it uses path-style addressing, which MinIO needs, so every test
    against this server also proves the clients address buckets path-style.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://localhost:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket, with the environment a trainer pod gets (dummy credentials, AWS_ENDPOINT_URL)."""
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"review-slm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket
