"""`python -m review_slm.reviewer.fetch_model` (the Action's `model: models:/...` or `s3://...`): a Hugging Face
folder out of
the MLflow registry's layout or an S3 prefix, against a SQLite registry and moto's S3."""

import boto3
import pytest
from mlflow import MlflowClient

from review_slm.reviewer.fetch_model import FetchError, fetch

FILES = {"config.json": "{}", "model.safetensors": "weights", "generation_config.json": "{}"}
TOKENIZER = {"tokenizer.json": "{}", "tokenizer_config.json": "{}"}


def test_a_registered_champion_comes_back_as_one_folder_with_its_tokenizer(tmp_path, monkeypatch):
    logged = tmp_path / "logged"  # what mlflow.transformers.log_model writes: weights and tokenizer apart
    for name, text in FILES.items():
        (logged / "model").mkdir(parents=True, exist_ok=True)
        (logged / "model" / name).write_text(text)
    for name, text in TOKENIZER.items():
        (logged / "components" / "tokenizer").mkdir(parents=True, exist_ok=True)
        (logged / "components" / "tokenizer" / name).write_text(text)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri, uri)
    client.create_registered_model("review-slm-reviewer")
    version = client.create_model_version("review-slm-reviewer", source=str(logged))
    client.set_registered_model_alias("review-slm-reviewer", "champion", version.version)

    folder = fetch("models:/review-slm-reviewer@champion", tmp_path / "fetched")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, *TOKENIZER])
    assert (folder / "model.safetensors").read_text() == "weights"


def test_a_folder_on_s3_is_fetched_as_it_is(s3_bucket, s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    s3 = boto3.client("s3")
    for name, text in {**FILES, **TOKENIZER}.items():
        s3.put_object(Bucket=s3_bucket, Key=f"models/iter-0003/{name}", Body=text.encode())
    folder = fetch(f"s3://{s3_bucket}/models/iter-0003", tmp_path / "fetched")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, *TOKENIZER])


def test_what_is_not_a_model_is_an_error_naming_the_uri(s3_bucket, s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="notes/readme.txt", Body=b"hi")
    with pytest.raises(FetchError, match=rf"s3://{s3_bucket}/notes: no config.json"):
        fetch(f"s3://{s3_bucket}/notes", tmp_path / "a")
    with pytest.raises(FetchError, match="expected models:/NAME@ALIAS"):
        fetch("/some/folder", tmp_path / "b")
