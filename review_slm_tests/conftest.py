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
    data["sft"].update(max_steps=4, per_device_batch_size=4)
    data["dpo"].update(max_steps=2, per_device_batch_size=2, max_pairs=8)
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
    return tmp_path / "home"
